import Foundation

/// Pair checks already made, kept in the work_dir so that a run killed during verification does
/// not compare them again: an append-only file of 64-byte records, flushed to disk after every
/// block. A record holds a 128-bit key (XXH64 with seeds 0 and 1 of the pass's tag and both
/// images' stable ids and content hashes, so a changed image, detector, crop or check option
/// misses), the evidence as stored bits, and an XXH64 checksum; torn or corrupt records are ignored.
struct CheckedPairLog {
    static let fileName = "checked_pairs.bin"
    static let recordLength = 64
    private static let bodyLength = 56

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

    /// Hands `body` the stored evidence of each of `keys` that was logged (nil keys never are),
    /// once per key index: the file is read once, from its last record back, each record's key
    /// found by binary search over the keys sorted (24 bytes a key, where a dictionary of keys
    /// and one of results would hold several times that). Of a key logged twice, the last
    /// record wins. Cuts a torn last record off the file so that records appended later stay aligned.
    func forEachLogged(_ keys: [Key?], _ body: (Int, PairEvidence) -> Void) {
        var order = keys.indices.compactMap { k in keys[k].map { (key: $0, index: Int32(k)) } }
        guard !order.isEmpty, let data = try? Data(contentsOf: url, options: .alwaysMapped) else { return }
        order.sort { ($0.key.high, $0.key.low, $0.index) < ($1.key.high, $1.key.low, $1.index) }
        var found = [Bool](repeating: false, count: keys.count)
        let whole = data.count - data.count % Self.recordLength
        data.withUnsafeBytes { bytes in
            for offset in stride(from: whole - Self.recordLength, through: 0, by: -Self.recordLength) {
                let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Self.recordLength])
                guard let (key, evidence) = Self.decode(record) else { continue }
                var at = order.partitionPoint { ($0.key.high, $0.key.low) < (key.high, key.low) }
                while at < order.count && order[at].key == key {
                    let index = Int(order[at].index)
                    if !found[index] { found[index] = true; body(index, evidence) }
                    at += 1
                }
            }
        }
        if whole < data.count { truncate(to: whole) }
    }

    /// Appends `records` and flushes them to disk.
    func append(_ records: [(Key, PairEvidence)]) throws {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.count * Self.recordLength)
        for (key, evidence) in records { Self.encode(key, evidence, into: &bytes) }
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
        for value in [e.ncc, e.scale, e.rotation, e.anisotropy, e.coveredA, e.coveredB, e.residual] { put(value.bitPattern) }
        let flags = [e.mirrored, e.mirrorTried, e.plausible, e.detector == .orb].enumerated()
            .reduce(UInt32(0)) { $0 | ($1.element ? 1 << UInt32($1.offset) : 0) }
        put(flags)
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
        let flags = get(52, UInt32.self)
        let evidence = PairEvidence(matches: Int(get(16, Int32.self)), inliers: Int(get(20, Int32.self)), ncc: float(0),
                                    scale: float(1), rotation: float(2), mirrored: flags & 1 != 0, anisotropy: float(3),
                                    coveredA: float(4), coveredB: float(5), residual: float(6),
                                    mirrorTried: flags & 2 != 0, plausible: flags & 4 != 0,
                                    detector: flags & 8 != 0 ? .orb : .sift)
        return (Key(high: get(0, UInt64.self), low: get(8, UInt64.self)), evidence)
    }
}
