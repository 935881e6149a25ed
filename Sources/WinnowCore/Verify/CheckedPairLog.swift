import Foundation

/// Pair checks already made, kept in the work_dir so that a run killed during verification does
/// not compare them again: an append-only file of 72-byte records, flushed to disk after every
/// block. A record holds a 128-bit key (XXH64 with seeds 0 and 1 of the pass's tag and both
/// images' stable ids and content hashes, so a changed image, detector, crop or check option
/// misses), the evidence as stored bits, and an XXH64 checksum; torn or corrupt records are ignored.
struct CheckedPairLog {
    static let fileName = "checked_pairs.bin"
    static let recordLength = 72
    private static let bodyLength = 64

    struct Key: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
    }

    let url: URL

    /// The key of the pair (`a`, `b`) checked under `tag`; nil when an image has no content hash.
    static func key(tag: String, _ a: ValidSample, _ b: ValidSample) -> Key? {
        guard let hashA = a.contentHash, let hashB = b.contentHash else { return nil }
        let text = [tag, a.path, hashA, b.path, hashB].joined(separator: "\u{0}")
        return Array(text.utf8).withUnsafeBytes {
            Key(high: ContentHash.xxh64($0, seed: 0), low: ContentHash.xxh64($0, seed: 1))
        }
    }

    /// Hands `body` the evidence last logged for each of `keys` that was logged (nil keys never
    /// are), once per key index. The file is read once, forward, in 4 MB pieces, each record's
    /// key found by binary search over the keys sorted; the records found are then read back.
    /// Holds ~28 bytes a key, however long the log: callers pass their pairs' keys in bounded
    /// chunks. Cuts a torn last record off the file so that records appended later stay aligned.
    func forEachLogged(_ keys: [Key?], _ body: (Int, PairEvidence) -> Void) {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return }
        defer { try? handle.close() }
        var order = keys.indices.compactMap { k in keys[k].map { (key: $0, index: Int32(k)) } }
        order.sort { ($0.key.high, $0.key.low) < ($1.key.high, $1.key.low) }
        var last = [Int32](repeating: -1, count: keys.count)
        var record = 0, tail: [UInt8] = []
        while let piece = try? handle.read(upToCount: (1 << 16) * Self.recordLength), !piece.isEmpty {
            tail += piece
            let whole = tail.count - tail.count % Self.recordLength
            tail.withUnsafeBytes { bytes in
                for offset in stride(from: 0, to: whole, by: Self.recordLength) {
                    defer { record += 1 }
                    guard let (key, _) = Self.decode(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Self.recordLength]))
                    else { continue }
                    var at = order.partitionPoint { ($0.key.high, $0.key.low) < (key.high, key.low) }
                    while at < order.count && order[at].key == key {
                        last[Int(order[at].index)] = Int32(record)
                        at += 1
                    }
                }
            }
            tail.removeFirst(whole)
        }
        if !tail.isEmpty { truncate(to: record * Self.recordLength) }
        var bytes = [UInt8](repeating: 0, count: Self.recordLength)
        for k in keys.indices where last[k] >= 0 {
            let offset = off_t(last[k]) * off_t(Self.recordLength)
            let read = bytes.withUnsafeMutableBytes { pread(handle.fileDescriptor, $0.baseAddress, $0.count, offset) }
            if read == bytes.count, let (_, evidence) = bytes.withUnsafeBytes({ Self.decode($0) }) { body(k, evidence) }
        }
    }

    /// Appends `records` and flushes them to disk.
    func append(_ records: [(Key, PairEvidence)]) throws {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.count * Self.recordLength)
        for (key, evidence) in records { Self.encode(key, evidence, into: &bytes) }
        try append(bytes: Data(bytes))
    }

    /// Appends the whole records of another log (a share of the checks made by another
    /// process) and flushes them; records that fail their checksum are ignored when read.
    func append(contentsOf other: URL) throws {
        let data = try Data(contentsOf: other, options: .mappedIfSafe)
        try append(bytes: data.prefix(data.count - data.count % Self.recordLength))
    }

    private func append(bytes: Data) throws {
        guard !bytes.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: url.path) {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
    }

    private func truncate(to length: Int) {
        guard let handle = try? FileHandle(forWritingTo: url) else { return }
        try? handle.truncate(atOffset: UInt64(length))
        try? handle.close()
    }

    private static func encode(_ key: Key, _ e: PairEvidence, into bytes: inout [UInt8]) {
        let start = bytes.count
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        put(key.high); put(key.low)
        put(Int32(clamping: e.matches)); put(Int32(clamping: e.inliers))
        for value in [e.ncc, e.scale, e.rotation, e.anisotropy, e.coveredA, e.coveredB, e.residual, e.contentMatch] {
            put(value.bitPattern)
        }
        let flags = [e.mirrored, e.mirrorTried, e.plausible, e.detector == .orb].enumerated()
            .reduce(UInt32(0)) { $0 | ($1.element ? 1 << UInt32($1.offset) : 0) }
        put(flags)
        put(UInt32(0))
        let checksum = bytes[start...].withUnsafeBytes { ContentHash.xxh64($0) }
        put(checksum)
    }

    private static func decode(_ record: UnsafeRawBufferPointer) -> (Key, PairEvidence)? {
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard ContentHash.xxh64(UnsafeRawBufferPointer(rebasing: record[0..<bodyLength])) == get(bodyLength, UInt64.self)
        else { return nil }
        let float = { (i: Int) in Float(bitPattern: get(24 + 4 * i, UInt32.self)) }
        let flags = get(56, UInt32.self)
        let evidence = PairEvidence(matches: Int(get(16, Int32.self)), inliers: Int(get(20, Int32.self)), ncc: float(0),
                                    scale: float(1), rotation: float(2), mirrored: flags & 1 != 0, anisotropy: float(3),
                                    coveredA: float(4), coveredB: float(5), residual: float(6),
                                    mirrorTried: flags & 2 != 0, plausible: flags & 4 != 0,
                                    detector: flags & 8 != 0 ? .orb : .sift, contentMatch: float(7))
        return (Key(high: get(0, UInt64.self), low: get(8, UInt64.self)), evidence)
    }
}
