import Testing
@testable import WinnowCore

/// Each analysis on a small case worked out by hand, against the anchor's formula.
@Suite struct AnalysesTests {
    /// Neighbour lists given directly as cosine distances (similarity = 1 − distance).
    func lists(_ rows: [[(Int, Float)]]) -> [[Neighbor]] {
        rows.map { $0.map { Neighbor(index: $0.0, distance: $0.1) } }
    }

    // 0–1 near copies (0.98), 2–3 similar (0.92), 4 alone (best 0.30).
    var graph: KNNGraph {
        KNNGraph(lists: lists([[(1, 0.02), (2, 0.5)], [(0, 0.02), (2, 0.6)], [(3, 0.08), (0, 0.5)], [(2, 0.08), (1, 0.7)], [(2, 0.7), (3, 0.75)]]), metric: .cosine)
    }

    @Test func similarityPairsAreFastdupsBothDirectionsAboveThreshold() {
        let pairs = SimilarityPairs.pairs(graph: graph, threshold: 0.9)
        #expect(pairs.map { [$0.from, $0.to] } == [[0, 1], [1, 0], [2, 3], [3, 2]])
        #expect(abs(pairs[0].similarity - 0.98) < 1e-6)
        #expect(SimilarityPairs.pairs(graph: graph, threshold: 0.95).count == 2)
    }

    /// The pairs without a table of those seen equal the definition with one: each pair once in
    /// each direction, with the similarity of the list that gave it first — on random graphs
    /// whose two lists of a pair disagree (as verified scores can).
    @Test func similarityPairsWithoutASeenTableEqualThePairsWithOne() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let rows = Int.random(in: 2...40, using: &random)
            let lists = (0..<rows).map { row in
                Array((0..<rows).filter { $0 != row }.shuffled(using: &random).prefix(5)).map {
                    Neighbor(index: $0, distance: Float.random(in: 0...0.3, using: &random))
                }.sorted { $0.distance < $1.distance }
            }
            let graph = KNNGraph(lists: lists, metric: .cosine)
            var seen = Set<[Int]>(), expected: [SimilarPair] = []
            for (from, list) in lists.enumerated() {
                for n in list where 1 - n.distance >= 0.85 {
                    for (a, b) in [(from, n.index), (n.index, from)] where seen.insert([a, b]).inserted {
                        expected.append(SimilarPair(from: a, to: b, similarity: graph.neighbors(of: from).first { $0.index == n.index }!.similarity(.cosine)))
                    }
                }
            }
            let pairs = SimilarityPairs.pairs(graph: graph, threshold: 0.85)
            #expect(pairs == expected.sorted { ($0.similarity, $1.from, $1.to) > ($1.similarity, $0.from, $0.to) })
        }
    }

    @Test func outliersAreTheLowestNearestNeighbourSimilarities() {
        let result = Outliers.find(graph: graph, percentile: 0.2)   // ⌈5 × 0.2⌉ = 1 outlier
        #expect(result.outliers == [4])
        #expect(abs(result.cutoff - 0.3) < 1e-6)
        #expect(result.rows.map(\.to) == [2, 3])
        // ⌈5 × 0.4⌉ = 2: 0.30, then 0.92 — which 3 shares, so ties at the cut-off are all in.
        #expect(Outliers.find(graph: graph, percentile: 0.4).outliers == [4, 2, 3])
        // `all`: 2 is the near neighbour of 3 (similar above the cut-off), so it is not an outlier even if far itself.
        let far = KNNGraph(lists: lists([[(1, 0.1)], [(0, 0.1)], [(3, 0.9)], [(2, 0.05)]]), metric: .cosine)
        #expect(Outliers.find(graph: far, percentile: 0.25, rule: .one).outliers == [2])
        #expect(Outliers.find(graph: far, percentile: 0.25, rule: .all).outliers == [])
    }

    @Test func componentsJoinPairsAboveTheThreshold() {
        let result = ConnectedComponents.find(graph: graph, threshold: 0.9)
        #expect(result.componentOf == [0, 0, 2, 2, 4])
        #expect(result.components.map(\.members) == [[0, 1], [2, 3]])
        #expect(abs(result.components[1].meanSimilarity - 0.92) < 1e-6)
        #expect(ConnectedComponents.find(graph: graph, threshold: 0.96).components.map(\.id) == [0])
    }

    @Test func nearDuplicatesFollowFiftyonesGreedyOrder() {
        let result = NearDuplicates.find(graph: graph, threshold: 0.1)
        #expect(result.duplicateOf == [1: 0, 3: 2])
        #expect(NearDuplicates.find(graph: graph, threshold: 0.05).duplicateOf == [1: 0])
        let byFraction = NearDuplicates.find(graph: graph, fraction: 0.2)
        #expect(byFraction.removedCount == 1 && byFraction.threshold >= 0.02 && byFraction.threshold < 0.08)
        #expect(NearDuplicates.findUnique(graph: graph, count: 3).removedCount == 2)
    }

    @Test func uniquenessIsFiftyonesWeightedDistancesOverTheMaximum() {
        // Distances to neighbours 2–4 (the first is dropped): u = (0.6·d₂ + 0.3·d₃ + 0.1·d₄) / 3.
        let neighbours = lists([[(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.6)], [(0, 0.1), (2, 0.3), (3, 0.3), (4, 0.3)],
                                [(1, 0.1), (0, 0.1), (3, 0.1), (4, 0.1)], [(0, 0.5), (1, 0.5), (2, 0.5), (4, 0.5)]])
        let raw: [Float] = [(0.12 + 0.12 + 0.06) / 3, (0.18 + 0.09 + 0.03) / 3, 0.1 / 3, 0.5 / 3]
        let expected = raw.map { $0 / raw.max()! }
        #expect(zip(Uniqueness.scores(graph: KNNGraph(lists: neighbours, metric: .cosine)), expected).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(Uniqueness.scores(graph: KNNGraph(lists: Array(neighbours.prefix(3)), metric: .cosine)) == [1, 1, 1])
    }

    @Test func representativenessIsDistanceToTheClusterCentre() {
        // Two tight clusters on a line: centres 1 and 11; within each, the middle point is the centre.
        let x = FeatureMatrix(rows: 6, dimension: 1, values: [0, 1, 2, 10, 11, 12])
        let result = Representativeness.compute(x, clusters: 2)
        #expect(result.cluster[0] == result.cluster[2] && result.cluster[3] == result.cluster[5] && result.cluster[0] != result.cluster[3])
        #expect(result.fiftyone == [1, 0, 1, 1, 0, 1])
        #expect(result.representativeness == [0, 1, 0, 0, 1, 0])
    }

    @Test func leakySplitsPairNearDuplicatesAcrossSplits() {
        #expect(LeakySplits.split(fromPath: "data/Train/cats/a.jpg") == "train")
        #expect(LeakySplits.split(fromPath: "validation/b.jpg") == "val")
        #expect(LeakySplits.split(fromPath: "test.jpg") == nil)
        let leaks = LeakySplits.find(graph: graph, splits: ["train", "test", "train", "train", "test"], threshold: 0.9)
        #expect(leaks.map { [$0.pair.from, $0.pair.to] } == [[0, 1]])
        #expect(leaks.first?.toSplit == "test")
    }
}
