import Foundation
import WinnowTestSupport
@testable import WinnowCore

/// Real small images (scikit-image photos through the `vips` CLI) and copies of them whose
/// headers declare a huge size: decompression bombs of a few hundred bytes.
struct BombFixtures {
    let folder: URL
    let photos: URL

    init(in folder: URL) throws {
        self.folder = folder
        photos = try TestData.skimageData()
    }

    /// A `side`-pixel thumbnail of a photo saved as `name` (`options` as in `x.jpg[Q=50]`).
    func small(_ name: String, side: Int = 32, photo: String = "coffee", options: String = "") throws -> [UInt8] {
        let out = folder.appendingPathComponent(name)
        let result = try TestData.shell("vips", ["thumbnail", photos.appendingPathComponent("\(photo).png").path,
                                                 out.path + options, "\(side)"])
        guard result.status == 0 else { throw TestDataMissing("vips thumbnail → \(name): \(result.output)") }
        return [UInt8](try Data(contentsOf: out))
    }

    /// Writes `bytes` as `name` in the folder and returns its URL.
    @discardableResult
    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// One bomb of every kind the decoders meet: name → bytes. Sizes within the side limit
    /// (20000) reach the pixel checks; larger ones the side check.
    func all() throws -> [String: [UInt8]] {
        let png = try small("s.png", side: 1), jpeg = try small("s.jpg", options: "[Q=40]")
        let progressive = try small("p.jpg", options: "[Q=40,interlace]")
        let gif = try small("s.gif"), tiff = try small("s.tif")
        let lossy = try small("s.webp", options: "[Q=50]"), lossless = try small("l.webp", options: "[lossless]")
        return [
            "png_20000.png": HeaderEdit.png(png, width: 20_000, height: 20_000),
            "png_60000.png": HeaderEdit.png(png, width: 60_000, height: 60_000),
            "jpeg_20000.jpg": HeaderEdit.jpeg(jpeg, width: 20_000, height: 20_000),
            "jpeg_60000.jpg": HeaderEdit.jpeg(jpeg, width: 60_000, height: 60_000),
            "jpeg_progressive_20000.jpg": HeaderEdit.jpeg(progressive, width: 20_000, height: 20_000),
            "webp_lossy_16383.webp": HeaderEdit.webp(lossy, width: 16_383, height: 16_383),
            "webp_lossless_16383.webp": HeaderEdit.webp(lossless, width: 16_383, height: 16_383),
            "gif_9400.gif": HeaderEdit.gif(gif, width: 9_400, height: 9_400),
            "gif_20000.gif": HeaderEdit.gif(gif, width: 20_000, height: 20_000),
            "gif_60000.gif": HeaderEdit.gif(gif, width: 60_000, height: 60_000),
            "tiff_20000.tif": HeaderEdit.tiff(tiff, width: 20_000, height: 20_000),
            "tiff_60000.tif": HeaderEdit.tiff(tiff, width: 60_000, height: 60_000),
        ]
    }
}

/// Rewrites the declared size in real image headers (checksums fixed where there are any).
enum HeaderEdit {
    static func png(_ bytes: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = bytes
        put32BE(&out, 16, width)
        put32BE(&out, 20, height)
        put32BE(&out, 29, Int(crc32(out[12..<29])))            // CRC of "IHDR" + data
        return out
    }

    /// Edits the first start-of-frame segment (height, then width, big-endian).
    static func jpeg(_ bytes: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = bytes
        var i = 2
        while i + 9 < out.count, out[i] == 0xFF {
            let marker = out[i + 1], length = Int(out[i + 2]) << 8 | Int(out[i + 3])
            if (0xC0...0xC2).contains(marker) {
                put16BE(&out, i + 5, height)
                put16BE(&out, i + 7, width)
                break
            }
            i += 2 + length
        }
        return out
    }

    /// Edits the logical screen and the first image descriptor.
    static func gif(_ bytes: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = bytes
        put16LE(&out, 6, width)
        put16LE(&out, 8, height)
        var i = 13 + (out[10] & 0x80 != 0 ? 3 << (Int(out[10] & 7) + 1) : 0)
        while i < out.count, out[i] == 0x21 {                  // extensions: label, sub-blocks
            i += 2
            while i < out.count, out[i] != 0 { i += Int(out[i]) + 1 }
            i += 1
        }
        if i + 9 < out.count, out[i] == 0x2C {
            put16LE(&out, i + 5, width)
            put16LE(&out, i + 7, height)
        }
        return out
    }

    /// Edits ImageWidth (256) and ImageLength (257) of IFD0 in a little-endian TIFF.
    static func tiff(_ bytes: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = bytes
        let ifd = Int(out[4]) | Int(out[5]) << 8 | Int(out[6]) << 16 | Int(out[7]) << 24
        let entries = Int(out[ifd]) | Int(out[ifd + 1]) << 8
        for k in 0..<entries {
            let entry = ifd + 2 + 12 * k
            let tag = Int(out[entry]) | Int(out[entry + 1]) << 8
            guard tag == 256 || tag == 257 else { continue }
            let value = tag == 256 ? width : height
            if out[entry + 2] == 3 { put16LE(&out, entry + 8, value) } else { put32LE(&out, entry + 8, value) }
        }
        return out
    }

    /// Edits the VP8 frame header, the VP8L header or the VP8X canvas, whichever are present.
    static func webp(_ bytes: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = bytes
        var i = 12
        while i + 8 <= out.count {
            let kind = String(decoding: out[i..<(i + 4)], as: UTF8.self)
            let size = Int(out[i + 4]) | Int(out[i + 5]) << 8 | Int(out[i + 6]) << 16 | Int(out[i + 7]) << 24
            let data = i + 8
            switch kind {
            case "VP8 ":
                put16LE(&out, data + 6, width & 0x3FFF)
                put16LE(&out, data + 8, height & 0x3FFF)
            case "VP8L":
                var bits = UInt32(out[data + 1]) | UInt32(out[data + 2]) << 8 | UInt32(out[data + 3]) << 16
                    | UInt32(out[data + 4]) << 24
                bits = bits & 0xF000_0000 | UInt32(width - 1) | UInt32(height - 1) << 14
                put32LE(&out, data + 1, Int(bits))
            case "VP8X":
                for (offset, value) in [(4, width - 1), (7, height - 1)] {
                    for k in 0..<3 { out[data + offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
                }
            default:
                break
            }
            i = data + size + (size & 1)
        }
        return out
    }

    private static func put16BE(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        b[at] = UInt8(truncatingIfNeeded: v >> 8)
        b[at + 1] = UInt8(truncatingIfNeeded: v)
    }
    private static func put32BE(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        put16BE(&b, at, v >> 16)
        put16BE(&b, at + 2, v)
    }
    private static func put16LE(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        b[at] = UInt8(truncatingIfNeeded: v)
        b[at + 1] = UInt8(truncatingIfNeeded: v >> 8)
    }
    private static func put32LE(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        put16LE(&b, at, v)
        put16LE(&b, at + 2, v >> 16)
    }
}

/// CRC-32 (ISO-HDLC, as PNG and zip use it).
func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Peak RSS and output of a `winnow` command run under `/usr/bin/time -v`, killed after
/// `timeLimit` seconds (status 137 then).
struct MeasuredRun {
    var status: Int32
    var output: String
    var peakKilobytes: Int

    init(_ arguments: [String], executable: URL = TestData.winnowExecutable, timeLimit: Int = 300) throws {
        let result = try TestData.shell("/usr/bin/time", ["-v", "timeout", "-s", "KILL", "\(timeLimit)", executable.path]
                                        + arguments)
        status = result.status
        output = result.output
        let line = result.output.split(separator: "\n").first { $0.contains("Maximum resident set size") }
        peakKilobytes = line.flatMap { Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") } ?? -1
    }
}
