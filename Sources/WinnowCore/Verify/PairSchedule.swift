/// The order in which copy verification compares its pairs, so that each image's local features
/// are made once and dropped after its last pair where the feature budget allows.
///
/// Images get positions by a breadth-first traversal of the pair graph (images are nodes, pairs
/// edges; components and neighbors taken lowest row first), so partners sit close together; a
/// pair comes when the later of its two images does: pairs sorted by (later position, earlier
/// position). Each image's uses (positions of its pairs in that order) answer when it is next
/// needed, for the cache's evictions.
struct PairSchedule {
    /// The pairs as given: rows of the two images.
    let pairs: [(a: Int, b: Int)]
    /// Indices into `pairs`, in processing order.
    let order: [Int]
    /// Positions in `order` of each image's pairs, ascending: `uses[start[row]..<start[row + 1]]`.
    private let uses: [Int]
    private let start: [Int]

    /// The schedule of `pairs`, whose rows lie in `0..<rowCount`.
    init(pairs: [(a: Int, b: Int)], rowCount: Int) {
        self.pairs = pairs
        let (adjacency, offsets) = Self.adjacency(pairs, rowCount: rowCount)
        let position = Self.breadthFirstPositions(adjacency: adjacency, offsets: offsets)
        order = pairs.indices.sorted { i, j in
            let (pi, qi) = (position[pairs[i].a], position[pairs[i].b])
            let (pj, qj) = (position[pairs[j].a], position[pairs[j].b])
            return (max(pi, qi), min(pi, qi), i) < (max(pj, qj), min(pj, qj), j)
        }
        start = Self.rowOffsets(pairs, rowCount: rowCount)
        var next = start, uses = [Int](repeating: 0, count: 2 * pairs.count)
        for (at, i) in order.enumerated() {
            uses[next[pairs[i].a]] = at; next[pairs[i].a] += 1
            uses[next[pairs[i].b]] = at; next[pairs[i].b] += 1
        }
        self.uses = uses
    }

    /// The first position after `position` at which `row` is needed; nil after its last pair.
    func nextUse(of row: Int, after position: Int) -> Int? {
        let at = uses[start[row]..<start[row + 1]].partitionPoint { $0 <= position }
        return at < start[row + 1] ? uses[at] : nil
    }

    /// The block of positions in `order` from `lower`: at most `maximumPairs` pairs over at most
    /// `maximumImages` distinct images, and at least one pair.
    func block(from lower: Int, maximumPairs: Int, maximumImages: Int) -> Range<Int> {
        var images = Set<Int>()
        var upper = lower
        while upper < order.count, upper - lower < maximumPairs {
            let pair = pairs[order[upper]]
            let added = (images.contains(pair.a) ? 0 : 1) + (images.contains(pair.b) ? 0 : 1)
            if upper > lower, images.count + added > maximumImages { break }
            images.insert(pair.a)
            images.insert(pair.b)
            upper += 1
        }
        return lower..<upper
    }

    /// Each row's partners, lowest first, in compressed rows: `adjacency[offsets[r]..<offsets[r + 1]]`.
    private static func adjacency(_ pairs: [(a: Int, b: Int)], rowCount: Int) -> (adjacency: [Int], offsets: [Int]) {
        let offsets = rowOffsets(pairs, rowCount: rowCount)
        var next = offsets, adjacency = [Int](repeating: 0, count: 2 * pairs.count)
        for p in pairs {
            adjacency[next[p.a]] = p.b; next[p.a] += 1
            adjacency[next[p.b]] = p.a; next[p.b] += 1
        }
        for row in 0..<rowCount { adjacency[offsets[row]..<offsets[row + 1]].sort() }
        return (adjacency, offsets)
    }

    /// Where each row's entries start when every pair is listed under both its rows (count + 1 values).
    private static func rowOffsets(_ pairs: [(a: Int, b: Int)], rowCount: Int) -> [Int] {
        var offsets = [Int](repeating: 0, count: rowCount + 1)
        for p in pairs { offsets[p.a + 1] += 1; offsets[p.b + 1] += 1 }
        for row in 0..<rowCount { offsets[row + 1] += offsets[row] }
        return offsets
    }

    /// Breadth-first positions of the rows that have partners (the others keep `Int.max`).
    private static func breadthFirstPositions(adjacency: [Int], offsets: [Int]) -> [Int] {
        let rowCount = offsets.count - 1
        var position = [Int](repeating: .max, count: rowCount)
        var queue: [Int] = []
        for root in 0..<rowCount where position[root] == .max && offsets[root + 1] > offsets[root] {
            position[root] = queue.count
            queue.append(root)
            var head = queue.count - 1
            while head < queue.count {
                let row = queue[head]
                head += 1
                for partner in adjacency[offsets[row]..<offsets[row + 1]] where position[partner] == .max {
                    position[partner] = queue.count
                    queue.append(partner)
                }
            }
        }
        return position
    }
}
