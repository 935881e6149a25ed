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
        try values.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return try AtomicFile.write(Data(), to: url) }
            try AtomicFile.write(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none), to: url)
        }
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

/// A scan job's vectors as its outcomes arrive, each put at its image's place in the shard
/// (zeros where an image has none).
struct ShardVectors: Sendable {
    private(set) var values: [Float]
    private let dimension: Int
    /// Each sample's place in the shard, by catalog id (its listing position).
    private let rows: [Int64: Int]

    init(_ samples: [Catalog.PendingSample], dimension: Int) {
        self.dimension = dimension
        values = [Float](repeating: 0, count: samples.count * dimension)
        rows = Dictionary(uniqueKeysWithValues: samples.enumerated().map { ($1.id, $0) })
    }

    /// Puts `outcome`'s vector in place; a model failure throws (it fails the job).
    mutating func add(_ outcome: SampleOutcome) throws {
        guard let vector = try outcome.embedding?.get(), let row = rows[outcome.sampleID], vector.count == dimension else { return }
        values.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: vector)
    }
}

/// Reads the vectors of a finished cluster by listing position for `cluster finish`, two shard
/// files mapped at a time (the run asks in listing order, archive members grouped by archive; a
/// mapped page counts in the resident memory once read).
final class VectorShardReader: @unchecked Sendable {
    private let storage: URL
    private let shardSize: Int, dimension: Int
    /// Images in the listing.
    private let count: Int
    private let lock = NSLock()
    private var open: [Int: Data] = [:]

    init(storage: URL, shardSize: Int, dimension: Int, count: Int) {
        (self.storage, self.shardSize, self.dimension, self.count) = (storage, shardSize, dimension, count)
    }

    /// The vector of the image at listing position `position` (nil outside the listing).
    func vector(at position: Int) throws -> [Float]? {
        guard (0..<count).contains(position) else { return nil }
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
        if open.count >= 2 { open.removeAll() }
        let data = try VectorShard(storage: storage, shard: shard).mapped(items: min(shardSize, count - shard * shardSize), dimension: dimension)
        open[shard] = data
        return data
    }
}
