import Foundation

/// Writes a ``KNNGraph`` file whose rows arrive in any order and in pieces: each piece of a
/// row's neighbors is merged into what the row holds (nearest first, one entry per neighbor, at
/// most `k`), in a temporary file mapped beside `url` that ``finish()`` flushes and renames over
/// it. For graphs searched list by list (``ListIndex``), where a row's candidates come from
/// each of its lists. Memory: the mapped file's pages, no copy of the rows.
///
/// A resumable merger's file has a fixed name (`url` + `.partial`), and ``record(piecesMerged:of:)``
/// notes beside it (`.partial.pieces`), once the file is flushed, how many of a fixed sequence
/// of pieces it holds: a merger made again for the same `url` and shape goes on with that file.
/// Merging a piece again changes nothing, so a piece merged after the last note is harmless.
public final class KNNGraphMerger {
    public let url: URL
    private let header: GraphHeader
    private let temporary: URL
    private let handle: FileHandle
    private let mapping: UnsafeMutableRawPointer
    private let byteCount: Int
    /// Where a resumable merger notes its pieces merged (nil: not resumable).
    private let progress: URL?
    private var finished = false

    /// Starts a graph of `rows` rows with `k` slots each, every row empty (`resumable`: or goes
    /// on with the file an earlier merger of the same shape left).
    public init(url: URL, rows: Int, k: Int, metric: DistanceMetric, resumable: Bool = false) throws(KNNGraphError) {
        guard rows >= 0, rows <= Int(Int32.max), k >= 0, k <= 4096 else {
            throw .unwritable(path: url.path, reason: "unsupported size \(rows)×\(k)")
        }
        self.url = url
        header = GraphHeader(rows: rows, k: k, metric: metric)
        byteCount = GraphHeader.size + rows * k * 8
        let partial = URL(fileURLWithPath: url.path + ".partial")
        progress = resumable ? URL(fileURLWithPath: partial.path + ".pieces") : nil
        let reused = resumable && Self.holdsGraph(partial, header: header, byteCount: byteCount)
        do {
            if reused {
                (temporary, handle) = (partial, try FileHandle(forUpdating: partial))
            } else if resumable {
                if let progress { try? FileManager.default.removeItem(at: progress) }
                guard FileManager.default.createFile(atPath: partial.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
                (temporary, handle) = (partial, try FileHandle(forUpdating: partial))
            } else {
                let (created, writer) = try AtomicFile.createTemporary(beside: url)
                try? writer.close()
                (temporary, handle) = (created, try FileHandle(forUpdating: created))
            }
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        do {
            if !reused {
                try handle.write(contentsOf: header.bytes)
                try handle.truncate(atOffset: UInt64(byteCount))
            }
            let base = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, handle.fileDescriptor, 0)
            guard let base, base != MAP_FAILED else { throw CocoaError(.fileWriteUnknown) }
            mapping = base
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw .unwritable(path: url.path, reason: "cannot map the file: \(error.localizedDescription)")
        }
        if !reused { memset(ids, 0xFF, rows * k * 4) }
    }

    /// Whether `partial` is a graph file of this header and size.
    private static func holdsGraph(_ partial: URL, header: GraphHeader, byteCount: Int) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: partial) else { return false }
        defer { try? handle.close() }
        return (try? handle.seekToEnd()) == UInt64(byteCount) && (try? handle.seek(toOffset: 0)) != nil
            && (try? handle.read(upToCount: GraphHeader.size)) == header.bytes
    }

    /// Pieces of a sequence of `total` an earlier resumable merger noted as merged into this
    /// file (0 when none, or when its sequence had another length).
    public func piecesMerged(of total: Int) -> Int {
        guard let progress, let text = try? String(contentsOf: progress, encoding: .utf8) else { return 0 }
        let numbers = text.split(separator: "/").compactMap { Int($0) }
        guard numbers.count == 2, numbers[1] == total, (0...total).contains(numbers[0]) else { return 0 }
        return numbers[0]
    }

    /// Flushes the file, then notes that it holds the first `merged` of `total` pieces (a
    /// resumable merger; nothing otherwise).
    public func record(piecesMerged merged: Int, of total: Int) throws(KNNGraphError) {
        guard let progress else { return }
        do {
            guard msync(mapping, byteCount, MS_SYNC) == 0 else { throw CocoaError(.fileWriteUnknown) }
            try AtomicFile.write(Data("\(merged)/\(total)".utf8), to: progress, durable: false)
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    private var ids: UnsafeMutablePointer<Int32> {
        (mapping + GraphHeader.size).assumingMemoryBound(to: Int32.self)
    }
    private var distances: UnsafeMutablePointer<Float> {
        (mapping + GraphHeader.size + header.rows * header.k * 4).assumingMemoryBound(to: Float.self)
    }

    /// The neighbors row `row` holds so far, nearest first.
    func neighbors(of row: Int) -> [Neighbor] {
        let first = row * header.k
        return (0..<header.k).prefix { ids[first + $0] >= 0 }.map { Neighbor(index: Int(ids[first + $0]), distance: distances[first + $0]) }
    }

    /// Merges `list` (nearest first) into row `row`: a row that held nothing takes it as it is;
    /// otherwise the union, each neighbor once at its smaller distance, ordered by distance then
    /// row, cut to `k` — so the result does not depend on the order pieces arrive in.
    public func merge(_ list: [Neighbor], into row: Int) throws(KNNGraphError) {
        guard row >= 0, row < header.rows, list.allSatisfy({ $0.index >= 0 && $0.index < header.rows && $0.index != row }) else {
            throw .unwritable(path: url.path, reason: "row \(row)'s neighbors do not fit a graph of \(header.rows) rows")
        }
        let merged = Self.union(neighbors(of: row), list, k: header.k)
        let first = row * header.k
        for slot in 0..<header.k {
            ids[first + slot] = slot < merged.count ? Int32(merged[slot].index) : -1
            distances[first + slot] = slot < merged.count ? merged[slot].distance : 0
        }
    }

    /// `list` merged into `held` (both nearest first): `list` itself when `held` is empty, else
    /// each neighbor once at its smaller distance, by distance then row; at most `k`.
    static func union(_ held: [Neighbor], _ list: [Neighbor], k: Int) -> [Neighbor] {
        guard !held.isEmpty else { return Array(list.prefix(k)) }
        var nearest = [Int: Float]()
        for neighbor in held + list { nearest[neighbor.index] = min(nearest[neighbor.index] ?? .infinity, neighbor.distance) }
        return Array(nearest.map { Neighbor(index: $0.key, distance: $0.value) }
            .sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }.prefix(k))
    }

    /// Flushes the file, renames it over `url` and maps it.
    public func finish() throws(KNNGraphError) -> KNNGraph {
        finished = true
        let flushed = msync(mapping, byteCount, MS_SYNC) == 0
        munmap(mapping, byteCount)
        do {
            guard flushed else { throw CocoaError(.fileWriteUnknown) }
            try handle.close()
            try AtomicFile.replace(url, with: temporary)
            if let progress { try? FileManager.default.removeItem(at: progress) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
        return try KNNGraph(contentsOf: url)
    }

    /// An unfinished graph's file is removed, unless it is resumable.
    deinit {
        guard !finished else { return }
        munmap(mapping, byteCount)
        try? handle.close()
        if progress == nil { try? FileManager.default.removeItem(at: temporary) }
    }
}
