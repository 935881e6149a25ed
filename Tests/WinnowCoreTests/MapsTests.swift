import Foundation
import Testing
@testable import WinnowCore

/// A small real-image work_dir: eight photos and a resized, recompressed copy of each, analysed
/// with the default copy descriptors. Shared by the maps and gallery tests.
enum PhotoPairs {
    static let names = ["astronaut", "chelsea", "coffee", "motorcycle_left", "ihc", "grass", "camera", "moon"]

    static func make(embedding: EmbeddingChoice = .copyDescriptor, extra: (URL) throws -> Void = { _ in }) throws -> (images: URL, work: URL) {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let photos = try TestData.photoFixtures(in: images, names: names)
        for photo in photos {
            let copy = images.appendingPathComponent(photo.deletingPathExtension().lastPathComponent + "_copy.jpg")
            let made = try TestData.shell("vips", ["resize", photo.path, copy.path + "[Q=70]", "0.6"])
            guard made.status == 0 else { throw TestDataMissing("vips resize failed: \(made.output)") }
        }
        try extra(images)
        let work = root.appendingPathComponent("work")
        _ = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path, embedding: embedding,
                                                    analysis: .defaults(for: embedding))).execute()
        return (images, work)
    }

    /// One analysed set shared by the tests that only read it (and write their own outputs):
    /// the pairs plus a darkened coffee and an exact copy of it under a name full of markup.
    static let shared = Result { () throws -> (images: URL, work: URL) in
        try make { folder in
            let dark = folder.appendingPathComponent("coffee_dark.jpg")
            let made = try TestData.shell("vips", ["linear", folder.appendingPathComponent("coffee.jpg").path, dark.path, "0.08", "0"])
            guard made.status == 0 else { throw TestDataMissing("vips linear failed: \(made.output)") }
            try Data(contentsOf: dark).write(to: folder.appendingPathComponent("x<img src=x onerror=\"alert(1)\">&'.jpg"))
        }
    }

    /// Map rows keyed by file stem.
    static func points(_ csv: URL) throws -> [String: (Double, Double)] {
        var out: [String: (Double, Double)] = [:]
        for row in try TestData.readCSV(csv) {
            let stem = URL(fileURLWithPath: row["filename"] ?? "").deletingPathExtension().lastPathComponent
            out[stem] = (Double(row["x"] ?? "") ?? .nan, Double(row["y"] ?? "") ?? .nan)
        }
        return out
    }

    /// The photo each point shows: its own stem, or for the copies of the shared set the original
    /// they were made from (`_copy`, the darkened coffee and its exact copy under a markup name).
    static func original(of stem: String) -> String {
        if stem.hasSuffix("_copy") { return String(stem.dropLast(5)) }
        return stem == "coffee_dark" || stem.hasPrefix("x<img") ? "coffee" : stem
    }

    /// How many `_copy` images have a point of their own original's group (the original or
    /// another copy of it) as nearest point of the map.
    static func copiesNextToOriginals(_ points: [String: (Double, Double)]) -> Int {
        names.filter { name in
            guard let copy = points[name + "_copy"] else { return false }
            let nearest = points.filter { $0.key != name + "_copy" }.min { a, b in
                hypot(a.value.0 - copy.0, a.value.1 - copy.1) < hypot(b.value.0 - copy.0, b.value.1 - copy.1)
            }
            return nearest.map { original(of: $0.key) } == name
        }.count
    }
}

@Suite(.serialized) struct MapsTests {
    /// Four points ±3u, ±v around a mean, u and v orthonormal: the components are u (variance
    /// 4.5) and v (0.5) and the points project to (±3, 0), (0, ±1).
    @Test func pcaMatchesAHandComputedExample() throws {
        let c = Float(cos(Double.pi / 6)), s = Float(sin(Double.pi / 6))
        let u: [Float] = [c, s, 0], v: [Float] = [-s, c, 0], mean: [Float] = [5, -2, 7]
        func point(_ a: Float, _ b: Float) -> [Float] { (0..<3).map { mean[$0] + a * u[$0] + b * v[$0] } }
        let rows = [point(3, 0), point(-3, 0), point(0, 1), point(0, -1)]
        let (points, variances) = try PCAMap.project(FeatureMatrix(rows: 4, dimension: 3, values: rows.flatMap { $0 }), dimensions: 2)
        #expect(abs(variances[0] - 4.5) < 1e-4 && abs(variances[1] - 0.5) < 1e-4, "\(variances)")
        let expected: [Float] = [3, 0, -3, 0, 0, 1, 0, -1]
        for (got, want) in zip(points, expected) { #expect(abs(got - want) < 1e-4, "\(points)") }
        #expect(throws: MapError.self) { try PCAMap.project(FeatureMatrix(rows: 1, dimension: 3, values: [1, 2, 3]), dimensions: 2) }
    }

    /// umap-learn's `find_ab_params(1.0, 0.1)` gives a = 1.5769, b = 0.8951.
    @Test func umapCurveMatchesUmapLearn() {
        let (a, b) = UMAPMap.fitCurve(spread: 1, minimumDistance: 0.1)
        #expect(abs(a - 1.5769) < 2e-3 && abs(b - 0.8951) < 2e-3, "a \(a) b \(b)")
        let (a2, b2) = UMAPMap.fitCurve(spread: 1, minimumDistance: 0.5)
        #expect(a2 < a && b2 > b, "a larger min_dist flattens the curve: \(a2), \(b2)")
    }

    /// A map equal to the vectors keeps every neighbourhood; a shuffled one does not.
    @Test func qualityIsOneForAnIdentityMapAndLowForAShuffledOne() throws {
        var random = SplitMix64(seed: 7)
        let n = 200
        let values = (0..<(2 * n)).map { _ in Float(random.nextUnit()) }
        let vectors = FeatureMatrix(rows: n, dimension: 2, values: values)
        let same = try MapQuality.measure(vectors: vectors, metric: .euclidean, points: values, dimensions: 2, k: 10)
        #expect(same.recall == 1 && abs(same.trustworthiness - 1) < 1e-12)
        var shuffled = values
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(random.next() % UInt64(i + 1))
            shuffled.swapAt(2 * i, 2 * j); shuffled.swapAt(2 * i + 1, 2 * j + 1)
        }
        let bad = try MapQuality.measure(vectors: vectors, metric: .euclidean, points: shuffled, dimensions: 2, k: 10)
        #expect(bad.recall < 0.2 && bad.trustworthiness < 0.6, "\(bad)")
    }

    /// Above the sample limit the measures run on a seeded sample: the same figures for the
    /// same seed, still 1 for an identity map and low for a shuffled one.
    @Test func qualityOfALargeMapIsMeasuredOnASeededSample() throws {
        var random = SplitMix64(seed: 11)
        let n = 500
        let values = (0..<(2 * n)).map { _ in Float(random.nextUnit()) }
        let vectors = FeatureMatrix(rows: n, dimension: 2, values: values)
        #expect(try MapQuality.measure(vectors: vectors, metric: .euclidean, points: values, dimensions: 2, k: 10).measured == n)
        let same = try MapQuality.measure(vectors: vectors, metric: .euclidean, points: values, dimensions: 2, k: 10, sampleLimit: 120)
        #expect(same.measured == 120 && same.recall == 1 && abs(same.trustworthiness - 1) < 1e-12, "\(same)")
        let shuffled = Array(values.reversed())
        let bad = try MapQuality.measure(vectors: vectors, metric: .euclidean, points: shuffled, dimensions: 2, k: 10, sampleLimit: 120)
        #expect(bad.measured == 120 && bad.recall < 0.3 && bad.trustworthiness < 0.7, "\(bad)")
        #expect(try MapQuality.measure(vectors: vectors, metric: .euclidean, points: shuffled, dimensions: 2, k: 10,
                                       sampleLimit: 120) == bad)
        let rows = MapQuality.sample(120, of: n, seed: 3)
        #expect(rows.count == 120 && Set(rows).count == 120 && rows == rows.sorted() && rows.allSatisfy { (0..<n).contains($0) })
        #expect(MapQuality.sample(120, of: n, seed: 3) == rows && MapQuality.sample(120, of: n, seed: 4) != rows)
    }

    /// UMAP takes the run's `knn.bin` when it has the map's neighbours (same rows and metric,
    /// k large enough): the same map as its own search gives; the map's JSON says which it used.
    @Test func umapTakesTheRunGraphWhenItFits() throws {
        let (_, work) = try PhotoPairs.shared.get()
        let features = try WorkDirFeatures.load(from: work)
        let n = features.ids.count
        let graph = try #require(try KNNGraph.ofRun(in: work, rows: n, scores: .global))
        var options = UMAPMap.Options()
        options.neighbors = graph.k + 1
        options.epochs = 50
        let map = UMAPMap(options: options)
        #expect(map.canUse(graph, rows: n, metric: features.metric))
        #expect(!map.canUse(graph, rows: n + 1, metric: features.metric) && !map.canUse(graph, rows: n, metric: .euclidean))
        options.neighbors = graph.k + 2
        #expect(!UMAPMap(options: options).canUse(graph, rows: n, metric: features.metric))
        let fromGraph = try map.embed(features.vectors, metric: features.metric, runGraph: graph)
        #expect(fromGraph == (try map.embed(features.vectors, metric: features.metric)))

        let winnow = TestData.winnowExecutable.path
        for (key, neighbors, used) in [("umap_run_graph", graph.k + 1, "the run's (knn.bin)"), ("umap_searched", graph.k + 2, "searched")] {
            let result = try TestData.shell(winnow, ["visualize", work.path, "--method", "umap", "--key", key, "--epochs", "20",
                                                     "--neighbors", String(neighbors), "--json"])
            #expect(result.status == 0, "\(result.output)")
            let info = try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("maps/\(key).json")))
            #expect(((info as? [String: Any])?["parameters"] as? [String: String])?["knn"] == used, "\(key): \(result.output)")
        }
    }

    @Test func mapsOfRealPhotosKeepCopiesNextToOriginalsAndAreDeterministic() throws {
        let (_, work) = try PhotoPairs.shared.get()
        let winnow = TestData.winnowExecutable.path
        let maps = work.appendingPathComponent("maps")
        // UMAP with 8 neighbours, not its default 15: with 15 of 18 points every point is nearly
        // everyone's neighbour, and where a copy lands is luck — 7 of 8 copies beside their
        // originals with the float32 colour view, 4 with the int8 one, though in both each copy's
        // nearest neighbour is its original at cosine 0.98–0.99 and t-SNE puts all 8 beside them;
        // with 6–10 neighbours, 8 (float32) and 7 (int8).
        for method in ["umap", "tsne", "pca"] {
            let result = try TestData.shell(winnow, ["visualize", work.path, "--method", method]
                                                + (method == "umap" ? ["--neighbors", "8"] : []))
            #expect(result.status == 0, "\(result.output)")
            let points = try PhotoPairs.points(maps.appendingPathComponent("\(method).csv"))
            #expect(points.count == 18 && points.values.allSatisfy { $0.0.isFinite && $0.1.isFinite })
            if method != "pca" {
                #expect(PhotoPairs.copiesNextToOriginals(points) >= 7, "\(method): \(points)")
            }
            let info = try JSONSerialization.jsonObject(with: Data(contentsOf: maps.appendingPathComponent("\(method).json"))) as? [String: Any]
            #expect(info?["key"] as? String == method && info?["method"] as? String == method)
            #expect(info?["dimensions"] as? Int == 2 && info?["count"] as? Int == 18)
            #expect(info?["parameters"] is [String: String] && (info?["created"] as? String)?.hasPrefix("20") == true)
        }
        // t-SNE on the sixteen photos and copies (in process).
        let features = try WorkDirFeatures.load(from: work)
        let rows = features.filenames.indices.filter {
            let stem = URL(fileURLWithPath: features.filenames[$0]).deletingPathExtension().lastPathComponent
            return PhotoPairs.names.contains(stem) || (stem.hasSuffix("_copy") && PhotoPairs.names.contains(String(stem.dropLast(5))))
        }
        let subset = FeatureMatrix(rows: rows.count, dimension: features.vectors.dimension,
                                   values: rows.flatMap { Array(features.vectors.row($0)) })
        let tsne = try TSNEMap().embed(subset)
        var tsnePoints: [String: (Double, Double)] = [:]
        for (k, row) in rows.enumerated() {
            tsnePoints[URL(fileURLWithPath: features.filenames[row]).deletingPathExtension().lastPathComponent] =
                (Double(tsne[2 * k]), Double(tsne[2 * k + 1]))
        }
        #expect(rows.count == 16 && PhotoPairs.copiesNextToOriginals(tsnePoints) >= 7, "\(tsnePoints)")
        // Same seed → same map; another seed → another map.
        _ = try TestData.shell(winnow, ["visualize", work.path, "--method", "umap", "--seed", "3", "--key", "a"])
        _ = try TestData.shell(winnow, ["visualize", work.path, "--method", "umap", "--seed", "3", "--key", "b"])
        _ = try TestData.shell(winnow, ["visualize", work.path, "--method", "umap", "--seed", "4", "--key", "c"])
        let a = try String(contentsOf: maps.appendingPathComponent("a.csv"), encoding: .utf8)
        #expect(a == (try String(contentsOf: maps.appendingPathComponent("b.csv"), encoding: .utf8)))
        #expect(a != (try String(contentsOf: maps.appendingPathComponent("c.csv"), encoding: .utf8)))
        let seeded = try JSONSerialization.jsonObject(with: Data(contentsOf: maps.appendingPathComponent("c.json"))) as? [String: Any]
        #expect((seeded?["parameters"] as? [String: String])?["seed"] == "4")
        // n-D: more columns.
        #expect(try TestData.shell(winnow, ["visualize", work.path, "--method", "pca", "--dimensions", "3", "--key", "pca3"]).status == 0)
        let header = try String(contentsOf: maps.appendingPathComponent("pca3.csv"), encoding: .utf8).split(separator: "\n").first
        #expect(header == "index,filename,x,y,z")
    }

    @Test func manualPointsAndErrorsNameTheFile() throws {
        let (_, work) = try PhotoPairs.make(embedding: .none)
        let winnow = TestData.winnowExecutable.path
        // No embeddings: a one-line error, exit 66.
        let missing = try TestData.shell(winnow, ["visualize", work.path, "--method", "umap"])
        #expect(missing.status == 66 && missing.output.contains("has no features"), "\(missing.output)")
        #expect(try TestData.shell(winnow, ["visualize", work.path, "--method", "isomap"]).status == 64)
        #expect(try TestData.shell(winnow, ["visualize", work.path, "--method", "tsne", "--dimensions", "3"]).status == 64)
        #expect(try TestData.shell(winnow, ["visualize", work.path, "--method", "pca", "--key", "../escape"]).status == 64)
        #expect(try TestData.shell(winnow, ["visualize", work.path.appending("/nothing"), "--method", "pca"]).status == 66)

        // Manual points need no features.
        let ids = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { $0["index"] }
        let file = work.deletingLastPathComponent().appendingPathComponent("points.csv")
        try ("index,x,y\n" + ids.enumerated().map { "\($1),\($0),\(2 * $0)" }.joined(separator: "\n") + "\n")
            .write(to: file, atomically: false, encoding: .utf8)
        let manual = try TestData.shell(winnow, ["visualize", work.path, "--method", "manual", "--points", file.path, "--key", "mine"])
        #expect(manual.status == 0, "\(manual.output)")
        let rows = try TestData.readCSV(work.appendingPathComponent("maps/mine.csv"))
        #expect(rows.count == ids.count && rows.last?["y"] == String(format: "%.6f", Double(2 * (ids.count - 1))))
        try "index,x,y\n\(ids[0]),1,2\n999999,3,4\n".write(to: file, atomically: false, encoding: .utf8)
        let bad = try TestData.shell(winnow, ["visualize", work.path, "--method", "manual", "--points", file.path])
        #expect(bad.status == 66 && bad.output.contains("points.csv: line 3: no sample with index 999999"), "\(bad.output)")
    }
}
