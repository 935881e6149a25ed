/// Local features kept between verification blocks, bounded in bytes (``LocalFeatures/residentBytes``).
/// When room is needed it drops the image needed furthest in the future (Belady's rule: the
/// fewest images made again for a known order of uses).
struct FeatureCache {
    /// Bytes the cache may hold; a block's own images are kept even beyond it.
    let budget: Int
    private(set) var bytes = 0
    private(set) var peakBytes = 0
    private var entries: [Int: LocalFeatures] = [:]

    init(budget: Int) { self.budget = budget }

    subscript(row: Int) -> LocalFeatures? { entries[row] }

    mutating func insert(_ features: LocalFeatures, for row: Int) {
        remove(row)
        entries[row] = features
        bytes += features.residentBytes
        peakBytes = max(peakBytes, bytes)
    }

    mutating func remove(_ row: Int) {
        if let old = entries.removeValue(forKey: row) { bytes -= old.residentBytes }
    }

    /// Drops images other than `kept`, furthest next use first (`nextUse` nil: never again), until
    /// `incoming` more bytes fit in the budget or only `kept` remain. Returns the dropped images
    /// that are still needed later, with their features.
    @discardableResult
    mutating func makeRoom(for incoming: Int, keeping kept: Set<Int>,
                           nextUse: (Int) -> Int?) -> [(row: Int, features: LocalFeatures)] {
        guard bytes + incoming > budget else { return [] }
        let evictable = entries.keys.filter { !kept.contains($0) }
            .map { (row: $0, next: nextUse($0) ?? .max) }
            .sorted { ($0.next, $0.row) > ($1.next, $1.row) }
        var stillNeeded: [(row: Int, features: LocalFeatures)] = []
        for candidate in evictable where bytes + incoming > budget {
            if candidate.next != .max, let features = entries[candidate.row] { stillNeeded.append((candidate.row, features)) }
            remove(candidate.row)
        }
        return stillNeeded
    }
}
