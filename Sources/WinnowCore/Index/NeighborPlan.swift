import Foundation

/// The kNN graph's search in blocks of rows that other processes can do (`cluster finish`'s
/// kNN jobs): the index — the vectors it holds and, for the kinds that have one, its saved
/// structure — as files in one folder, and the blocks. Searching a block with the index loaded
/// from the folder gives exactly the rows ``SimilarityIndex/writeNeighborGraph(k:to:blockRows:resumable:progress:)``
/// writes for it: the same vectors, the same saved structure, the same search.
public struct NeighborPlan: Codable, Sendable, Equatable {
    /// Names the vectors and the index (the work_dir's index cache key): plans with the same
    /// key share their index.
    public var key: String
    public var rows: Int
    public var dimension: Int
    public var metric: DistanceMetric
    public var kind: IndexKind
    /// Neighbors asked of each row (the graph keeps at most `rows - 1`).
    public var k: Int
    /// Rows a block covers.
    public var blockRows: Int
    /// For a ``ListIndex``, its blocks: the pieces of its lists searched one by one.
    public var chunks: [ListIndex.Chunk]?

    static let planName = "plan.json", vectorsName = "vectors.f32", vectorsNoteName = "vectors.key", indexName = "index"

    public var blocks: Int { chunks?.count ?? (rows + blockRows - 1) / blockRows }

    /// Rows block `block` searches for.
    public func items(ofBlock block: Int) -> Int { chunks.map { $0[block].queries.count } ?? rows(ofBlock: block).count }

    /// Neighbor slots of each row in the graph: `k`, at most every other row.
    var slots: Int { max(0, min(k, rows - 1)) }

    public func rows(ofBlock block: Int) -> Range<Int> {
        (block * blockRows)..<min(rows, (block + 1) * blockRows)
    }

    /// Block `block`'s part file in the plan's folder: named after the key (the vectors, the index
    /// and `k`) and the block size, so that a part written for another plan is never taken for
    /// one of this, and a plan written again finds the parts already searched.
    public func partName(block: Int) -> String { "\(Self.partPrefix)\(key)-\(blockRows)-\(block).knn" }

    static let partPrefix = "part-"

    /// Writes the vectors, the saved index (none for the exact one) and the plan into `folder`
    /// (each file whole under its name); of the parts there, keeps this plan's (see
    /// ``prepare(_:vectors:key:parts:keeping:)``).
    static func write(index: any SimilarityIndex, vectors: FeatureMatrix, key: String, k: Int, blockRows: Int,
                      to folder: URL) throws -> NeighborPlan {
        let plan = NeighborPlan(key: key, rows: vectors.rows, dimension: vectors.dimension, metric: index.metric, kind: index.kind,
                                k: k, blockRows: blockRows, chunks: (index as? ListIndex)?.chunks(rowsPerChunk: blockRows))
        try prepare(folder, vectors: vectors, key: key, parts: partPrefix, keeping: Set((0..<plan.blocks).map(plan.partName)))
        if index.kind != .flat { try index.save(to: folder.appendingPathComponent(indexName)) }
        try AtomicFile.write(try JSONEncoder().encode(plan), to: folder.appendingPathComponent(planName))
        return plan
    }

    /// Readies `folder` for a plan over `vectors`. Vectors it holds under the same note (their key
    /// and shape) are kept — a list index's assignment plan and its search plan write them once
    /// (6.4 GB at 1M images) — and so are the parts named `keeping`, those a finish stopped
    /// part-way left for the same plan; other files whose names start with `parts` are removed.
    /// Otherwise the folder is emptied and the vectors written (`vectors.f32`, then the note).
    static func prepare(_ folder: URL, vectors: FeatureMatrix, key: String, parts: String, keeping: Set<String>) throws {
        let file = folder.appendingPathComponent(vectorsName), note = folder.appendingPathComponent(vectorsNoteName)
        let expected = Data("\(key) \(vectors.rows)x\(vectors.dimension)".utf8)
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int
        guard (try? Data(contentsOf: note)) == expected, size == vectors.rows * vectors.dimension * 4 else {
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try AtomicFile.write(to: file) { try vectors.write(rows: 0..<vectors.rows, to: $0) }
            try AtomicFile.write(expected, to: note)
            return
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasPrefix(parts) && !keeping.contains(name) {
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// The index the plan describes, its vectors mapped from `folder`.
    public func loadIndex(folder: URL) throws -> any SimilarityIndex {
        let vectors = try FeatureMatrix(mapping: folder.appendingPathComponent(Self.vectorsName), dimension: dimension)
        guard vectors.rows == rows else {
            throw IndexError.unreadable(path: folder.appendingPathComponent(Self.vectorsName).path,
                                        reason: "\(vectors.rows) rows where the plan has \(rows)")
        }
        let saved = folder.appendingPathComponent(Self.indexName)
        let index: any SimilarityIndex = switch kind {
        case .flat: ExactIndex(vectors: vectors, metric: metric)
        case .projected: try ProjectedIndex.load(from: saved, vectors: vectors)
        case .hnsw, .ivf: try ApproximateIndex.load(from: saved)
        case .lists: try ListIndex.load(from: saved, vectors: vectors)
        }
        let chunksMatch = chunks == nil || chunks == (index as? ListIndex)?.chunks(rowsPerChunk: blockRows)
        guard index.count == rows, index.dimension == dimension, index.metric == metric, chunksMatch else {
            throw IndexError.unreadable(path: saved.path, reason: "the saved index does not match the plan")
        }
        return index
    }

    /// Searches `block` with `index` and writes its rows' neighbors to `url`: a graph file of
    /// the block's rows whose neighbors are rows of the whole collection.
    public func search(block: Int, with index: any SimilarityIndex, to url: URL) throws {
        let writer = try KNNGraphWriter(url: url, rows: items(ofBlock: block), k: slots, metric: metric)
        try writer.append(try neighbors(ofBlock: block, with: index))
        _ = try writer.finish()
    }

    /// Block `block`'s lists, searched with `index` (the plan's).
    func neighbors(ofBlock block: Int, with index: any SimilarityIndex) throws -> [[Neighbor]] {
        guard let chunks else { return try index.neighbors(ofStoredRows: rows(ofBlock: block), k: k) }
        guard let lists = index as? ListIndex else { throw IndexError.invalidParameter("a plan of list chunks needs the list index") }
        return lists.search(chunks[block], k: k).lists
    }

    /// The lists of `block` in the part file at `url`, or nil when it is missing, of another
    /// shape, or names rows outside the collection.
    func lists(ofBlock block: Int, in url: URL) -> [[Neighbor]]? {
        guard let part = try? KNNGraph(contentsOf: url), part.rows == items(ofBlock: block), part.k == slots,
              part.metric == metric else { return nil }
        let lists = (0..<part.rows).map { Array(part.neighbors(of: $0)) }
        let valid = lists.allSatisfy { list in list.allSatisfy { $0.index >= 0 && $0.index < rows && $0.distance.isFinite } }
        return valid ? lists : nil
    }
}

extension NeighborPlan {
    /// Reads the plan in `folder` (written by a `cluster finish`).
    public init(folder: URL) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: folder.appendingPathComponent(Self.planName)))
        // Bounded so that no block arithmetic can overflow, whatever the file says.
        let limit = 1 << 40
        let chunksFit = chunks?.allSatisfy { $0.list >= 0 && $0.queries.lowerBound >= 0 && $0.queries.upperBound <= rows } ?? true
        guard (2...limit).contains(rows), (1...limit).contains(dimension), (0...limit).contains(k), (1...limit).contains(blockRows),
              chunksFit, (chunks == nil) == (kind != .lists) else {
            throw IndexError.unreadable(path: folder.appendingPathComponent(Self.planName).path, reason: "not a neighbor plan")
        }
    }
}

/// Hands the blocks of a kNN graph's search — and of a list index's assignment — to other
/// processes (`cluster finish`: the workers) and waits for them. Sharing is an acceleration only: a block no part holds whole is
/// searched by the run itself.
public protocol NeighborSearchSharing: Sendable {
    /// Where the plan's files go (the shared storage).
    var folder: URL { get }
    /// Rows in one block.
    var rowsPerShare: Int { get }
    /// Has the blocks of `plan` (its files in ``folder``) searched; returns the part file of
    /// each block that was. `progress` hears how many rows are searched so far, now and then.
    func search(_ plan: NeighborPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL]
    /// Has the blocks of a list index's assignment `plan` (its files in ``folder``) assigned;
    /// returns the part file of each block that was. `progress` hears how many rows are assigned.
    func assign(_ plan: ListAssignmentPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL]
    /// Removes the plan's files and parts once the graph is written.
    func removeFiles()
}

extension SimilarityIndex {
    /// ``writeNeighborGraph(k:to:blockRows:resumable:progress:)`` with the blocks searched by `sharing`
    /// where it can: the same graph, whoever searched each block.
    func writeSharedNeighborGraph(k: Int, to url: URL, vectors: FeatureMatrix, key: String, sharing: any NeighborSearchSharing,
                                  progress: @escaping @Sendable (Int) -> Void) throws -> KNNGraph {
        // The exact index's blocks are whole query tiles, so that each product is the one a search
        // of every row computes (BLAS takes other paths for small products: other last bits).
        let tile = kind == .flat ? ExactIndex.queryBlock : 1
        let blockRows = (max(1, sharing.rowsPerShare) + tile - 1) / tile * tile
        let plan = try NeighborPlan.write(index: self, vectors: vectors, key: key, k: k, blockRows: blockRows, to: sharing.folder)
        let parts = try sharing.search(plan, progress: progress)
        func lists(ofBlock block: Int) throws -> [[Neighbor]] {
            try parts[block].flatMap { plan.lists(ofBlock: block, in: $0) } ?? plan.neighbors(ofBlock: block, with: self)
        }
        let graph: KNNGraph
        if let index = self as? ListIndex, let chunks = plan.chunks {
            let merger = try KNNGraphMerger(url: url, rows: plan.rows, k: plan.slots, metric: metric)
            for (block, chunk) in chunks.enumerated() {
                let rows = index.rows(of: chunk)
                var found = try lists(ofBlock: block)
                // A part naming a row among its own neighbors is not the chunk's search.
                if zip(rows, found).contains(where: { row, list in list.contains { $0.index == row } }) { found = index.search(chunk, k: k).lists }
                for (row, list) in zip(rows, found) { try merger.merge(list, into: row) }
            }
            graph = try merger.finish()
        } else {
            let writer = try KNNGraphWriter(url: url, rows: plan.rows, k: plan.slots, metric: metric)
            for block in 0..<plan.blocks { try writer.append(try lists(ofBlock: block)) }
            graph = try writer.finish()
        }
        sharing.removeFiles()
        return graph
    }
}
