/// fastdup's connected components: the graph whose edges are neighbour pairs with similarity
/// ≥ `cc_threshold` (default 0.96), split into components with union–find.
/// `component_id` is the smallest sample row in the component; singletons are their own
/// component. Per component: size and the mean / min / max similarity of its edges.
public enum ConnectedComponents {
    public struct Component: Sendable, Equatable {
        public var id: Int
        public var members: [Int]
        public var meanSimilarity: Float
        public var minimumSimilarity: Float
        public var maximumSimilarity: Float
    }

    public struct Result: Sendable, Equatable {
        /// Per sample row, the id of its component.
        public var componentOf: [Int]
        /// Components with at least two members, largest first.
        public var components: [Component]
    }

    public static func find(graph: KNNGraph, threshold: Float = 0.96) -> Result {
        let componentOf = roots(graph, threshold: threshold)
        // Members listed in row order by a counting pass, with no table keyed by component.
        var size = [Int32](repeating: 0, count: graph.rows)
        for c in componentOf { size[c] += 1 }
        var slot = [Int32](repeating: -1, count: graph.rows)
        var components: [Component] = []
        for root in 0..<graph.rows where size[root] > 1 {
            slot[root] = Int32(components.count)
            components.append(Component(id: root, members: [], meanSimilarity: 0, minimumSimilarity: .infinity,
                                        maximumSimilarity: -.infinity))
            components[components.count - 1].members.reserveCapacity(Int(size[root]))
        }
        for (row, c) in componentOf.enumerated() where slot[c] >= 0 { components[Int(slot[c])].members.append(row) }
        // Each edge once (``SimilarityPairs/edges(_:threshold:)``), summed in the order found.
        var edgeCount = [Int32](repeating: 0, count: components.count)
        for (a, _, similarity) in SimilarityPairs.edges(graph, threshold: threshold) {
            let s = Int(slot[componentOf[a]])
            components[s].meanSimilarity += similarity
            components[s].minimumSimilarity = min(components[s].minimumSimilarity, similarity)
            components[s].maximumSimilarity = max(components[s].maximumSimilarity, similarity)
            edgeCount[s] += 1
        }
        for s in components.indices { components[s].meanSimilarity /= Float(max(edgeCount[s], 1)) }
        components.sort { ($0.members.count, -$0.id) > ($1.members.count, -$1.id) }
        return Result(componentOf: componentOf, components: components)
    }

    /// Per row, the smallest row of its component: union–find over the edges at or above
    /// `threshold`, each root the smaller of the two it joins.
    static func roots(_ graph: KNNGraph, threshold: Float) -> [Int] {
        let metric = graph.metric
        var parent = Array(0..<graph.rows)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for from in 0..<graph.rows {
            for n in graph.neighbors(of: from) where n.similarity(metric) >= threshold {
                let a = root(from), b = root(n.index)
                if a != b { parent[max(a, b)] = min(a, b) }
            }
        }
        for i in parent.indices { parent[i] = root(i) }
        return parent
    }
}
