import Foundation
import WinnowCore

/// The vectors a scan job computed, on the shared storage: `<storage>/vectors/scan-<shard>.f32`,
/// `items × dimension` float32 values (this machine's byte order: x86-64 and arm64 are both
/// little-endian) in the shard's listing order, zeros for an image without a vector (its scan
/// row is invalid). Written to a temporary name, flushed and renamed before the job is marked
/// done, so a reader sees the whole file or none, and a job done twice writes it again whole.
struct VectorShard {
    static let folder = "vectors"
    let storage: URL
    let shard: Int

    var url: URL { storage.appendingPathComponent(Self.folder).appendingPathComponent("scan-\(shard).f32") }

    /// Writes `values` (`items × dimension`).
    func write(_ values: [Float]) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(values.withUnsafeBytes { Data($0) }, to: url)
    }

    /// The file mapped into memory, checked to hold `items × dimension` values.
    func mapped(items: Int, dimension: Int) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ClusterError.vectorsUnreadable(shard: shard, "\(url.path): \(ClusterError.oneLine(error.localizedDescription))")
        }
        guard data.count == items * dimension * MemoryLayout<Float>.size else {
            throw ClusterError.vectorsUnreadable(shard: shard, "\(url.path) holds \(data.count) bytes, not \(items) vectors of \(dimension)")
        }
        return data
    }
}

/// Reads the vectors of a finished cluster by source id for `cluster finish`, a few shard files
/// mapped at a time (the run asks in listing order, archive members grouped by archive).
final class VectorShardReader: @unchecked Sendable {
    private let storage: URL
    private let shardSize: Int, dimension: Int, count: Int
    /// Each source's listing position.
    private let positions: [String: Int]
    private let lock = NSLock()
    private var open: [Int: Data] = [:]

    init(storage: URL, shardSize: Int, dimension: Int, positions: [String: Int]) {
        (self.storage, self.shardSize, self.dimension, self.positions) = (storage, shardSize, dimension, positions)
        count = positions.count
    }

    /// The vector of the image `id` (nil when the listing has no such image).
    func vector(for id: String) throws -> [Float]? {
        guard let position = positions[id] else { return nil }
        let (shard, row) = position.quotientAndRemainder(dividingBy: shardSize)
        lock.lock()
        defer { lock.unlock() }
        let data = try shardData(shard)
        let start = row * dimension * MemoryLayout<Float>.size
        return data.withUnsafeBytes { raw in
            (0..<dimension).map { raw.loadUnaligned(fromByteOffset: start + $0 * MemoryLayout<Float>.size, as: Float.self) }
        }
    }

    private func shardData(_ shard: Int) throws -> Data {
        if let data = open[shard] { return data }
        if open.count >= 8 { open.removeAll() }
        let data = try VectorShard(storage: storage, shard: shard).mapped(items: min(shardSize, count - shard * shardSize), dimension: dimension)
        open[shard] = data
        return data
    }
}
