/// The order in which copy verification compares its pairs, so that each image's local features
/// are made once and dropped after its last pair where the feature budget allows.
///
/// Images get positions by a breadth-first traversal of the pair graph (images are nodes, pairs
/// edges; components and neighbors taken lowest row first), so partners sit close together; a
/// pair comes when the later of its two images does: pairs sorted by (later position, earlier
/// position). Each image's uses (positions of its pairs in that order) answer when it is next
/// needed, for the cache's evictions.
struct PairSchedule {
    /// The two rows of each pair as given (8 bytes a pair: a run may have millions).
    private let ends: [SIMD2<Int32>]
    /// Indices into the pairs, in processing order.
    private let order: [Int32]
    /// Positions in `order` of each image's pairs, ascending: `uses[start[row]..<start[row + 1]]`.
    private let uses: [Int32]
    private let start: [Int]

    /// The schedule of `count` pairs, `pair(i)` giving the rows of the `i`th, in `0..<rowCount`.
    init(count: Int, rowCount: Int, pair: (Int) -> (a: Int, b: Int)) {
        ends = (0..<count).map { let p = pair($0); return SIMD2(Int32(p.a), Int32(p.b)) }
        start = Self.rowOffsets(ends, rowCount: rowCount)
        let position = Self.breadthFirstPositions(adjacency: Self.adjacency(ends, offsets: start), offsets: start)
        var order = (0..<Int32(count)).map { $0 }
        let ends = ends
        order.sort { i, j in
            let (pi, qi) = (position[Int(ends[Int(i)].x)], position[Int(ends[Int(i)].y)])
            let (pj, qj) = (position[Int(ends[Int(j)].x)], position[Int(ends[Int(j)].y)])
            return (max(pi, qi), min(pi, qi), i) < (max(pj, qj), min(pj, qj), j)
        }
        self.order = order
        var next = start, uses = [Int32](repeating: 0, count: 2 * count)
        for (at, i) in order.enumerated() {
            let (a, b) = (Int(ends[Int(i)].x), Int(ends[Int(i)].y))
            uses[next[a]] = Int32(at); next[a] += 1
            uses[next[b]] = Int32(at); next[b] += 1
        }
        self.uses = uses
    }

    /// How many pairs there are.
    var count: Int { order.count }

    /// The index (as given) of the pair at `position` of the processing order.
    func index(at position: Int) -> Int { Int(order[position]) }

    /// The rows of the pair at `position` of the processing order.
    func pair(at position: Int) -> (a: Int, b: Int) {
        let p = ends[Int(order[position])]
        return (Int(p.x), Int(p.y))
    }

    /// The first position after `position` at which `row` is needed; nil after its last pair.
    func nextUse(of row: Int, after position: Int) -> Int? {
        let at = uses[start[row]..<start[row + 1]].partitionPoint { Int($0) <= position }
        return at < start[row + 1] ? Int(uses[at]) : nil
    }

    /// The block of positions in `order` from `lower`: at most `maximumPairs` pairs over at most
    /// `maximumImages` distinct images, and at least one pair.
    func block(from lower: Int, maximumPairs: Int, maximumImages: Int) -> Range<Int> {
        var images = Set<Int>()
        var upper = lower
        while upper < order.count, upper - lower < maximumPairs {
            let pair = pair(at: upper)
            let added = (images.contains(pair.a) ? 0 : 1) + (images.contains(pair.b) ? 0 : 1)
            if upper > lower, images.count + added > maximumImages { break }
            images.insert(pair.a)
            images.insert(pair.b)
            upper += 1
        }
        return lower..<upper
    }

    /// Each row's partners, lowest first, in the compressed rows of `offsets`:
    /// `adjacency[offsets[r]..<offsets[r + 1]]`.
    private static func adjacency(_ ends: [SIMD2<Int32>], offsets: [Int]) -> [Int32] {
        var next = offsets, adjacency = [Int32](repeating: 0, count: 2 * ends.count)
        for p in ends {
            adjacency[next[Int(p.x)]] = p.y; next[Int(p.x)] += 1
            adjacency[next[Int(p.y)]] = p.x; next[Int(p.y)] += 1
        }
        for row in 0..<offsets.count - 1 { adjacency[offsets[row]..<offsets[row + 1]].sort() }
        return adjacency
    }

    /// Where each row's entries start when every pair is listed under both its rows (count + 1 values).
    private static func rowOffsets(_ ends: [SIMD2<Int32>], rowCount: Int) -> [Int] {
        var offsets = [Int](repeating: 0, count: rowCount + 1)
        for p in ends { offsets[Int(p.x) + 1] += 1; offsets[Int(p.y) + 1] += 1 }
        for row in 0..<rowCount { offsets[row + 1] += offsets[row] }
        return offsets
    }

    /// Breadth-first positions of the rows that have partners (the others keep `Int32.max`).
    private static func breadthFirstPositions(adjacency: [Int32], offsets: [Int]) -> [Int32] {
        let rowCount = offsets.count - 1
        var position = [Int32](repeating: .max, count: rowCount)
        var queue: [Int32] = []
        for root in 0..<rowCount where position[root] == .max && offsets[root + 1] > offsets[root] {
            position[root] = Int32(queue.count)
            queue.append(Int32(root))
            var head = queue.count - 1
            while head < queue.count {
                let row = Int(queue[head])
                head += 1
                for partner in adjacency[offsets[row]..<offsets[row + 1]] where position[Int(partner)] == .max {
                    position[Int(partner)] = Int32(queue.count)
                    queue.append(partner)
                }
            }
        }
        return position
    }
}
