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
        let metric = graph.metric
        var parent = Array(0..<graph.rows)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        var edges: [(Int, Int, Float)] = []
        for from in 0..<graph.rows {
            for n in graph.neighbors(of: from) where n.similarity(metric) >= threshold {
                edges.append((from, n.index, n.similarity(metric)))
                let a = root(from), b = root(n.index)
                if a != b { parent[max(a, b)] = min(a, b) }
            }
        }
        let componentOf = (0..<graph.rows).map(root)
        var members: [Int: [Int]] = [:]
        for (i, c) in componentOf.enumerated() { members[c, default: []].append(i) }
        var stats: [Int: (sum: Float, count: Int, min: Float, max: Float)] = [:]
        var seenEdges = Set<Int64>()
        for (a, b, s) in edges where seenEdges.insert(Int64(min(a, b)) << 32 | Int64(max(a, b))).inserted {
            let c = componentOf[a]
            let old = stats[c] ?? (0, 0, .infinity, -.infinity)
            stats[c] = (old.sum + s, old.count + 1, min(old.min, s), max(old.max, s))
        }
        let components = members.filter { $0.value.count > 1 }.map { id, list in
            let s = stats[id] ?? (0, 1, 0, 0)
            return Component(id: id, members: list, meanSimilarity: s.sum / Float(s.count),
                             minimumSimilarity: s.min, maximumSimilarity: s.max)
        }.sorted { ($0.members.count, -$0.id) > ($1.members.count, -$1.id) }
        return Result(componentOf: componentOf, components: components)
    }
}
