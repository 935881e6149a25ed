import Foundation

/// The assignment of a ``ListIndex``'s rows to their nearest lists in blocks that other
/// processes can do (`cluster finish`'s assign jobs): the vectors and the fitted centroids as
/// files in one folder (the kNN plan's folder, whose vectors it shares), and the blocks of rows.
/// A block assigned from the folder's files gets exactly the lists the whole collection's
/// assignment gives its rows: blocks are whole ``ListIndex/assignmentBlock`` product tiles, so
/// each `sgemm` is the one a single pass over every row makes.
public struct ListAssignmentPlan: Codable, Sendable, Equatable {
    /// Names the vectors and the index, as ``NeighborPlan/key``.
    public var key: String
    public var rows: Int
    public var dimension: Int
    public var metric: DistanceMetric
    public var lists: Int
    /// Coarse cells of two-level centroids (0: one level).
    public var cells: Int
    /// Rows a block covers (whole product tiles).
    public var blockRows: Int

    static let planName = "assign.json", centroidsName = "centroids.bin"
    /// The first bytes of a part file: then its rows and lists a row (Int64 each), then the lists.
    static let partMagic = Data("winnowLA".utf8)

    public var blocks: Int { (rows + blockRows - 1) / blockRows }
    /// Lists each row is put in.
    public var take: Int { min(ListIndex.listsPerRow, lists) }

    public func rows(ofBlock block: Int) -> Range<Int> {
        (block * blockRows)..<min(rows, (block + 1) * blockRows)
    }

    /// Block `block`'s part file in the plan's folder, named after the key and the block size
    /// (the centroids are fitted alike from the same vectors: a plan written again finds its parts).
    public func partName(block: Int) -> String { "\(Self.partPrefix)\(key)-\(blockRows)-\(block).lists" }

    static let partPrefix = "assign-"

    /// Writes the vectors (kept when the folder holds this key's already), the centroids and the
    /// plan into `folder`; of the assignment parts there, keeps this plan's.
    static func write(vectors: FeatureMatrix, centroids: ListCentroids, metric: DistanceMetric, key: String, blockRows: Int,
                      to folder: URL) throws -> ListAssignmentPlan {
        let tile = ListIndex.assignmentBlock
        let plan = ListAssignmentPlan(key: key, rows: vectors.rows, dimension: vectors.dimension, metric: metric,
                                      lists: centroids.lists.rows, cells: centroids.cellCount,
                                      blockRows: (max(1, blockRows) + tile - 1) / tile * tile)
        try NeighborPlan.prepare(folder, vectors: vectors, key: key, parts: partPrefix,
                                 keeping: Set((0..<plan.blocks).map(plan.partName)))
        try AtomicFile.write(centroids.encoded(), to: folder.appendingPathComponent(centroidsName))
        try AtomicFile.write(try JSONEncoder().encode(plan), to: folder.appendingPathComponent(planName))
        return plan
    }

    /// The vectors and the centroids, mapped from `folder`.
    public func load(folder: URL) throws -> (vectors: FeatureMatrix, centroids: ListCentroids) {
        let vectors = try FeatureMatrix(mapping: folder.appendingPathComponent(NeighborPlan.vectorsName), dimension: dimension)
        let data = try Data(contentsOf: folder.appendingPathComponent(Self.centroidsName))
        guard vectors.rows == rows, data.count == ListCentroids.byteCount(lists: lists, dimension: dimension, cells: cells),
              let centroids = ListCentroids.decoded(data, lists: lists, dimension: dimension, cells: cells) else {
            throw IndexError.unreadable(path: folder.path, reason: "the vectors or the centroids do not have the assignment plan's shape")
        }
        return (vectors, centroids)
    }

    /// Assigns `block`'s rows and writes their lists to `url` (whole under its name).
    public func assign(block: Int, vectors: FeatureMatrix, centroids: ListCentroids, to url: URL) throws {
        let range = rows(ofBlock: block)
        let lists = centroids.nearest(of: vectors.view(range), metric: metric, take: take)
        var data = Self.partMagic
        [Int64(range.count), Int64(take)].map(\.littleEndian).withUnsafeBytes { data.append(contentsOf: $0) }
        lists.map(\.littleEndian).withUnsafeBytes { data.append(contentsOf: $0) }
        try AtomicFile.write(data, to: url)
    }

    /// Block `block`'s lists (``take`` a row, nearest first) in the part at `url`, or nil when it
    /// is missing, of another shape, or gives a row a list outside the plan or one list twice.
    func assignment(ofBlock block: Int, in url: URL) -> [Int32]? {
        let count = rows(ofBlock: block).count, header = Self.partMagic.count + 16
        guard let data = try? Data(contentsOf: url), data.count == header + count * take * 4,
              data.prefix(Self.partMagic.count) == Self.partMagic else { return nil }
        let (partRows, partTake, lists) = data.withUnsafeBytes { raw in
            (Int64(littleEndian: raw.loadUnaligned(fromByteOffset: Self.partMagic.count, as: Int64.self)),
             Int64(littleEndian: raw.loadUnaligned(fromByteOffset: Self.partMagic.count + 8, as: Int64.self)),
             (0..<count * take).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: header + $0 * 4, as: Int32.self)) })
        }
        guard partRows == count, partTake == take else { return nil }
        let valid = (0..<count).allSatisfy { row in
            let own = lists[(row * take)..<((row + 1) * take)]
            return own.allSatisfy { $0 >= 0 && Int($0) < self.lists } && Set(own).count == own.count
        }
        return valid ? lists : nil
    }
}

extension ListAssignmentPlan {
    /// Reads the plan in `folder` (written by a `cluster finish`).
    public init(folder: URL) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: folder.appendingPathComponent(Self.planName)))
        // Bounded so that no block arithmetic can overflow, whatever the file says.
        let limit = 1 << 40
        guard (2...limit).contains(rows), (1...limit).contains(dimension), (1...rows).contains(lists), (0...lists).contains(cells),
              (1...limit).contains(blockRows),
              blockRows % ListIndex.assignmentBlock == 0 else {
            throw IndexError.unreadable(path: folder.appendingPathComponent(Self.planName).path, reason: "not a list assignment plan")
        }
    }
}

extension ListIndex {
    /// ``init(vectors:metric:listRows:)`` with the rows' assignment to their lists done in blocks
    /// by `sharing` where it can (a block no intact part holds is assigned here): the same index.
    /// `progress` hears how many rows are assigned so far.
    init(vectors: FeatureMatrix, metric: DistanceMetric, listRows: Int, twoLevelAbove: Int = ListCentroids.twoLevelLists, key: String,
         sharing: any NeighborSearchSharing, progress: @escaping @Sendable (Int) -> Void) throws {
        let centroids = try Self.fittedCentroids(of: vectors, metric: metric, listRows: listRows, twoLevelAbove: twoLevelAbove)
        let plan = try ListAssignmentPlan.write(vectors: vectors, centroids: centroids, metric: metric, key: key,
                                                blockRows: sharing.rowsPerShare, to: sharing.folder)
        let parts = try sharing.assign(plan, progress: progress)
        var assignment = [Int32]()
        assignment.reserveCapacity(vectors.rows * plan.take)
        for block in 0..<plan.blocks {
            assignment += parts[block].flatMap { plan.assignment(ofBlock: block, in: $0) }
                ?? centroids.nearest(of: vectors.view(plan.rows(ofBlock: block)), metric: metric, take: plan.take)
        }
        self.init(vectors: vectors, metric: metric, centroids: centroids, assignment: assignment)
    }
}
