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
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        guard dimension > 0, data.count % (dimension * 4) == 0 else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey:
                "\(url.path): \(data.count) bytes is not a whole number of \(dimension)-d float32 rows"])
        }
        self.rows = data.count / (dimension * 4)
        self.dimension = dimension
        let box = DataBox(data)
        owner = box
        base = box.pointer
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

    private final class DataBox {
        let data: Data
        let pointer: UnsafePointer<Float>?
        init(_ data: Data) {
            self.data = data
            // A mapped Data keeps one stable region for its lifetime.
            pointer = data.withUnsafeBytes { $0.baseAddress?.assumingMemoryBound(to: Float.self) }
        }
    }
}
