import Foundation
import Testing
@testable import WinnowCore

/// The kNN graph file and the analyses that read it: each gives what a brute-force computation
/// in the test gives on the same vectors.
@Suite struct KNNGraphTests {
    /// 240 8-d rows: 60 random directions, each with three noisy copies (noise 0.01–0.3), shuffled.
    static let vectors: FeatureMatrix = {
        var random = SplitMix64(seed: 7)
        func gaussian() -> Float { Float((random.nextUnit() + random.nextUnit() + random.nextUnit() - 1.5) * 2) }
        var rows: [[Float]] = []
        for _ in 0..<60 {
            let base = (0..<8).map { _ in gaussian() }
            rows.append(base)
            for noise: Float in [0.01, 0.1, 0.3] { rows.append(base.map { $0 + noise * gaussian() }) }
        }
        rows.shuffle(using: &random)
        return FeatureMatrix(rows: rows.count, dimension: 8, values: rows.flatMap { $0 })
    }()

    /// Brute force: every row's `k` nearest other rows by cosine distance (in `Double`).
    static func bruteForce(_ x: FeatureMatrix, k: Int) -> [[Neighbor]] {
        func cosine(_ a: Int, _ b: Int) -> Double {
            var dot = 0.0, na = 0.0, nb = 0.0
            for j in 0..<x.dimension {
                dot += Double(x.row(a)[j]) * Double(x.row(b)[j])
                na += Double(x.row(a)[j] * x.row(a)[j]); nb += Double(x.row(b)[j] * x.row(b)[j])
            }
            return dot / (na * nb).squareRoot()
        }
        return (0..<x.rows).map { i in
            (0..<x.rows).filter { $0 != i }.map { (j: $0, d: 1 - cosine(i, $0)) }.sorted { ($0.d, $0.j) < ($1.d, $1.j) }
                .prefix(k).map { Neighbor(index: $0.j, distance: Float($0.d)) }
        }
    }

    static func graphFile(_ name: String = #function, k: Int = 6, blockRows: Int = 512) throws -> KNNGraph {
        let url = try TestData.temporaryDirectory(name).appendingPathComponent(KNNGraph.fileName)
        return try ExactIndex(vectors: vectors, metric: .cosine).writeNeighborGraph(k: k, to: url, blockRows: blockRows)
    }

    func rows(_ graph: KNNGraph) -> [[Neighbor]] { (0..<graph.rows).map { Array(graph.neighbors(of: $0)) } }

    @Test func roundTripThroughTheFileInBlocks() throws {
        let lists: [[Neighbor]] = [[Neighbor(index: 1, distance: 0.25), Neighbor(index: 2, distance: 0.5)],
                                   [Neighbor(index: 0, distance: 0.25)], [], [Neighbor(index: 0, distance: 2)]]
        let memory = KNNGraph(lists: lists, metric: .euclidean)
        #expect(memory.k == 2 && rows(memory) == lists)
        let url = try TestData.temporaryDirectory().appendingPathComponent("g.bin")
        let written = try memory.write(to: url, blockRows: 3)
        let read = try KNNGraph(contentsOf: url)
        #expect(rows(written) == lists && read.rows == 4 && read.k == 2 && read.metric == .euclidean && rows(read) == lists)
        #expect(read.neighbors(of: 0)[1] == Neighbor(index: 2, distance: 0.5) && read.neighbors(of: 2).isEmpty)
        #expect(try Data(contentsOf: url).count == 32 + 4 * 2 * 8)
    }

    @Test func shortCorruptOrIncompleteFilesAreRefusedNamingTheFile() throws {
        let folder = try TestData.temporaryDirectory()
        let url = folder.appendingPathComponent("knn.bin")
        let good = try KNNGraph(lists: [[Neighbor(index: 1, distance: 0.1)], [Neighbor(index: 0, distance: 0.1)]],
                                metric: .cosine).write(to: url)
        #expect(good.rows == 2)
        let bytes = try Data(contentsOf: url)
        for (broken, reason) in [(bytes.prefix(20), "shorter than"), (bytes.dropLast(4), "bytes, the header's"),
                                 (Data("NOTAKNN!".utf8) + bytes.dropFirst(8), "bad magic")] {
            try Data(broken).write(to: url)
            let error = #expect(throws: KNNGraphError.self) { try KNNGraph(contentsOf: url) }
            #expect(error?.description.contains(url.path) == true && error?.description.contains(reason) == true)
        }
        let writer = try KNNGraphWriter(url: folder.appendingPathComponent("partial.bin"), rows: 3, k: 1, metric: .cosine)
        try writer.append([[Neighbor(index: 1, distance: 0)]])
        #expect(throws: KNNGraphError.self) { try writer.append([[Neighbor(index: 0, distance: 0), Neighbor(index: 2, distance: 0)]]) }
        #expect(throws: KNNGraphError.self) { try writer.finish() }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("partial.bin").path))
    }

    /// A resumable write stopped after two blocks (the writer dropped unfinished, as a killed
    /// run leaves it) goes on from the third: the first blocks are kept as written (here
    /// deliberately not the index's rows, to tell kept from recomputed), the rest are the index's.
    /// A partial file of another shape is not resumed.
    @Test func aResumableWriteStoppedPartWayGoesOnFromItsLastBlock() throws {
        let exact = ExactIndex(vectors: Self.vectors, metric: .cosine)
        let url = try TestData.temporaryDirectory().appendingPathComponent(KNNGraph.fileName)
        let planted = (0..<100).map { [Neighbor(index: ($0 + 1) % 240, distance: 0.5)] }
        do {
            let stopped = try KNNGraphWriter(url: url, rows: 240, k: 6, metric: .cosine, resumable: true)
            try stopped.append(Array(planted[0..<50]))
            try stopped.append(Array(planted[50..<100]))
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        let resumed = try exact.writeNeighborGraph(k: 6, to: url, blockRows: 50, resumable: true)
        let whole = try exact.writeNeighborGraph(k: 6, to: url.appendingPathExtension("whole"), blockRows: 50)
        #expect(rows(resumed) == planted + rows(whole)[100...])
        try FileManager.default.removeItem(at: url.appendingPathExtension("whole"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == [KNNGraph.fileName])

        // Stopped again, then resumed with another k: the partial file is not that graph's.
        do {
            let stopped = try KNNGraphWriter(url: url, rows: 240, k: 6, metric: .cosine, resumable: true)
            try stopped.append(Array(planted[0..<50]))
        }
        let k5 = try exact.writeNeighborGraph(k: 5, to: url, blockRows: 50, resumable: true)
        let wholeK5 = try exact.writeNeighborGraph(k: 5, to: url.appendingPathExtension("whole"), blockRows: 50)
        #expect(k5.k == 5 && rows(k5) == rows(wholeK5))
    }

    @Test func indexWritesInBlocksExactlyWhatAllNeighborsGives() throws {
        let exact = ExactIndex(vectors: Self.vectors, metric: .cosine)
        #expect(rows(try Self.graphFile(blockRows: 512)) == exact.allNeighbors(k: 6))
        let hnsw = try ApproximateIndex(vectors: Self.vectors, metric: .cosine, parameters: .hnsw())
        let url = try TestData.temporaryDirectory().appendingPathComponent("hnsw.bin")
        #expect(rows(try hnsw.writeNeighborGraph(k: 6, to: url, blockRows: 50)) == (try hnsw.allNeighbors(k: 6)))
        // The graph is the brute-force one (ids; distances to float precision).
        let brute = Self.bruteForce(Self.vectors, k: 6)
        let graph = try Self.graphFile()
        for i in 0..<graph.rows {
            #expect(graph.neighbors(of: i).map(\.index) == brute[i].map(\.index))
            #expect(zip(graph.neighbors(of: i), brute[i]).allSatisfy { abs($0.distance - $1.distance) < 1e-5 })
        }
    }

    @Test func pairsOutliersAndComponentsFromTheFileEqualBruteForce() throws {
        let graph = try Self.graphFile(), brute = Self.bruteForce(Self.vectors, k: 6)
        let threshold: Float = 0.97
        var expectedPairs = Set<[Int]>()
        for (i, list) in brute.enumerated() { for n in list where 1 - n.distance >= threshold { expectedPairs.formUnion([[i, n.index], [n.index, i]]) } }
        let pairs = SimilarityPairs.pairs(graph: graph, threshold: threshold)
        #expect(Set(pairs.map { [$0.from, $0.to] }) == expectedPairs && pairs.count == expectedPairs.count)
        let outliers = Outliers.find(graph: graph, percentile: 0.05)
        #expect(zip(outliers.scores, brute.map { 1 - $0[0].distance }).allSatisfy { abs($0 - $1) < 1e-5 })
        // Components: flood fill over the pairs; each component named by its smallest row.
        var component = Array(0..<graph.rows)
        for i in 0..<graph.rows where component[i] == i {
            var stack = [i]
            while let a = stack.popLast() {
                for pair in expectedPairs where pair[0] == a && component[pair[1]] != i { component[pair[1]] = i; stack.append(pair[1]) }
            }
        }
        #expect(ConnectedComponents.find(graph: graph, threshold: threshold).componentOf == component)
        #expect(LeakySplits.find(graph: graph, splits: (0..<graph.rows).map { $0 % 2 == 0 ? "train" : "test" }, threshold: threshold)
            .allSatisfy { expectedPairs.contains([$0.pair.from, $0.pair.to]) && ($0.pair.from - $0.pair.to) % 2 != 0 })
    }

    @Test func nearDuplicatesAndLabelScoresFromTheFileEqualTheInMemoryGraph() throws {
        let file = try Self.graphFile(), memory = KNNGraph(lists: Self.bruteForce(Self.vectors, k: 6), metric: .cosine)
        #expect(NearDuplicates.find(graph: file, threshold: 0.05) == NearDuplicates.find(graph: memory, threshold: 0.05))
        #expect(NearDuplicates.find(graph: file, threshold: 0.05).removedCount > 40)
        let labels = (0..<file.rows).map { $0 % 3 }
        let fromFile = LabelDisagreement.compute(graph: file, labels: labels, k: 4)
        let fromMemory = LabelDisagreement.compute(graph: memory, labels: labels, k: 4)
        #expect(fromFile.majority == fromMemory.majority)
        #expect(zip(fromFile.scores, fromMemory.scores).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// Forced beyond its bound on a complete graph (every row's neighbors are all other rows),
    /// the graph path must give the exact scores.
    @Test func boundedUniquenessEqualsTheExactOneOnACompleteGraph() throws {
        let complete = try Self.graphFile(k: Self.vectors.rows - 1, blockRows: 100)
        let exact = Uniqueness.compute(Self.vectors, graph: complete)
        let bounded = Uniqueness.compute(Self.vectors, graph: complete, exactRowLimit: 10)
        #expect(zip(exact, bounded).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(exact.max() == 1 && Set(exact).count > 100)
        // With the run's 6 (uncentred) neighbors it is approximate: still scaled to a top of 1.
        let approximate = Uniqueness.compute(Self.vectors, graph: try Self.graphFile(), exactRowLimit: 10)
        #expect(approximate.max() == 1 && approximate.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func representativenessOnASampleAssignsEveryRowToItsNearestFittedCentre() {
        let x = Self.vectors
        #expect(Representativeness.compute(x, sampleLimit: x.rows).cluster == Representativeness.compute(x).cluster)
        let sample = Representativeness.sample(x, rows: 100, seed: 1234)
        #expect(sample.rows == 100)
        let fit = KMeans(clusters: 20, seed: 1234).fit(sample)
        let streamed = KMeans(clusters: 20, seed: 1234).assign(x, centres: fit.centres)
        for i in 0..<x.rows {
            let distances = (0..<fit.centres.rows).map { c in zip(x.row(i), fit.centres.row(c)).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
            let best = distances.indices.min { distances[$0] < distances[$1] }!
            #expect(abs(distances[streamed.assignment[i]] - distances[best]) < 1e-3)
            #expect(abs(streamed.distance[i] - distances[best].squareRoot()) < 1e-3)
        }
        let bounded = Representativeness.compute(x, sampleLimit: 100)
        #expect(bounded.cluster == streamed.assignment)
        #expect(bounded.fiftyone.max() == 1 && bounded.fiftyone.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func analysisVectorsAreTheMappedFileOrACompactCopyOfTheWantedRows() throws {
        let folder = try TestData.temporaryDirectory()
        let store = try FeatureStore(url: folder.appendingPathComponent("features.f32"), dimension: 8, committedRows: 0)
        _ = try store.append((0..<Self.vectors.rows).map { Array(Self.vectors.row($0)) })
        let prefix = try AnalysisStage.vectors(rows: Array(0..<10), store: store, directory: folder)
        #expect(prefix.rows == 10 && Array(prefix.row(9)) == Array(Self.vectors.row(9)))
        let picked = [5, 3, 200, 17]
        let compact = try AnalysisStage.vectors(rows: picked, store: store, directory: folder, blockRows: 3)
        #expect(compact.rows == 4 && picked.indices.allSatisfy { Array(compact.row($0)) == Array(Self.vectors.row(picked[$0])) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["features.f32"])
    }
}
