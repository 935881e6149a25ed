import CopyVerifyShim
import Foundation

/// Local features the ``FeatureCache`` had to drop while they were still needed, written to one
/// scratch file so that they are read back rather than described again (for features not
/// cached per image in `local_features/`: ORB's). Each image is written once however often it
/// is dropped, and its bytes are freed on disk (a hole punched) after its last pair, so the
/// file holds only the images still waiting for a pair. The file is unlinked as soon as it is
/// open, so it vanishes with the store or with the process, even one killed. It never holds more
/// than `limit` bytes (by default half the disk space free when it is made); an image that would
/// pass it is not written (it will be described again).
final class FeatureSpill {
    let url: URL
    let limit: Int
    private let descriptor: Int32
    private var extents: [Int: (offset: Int, length: Int)] = [:]
    private var end = 0
    private(set) var bytes = 0
    private(set) var peakBytes = 0
    private(set) var written = 0
    private(set) var readBack = 0

    /// A new, empty store in a file made at `url` and unlinked at once, holding at most `limit`
    /// bytes (nil: half the space free on its disk).
    init(url: URL, limit: Int? = nil) throws(LocalFeatureError) {
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LocalFeatureError("\(url.path): \(String(cString: strerror(errno)))") }
        unlink(url.path)
        (self.url, self.descriptor, self.limit) = (url, descriptor, DiskAllowance.limit(limit, onDiskOf: url.deletingLastPathComponent().path))
    }

    deinit { close(descriptor) }

    /// Bytes of disk the file takes (less than it wrote once holes are punched).
    var diskBytes: Int {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? Int(status.st_blocks) * 512 : 0
    }

    /// Whether `row`'s features are in the store.
    func contains(_ row: Int) -> Bool { extents[row] != nil }

    /// Writes `row`'s features unless they are there already or would pass the limit.
    func write(_ features: LocalFeatures, for row: Int) throws(LocalFeatureError) {
        guard extents[row] == nil else { return }
        let serialized = features.serialized()
        guard bytes + serialized.count <= limit else { return }
        let done = serialized.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(end)) }
        guard done == serialized.count, !serialized.isEmpty else {
            throw LocalFeatureError("\(url.path): features not written (\(done < 0 ? String(cString: strerror(errno)) : "short write"))")
        }
        extents[row] = (end, serialized.count)
        end += serialized.count
        bytes += serialized.count
        peakBytes = max(peakBytes, bytes)
        written += 1
    }

    /// `row`'s features as written; nil when they are not in the store.
    func read(_ row: Int, name: String) throws(LocalFeatureError) -> LocalFeatures? {
        guard let extent = extents[row] else { return nil }
        var serialized = [UInt8](repeating: 0, count: extent.length)
        let done = serialized.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, extent.length, off_t(extent.offset)) }
        guard done == extent.length else {
            throw LocalFeatureError("\(url.path): features of \(name) not read back (\(done < 0 ? String(cString: strerror(errno)) : "short read"))")
        }
        readBack += 1
        return try LocalFeatures.deserialize(serialized, name: name)
    }

    /// Forgets `row` and frees its bytes on disk.
    func release(_ row: Int) {
        guard let extent = extents.removeValue(forKey: row) else { return }
        bytes -= extent.length
        _ = winnow_punch_hole(descriptor, Int64(extent.offset), Int64(extent.length))
    }
}

/// Bytes a verification pass may write to disk, claimed by its workers as they write.
final class DiskAllowance: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var claimed = 0
    private(set) var refused = 0

    init(limit: Int) { self.limit = limit }

    /// Whether `bytes` more fit (and are then counted as written).
    func claim(_ bytes: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard claimed + bytes <= limit else { refused += 1; return false }
        claimed += bytes
        return true
    }

    /// `limit`, else half the bytes free to an unprivileged user on the disk holding `path` (or,
    /// while `path` does not exist yet, the nearest folder above it that does; 0 when unknown)
    /// and of the bytes `held` there already.
    static func limit(_ limit: Int?, onDiskOf path: String, held: Int = 0) -> Int {
        if let limit { return limit }
        var folder = URL(fileURLWithPath: path)
        while !FileManager.default.fileExists(atPath: folder.path), folder.pathComponents.count > 1 {
            folder.deleteLastPathComponent()
        }
        var disk = statvfs()
        return statvfs(folder.path, &disk) == 0 ? (Int(disk.f_bavail) * Int(disk.f_frsize) + held) / 2 : 0
    }
}
