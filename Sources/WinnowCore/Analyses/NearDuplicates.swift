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
        let kept = keptRows(graph, threshold: threshold)
        var duplicateOf: [Int: Int] = [:]
        var unmatched: [Int] = []
        for j in 0..<graph.rows where !kept[j] {
            // Nearest kept neighbour in its own list; else (below) the nearest kept sample listing it.
            var best: (row: Int, distance: Float)?
            for n in graph.neighbors(of: j) where kept[n.index] && n.distance <= threshold && n.distance < best?.distance ?? .infinity {
                best = (n.index, n.distance)
            }
            if let best { duplicateOf[j] = best.row } else { unmatched.append(j) }
        }
        for (j, row) in nearestKeptListing(unmatched, graph: graph, kept: kept) { duplicateOf[j] = row }
        return Result(threshold: threshold, duplicateOf: duplicateOf)
    }

    /// Per row, whether the walk keeps it. A row that is neither kept nor removed cannot occur:
    /// the walk keeps every row it reaches unremoved.
    private static func keptRows(_ graph: KNNGraph, threshold: Float) -> [Bool] {
        var kept = [Bool](repeating: false, count: graph.rows), removed = [Bool](repeating: false, count: graph.rows)
        for i in 0..<graph.rows where !removed[i] {
            kept[i] = true
            for n in graph.neighbors(of: i) where n.distance <= threshold && !kept[n.index] { removed[n.index] = true }
        }
        return kept
    }

    /// For each of `rows` (removed, sorted), the kept sample that lists it nearest (the smaller
    /// row on a tie): one pass over the kept samples' lists.
    private static func nearestKeptListing(_ rows: [Int], graph: KNNGraph, kept: [Bool]) -> [(Int, Int)] {
        guard !rows.isEmpty else { return [] }
        var best = [(row: Int, distance: Float)?](repeating: nil, count: rows.count)
        for i in 0..<graph.rows where kept[i] {
            for n in graph.neighbors(of: i) {
                let slot = rows.partitionPoint { $0 < n.index }
                guard slot < rows.count, rows[slot] == n.index, n.distance < best[slot]?.distance ?? .infinity else { continue }
                best[slot] = (i, n.distance)
            }
        }
        return zip(rows, best).compactMap { j, match in match.map { (j, $0.row) } }
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
