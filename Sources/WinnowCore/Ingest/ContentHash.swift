/// XXH64 (Yann Collet's xxHash, 64-bit, seed 0) of a file's bytes: a fast content hash for
/// finding byte-identical files. Written from the published algorithm description.
public enum ContentHash {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The hash as 16 lowercase hex digits.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String { hex(xxh64(bytes)) }

    /// A hash value as 16 lowercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public static func xxh64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var lanes = Lanes(seed: seed)
        let end = lanes.consumeStripes(of: bytes, from: 0)
        return finish(lanes, seed: seed, total: bytes.count, tail: UnsafeRawBufferPointer(rebasing: bytes[end...]))
    }

    fileprivate static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        (accumulator &+ input &* p2).rotatedLeft(31) &* p1
    }

    /// The four accumulators of XXH64's 32-byte stripes.
    fileprivate struct Lanes {
        var v1, v2, v3, v4: UInt64

        init(seed: UInt64) { (v1, v2, v3, v4) = (seed &+ p1 &+ p2, seed &+ p2, seed, seed &- p1) }

        mutating func consume(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
            func word(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + at, as: UInt64.self)) }
            v1 = round(v1, word(0)); v2 = round(v2, word(8))
            v3 = round(v3, word(16)); v4 = round(v4, word(24))
        }

        /// Consumes every whole stripe of `bytes` from `offset` on; returns where they end.
        mutating func consumeStripes(of bytes: UnsafeRawBufferPointer, from offset: Int) -> Int {
            var offset = offset
            while offset + 32 <= bytes.count {
                consume(bytes, at: offset)
                offset += 32
            }
            return offset
        }

        var merged: UInt64 {
            var hash = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
            for v in [v1, v2, v3, v4] {
                hash = (hash ^ round(0, v)) &* p1 &+ p4
            }
            return hash
        }
    }

    /// The hash from the stripes' `lanes` (unused for inputs under 32 bytes, which start from
    /// the seed), the input's length and its last (< 32) bytes.
    fileprivate static func finish(_ lanes: Lanes, seed: UInt64, total: Int, tail bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash = (total >= 32 ? lanes.merged : seed &+ p5) &+ UInt64(total)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            hash = (hash ^ round(0, word)).rotatedLeft(27) &* p1 &+ p4
            offset += 8
        }
        if offset + 4 <= bytes.count {
            let half = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            hash = (hash ^ (half &* p1)).rotatedLeft(23) &* p2 &+ p3
            offset += 4
        }
        while offset < bytes.count {
            hash = (hash ^ (UInt64(bytes[offset]) &* p5)).rotatedLeft(11) &* p1
            offset += 1
        }
        hash ^= hash >> 33; hash &*= p2
        hash ^= hash >> 29; hash &*= p3
        hash ^= hash >> 32
        return hash
    }
}

/// ``ContentHash/xxh64(_:seed:)`` of bytes given in pieces: the hash of their concatenation,
/// without joining them (a video frame's PPM header and pixels).
struct ContentHasher {
    private var lanes: ContentHash.Lanes
    private let seed: UInt64
    private var total = 0
    /// Bytes short of a whole 32-byte stripe.
    private var pending: [UInt8] = []

    init(seed: UInt64 = 0) {
        self.seed = seed
        lanes = ContentHash.Lanes(seed: seed)
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        total += bytes.count
        var offset = 0
        if !pending.isEmpty {
            offset = min(32 - pending.count, bytes.count)
            pending += bytes[..<offset]
            guard pending.count == 32 else { return }
            pending.withUnsafeBytes { lanes.consume($0, at: 0) }
            pending = []
        }
        offset = lanes.consumeStripes(of: bytes, from: offset)
        pending += bytes[offset...]
    }

    var value: UInt64 {
        pending.withUnsafeBytes { ContentHash.finish(lanes, seed: seed, total: total, tail: $0) }
    }
}

extension UInt64 {
    @inline(__always) func rotatedLeft(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
