/// fiftyone.brain's near-duplicate search (`find_duplicates` / `find_unique`): walk the samples
/// in index order; each sample not yet removed is kept and removes every not-yet-kept neighbour
/// within `threshold` (cosine distance; `compute_near_duplicates` default 0.2). Each removed
/// sample maps to its nearest kept sample. Neighbours come from the kNN lists, so at most k
/// duplicates of one sample are seen.
public enum NearDuplicates {
    public struct Result: Sendable, Equatable {
        public var threshold: Float
        /// Removed sample → the kept sample it duplicates.
        public var duplicateOf: [Int: Int]
        public var removedCount: Int { duplicateOf.count }
    }

    public static func find(graph: KNNGraph, threshold: Float) -> Result {
        var kept = Set<Int>(), removed = Set<Int>()
        for i in 0..<graph.rows where !removed.contains(i) {
            kept.insert(i)
            for n in graph.neighbors(of: i) where n.distance <= threshold && !kept.contains(n.index) { removed.insert(n.index) }
        }
        var duplicateOf: [Int: Int] = [:]
        for j in removed {
            // Nearest kept neighbour; pairs are symmetric, so look from both sides.
            var best: (Int, Float)?
            for n in graph.neighbors(of: j) where kept.contains(n.index) && n.distance <= threshold {
                if best == nil || n.distance < best!.1 { best = (n.index, n.distance) }
            }
            if best == nil {
                for i in kept { for n in graph.neighbors(of: i) where n.index == j && (best == nil || n.distance < best!.1) { best = (i, n.distance) } }
            }
            if let best { duplicateOf[j] = best.0 }
        }
        return Result(threshold: threshold, duplicateOf: duplicateOf)
    }

    /// The threshold that removes `fraction` of the samples: start at 1, double until enough
    /// are removed, then bisect until the count matches or the interval is below 1e-6.
    public static func find(graph: KNNGraph, fraction: Double) -> Result {
        let wanted = Int((fraction * Double(graph.rows)).rounded())
        return search(graph) { $0.removedCount >= wanted ? ($0.removedCount == wanted ? 0 : 1) : -1 }
    }

    /// `find_unique(n)`: the threshold at which `count` samples are kept.
    public static func findUnique(graph: KNNGraph, count: Int) -> Result {
        search(graph) { result in
            let kept = graph.rows - result.removedCount
            return kept == count ? 0 : (kept < count ? 1 : -1)
        }
    }

    /// `direction`: 0 = done, 1 = threshold too high, −1 = too low.
    private static func search(_ graph: KNNGraph, _ direction: (Result) -> Int) -> Result {
        var low: Float = 0, high: Float = 1
        var result = find(graph: graph, threshold: high)
        while direction(result) < 0 && high < 4 {
            low = high; high *= 2
            result = find(graph: graph, threshold: high)
        }
        while high - low > 1e-6 {
            let middle = (low + high) / 2
            result = find(graph: graph, threshold: middle)
            switch direction(result) {
            case 0: return result
            case 1: high = middle
            default: low = middle
            }
        }
        return find(graph: graph, threshold: high)
    }
}
