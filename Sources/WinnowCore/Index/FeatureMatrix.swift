import Foundation

/// Row-major float32 vectors, one row per sample: in memory, or memory-mapped from a
/// fastdup-layout `atrain_features.dat` (raw N×d float32, no header) so large sets stay on disk.
public final class FeatureMatrix: @unchecked Sendable {
    public let rows: Int
    public let dimension: Int
    private let owner: AnyObject?
    private let base: UnsafePointer<Float>?

    /// Vectors held in memory.
    public init(rows: Int, dimension: Int, values: [Float]) {
        precondition(values.count == rows * dimension, "FeatureMatrix needs rows × dimension values")
        self.rows = rows
        self.dimension = dimension
        let box = ValuesBox(values)
        owner = box
        base = box.pointer
    }

    /// Maps a raw float32 file; its size must be a multiple of `dimension × 4` bytes.
    public init(mapping url: URL, dimension: Int) throws {
        let region = try MappedRegion(url: url)
        guard dimension > 0, region.length % (dimension * 4) == 0 else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey:
                "\(url.path): \(region.length) bytes is not a whole number of \(dimension)-d float32 rows"])
        }
        self.rows = region.length / (dimension * 4)
        self.dimension = dimension
        owner = region
        base = region.address.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) }
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

    /// All values, row-major.
    public func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: rows * dimension))
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
        init(_ values: [Float]) {
            storage = .allocate(capacity: max(values.count, 1))
            _ = storage.initialize(from: values)
        }
        var pointer: UnsafePointer<Float>? { UnsafePointer(storage.baseAddress) }
        deinit { storage.deallocate() }
    }

    /// ``releasePages(rows:)`` from the lowest to the highest of `rows` (in any order).
    public func releasePages(spanning rows: some Collection<Int>) {
        guard let low = rows.min(), let high = rows.max() else { return }
        releasePages(rows: low..<(high + 1))
    }

    /// A read-only private mapping of a whole file, unmapped when the last matrix using it goes.
    private final class MappedRegion {
        let address: UnsafeMutableRawPointer?
        let length: Int

        init(url: URL) throws {
            let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Self.failure(url, "cannot open") }
            defer { close(descriptor) }
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { throw Self.failure(url, "cannot stat") }
            length = Int(info.st_size)
            guard length > 0 else { address = nil; return }
            let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0)
            guard let mapped, mapped != MAP_FAILED else { throw Self.failure(url, "cannot map") }
            address = mapped
        }

        deinit { if let address { munmap(address, length) } }

        /// `madvise(MADV_DONTNEED)` over the whole pages that hold `start ..< start + byteCount`.
        func release(_ start: UnsafeRawPointer, byteCount: Int) {
            guard let address else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let from = (start - UnsafeRawPointer(address)) / page * page
            let to = min(length, start - UnsafeRawPointer(address) + byteCount)
            guard to > from else { return }
            madvise(address + from, to - from, MADV_DONTNEED)
        }

        private static func failure(_ url: URL, _ what: String) -> CocoaError {
            let code: CocoaError.Code = switch errno {
            case ENOENT, ENOTDIR: .fileReadNoSuchFile
            case EACCES, EPERM: .fileReadNoPermission
            default: .fileReadUnknown
            }
            return CocoaError(code, userInfo: [NSLocalizedDescriptionKey: "\(what) \(url.path): \(String(cString: strerror(errno)))",
                                               NSFilePathErrorKey: url.path])
        }
    }
}
