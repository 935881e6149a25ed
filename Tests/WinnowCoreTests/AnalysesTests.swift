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
    /// whose two lists of a pair disagree (as verified scores can) and that list a neighbour twice.
    @Test func similarityPairsWithoutASeenTableEqualThePairsWithOne() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let rows = Int.random(in: 2...40, using: &random)
            let lists = (0..<rows).map { row in
                let others = (0..<rows).filter { $0 != row }.shuffled(using: &random).prefix(5)
                return (Array(others) + others.prefix(1)).map {
                    Neighbor(index: $0, distance: Float.random(in: 0...0.3, using: &random))
                }.sorted { $0.distance < $1.distance }
            }
            let graph = KNNGraph(lists: lists, metric: .cosine)
            var seen = Set<[Int]>(), expected: [SimilarPair] = []
            for (from, list) in lists.enumerated() {
                for n in list where 1 - n.distance >= 0.85 {
                    for (a, b) in [(from, n.index), (n.index, from)] where seen.insert([a, b]).inserted {
                        expected.append(SimilarPair(from: a, to: b, similarity: n.similarity(.cosine)))
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

    /// Random graphs (2–60 rows, up to 6 neighbours, the two lists of a pair disagreeing as
    /// verified scores can, a neighbour sometimes listed twice as a hand-made graph may) with
    /// dense groups of near copies, as the scale set has.
    private func randomGraphs(_ count: Int) -> [KNNGraph] {
        var random = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            let rows = Int.random(in: 2...60, using: &random)
            return KNNGraph(lists: (0..<rows).map { row in
                let others = (0..<rows).filter { $0 != row }.shuffled(using: &random).prefix(Int.random(in: 0...6, using: &random))
                return (Array(others) + others.prefix(Int.random(in: 0...1, using: &random))).map {
                    Neighbor(index: $0, distance: Float.random(in: 0...0.4, using: &random))
                }.sorted { $0.distance < $1.distance }
            }, metric: .cosine)
        }
    }

    /// Components found by counting passes equal the definition with tables: members grouped
    /// per root, each edge's similarity from the first list that gives it, summed in that order.
    @Test func componentsWithoutTablesEqualTheDefinitionWithThem() {
        for graph in randomGraphs(30) {
            var parent = Array(0..<graph.rows)
            func root(_ i: Int) -> Int { parent[i] == i ? i : root(parent[i]) }
            var edges: [(Int, Int, Float)] = []
            for from in 0..<graph.rows {
                for n in graph.neighbors(of: from) where n.similarity(.cosine) >= 0.8 {
                    edges.append((from, n.index, n.similarity(.cosine)))
                    let a = root(from), b = root(n.index)
                    if a != b { parent[max(a, b)] = min(a, b) }
                }
            }
            let componentOf = (0..<graph.rows).map(root)
            var members: [Int: [Int]] = [:]
            for (i, c) in componentOf.enumerated() { members[c, default: []].append(i) }
            var stats: [Int: [Float]] = [:], seen = Set<[Int]>()
            for (a, b, s) in edges where seen.insert([min(a, b), max(a, b)]).inserted { stats[componentOf[a], default: []].append(s) }
            let expected = members.filter { $0.value.count > 1 }.map { id, list in
                ConnectedComponents.Component(id: id, members: list, meanSimilarity: stats[id]!.reduce(0, +) / Float(stats[id]!.count),
                                              minimumSimilarity: stats[id]!.min()!, maximumSimilarity: stats[id]!.max()!)
            }.sorted { ($0.members.count, -$0.id) > ($1.members.count, -$1.id) }
            let found = ConnectedComponents.find(graph: graph, threshold: 0.8)
            #expect(found.componentOf == componentOf)
            #expect(found.components == expected)
        }
    }

    /// Near duplicates from flags and one pass over the kept lists equal the definition with
    /// sets: each removed sample maps to its nearest kept neighbour within the threshold, or
    /// else to the kept sample that lists it nearest.
    @Test func nearDuplicatesWithoutSetsEqualTheDefinitionWithThem() {
        for graph in randomGraphs(30) {
            var kept = Set<Int>(), removed = Set<Int>()
            for i in 0..<graph.rows where !removed.contains(i) {
                kept.insert(i)
                for n in graph.neighbors(of: i) where n.distance <= 0.15 && !kept.contains(n.index) { removed.insert(n.index) }
            }
            var expected: [Int: Int] = [:]
            for j in removed {
                let own = graph.neighbors(of: j).filter { kept.contains($0.index) && $0.distance <= 0.15 }
                let listing = kept.sorted().flatMap { i in graph.neighbors(of: i).filter { $0.index == j }.map { Neighbor(index: i, distance: $0.distance) } }
                expected[j] = (own.isEmpty ? listing : own).min { $0.distance < $1.distance }!.index
            }
            #expect(NearDuplicates.find(graph: graph, threshold: 0.15).duplicateOf == expected)
        }
    }

    @Test func uniquenessIsFiftyonesWeightedDistancesOverTheMaximum() {
        // Distances to neighbours 2–4 (the first is dropped): u = (0.6·d₂ + 0.3·d₃ + 0.1·d₄) / 3.
        let neighbors = lists([[(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.6)], [(0, 0.1), (2, 0.3), (3, 0.3), (4, 0.3)],
                                [(1, 0.1), (0, 0.1), (3, 0.1), (4, 0.1)], [(0, 0.5), (1, 0.5), (2, 0.5), (4, 0.5)]])
        let raw: [Float] = [(0.12 + 0.12 + 0.06) / 3, (0.18 + 0.09 + 0.03) / 3, 0.1 / 3, 0.5 / 3]
        let expected = raw.map { $0 / raw.max()! }
        #expect(zip(Uniqueness.scores(graph: KNNGraph(lists: neighbors, metric: .cosine)), expected).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(Uniqueness.scores(graph: KNNGraph(lists: Array(neighbors.prefix(3)), metric: .cosine)) == [1, 1, 1])
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
