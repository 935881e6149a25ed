import Foundation
import Testing
import WinnowCommandSupport
@testable import WinnowCore

/// `winnow-bench scale`: the growth fit, the images it makes, and a tiny run end to end.
@Suite struct ScaleBenchTests {
    /// y = 3·N^1.5 gives b = 1.5, a = 3; (1, 1), (2, 4), (4, 8) give b = 3 ln²2 / 2 ln²2 = 1.5 and
    /// a = 2^(5/3 − 3/2) = 2^(1/6); one size, a zero or mismatched lengths give no fit.
    @Test func growthExponentOnKnownInputs() throws {
        let sizes = [1000.0, 5000, 20000, 200_000]
        let exact = try #require(GrowthFit(sizes: sizes, values: sizes.map { 3 * pow($0, 1.5) }))
        #expect(abs(exact.exponent - 1.5) < 1e-9 && abs(exact.coefficient - 3) < 1e-6)
        let fitted = try #require(GrowthFit(sizes: [1, 2, 4], values: [1, 4, 8]))
        #expect(abs(fitted.exponent - 1.5) < 1e-12 && abs(fitted.coefficient - pow(2, 1.0 / 6)) < 1e-12)
        let flat = try #require(GrowthFit(sizes: [10, 100], values: [7, 7]))
        #expect(abs(flat.exponent) < 1e-12)
        #expect(GrowthFit(sizes: [10, 10], values: [1, 2]) == nil)
        #expect(GrowthFit(sizes: [10, 20], values: [0, 2]) == nil)
        #expect(GrowthFit(sizes: [10, 20, 40], values: [1, 2]) == nil)
    }

    /// `--only-images` into a cache folder; the lines it prints name the file lists.
    static func makeImages(cache: URL, seed: Int, sizes: String = "40,80",
                           more: [String] = []) throws -> (output: String, folder: URL) {
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["scale", "--sizes", sizes, "--only-images", "--pool", try TestData.photoPool().path,
                                         "--cache", cache.path, "--seed", String(seed), "--copies", "0.2"] + more)
        #expect(result.status == 0, "\(result.output)")
        let folders = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(folders.count == 1, "\(folders)")
        return (result.output, cache.appendingPathComponent(folders.first ?? ""))
    }

    /// The same seed makes the same bytes in another cache; another seed other images; the 40
    /// images are the first 40 of the 80; every image decodes to the size its ground truth
    /// says, originals are 128–640 px on the long side and all files differ; planted copies
    /// name an earlier original and have the size their transform gives.
    @Test func generatorIsDeterministicWithPlantedCopies() throws {
        let root = try TestData.temporaryDirectory()
        let first = try Self.makeImages(cache: root.appendingPathComponent("a"), seed: 7)
        let second = try Self.makeImages(cache: root.appendingPathComponent("b"), seed: 7)
        let other = try Self.makeImages(cache: root.appendingPathComponent("c"), seed: 8, sizes: "40")
        let truth = try TestData.readCSV(first.folder.appendingPathComponent("ground_truth.csv"))
        #expect(truth.count == 80)
        let list40 = try String(contentsOf: first.folder.appendingPathComponent("list-40.txt"), encoding: .utf8)
        let list80 = try String(contentsOf: first.folder.appendingPathComponent("list-80.txt"), encoding: .utf8)
        #expect(list80.hasPrefix(list40) && list80.split(separator: "\n").count == 80)
        #expect(first.output.contains("40 images: \(first.folder.path)/list-40.txt"), "\(first.output)")
        var contents = Set<Data>()
        for row in truth {
            let file = try #require(row["file"])
            let bytes = try Data(contentsOf: first.folder.appendingPathComponent("images/" + file))
            #expect(try Data(contentsOf: second.folder.appendingPathComponent("images/" + file)) == bytes, "\(file)")
            contents.insert(bytes)
            let image = try ImageDecoder().decode([UInt8](bytes)).image
            #expect(String(image.width) == row["width"] && String(image.height) == row["height"], "\(row)")
            if row["copy_of"] == "" { #expect((128...640).contains(max(image.width, image.height)), "\(row)") }
        }
        #expect(contents.count == 80)
        let otherFirst = try Data(contentsOf: other.folder.appendingPathComponent("images/0000/0000001.jpg"))
        #expect(otherFirst != (try Data(contentsOf: first.folder.appendingPathComponent("images/0000/0000001.jpg"))))
        try Self.checkCopies(truth)
    }

    /// `--sides` makes smaller originals (the 1M run's 128–320 px) in a folder of their own;
    /// a malformed range is a usage error.
    @Test func sidesChooseTheOriginalsLongSide() throws {
        let root = try TestData.temporaryDirectory()
        let small = try Self.makeImages(cache: root.appendingPathComponent("small"), seed: 7, sizes: "40",
                                        more: ["--sides", "128-320"])
        #expect(small.folder.lastPathComponent.hasSuffix("-sides128-320"))
        let truth = try TestData.readCSV(small.folder.appendingPathComponent("ground_truth.csv"))
        #expect(truth.count == 40)
        for row in truth where row["copy_of"] == "" {
            let side = max(Int(row["width"] ?? "") ?? 0, Int(row["height"] ?? "") ?? 0)
            #expect((128...320).contains(side), "\(row)")
        }
        for bad in ["320-128", "8-64", "big"] {
            let result = try TestData.shell(TestData.benchExecutable.path, ["scale", "--sizes", "10", "--only-images", "--sides", bad])
            #expect(result.status == 64 && result.output.contains("--sides"), "\(bad): \(result.output)")
        }
    }

    static func checkCopies(_ truth: [[String: String]]) throws {
        let byFile = Dictionary(uniqueKeysWithValues: truth.compactMap { row in row["file"].map { ($0, row) } })
        let copies = truth.filter { $0["copy_of"] != "" }
        #expect(copies.count >= 5 && copies.count <= 30, "\(copies.count) copies of 80 at --copies 0.2")
        for copy in copies {
            let source = try #require(byFile[copy["copy_of"] ?? ""], "\(copy)")
            #expect(source["copy_of"] == "" && Int(source["index"] ?? "") ?? 99 < Int(copy["index"] ?? "") ?? 0, "\(copy)")
            #expect(source["pool_id"] == copy["pool_id"], "\(copy)")
            let width = Int(copy["width"] ?? "") ?? 0, sourceWidth = Int(source["width"] ?? "") ?? 0
            switch copy["transform"] {
            case "jpeg": #expect(width == sourceWidth && (copy["params"] ?? "").hasPrefix("quality="), "\(copy)")
            case "resize", "crop": #expect(width < sourceWidth && width >= sourceWidth / 2 - 1, "\(copy) of \(source)")
            default: Issue.record("unknown transform in \(copy)")
            }
        }
    }

    /// A tiny run: a table per N with every stage, and a growth exponent per stage.
    @Test func tinyScaleRunPrintsTablesAndExponents() throws {
        let root = try TestData.temporaryDirectory()
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["scale", "--sizes", "40,20", "--pool", try TestData.photoPool().path,
                                         "--cache", root.appendingPathComponent("cache").path,
                                         "--scratch", root.appendingPathComponent("scratch").path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("N = 20") && lines.contains("N = 40"), "\(result.output)")
        let growth = try #require(lines.firstIndex { $0.hasPrefix("Growth over N = 20, 40:") }, "\(result.output)")
        for name in StageMeter.stageNames + ["winnow"] {
            let rows = lines.filter { $0.split(separator: " ").first.map(String.init) == name }
            #expect(rows.count == 3, "\(name): \(result.output)")
            let exponents = lines[growth...].first { $0.split(separator: " ").first.map(String.init) == name }?
                .split(separator: " ").dropFirst()
            #expect(exponents?.count == 3, "\(name): \(result.output)")
        }
        let decodeExponent = lines[growth...].first { $0.hasPrefix("  decode") }?.split(separator: " ").dropFirst().first
        #expect(decodeExponent.flatMap { Double($0) } != nil, "\(result.output)")
    }

    /// `--vectors-from`: the run takes precomputed copy descriptors — the first images' real ones
    /// (a default run's raw descriptors, byte for byte), planted copies near their sources, the
    /// rest mixtures of the real crops of their own photo — and still verifies pairs on the images. The ground truth keeps covering
    /// the most images made; with `--images` the option is a usage error.
    @Test func vectorsFromRealDescriptorsFeedTheRun() throws {
        let root = try TestData.temporaryDirectory()
        let cache = root.appendingPathComponent("cache"), scratch = root.appendingPathComponent("scratch")
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["scale", "--sizes", "60", "--vectors-from", "30", "--copies", "0.2",
                                         "--pool", try fewPhotos(4, in: root).path, "--cache", cache.path, "--scratch", scratch.path])
        #expect(result.status == 0, "\(result.output)")
        let folder = try #require(try FileManager.default.contentsOfDirectory(at: cache, includingPropertiesForKeys: nil).first)
        #expect(try TestData.readCSV(folder.appendingPathComponent("ground_truth.csv")).count == 60)
        let vectors = try PrecomputedEmbeddings.load(folder.appendingPathComponent("descriptors-v3-from30-60.npy").path).matrix
        #expect(vectors.rows == 60 && vectors.dimension == CopyDescriptor.dimension)
        let real = try FeatureMatrix(mapping: scratch.appendingPathComponent("descriptors-30/features.f32"), dimension: vectors.dimension)
        let rows = try Catalog(url: scratch.appendingPathComponent("descriptors-30/" + Catalog.fileName))
            .query("SELECT feature_row FROM samples ORDER BY path").compactMap { $0["feature_row"].flatMap { Int($0) } }
        #expect(rows.count == 30 && rows.indices.allSatisfy { Array(vectors.row($0)) == Array(real.row(rows[$0])) })
        func cosine(_ a: Int, _ b: Int) -> Float {
            let x = vectors.row(a), y = vectors.row(b)
            let dot = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
            return dot / (x.reduce(0) { $0 + $1 * $1 } * y.reduce(0) { $0 + $1 * $1 }).squareRoot()
        }
        let truth = try TestData.readCSV(folder.appendingPathComponent("ground_truth.csv"))
        let copies = truth.compactMap { row -> (Int, Int)? in
            guard let index = row["index"].flatMap({ Int($0) }), index >= 30, let source = row["copy_of"], !source.isEmpty else { return nil }
            return (index, Int(source.dropLast(4).split(separator: "/").last ?? "") ?? -1)
        }
        #expect(!copies.isEmpty && copies.allSatisfy { cosine($0.0, $0.1) > 0.99 }, "\(copies)")
        let photo = Dictionary(uniqueKeysWithValues: truth.compactMap { row in
            row["index"].flatMap { Int($0) }.map { ($0, row["pool_id"] ?? "") }
        })
        let realCrops = Dictionary(grouping: (0..<30).filter { truth[$0]["copy_of"] == "" }) { photo[$0] ?? "" }
        let made = (30..<60).filter { truth[$0]["copy_of"] == "" && (realCrops[photo[$0] ?? ""]?.count ?? 0) >= 2 }
        #expect(!made.isEmpty && made.allSatisfy { offSpan(Array(vectors.row($0)), of: realCrops[photo[$0] ?? ""] ?? [], in: vectors) < 1e-3 },
                "a made crop is its photo's real crops' mean plus a mix of their deviations")
        let report = try String(contentsOf: scratch.appendingPathComponent("scale-60/verification.json"), encoding: .utf8)
        #expect(report.contains("\"candidatePairs\"") && !report.contains("\"candidatePairs\" : 0"), "\(report)")

        let refused = try TestData.shell(TestData.benchExecutable.path, ["scale", "--sizes", "10", "--vectors-from", "5", "--images", root.path])
        #expect(refused.status == 64 && refused.output.contains("--vectors-from"), "\(refused.output)")
    }

    /// How far `row` lies outside the affine span of `rows` (their mean plus any mix of their
    /// deviations from it), relative to its distance from the mean: 0 inside.
    private func offSpan(_ row: [Float], of rows: [Int], in vectors: FeatureMatrix) -> Double {
        let points = rows.map { vectors.row($0).map(Double.init) }
        let mean = (0..<row.count).map { j in points.reduce(0) { $0 + $1[j] } / Double(points.count) }
        var basis: [[Double]] = []
        for point in points {
            var v = zip(point, mean).map { $0 - $1 }
            for b in basis { let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, b).map { $0 - dot * $1 } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 1e-6 { basis.append(v.map { $0 / norm }) }
        }
        var rest = zip(row.map(Double.init), mean).map { $0 - $1 }
        let distance = rest.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for b in basis { let dot = zip(rest, b).reduce(0) { $0 + $1.0 * $1.1 }; rest = zip(rest, b).map { $0 - dot * $1 } }
        return rest.reduce(0) { $0 + $1 * $1 }.squareRoot() / max(distance, 1e-12)
    }

    /// `winnow-bench resume`: a run killed half-way through verification, then run again, ends
    /// with the uninterrupted run's outputs (the bench compares them and says so); an unknown
    /// stage is a usage error.
    @Test func resumeBenchmarkKillsARunInsideAStageAndComparesTheOutputs() throws {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["resume", "--size", "40", "--vectors-from", "40", "--copies", "0.2", "--stages", "verify",
                                         "--pool", try fewPhotos(4, in: root).path, "--cache", root.appendingPathComponent("cache").path,
                                         "--scratch", root.appendingPathComponent("scratch").path])
        #expect(result.status == 0, "\(result.output)")
        let line = result.output.split(separator: "\n").first { $0.hasPrefix("  verify") }
        #expect(line?.hasSuffix("identical") == true, "\(result.output)")
        let unknown = try TestData.shell(TestData.benchExecutable.path, ["resume", "--stages", "decode,embed"])
        #expect(unknown.status == 64 && unknown.output.contains("--stages"), "\(unknown.output)")
    }

    /// A photo pool of the pool's first `count` photos (not astro; rows without quoted fields),
    /// so that the first images made are several crops of each.
    private func fewPhotos(_ count: Int, in root: URL) throws -> URL {
        let pool = try TestData.photoPool(), few = root.appendingPathComponent("pool")
        try FileManager.default.createDirectory(at: few.appendingPathComponent("pool"), withIntermediateDirectories: true)
        let lines = try String(contentsOf: pool.appendingPathComponent("pool.csv"), encoding: .utf8).split(whereSeparator: \.isNewline)
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false)
        let (file, kind) = (try #require(header.firstIndex(of: "file")), try #require(header.firstIndex(of: "kind")))
        let chosen = lines.dropFirst().filter { !$0.contains("\"") && $0.split(separator: ",", omittingEmptySubsequences: false)[kind] == "photo" }.prefix(count)
        for line in chosen {
            let name = String(line.split(separator: ",", omittingEmptySubsequences: false)[file])
            try FileManager.default.copyItem(at: pool.appendingPathComponent(name), to: few.appendingPathComponent(name))
        }
        try ([String(lines[0])] + chosen.map(String.init)).joined(separator: "\n").appending("\n")
            .write(to: few.appendingPathComponent("pool.csv"), atomically: true, encoding: .utf8)
        return few
    }
}
