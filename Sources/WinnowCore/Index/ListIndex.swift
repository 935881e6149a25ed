import COpenBLAS
import Foundation

/// Nearest neighbours by inverted lists whose searches are independent of one another, so that
/// many machines can share them (`cluster finish`'s knn jobs): k-means centroids fitted on an
/// evenly spaced sample of the rows (unit rows for cosine; in two levels for many lists:
/// ``ListCentroids``), each row a member of the lists of its
/// ``listsPerRow`` nearest centroids, and a row's neighbours searched exactly — ``ExactIndex``'s
/// BLAS tiles over the gathered members — among the members of its lists. The kNN graph is built
/// list by list (``chunks(rowsPerChunk:)``: all the members of a list against one another, long
/// lists split into chunks of query members) and merged per row (``KNNGraphMerger``).
///
/// Faiss's IVF lists, with each stored row assigned to several lists instead of one and each
/// list joined with itself instead of probed per query. Approximate: two rows are compared only when they
/// share a list. Whitened copy descriptors are nearly isotropic, so lists cut through
/// neighbourhoods: on the scale bench's first 20,000 images (default lists, spherical k-means),
/// three lists a row kept 0.989 of the pairs `similarity.csv` lists with the exact index, four
/// 0.9985 for 1.2× the index stage's CPU (docs/cluster.md). A query from outside the collection
/// probes its ``probes`` nearest lists. With one list (under `listRows / 4` rows) it is the exact index.
public struct ListIndex: SimilarityIndex {
    /// The vectors every distance is computed from (mapped or in memory).
    public let vectors: FeatureMatrix
    public let metric: DistanceMetric
    /// The lists' centroids (in two levels for many lists).
    public let centroids: ListCentroids
    /// List `l`'s members are `members[offsets[l]..<offsets[l + 1]]`, rows ascending.
    let offsets: [Int]
    let members: [Int32]

    /// Members a list has on average.
    public static let defaultListRows = 4096
    /// Lists each row belongs to.
    public static let listsPerRow = 4
    /// Lists a query from outside the collection probes.
    public static let probes = 4

    public var count: Int { vectors.rows }
    public var dimension: Int { vectors.dimension }
    public var kind: IndexKind { .lists }
    public var lists: Int { offsets.count - 1 }

    /// Fits about `listsPerRow × rows / listRows` centroids (in two levels above `twoLevelAbove`
    /// lists) and puts each row in its nearest lists.
    public init(vectors: FeatureMatrix, metric: DistanceMetric = .cosine, listRows: Int = defaultListRows,
                twoLevelAbove: Int = ListCentroids.twoLevelLists) throws(IndexError) {
        let centroids = try Self.fittedCentroids(of: vectors, metric: metric, listRows: listRows, twoLevelAbove: twoLevelAbove)
        self.init(vectors: vectors, metric: metric, centroids: centroids)
    }

    /// Puts each row of `vectors` in its ``listsPerRow`` nearest lists of `centroids`
    /// (``fittedCentroids(of:metric:listRows:twoLevelAbove:)`` for these vectors).
    public init(vectors: FeatureMatrix, metric: DistanceMetric, centroids: ListCentroids) {
        self.init(vectors: vectors, metric: metric, centroids: centroids,
                  assignment: centroids.nearest(of: vectors, metric: metric, take: Self.listsPerRow))
    }

    /// An index of `vectors` over these centroids: row `r`'s lists are the `assignment.count /
    /// vectors.rows` values from `assignment[r × that]`.
    init(vectors: FeatureMatrix, metric: DistanceMetric, centroids: ListCentroids, assignment: [Int32]) {
        var offsets = [Int](repeating: 0, count: centroids.lists.rows + 1)
        for l in assignment { offsets[Int(l) + 1] += 1 }
        for l in 0..<centroids.lists.rows { offsets[l + 1] += offsets[l] }
        let perRow = assignment.count / max(1, vectors.rows)
        var members = [Int32](repeating: 0, count: assignment.count), next = offsets
        for (position, l) in assignment.enumerated() {
            members[next[Int(l)]] = Int32(position / perRow)
            next[Int(l)] += 1
        }
        self.init(vectors: vectors, metric: metric, centroids: centroids, offsets: offsets, members: members)
    }

    private init(vectors: FeatureMatrix, metric: DistanceMetric, centroids: ListCentroids, offsets: [Int], members: [Int32]) {
        (self.vectors, self.metric, self.centroids, self.offsets, self.members) = (vectors, metric, centroids, offsets, members)
    }

    /// The members of list `list`, rows ascending.
    public func members(of list: Int) -> ArraySlice<Int32> { members[offsets[list]..<offsets[list + 1]] }

    // MARK: Fitting and assigning

    /// Rows whose products with the centroids one `sgemm` computes when rows are assigned: an
    /// assignment in blocks of whole tiles (``ListAssignmentPlan``) makes the same calls.
    static let assignmentBlock = ExactIndex.queryBlock

    /// The centroids of about `listsPerRow × rows / listRows` lists for `vectors`.
    public static func fittedCentroids(of vectors: FeatureMatrix, metric: DistanceMetric, listRows: Int,
                                twoLevelAbove: Int = ListCentroids.twoLevelLists) throws(IndexError) -> ListCentroids {
        guard metric == .cosine || metric == .euclidean else { throw .unsupportedMetric(metric) }
        guard listRows >= 2 else { throw .invalidParameter("lists need at least 2 rows each, got \(listRows)") }
        guard vectors.rows >= 2 else { throw .invalidParameter("the list index needs at least 2 rows, got \(vectors.rows)") }
        let lists = max(1, (vectors.rows * Self.listsPerRow + listRows - 1) / listRows)
        return ListCentroids.fit(vectors, lists: lists, metric: metric, twoLevelAbove: twoLevelAbove)
    }

    /// Rows `rows` of `vectors` as one matrix in memory (scaled to unit length with `unit`), read
    /// with ``FeatureMatrix/copyRow(_:into:)``: rows of a mapped matrix read at random do not stay
    /// resident.
    static func gather(_ rows: some Collection<Int32>, from vectors: FeatureMatrix, unit: Bool = false) -> FeatureMatrix {
        gather(rows.map { Int($0) }, from: vectors, unit: unit)
    }

    static func gather(_ rows: [Int], from vectors: FeatureMatrix, unit: Bool = false) -> FeatureMatrix {
        let d = vectors.dimension
        return FeatureMatrix(rows: rows.count, dimension: d) { out in
            for (i, row) in rows.enumerated() {
                let copy = out.baseAddress! + i * d
                vectors.copyRow(row, into: copy)
                if unit {
                    let scale = ProjectedIndex.inverseNorm(UnsafeBufferPointer(start: copy, count: d))
                    for j in 0..<d { copy[j] *= scale }
                }
            }
        }
    }

    // MARK: Searching

    /// One piece of the graph's search: members `queries` of list `list` against all its members.
    public struct Chunk: Sendable, Equatable, Codable {
        public var list: Int
        /// Positions within the list's members.
        public var queries: Range<Int>
    }

    /// The graph's search in pieces of at most `rowsPerChunk` query members (rounded up to whole
    /// 512-row query tiles, so that a list searched in pieces gives what one search gives).
    public func chunks(rowsPerChunk: Int) -> [Chunk] {
        let tile = ExactIndex.queryBlock, size = (max(1, rowsPerChunk) + tile - 1) / tile * tile
        return (0..<lists).flatMap { list in
            let n = offsets[list + 1] - offsets[list]
            return stride(from: 0, to: n, by: size).map { Chunk(list: list, queries: $0..<min(n, $0 + size)) }
        }
    }

    /// The rows a chunk searches for.
    public func rows(of chunk: Chunk) -> [Int] {
        let listMembers = members(of: chunk.list)
        return chunk.queries.map { Int(listMembers[listMembers.startIndex + $0]) }
    }

    /// The rows a chunk searches for, and their `k` nearest other members of the chunk's list.
    public func search(_ chunk: Chunk, k: Int) -> (rows: [Int], lists: [[Neighbor]]) {
        let listMembers = members(of: chunk.list)
        let local = ExactIndex(vectors: Self.gather(listMembers, from: vectors), metric: metric)
        let found = local.neighbors(ofStoredRows: chunk.queries, k: k)
        let global = found.map { $0.map { Neighbor(index: Int(listMembers[listMembers.startIndex + $0.index]), distance: $0.distance) } }
        return (rows(of: chunk), global)
    }

    /// The graph: every chunk searched, each row's lists merged (`resumable`: a write stopped
    /// part-way goes on after the last chunk it noted, every ``progressSeconds`` — a chunk's
    /// rows are scattered over the file, so each note flushes many pages).
    public func writeAllNeighbors(k: Int, to url: URL, blockRows: Int, resumable: Bool,
                                  progress: ((Int) -> Void)?) throws -> KNNGraph {
        let merger = try KNNGraphMerger(url: url, rows: count, k: max(0, min(k, count - 1)), metric: metric, resumable: resumable)
        let chunks = chunks(rowsPerChunk: blockRows)
        var noted = Date()
        for position in merger.piecesMerged(of: chunks.count)..<chunks.count {
            progress?(count * position / max(chunks.count, 1))
            let found = search(chunks[position], k: k)
            for (row, list) in zip(found.rows, found.lists) { try merger.merge(list, into: row) }
            if Date().timeIntervalSince(noted) >= Self.progressSeconds {
                try merger.record(piecesMerged: position + 1, of: chunks.count)
                noted = Date()
            }
        }
        progress?(count)
        return try merger.finish()
    }

    /// Seconds between a resumable graph write's notes of its progress.
    static let progressSeconds: TimeInterval = 20

    /// Each query's `k` nearest members of its ``probes`` nearest lists, each distance one dot
    /// product with the stored row (no gathering: a query reads only its candidates).
    public func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool) throws(IndexError) -> [[Neighbor]] {
        guard queries.dimension == dimension else { throw .dimensionMismatch(expected: dimension, actual: queries.dimension) }
        let probes = min(Self.probes, lists)
        let probed = centroids.nearest(of: queries, metric: metric, take: probes)
        return (0..<queries.rows).map { query in
            let candidates = Set(probed[(query * probes)..<((query + 1) * probes)].flatMap { members(of: Int($0)) })
            var best = TopK(k: k), x = [Float](repeating: 0, count: dimension)
            let q = queries.row(query), qq = cblas_sdot(Int32(dimension), q.baseAddress, 1, q.baseAddress, 1)
            for candidate in candidates where !excludingSelf || Int(candidate) != query {
                vectors.copyRow(Int(candidate), into: &x)
                let qx = cblas_sdot(Int32(dimension), q.baseAddress, 1, x, 1)
                let xx = cblas_sdot(Int32(dimension), x, 1, x, 1)
                let distance = metric == .cosine
                    ? max(0, 1 - (qq > 0 && xx > 0 ? qx / (qq * xx).squareRoot() : 0))
                    : max(0, qq + xx - 2 * qx).squareRoot()
                best.insert(Int(candidate), distance)
            }
            return best.sorted()
        }
    }

    public func allNeighbors(k: Int) throws(IndexError) -> [[Neighbor]] {
        try neighbors(ofStoredRows: 0..<count, k: k)
    }

    /// Each row's neighbours among the members of its own lists (those ``chunks(rowsPerChunk:)``
    /// search): every list holding one of `rows` is searched for those of its members.
    public func neighbors(ofStoredRows rows: Range<Int>, k: Int) throws(IndexError) -> [[Neighbor]] {
        var found = [[Neighbor]](repeating: [], count: rows.count)
        for list in 0..<lists {
            let listMembers = members(of: list)
            let asked = listMembers.indices.filter { rows.contains(Int(listMembers[$0])) }
            guard let first = asked.first, let last = asked.last else { continue }
            let chunk = Chunk(list: list, queries: (first - listMembers.startIndex)..<(last - listMembers.startIndex + 1))
            let result = search(chunk, k: k)
            for (row, list) in zip(result.rows, result.lists) where rows.contains(row) {
                found[row - rows.lowerBound] = KNNGraphMerger.union(found[row - rows.lowerBound], list, k: k)
            }
        }
        return found
    }

    /// Appends rows, each to its nearest lists (the centroids stay as fitted).
    public mutating func add(_ more: FeatureMatrix) throws(IndexError) {
        guard more.dimension == dimension else { throw .dimensionMismatch(expected: dimension, actual: more.dimension) }
        let perRow = min(Self.listsPerRow, lists)
        var assignment = [Int32](repeating: 0, count: count * perRow), filled = [Int](repeating: 0, count: count)
        for list in 0..<lists {
            for row in members(of: list) { assignment[Int(row) * perRow + filled[Int(row)]] = Int32(list); filled[Int(row)] += 1 }
        }
        assignment += centroids.nearest(of: more, metric: metric, take: Self.listsPerRow)
        self = ListIndex(vectors: vectors.appending(more), metric: metric, centroids: centroids, assignment: assignment)
    }
}

// MARK: - Saving

extension ListIndex {
    /// What `save(to:)` writes at its URL; the centroids and lists go to the file named after it,
    /// and the vectors are expected in `atrain_features.dat` next to it, as for a saved `ExactIndex`.
    struct Manifest: Codable, Equatable {
        var format = Self.format
        var version = 1
        var metric: DistanceMetric
        var rows: Int
        var dimension: Int
        var lists: Int
        /// Entries over all lists (each row in up to ``ListIndex/listsPerRow``).
        var members: Int
        /// Coarse cells of two-level centroids (nil: one level).
        var cells: Int?
        var vectors: String
        /// The centroids (``ListCentroids/encoded()``), then `lists + 1` Int64 offsets, then the Int32 members.
        var partition: String

        static let format = "winnow-list-index"
    }

    /// The centroids' and lists' file next to a manifest at `url`.
    public static func partitionFile(of url: URL) -> URL { URL(fileURLWithPath: url.path + ".lists") }

    /// Writes the manifest and the partition; the vectors must be in `atrain_features.dat` next
    /// to `url` when the index is loaded (a work_dir and a knn plan write them there).
    public func save(to url: URL) throws(IndexError) {
        let file = Self.partitionFile(of: url)
        var data = centroids.encoded()
        offsets.map { Int64($0).littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        members.map(\.littleEndian).withUnsafeBytes { data.append(contentsOf: $0) }
        do {
            try AtomicFile.write(data, to: file)
            try writeIndexManifest(Manifest(metric: metric, rows: count, dimension: dimension, lists: lists, members: members.count,
                                            cells: centroids.coarse == nil ? nil : centroids.cellCount, vectors: ExactIndex.vectorsFileName, partition: file.lastPathComponent), to: url)
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    public static func load(from url: URL) throws(IndexError) -> ListIndex {
        try load(from: url, vectors: nil)
    }

    /// Reads an index written by `save(to:)`; its vectors are `vectors` when given (they must have
    /// the manifest's shape), else the manifest's file next to `url`. Lists that are not a
    /// partition of the rows (offsets out of order, members out of range) are refused.
    public static func load(from url: URL, vectors given: FeatureMatrix?) throws(IndexError) -> ListIndex {
        let folder = url.deletingLastPathComponent()
        let manifest: Manifest, vectors: FeatureMatrix, data: Data
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
            guard manifest.format == Manifest.format, manifest.version == 1, !manifest.vectors.contains("/"),
                  !manifest.partition.contains("/"), (1...(1 << 31)).contains(manifest.rows), (1...(1 << 20)).contains(manifest.dimension),
                  (1...manifest.rows).contains(manifest.lists), (0...manifest.rows * listsPerRow).contains(manifest.members),
                  (1...manifest.lists).contains(manifest.cells ?? 1) else {
                throw IndexError.unreadable(path: url.path, reason: "unsupported list-index manifest")
            }
            vectors = try given ?? FeatureMatrix(mapping: folder.appendingPathComponent(manifest.vectors), dimension: manifest.dimension)
            data = try Data(contentsOf: folder.appendingPathComponent(manifest.partition))
        } catch let error as IndexError {
            throw error
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        let centroidBytes = ListCentroids.byteCount(lists: manifest.lists, dimension: manifest.dimension, cells: manifest.cells ?? 0)
        let offsetBytes = (manifest.lists + 1) * 8
        guard vectors.rows == manifest.rows, vectors.dimension == manifest.dimension,
              data.count == centroidBytes + offsetBytes + manifest.members * 4 else {
            throw .unreadable(path: url.path, reason: "the vectors or the lists do not have the manifest's shape")
        }
        func values<T: FixedWidthInteger>(_ type: T.Type, from start: Int, count: Int) -> [T] {
            data.withUnsafeBytes { raw in (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: start + $0 * T.bitWidth / 8, as: T.self)) } }
        }
        let offsets = values(Int64.self, from: centroidBytes, count: manifest.lists + 1).map { Int($0) }
        let members = values(Int32.self, from: centroidBytes + offsetBytes, count: manifest.members)
        let ordered = offsets.first == 0 && offsets.last == members.count && zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 }
        let partition = ordered && (0..<manifest.lists).allSatisfy { l in
            let list = members[offsets[l]..<offsets[l + 1]]
            return zip(list, list.dropFirst()).allSatisfy { $0 < $1 } && list.allSatisfy { $0 >= 0 && Int($0) < manifest.rows }
        }
        let centroids = ListCentroids.decoded(data, lists: manifest.lists, dimension: manifest.dimension, cells: manifest.cells ?? 0)
        guard partition, let centroids else {
            throw .unreadable(path: url.path, reason: "\(manifest.partition) is not a partition of \(manifest.rows) rows")
        }
        return ListIndex(vectors: vectors, metric: manifest.metric, centroids: centroids, offsets: offsets, members: members)
    }
}
