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
        let count = bytes.count
        var offset = 0
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
            (accumulator &+ input &* p2).rotatedLeft(31) &* p1
        }
        var hash: UInt64
        if count >= 32 {
            var v1 = seed &+ p1 &+ p2, v2 = seed &+ p2, v3 = seed, v4 = seed &- p1
            while offset + 32 <= count {
                v1 = round(v1, word(offset)); v2 = round(v2, word(offset + 8))
                v3 = round(v3, word(offset + 16)); v4 = round(v4, word(offset + 24))
                offset += 32
            }
            hash = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
            for v in [v1, v2, v3, v4] {
                hash = (hash ^ round(0, v)) &* p1 &+ p4
            }
        } else {
            hash = seed &+ p5
        }
        hash &+= UInt64(count)
        while offset + 8 <= count {
            hash = (hash ^ round(0, word(offset))).rotatedLeft(27) &* p1 &+ p4
            offset += 8
        }
        if offset + 4 <= count {
            let half = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            hash = (hash ^ (half &* p1)).rotatedLeft(23) &* p2 &+ p3
            offset += 4
        }
        while offset < count {
            hash = (hash ^ (UInt64(bytes[offset]) &* p5)).rotatedLeft(11) &* p1
            offset += 1
        }
        hash ^= hash >> 33; hash &*= p2
        hash ^= hash >> 29; hash &*= p3
        hash ^= hash >> 32
        return hash
    }
}

extension UInt64 {
    @inline(__always) func rotatedLeft(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
