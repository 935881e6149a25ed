import Foundation

/// Append-only float32 embeddings on disk (`features.f32` in the work_dir), one row per
/// embedded sample. The catalog records each sample's row in the same step that marks it done,
/// so after a crash the rows past the last committed one are cut off and recomputed.
public final class FeatureStore {
    public let url: URL
    public let dimension: Int
    private let handle: FileHandle
    public private(set) var rowCount: Int

    /// Opens (creating) the store and cuts it back to `committedRows` rows.
    public init(url: URL, dimension: Int, committedRows: Int) throws {
        self.url = url
        self.dimension = dimension
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot create \(url.path)"])
            }
        }
        handle = try FileHandle(forUpdating: url)
        let rowBytes = UInt64(dimension * MemoryLayout<Float>.size)
        let size = try handle.seekToEnd()
        rowCount = min(committedRows, Int(size / rowBytes))
        try handle.truncate(atOffset: UInt64(rowCount) * rowBytes)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Appends vectors (each `dimension` long), flushes them to disk, and returns their rows.
    public func append(_ vectors: [[Float]]) throws -> Range<Int> {
        var bytes = Data(capacity: vectors.count * dimension * 4)
        for vector in vectors {
            precondition(vector.count == dimension, "feature vector has the wrong length")
            vector.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        let rows = rowCount..<(rowCount + vectors.count)
        rowCount += vectors.count
        return rows
    }

    /// Removes the store's file.
    public static func remove(at url: URL) {
        try? FileManager.default.removeItem(at: url)
    }
}
