import Foundation
import Testing
@testable import WinnowCore

/// The second retrieval of copy candidates on ORB descriptors (issue 19), on real photos: a
/// quarter turn and a heavy crop are proposed beside their originals among other photos, the
/// same however the keys are partitioned; inside verification such a copy, absent from the
/// global neighbours, is verified and returned to be put into the graph.
@Suite(.serialized) struct LocalRetrievalTests {
    static let photoNames = ["astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "horse",
                             "moon", "motorcycle_left", "page", "text", "ihc"]

    /// The photos, then a quarter turn of coffee, a crop keeping 55 % of each side of astronaut
    /// and the same of chelsea at JPEG quality 40: copies and the rows of their originals.
    func photosAndCopies() throws -> (images: [RGBImage], copies: [(original: Int, copy: Int)]) {
        var images = try Self.photoNames.map { try TestData.photo($0) }
        func crop(_ image: RGBImage) -> RGBImage {
            image.cropped(x: image.width * 30 / 100, y: image.height * 20 / 100,
                          width: image.width * 55 / 100, height: image.height * 55 / 100)
        }
        let (coffee, astronaut, chelsea) = (Self.photoNames.firstIndex(of: "coffee")!, Self.photoNames.firstIndex(of: "astronaut")!,
                                            Self.photoNames.firstIndex(of: "chelsea")!)
        images += [images[coffee].turnedClockwise(), crop(images[astronaut]), try crop(images[chelsea]).throughJPEG(quality: 40)]
        let n = Self.photoNames.count
        return (images, [(coffee, n), (astronaut, n + 1), (chelsea, n + 2)])
    }

    func proposals(_ features: [LocalFeatures], folder: URL, partitionBytes: Int = 32 << 20,
                   known: (Int, Int) -> Bool = { _, _ in false }) throws -> [(a: Int, b: Int)] {
        let index = try LocalRetrieval.Index(options: .init(), images: features.count, folder: folder, partitionBytes: partitionBytes)
        for (row, f) in features.enumerated().reversed() { try index.add(f, row: row) }
        try index.add(features[0], row: 0)
        #expect(index.unkeyedRows.isEmpty)
        return try index.candidates(known: known)
    }

    @Test func quarterTurnsAndHeavyCropsAreProposedWhateverThePartitions() throws {
        let (images, copies) = try photosAndCopies()
        let features = try images.enumerated().map { try LocalFeatures.extract(from: $1, options: .screening, name: "\($0)") }
        let folder = try TestData.temporaryDirectory()
        let whole = try proposals(features, folder: folder)
        for copy in copies { #expect(whole.contains { $0 == (copy.original, copy.copy) }, "\(copy) not among \(whole)") }
        #expect(whole.count <= 2 * images.count)
        #expect(zip(whole, whole.dropFirst()).allSatisfy { ($0.a, $0.b) < ($1.a, $1.b) } && whole.allSatisfy { $0.a < $0.b })
        // One byte a partition: the most partitions there are, and the same pairs.
        let split = try proposals(features, folder: folder, partitionBytes: 1)
        #expect(split.map { [$0.a, $0.b] } == whole.map { [$0.a, $0.b] })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        // Pairs the global neighbours settled are not proposed again.
        let rest = try proposals(features, folder: folder) { $0 == copies[0].original && $1 == copies[0].copy }
        #expect(rest.map { [$0.a, $0.b] } == whole.filter { $0 != (copies[0].original, copies[0].copy) }.map { [$0.a, $0.b] })
    }

    /// The proposals counted from every image's keys directly: for each image, one vote for each
    /// other image in each of its keys' buckets of 2 to `largestBucket` images, its `perImage`
    /// most-voted partners (then the lowest rows) with at least `minimumVotes`.
    func referenceProposals(_ features: [LocalFeatures], options: LocalRetrieval.Options) -> [[Int]] {
        let hash = LocalRetrieval.Hash(tables: options.tables, bits: options.keyBits(images: features.count))
        let keys = features.map { f in
            var made: [UInt32] = []
            f.withBinaryDescriptors { bytes in
                for start in stride(from: 0, to: bytes.count - 31, by: 32) {
                    hash.keys(of: UnsafeBufferPointer(rebasing: bytes[start..<start + 32]), into: &made)
                }
            }
            return Set(made)
        }
        var buckets: [UInt32: [Int]] = [:]
        for (row, own) in keys.enumerated() { for key in own { buckets[key, default: []].append(row) } }
        var pairs = Set<[Int]>()
        for (row, own) in keys.enumerated() {
            var votes: [Int: Int] = [:]
            for key in own {
                guard let members = buckets[key], (2...options.largestBucket).contains(members.count) else { continue }
                for other in members where other != row { votes[other, default: 0] += 1 }
            }
            let best = votes.filter { $0.value >= options.minimumVotes }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            for (other, _) in best.prefix(options.perImage) { pairs.insert([min(row, other), max(row, other)]) }
        }
        return pairs.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The index (its directory of key prefixes, its bitmap of shared keys, its choice of each
    /// image's best partners) proposes exactly what counting every image's keys directly does,
    /// for several numbers of partners and key lengths.
    @Test func proposalsMatchVotesCountedDirectly() throws {
        let (images, _) = try photosAndCopies()
        let features = try images.enumerated().map { try LocalFeatures.extract(from: $1, options: .screening, name: "\($0)") }
        for (perImage, bits) in [(1, 20), (2, 20), (4, 14), (3, 12)] {
            var options = LocalRetrieval.Options()
            (options.perImage, options.bits) = (perImage, bits)
            let index = try LocalRetrieval.Index(options: options, images: features.count, folder: try TestData.temporaryDirectory())
            for (row, f) in features.enumerated() { try index.add(f, row: row) }
            let found = try index.candidates(workers: 2) { _, _ in false }.map { [$0.a, $0.b] }
            let expected = referenceProposals(features, options: options)
            #expect(found == expected, "perImage \(perImage), bits \(bits)")
            #expect(!expected.isEmpty)
        }
    }

    /// Featureless images (a flat grey square) add no keys and are proposed with nothing.
    @Test func featurelessImagesProposeNothing() throws {
        let flat = RGBImage(width: 200, height: 150, pixels: [UInt8](repeating: 128, count: 200 * 150 * 3))
        let features = try (0..<3).map { try LocalFeatures.extract(from: flat, options: .screening, name: "flat \($0)") }
        #expect(try proposals(features, folder: try TestData.temporaryDirectory()).isEmpty)
    }

    /// Catalog samples of `images` written as JPEG files, and a global graph in which each image's
    /// neighbours are the next three photos (similarity 0.3: candidates, not copies) — never its copy.
    func collection(_ images: [RGBImage]) throws -> (samples: [ValidSample], graph: KNNGraph) {
        let folder = try TestData.temporaryDirectory()
        let samples = try images.enumerated().map { row, image in
            let url = folder.appendingPathComponent(String(format: "%02d.jpg", row))
            let bytes = try JPEGEncoder.encode(image, quality: 90)
            try bytes.write(to: url)
            return ValidSample(id: Int64(row + 1), path: url.lastPathComponent, filename: url.path, featureRow: row, addedRun: nil,
                               fileSize: Int64(bytes.count), contentHash: [UInt8](bytes).withUnsafeBytes { ContentHash.hex($0) },
                               width: image.width, height: image.height, location: .file(url.path))
        }
        let photos = Self.photoNames.count
        let lists = images.indices.map { row in
            (1...3).map { Neighbor(index: (row % photos + $0) % photos, distance: 0.7) }
        }
        return (samples, KNNGraph(lists: lists, metric: .cosine))
    }

    @Test func verificationChecksTheProposedPairsAndReturnsTheCopiesItVerified() throws {
        let (images, copies) = try photosAndCopies()
        let (samples, graph) = try collection(images)
        func run(_ options: CopyVerification.Options, diskLimit: Int? = nil) throws
            -> (added: [CopyVerification.PairScore], report: VerificationStage.Report) {
            let stage = VerificationStage(options: options, directory: try TestData.temporaryDirectory(), crop: nil, workers: 2,
                                          diskLimit: diskLimit)
            let outcome = stage.run(samples: samples, graph: graph)
            return (outcome.added, outcome.report)
        }
        let on = try run(CopyVerification.Options())
        let report = try #require(on.report.retrieval)
        #expect(report.imagesKeyed == images.count && report.imagesDescribedForKeys == 0, "\(report)")
        #expect(report.pairs >= copies.count && report.verifiedPairs == on.added.count, "\(report)")
        // Every image was described by the first screening: the proposed pairs' are read back, none described again.
        #expect(report.screen.imagesDescribed == 0 && report.screen.imagesReadBack > 0 && report.screen.imagesSpilled == 0, "\(report.screen)")
        // No disk to keep them: described again, the same pairs verified.
        let noDisk = try run(CopyVerification.Options(), diskLimit: 0)
        let again = try #require(noDisk.report.retrieval?.screen)
        #expect(again.imagesDescribed > 0 && again.imagesReadBack == 0, "\(again)")
        #expect(noDisk.added.map { [$0.a, $0.b] } == on.added.map { [$0.a, $0.b] })
        for copy in copies.prefix(2) {
            #expect(on.added.contains { Int($0.a) == copy.original && Int($0.b) == copy.copy && $0.score >= 0.75 }, "\(copy): \(on.added)")
        }
        let photos = Self.photoNames.count
        #expect(on.added.allSatisfy { Int($0.b) >= photos }, "only copies are verified: \(on.added)")
        var off = CopyVerification.Options()
        off.retrieval.perImage = 0
        let without = try run(off)
        #expect(without.added.isEmpty && without.report.retrieval == nil)
        // The graph with the copies put in: each original's list holds its copy first.
        let url = try TestData.temporaryDirectory().appendingPathComponent("knn_verified.bin")
        let scores = (0..<photos).map { CopyVerification.PairScore(a: $0, b: ($0 + 1) % photos, score: 0.35) } + on.added
        let final = try CopyVerification.rescored(graph, scores: scores, added: on.added, to: url)
        for pair in on.added {
            #expect(final.neighbors(of: Int(pair.a)).first?.index == Int(pair.b))
            #expect(final.neighbors(of: Int(pair.b)).first?.index == Int(pair.a))
            #expect(final.neighbors(of: Int(pair.a)).count == 3)
        }
    }
}
