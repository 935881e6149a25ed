import Foundation

/// Every image's k nearest neighbors, nearest first: the file `knn.bin` in the work_dir, written
/// once by the index stage (``KNNGraphWriter``, in blocks of rows) and read by every analysis
/// through a memory map, or held in memory for small data.
///
/// File layout (little-endian): a 32-byte header — magic `WINNOKNN`, version (`UInt32`), metric
/// code (`UInt32`: cosine 0, euclidean 1, l1 2, linf 3), N (`UInt64`), k (`UInt64`) — then
/// N×k `Int32` neighbor rows (−1 = none, only after the real ones) and N×k `Float32` distances
/// (the meaning of ``Neighbor/distance``).
public struct KNNGraph: Sendable {
    /// Images (rows) in the graph.
    public let rows: Int
    /// Neighbor slots per row.
    public let k: Int
    public let metric: DistanceMetric
    private let storage: Storage

    /// The name of the index stage's graph in the work_dir.
    public static let fileName = "knn.bin"
    /// The name of the graph with copy verification's final scores.
    public static let verifiedFileName = "knn_verified.bin"

    /// A graph held in memory; `k` is the longest list's length (shorter lists are padded).
    public init(lists: [[Neighbor]], metric: DistanceMetric) {
        let k = lists.map(\.count).max() ?? 0
        let storage = Storage(count: lists.count * k)
        for (row, list) in lists.enumerated() {
            storage.fill(row: row, k: k, with: list)
        }
        self.init(rows: lists.count, k: k, metric: metric, storage: storage)
    }

    /// Memory-maps a graph file, checking its header and size.
    public init(contentsOf url: URL) throws(KNNGraphError) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        let header = try GraphHeader(data, path: url.path)
        guard data.count == GraphHeader.size + header.rows * header.k * 8 else {
            throw .unreadable(path: url.path, reason: "\(data.count) bytes, the header's \(header.rows)×\(header.k) "
                + "graph needs \(GraphHeader.size + header.rows * header.k * 8)")
        }
        self.init(rows: header.rows, k: header.k, metric: header.metric, storage: Storage(mapped: data, slots: header.rows * header.k))
    }

    private init(rows: Int, k: Int, metric: DistanceMetric, storage: Storage) {
        self.rows = rows
        self.k = k
        self.metric = metric
        self.storage = storage
    }

    /// Row `row`'s neighbors, nearest first (a view into the graph, not a copy).
    public func neighbors(of row: Int) -> Neighbors {
        precondition(row >= 0 && row < rows, "row \(row) outside a graph of \(rows) rows")
        let first = row * k
        var count = 0
        while count < k && storage.ids[first + count] >= 0 { count += 1 }
        return Neighbors(storage: storage, first: first, count: count)
    }

    /// One row's neighbors: a random-access view of the graph's storage.
    public struct Neighbors: RandomAccessCollection, Sendable {
        fileprivate let storage: Storage
        fileprivate let first: Int
        public let count: Int

        public var startIndex: Int { 0 }
        public var endIndex: Int { count }
        public subscript(position: Int) -> Neighbor {
            precondition(position >= 0 && position < count, "neighbor \(position) outside 0..<\(count)")
            return Neighbor(index: Int(storage.ids[first + position]), distance: storage.distances[first + position])
        }
    }

    /// The ids and distances: allocated for an in-memory graph, or a mapped file's regions.
    fileprivate final class Storage: @unchecked Sendable {
        let ids: UnsafePointer<Int32>
        let distances: UnsafePointer<Float>
        private let owner: AnyObject?
        private let allocated: UnsafeMutableRawPointer?

        /// `count` slots, all empty.
        init(count: Int) {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 8, alignment: 4)
            let ids = raw.bindMemory(to: Int32.self, capacity: count)
            ids.initialize(repeating: -1, count: count)
            let distances = (raw + count * 4).bindMemory(to: Float.self, capacity: count)
            distances.initialize(repeating: 0, count: count)
            self.ids = UnsafePointer(ids)
            self.distances = UnsafePointer(distances)
            allocated = raw
            owner = nil
        }

        /// A mapped file's `slots` ids and distances after its header (a mapped `Data` keeps one
        /// stable, page-aligned region for its lifetime).
        init(mapped data: Data, slots: Int) {
            let box = DataBox(data)
            let base = box.data.withUnsafeBytes { $0.baseAddress! } + GraphHeader.size
            ids = base.assumingMemoryBound(to: Int32.self)
            distances = (base + slots * 4).assumingMemoryBound(to: Float.self)
            owner = box
            allocated = nil
        }

        /// Writes `list` into row `row` of an allocated graph.
        func fill(row: Int, k: Int, with list: [Neighbor]) {
            let ids = UnsafeMutablePointer(mutating: self.ids), distances = UnsafeMutablePointer(mutating: self.distances)
            for (slot, neighbor) in list.enumerated() {
                ids[row * k + slot] = Int32(neighbor.index)
                distances[row * k + slot] = neighbor.distance
            }
        }

        deinit { allocated?.deallocate() }

        private final class DataBox {
            let data: Data
            init(_ data: Data) { self.data = data }
        }
    }
}

/// What went wrong with a kNN graph file; `description` is one line naming the file.
public enum KNNGraphError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The file is missing, short, or not a graph.
    case unreadable(path: String, reason: String)
    /// The file could not be written, or was given rows that do not fit it.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read kNN graph \(path): \(reason)"
        case let .unwritable(path, reason): "cannot write kNN graph \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// The 32-byte header of a graph file.
struct GraphHeader: Equatable {
    static let size = 32
    static let magic = Array("WINNOKNN".utf8)
    static let version: UInt32 = 1
    /// Stable codes for the metrics, independent of the enum's order.
    static let metricCodes: [DistanceMetric: UInt32] = [.cosine: 0, .euclidean: 1, .l1: 2, .linf: 3]

    var rows: Int
    var k: Int
    var metric: DistanceMetric

    init(rows: Int, k: Int, metric: DistanceMetric) {
        self.rows = rows
        self.k = k
        self.metric = metric
    }

    /// Reads and checks the header at the start of `data`.
    init(_ data: Data, path: String) throws(KNNGraphError) {
        guard data.count >= Self.size else {
            throw .unreadable(path: path, reason: "\(data.count) bytes, shorter than the \(Self.size)-byte header")
        }
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: data[data.startIndex + offset..<data.startIndex + offset + T.bitWidth / 8]) }
            return T(littleEndian: value)
        }
        guard Array(data.prefix(8)) == Self.magic else { throw .unreadable(path: path, reason: "not a kNN graph (bad magic)") }
        let version = integer(8, UInt32.self)
        guard version == Self.version else { throw .unreadable(path: path, reason: "unsupported version \(version)") }
        let code = integer(12, UInt32.self)
        guard let metric = Self.metricCodes.first(where: { $0.value == code })?.key else {
            throw .unreadable(path: path, reason: "unknown metric code \(code)")
        }
        let rows = integer(16, UInt64.self), k = integer(24, UInt64.self)
        guard rows <= UInt64(Int32.max), k <= 4096 else {
            throw .unreadable(path: path, reason: "implausible size \(rows)×\(k)")
        }
        self.init(rows: Int(rows), k: Int(k), metric: metric)
    }

    var bytes: Data {
        var data = Data(Self.magic)
        withUnsafeBytes(of: Self.version.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: (Self.metricCodes[metric] ?? 0).littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(rows).littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(k).littleEndian) { data.append(contentsOf: $0) }
        return data
    }
}

/// Writes a ``KNNGraph`` file row block by row block (never all rows in memory): the rows go to
/// a temporary file beside `url`, which `finish()` flushes and renames over `url`, so a reader
/// or a killed run sees the old graph or the complete new one (as ``AtomicFile``).
///
/// A resumable writer's temporary file has a fixed name (`url` + `.partial`) and, after each
/// block, the rows written so far are recorded beside it (`.partial.rows`, once the block's
/// bytes are on disk): a writer made again for the same `url` and shape goes on from there.
public final class KNNGraphWriter {
    public let url: URL
    private let header: GraphHeader
    private let temporary: URL
    private let handle: FileHandle
    /// Where a resumable writer records its rows written (nil: not resumable).
    private let progress: URL?
    /// Rows written so far.
    public private(set) var rowsWritten = 0
    private var finished = false

    /// Whether `name` is a resumable writer's partial file or its record.
    static func isPartial(_ name: String) -> Bool {
        name.hasSuffix(".partial") || name.hasSuffix(".partial.rows") || name.hasSuffix(".partial.pieces")
    }

    /// Starts a graph of `rows` rows with `k` neighbor slots each (`resumable`: or goes on with
    /// one an earlier writer of the same shape left part-written).
    public init(url: URL, rows: Int, k: Int, metric: DistanceMetric, resumable: Bool = false) throws(KNNGraphError) {
        guard rows >= 0, rows <= Int(Int32.max), k >= 0, k <= 4096 else {
            throw .unwritable(path: url.path, reason: "unsupported size \(rows)×\(k)")
        }
        self.url = url
        header = GraphHeader(rows: rows, k: k, metric: metric)
        let size = UInt64(GraphHeader.size + rows * k * 8)
        do {
            if resumable {
                let partial = URL(fileURLWithPath: url.path + ".partial"), record = URL(fileURLWithPath: url.path + ".partial.rows")
                (temporary, progress) = (partial, record)
                if let done = Self.finishedRows(partial: partial, record: record, header: header, size: size) {
                    handle = try FileHandle(forUpdating: partial)
                    rowsWritten = done
                    return
                }
                try? FileManager.default.removeItem(at: record)
                guard FileManager.default.createFile(atPath: partial.path, contents: nil) else {
                    throw KNNGraphError.unwritable(path: partial.path, reason: "cannot create the file")
                }
                handle = try FileHandle(forUpdating: partial)
            } else {
                (temporary, handle) = try AtomicFile.createTemporary(beside: url)
                progress = nil
            }
        } catch let error as KNNGraphError {
            throw error
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        do {
            try handle.write(contentsOf: header.bytes)
            try handle.truncate(atOffset: size)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// The rows an earlier writer recorded as written in `partial`, if it has this header and size.
    private static func finishedRows(partial: URL, record: URL, header: GraphHeader, size: UInt64) -> Int? {
        guard let text = try? String(contentsOf: record, encoding: .utf8), let rows = Int(text), rows >= 0, rows <= header.rows,
              let handle = try? FileHandle(forReadingFrom: partial) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seekToEnd()) == size, (try? handle.seek(toOffset: 0)) != nil,
              let head = try? handle.read(upToCount: GraphHeader.size), head == header.bytes else { return nil }
        return rows
    }

    /// An unfinished graph's file is removed, unless it is resumable.
    deinit {
        guard !finished else { return }
        try? handle.close()
        if progress == nil { try? FileManager.default.removeItem(at: temporary) }
    }

    /// Appends the next `block.count` rows (each at most `k` neighbors, nearest first).
    public func append(_ block: [[Neighbor]]) throws(KNNGraphError) {
        let k = header.k
        guard rowsWritten + block.count <= header.rows, block.allSatisfy({ $0.count <= k }) else {
            throw .unwritable(path: url.path, reason: "rows \(rowsWritten)..<\(rowsWritten + block.count) do not fit a "
                + "\(header.rows)×\(k) graph")
        }
        var ids = [Int32](repeating: -1, count: block.count * k), distances = [Float](repeating: 0, count: block.count * k)
        for (row, list) in block.enumerated() {
            for (slot, neighbor) in list.enumerated() {
                ids[row * k + slot] = Int32(neighbor.index)
                distances[row * k + slot] = neighbor.distance
            }
        }
        do {
            try handle.seek(toOffset: UInt64(GraphHeader.size + rowsWritten * k * 4))
            try ids.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
            try handle.seek(toOffset: UInt64(GraphHeader.size + (header.rows + rowsWritten) * k * 4))
            try distances.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
            if let progress {
                try handle.synchronize()
                try AtomicFile.write(String(rowsWritten + block.count), to: progress)
            }
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        rowsWritten += block.count
    }

    /// Flushes the file, renames it over `url` and maps it; every row must have been appended.
    public func finish() throws(KNNGraphError) -> KNNGraph {
        guard rowsWritten == header.rows else {
            throw .unwritable(path: url.path, reason: "\(rowsWritten) of \(header.rows) rows written")
        }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        finished = true
        do {
            try AtomicFile.replace(url, with: temporary)
            if let progress { try? FileManager.default.removeItem(at: progress) }
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        return try KNNGraph(contentsOf: url)
    }
}

extension KNNGraph {
    /// Writes the graph to `url` (atomically), in blocks of rows.
    public func write(to url: URL, blockRows: Int = 4096) throws(KNNGraphError) -> KNNGraph {
        let writer = try KNNGraphWriter(url: url, rows: rows, k: k, metric: metric)
        for start in stride(from: 0, to: rows, by: blockRows) {
            try writer.append((start..<min(rows, start + blockRows)).map { Array(neighbors(of: $0)) })
        }
        return try writer.finish()
    }
}
