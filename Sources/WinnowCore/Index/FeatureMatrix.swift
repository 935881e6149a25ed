import Foundation

/// Row-major float32 vectors, one row per sample: in memory, or memory-mapped from a
/// fastdup-layout `atrain_features.dat` (raw N×d float32, no header) so large sets stay on disk.
public final class FeatureMatrix: @unchecked Sendable {
    public let rows: Int
    public let dimension: Int
    private let owner: AnyObject?
    private let base: UnsafePointer<Float>?

    /// Vectors held in memory.
    public convenience init(rows: Int, dimension: Int, values: [Float]) {
        precondition(values.count == rows * dimension, "FeatureMatrix needs rows × dimension values")
        self.init(rows: rows, dimension: dimension) { _ = $0.initialize(from: values) }
    }

    /// A matrix whose `rows × dimension` values `fill` writes in place (row-major; every value,
    /// so that no second copy of a large matrix is ever made).
    init(rows: Int, dimension: Int, filling fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.rows = rows
        self.dimension = dimension
        let box = ValuesBox(count: rows * dimension)
        fill(box.storage)
        owner = box
        base = box.pointer
    }

    /// Maps a raw float32 file (native byte order) from byte `offset` (a multiple of 4: a
    /// header before the values); what follows must be a multiple of `dimension × 4` bytes.
    public init(mapping url: URL, dimension: Int, offset: Int = 0) throws {
        let region = try MappedRegion(url: url)
        guard dimension > 0, offset >= 0, offset % 4 == 0, offset <= region.length,
              (region.length - offset) % (dimension * 4) == 0 else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey:
                "\(url.path): \(region.length - offset) bytes is not a whole number of \(dimension)-d float32 rows"])
        }
        self.rows = (region.length - offset) / (dimension * 4)
        self.dimension = dimension
        owner = region
        base = region.address.map { UnsafePointer(($0 + offset).assumingMemoryBound(to: Float.self)) }
    }

    /// XXH64 of the values' bytes chained from `seed`, block by block (each block's mapped pages
    /// released after it, so hashing a large store does not keep it resident).
    func contentHash(seed: UInt64, blockRows: Int = 4096) -> UInt64 {
        var hash = seed
        for start in stride(from: 0, to: rows, by: blockRows) {
            let block = start..<min(rows, start + blockRows)
            withValues { all in
                let values = UnsafeBufferPointer(rebasing: all[(block.lowerBound * dimension)..<(block.upperBound * dimension)])
                hash = ContentHash.xxh64(UnsafeRawBufferPointer(values), seed: hash)
            }
            releasePages(rows: block)
        }
        return hash
    }

    /// Drops the pages of rows `range` from this process's memory (a mapped matrix; no effect on
    /// one in memory). They stay in the system's file cache and are read again if touched, so
    /// a pass over every row can keep its resident size to one block.
    public func releasePages(rows range: Range<Int>) {
        guard let region = owner as? MappedRegion, let base, !range.isEmpty else { return }
        let start = UnsafeRawPointer(base + range.lowerBound * dimension)
        region.release(start, byteCount: range.count * dimension * 4)
    }

    private init(rows: Int, dimension: Int, owner: AnyObject?, base: UnsafePointer<Float>?) {
        self.rows = rows
        self.dimension = dimension
        self.owner = owner
        self.base = base
    }

    /// Rows `range` as a matrix sharing this one's storage (no copy; a mapped matrix stays mapped).
    public func view(_ range: Range<Int>) -> FeatureMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        return FeatureMatrix(rows: range.count, dimension: dimension, owner: owner,
                             base: base.map { $0 + range.lowerBound * dimension })
    }

    /// Row `i` as a buffer (valid while the matrix lives).
    public func row(_ i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: base.map { $0 + i * dimension }, count: dimension)
    }

    /// Copies row `i` into `destination` (`dimension` values). A mapped matrix reads it from its
    /// file (`pread`), so rows read at random never become resident in this process — they stay
    /// in the system's file cache — where reading them through the mapping would keep every
    /// page touched until released. False (and zeros) when the file can no longer give the row
    /// (cut short since it was mapped): the mapping is then not touched, as reading it would
    /// end the process.
    @discardableResult
    public func copyRow(_ i: Int, into destination: UnsafeMutablePointer<Float>) -> Bool {
        let source = row(i)
        guard let start = source.baseAddress else { return false }
        guard let region = owner as? MappedRegion else {
            destination.update(from: start, count: dimension)
            return true
        }
        if region.read(into: destination, from: start, byteCount: dimension * 4) { return true }
        destination.update(repeating: 0, count: dimension)
        return false
    }

    /// All values, row-major.
    public func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: rows * dimension))
    }

    /// This matrix's rows then `more`'s (same dimension) as one matrix in memory, copied once.
    func appending(_ more: FeatureMatrix) -> FeatureMatrix {
        precondition(more.dimension == dimension, "appended rows of another dimension")
        return FeatureMatrix(rows: rows + more.rows, dimension: dimension) { out in
            for (offset, part) in [(0, self), (rows * dimension, more)] {
                part.withValues { values in
                    guard let source = values.baseAddress, let target = out.baseAddress else { return }
                    (target + offset).update(from: source, count: values.count)
                }
            }
        }
    }

    /// Rows `range` as their own matrix (copied).
    public func slice(_ range: Range<Int>) -> FeatureMatrix {
        withValues { all in
            FeatureMatrix(rows: range.count, dimension: dimension,
                          values: Array(all[(range.lowerBound * dimension)..<(range.upperBound * dimension)]))
        }
    }

    private final class ValuesBox {
        let storage: UnsafeMutableBufferPointer<Float>
        init(count: Int) {
            storage = .allocate(capacity: max(count, 1))
            storage.initialize(repeating: 0)
        }
        var pointer: UnsafePointer<Float>? { UnsafePointer(storage.baseAddress) }
        deinit { storage.deallocate() }
    }

    /// Appends `rows` to `output` as float32 in 4 MB chunks, the mapped pages released as the rows go.
    func write(rows: some Sequence<Int>, to output: FileHandle) throws {
        var chunk = Data()
        try forEachRow(rows) { _, values in
            chunk.append(contentsOf: UnsafeRawBufferPointer(values))
            if chunk.count > 1 << 22 {
                try output.write(contentsOf: chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try output.write(contentsOf: chunk)
    }

    /// Calls `body` with each of `rows` and its values, releasing the mapped pages each time the
    /// rows visited since the last release would span `span` rows, and at the end. A sparse
    /// pass (a sample; rows in about ascending order) then stays resident by one span. The kernel
    /// maps more than the page touched (fault-around; a whole 2 MB folio of a cached file on
    /// Linux 6.x, measured), so each release reaches 2 MB beyond the rows visited: the gaps
    /// between a sample's rows are released too.
    func forEachRow(_ rows: some Sequence<Int>, releasingEvery span: Int = 4096,
                    _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        let around = (2 << 20) / max(dimension * 4, 1) + 1
        func release(_ stretch: ClosedRange<Int>) {
            releasePages(rows: max(0, stretch.lowerBound - around)..<min(self.rows, stretch.upperBound + 1 + around))
        }
        var visited: ClosedRange<Int>?
        for r in rows {
            if let range = visited, max(range.upperBound, r) - min(range.lowerBound, r) >= span {
                release(range)
                visited = nil
            }
            visited = visited.map { min($0.lowerBound, r)...max($0.upperBound, r) } ?? r...r
            try body(r, row(r))
        }
        if let visited { release(visited) }
    }

    /// A read-only private mapping of a whole file, unmapped (and its file closed) when the last
    /// matrix using it goes.
    private final class MappedRegion {
        let address: UnsafeMutableRawPointer?
        let length: Int
        /// The file, open for ``read(into:from:byteCount:)``.
        private let descriptor: Int32

        init(url: URL) throws {
            let file = open(url.path, O_RDONLY | O_CLOEXEC)
            guard file >= 0 else { throw Self.failure(url, "cannot open") }
            var info = stat()
            guard fstat(file, &info) == 0 else { throw Self.failure(url, "cannot stat", closing: file) }
            let length = Int(info.st_size)
            var mapped: UnsafeMutableRawPointer?
            if length > 0 {
                mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, file, 0)
                guard mapped != nil, mapped != MAP_FAILED else { throw Self.failure(url, "cannot map", closing: file) }
            }
            descriptor = file
            self.length = length
            address = mapped
        }

        deinit {
            if let address { munmap(address, length) }
            close(descriptor)
        }

        /// Reads the file's bytes behind `start ..< start + byteCount` (inside the mapping) into
        /// `destination`; false if the file could not be read whole.
        func read(into destination: UnsafeMutableRawPointer, from start: UnsafeRawPointer, byteCount: Int) -> Bool {
            guard let address else { return false }
            var done = 0
            let offset = start - UnsafeRawPointer(address)
            while done < byteCount {
                let got = pread(descriptor, destination + done, byteCount - done, off_t(offset + done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { return false }
                done += got
            }
            return true
        }

        /// `madvise(MADV_DONTNEED)` over the whole pages that hold `start ..< start + byteCount`.
        func release(_ start: UnsafeRawPointer, byteCount: Int) {
            guard let address else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let from = (start - UnsafeRawPointer(address)) / page * page
            let to = min(length, start - UnsafeRawPointer(address) + byteCount)
            guard to > from else { return }
            madvise(address + from, to - from, MADV_DONTNEED)
        }

        /// The error for `what` failing on `url` (by `errno`), after closing `file` if given.
        private static func failure(_ url: URL, _ what: String, closing file: Int32? = nil) -> CocoaError {
            let error = errno
            if let file { close(file) }
            let code: CocoaError.Code = switch error {
            case ENOENT, ENOTDIR: .fileReadNoSuchFile
            case EACCES, EPERM: .fileReadNoPermission
            default: .fileReadUnknown
            }
            return CocoaError(code, userInfo: [NSLocalizedDescriptionKey: "\(what) \(url.path): \(String(cString: strerror(error)))",
                                               NSFilePathErrorKey: url.path])
        }
    }
}
