import Foundation
import Testing
@testable import WinnowCore

// Decode-stage tests. Every fixture is made at run time from real photos (scikit-image's
// sample data) with the `vips` command line tool, or by editing bytes, in a per-test folder.

// MARK: - Fixture helpers

/// Thrown when a fixture can't be made; the message says what is missing.
private struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}


/// Mean absolute difference of two equally long byte arrays (infinity when lengths differ).
private func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    var sum = 0
    for i in a.indices { sum += abs(Int(a[i]) - Int(b[i])) }
    return Double(sum) / Double(a.count)
}

/// Inserts a minimal APP1 Exif segment (IFD0 with only Orientation) right after SOI.
private func withExifOrientation(_ jpeg: [UInt8], _ orientation: UInt16, bigEndian: Bool) -> [UInt8] {
    func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) -> [UInt8] { bigEndian ? u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) : u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) }
    var tiff: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
    tiff += u16(42) + u32(8)                                  // magic, IFD0 at offset 8
    tiff += u16(1)                                            // one entry
    tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]   // Orientation, SHORT, 1 value
    tiff += u32(0)                                            // no next IFD
    let payload = Array("Exif".utf8) + [0, 0] + tiff
    let length = payload.count + 2
    let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    return Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
}

/// A per-test folder of fixtures, removed when the test ends.
private final class Fixtures {
    let folder: URL
    let photos: URL

    init(_ name: String = #function) throws {
        photos = try TestData.skimageData()
        let safe = name.filter { $0.isLetter || $0.isNumber }
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("winnow-decode-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    /// Path of a fixture in the test folder.
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Path of a real photo (e.g. "coffee.png").
    func photo(_ name: String) -> String { photos.appendingPathComponent(name).path }

    /// Runs the `vips` command line tool; arguments naming files in the folder are plain names.
    func vips(_ arguments: String...) throws {
        let result = try TestData.shell("vips", arguments, in: folder)
        guard result.status == 0 else {
            throw FixtureError("vips \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
    }

    func bytes(_ name: String) throws -> [UInt8] {
        let path = name.hasPrefix("/") ? name : self.path(name)
        guard let data = FileManager.default.contents(atPath: path) else { throw FixtureError("cannot read \(path)") }
        return [UInt8](data)
    }

    @discardableResult
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        try Data(bytes).write(to: folder.appendingPathComponent(name))
        return name
    }

    /// Reference pixels decoded by libvips (`vips rawsave`), interleaved as stored.
    func raw(_ image: String) throws -> [UInt8] {
        let name = "raw-\(UUID().uuidString.prefix(8)).raw"
        try vips("rawsave", image, name)
        return try bytes(name)
    }

    func decode(_ name: String, minimumSide: Int = 0) throws -> DecodedImage {
        try ImageDecoder(minimumSide: minimumSide).decode(try bytes(name))
    }

    /// The error decoding a fixture gives, or nil when it decodes.
    func failure(_ name: String) throws -> InvalidSample? {
        let data = try bytes(name)
        do {
            _ = try ImageDecoder().decode(data)
            return nil
        } catch {
            return error
        }
    }
}

/// Checks an expected decode failure: reason, and a one-line message.
private func expectFailure(_ failure: InvalidSample?, _ reason: InvalidReason, containing text: String? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    guard let failure else {
        Issue.record("expected \(reason.rawValue), but the file decoded", sourceLocation: sourceLocation)
        return
    }
    #expect(failure.reason == reason, "message: \(failure.message)", sourceLocation: sourceLocation)
    #expect(!failure.message.contains("\n") && !failure.message.isEmpty, sourceLocation: sourceLocation)
    if let text {
        #expect(failure.message.contains(text), "message: \(failure.message)", sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite struct DecodeTests {
    // MARK: JPEG

    @Test func jpegDecodesCloseToTheOriginalPhoto() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("coffee.png"), "q95.jpg", "--Q", "95")
        let decoded = try f.decode("q95.jpg")
        #expect(decoded.format == .jpeg)
        #expect(decoded.image.width == 600 && decoded.image.height == 400)
        #expect(decoded.originalWidth == 600 && decoded.originalHeight == 400)
        #expect(!decoded.isGrayscaleSource)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("coffee.png")))
        #expect(difference < 3, "mean abs difference \(difference)")
    }

    @Test func realCameraJPEGDecodes() throws {
        let f = try Fixtures()
        let decoded = try f.decode(f.photo("rocket.jpg"))
        #expect(decoded.image.width == 640 && decoded.image.height == 427)
        #expect(meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("rocket.jpg"))) < 0.5)
    }

    @Test func progressiveJPEGDecodes() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("chelsea.png"), "progressive.jpg", "--Q", "90", "--interlace")
        let decoded = try f.decode("progressive.jpg")
        #expect(decoded.image.width == 451 && decoded.image.height == 300)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("chelsea.png")))
        #expect(difference < 3, "mean abs difference \(difference)")
    }

    @Test func grayJPEGAndPNGAreGraySources() throws {
        let f = try Fixtures()
        try f.vips("colourspace", f.photo("coffee.png"), "gray.png", "b-w")
        try f.vips("jpegsave", "gray.png", "gray.jpg", "--Q", "95")
        let grayReference = try f.raw("gray.png").flatMap { [$0, $0, $0] }
        for name in ["gray.jpg", "gray.png", f.photo("camera.png")] {
            let decoded = try f.decode(name)
            #expect(decoded.isGrayscaleSource, "\(name)")
            let p = decoded.image.pixels
            let channelsEqual = stride(from: 0, to: p.count, by: 3).allSatisfy { (i: Int) -> Bool in
                p[i] == p[i + 1] && p[i] == p[i + 2]
            }
            #expect(channelsEqual, "\(name)")
            if name != f.photo("camera.png") {
                #expect(meanAbsoluteDifference(p, grayReference) < 2, "\(name)")
            }
        }
        #expect(try !f.decode(f.photo("coffee.png")).isGrayscaleSource)
    }

    @Test func exifOrientationSixIsAppliedToPixelsAndSize() throws {
        let f = try Fixtures()
        // Store the photo turned 90° counter-clockwise; Orientation=6 says "turn 90° clockwise".
        try f.vips("rot", f.photo("chelsea.png"), "stored.png", "d270")
        try f.vips("jpegsave", "stored.png", "stored.jpg", "--Q", "95")
        let stored = try f.decode("stored.jpg")
        #expect(stored.image.width == 300 && stored.image.height == 451)
        try f.write(withExifOrientation(try f.bytes("stored.jpg"), 6, bigEndian: false), "oriented.jpg")
        let decoded = try f.decode("oriented.jpg")
        #expect(decoded.image.width == 451 && decoded.image.height == 300)
        #expect(decoded.originalWidth == 451 && decoded.originalHeight == 300)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("chelsea.png")))
        #expect(difference < 3, "mean abs difference \(difference)")
    }

    @Test(arguments: 1...8)
    func everyExifOrientationMatchesLibvipsAutorot(orientation: Int) throws {
        let f = try Fixtures("orientation\(orientation)")
        try f.vips("jpegsave", f.photo("coffee.png"), "plain.jpg", "--Q", "90")
        let bigEndian = orientation % 2 == 1
        try f.write(withExifOrientation(try f.bytes("plain.jpg"), UInt16(orientation), bigEndian: bigEndian),
                    "oriented.jpg")
        try f.vips("autorot", "oriented.jpg", "reference.v")
        let decoded = try f.decode("oriented.jpg")
        let swapped = orientation >= 5
        #expect(decoded.image.width == (swapped ? 400 : 600) && decoded.image.height == (swapped ? 600 : 400))
        #expect(decoded.originalWidth == decoded.image.width && decoded.originalHeight == decoded.image.height)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw("reference.v"))
        #expect(difference < 0.5, "mean abs difference \(difference)")
    }

    @Test func reducedJPEGDecodeKeepsTheOriginalSize() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("coffee.png"), "coffee.jpg", "--Q", "90")
        let full = try f.decode("coffee.jpg")
        // (minimumSide, expected decoded size): strongest of 1/2, 1/4, 1/8 keeping both sides.
        let cases: [(Int, Int, Int)] = [(0, 600, 400), (1000, 600, 400), (400, 600, 400), (200, 300, 200),
                                        (128, 300, 200), (100, 150, 100), (50, 75, 50), (1, 75, 50)]
        for (minimumSide, width, height) in cases {
            let decoded = try f.decode("coffee.jpg", minimumSide: minimumSide)
            #expect(decoded.image.width == width && decoded.image.height == height, "minimumSide \(minimumSide)")
            #expect(decoded.originalWidth == 600 && decoded.originalHeight == 400)
            // Same picture: the channel means barely move.
            for channel in 0..<3 {
                func mean(_ p: [UInt8]) -> Double {
                    Double(stride(from: channel, to: p.count, by: 3).reduce(0) { $0 + Int(p[$1]) }) / Double(p.count / 3)
                }
                #expect(abs(mean(decoded.image.pixels) - mean(full.image.pixels)) < 1.5)
            }
        }
        // With orientation 6 the reduction is chosen on the stored size and the result turned.
        try f.write(withExifOrientation(try f.bytes("coffee.jpg"), 6, bigEndian: true), "oriented.jpg")
        let turned = try f.decode("oriented.jpg", minimumSide: 150)
        #expect(turned.image.width == 200 && turned.image.height == 300)
        #expect(turned.originalWidth == 400 && turned.originalHeight == 600)
        // Other formats are never reduced.
        #expect(try f.decode(f.photo("coffee.png"), minimumSide: 50).image.width == 600)
    }

    @Test func cmykJPEGWithICCProfileIsColourManaged() throws {
        let f = try Fixtures()
        try f.vips("colourspace", f.photo("coffee.png"), "cmyk.v", "cmyk")
        try f.vips("jpegsave", "cmyk.v", "cmyk.jpg", "--Q", "95")
        try f.vips("colourspace", "cmyk.jpg", "reference.v", "srgb")
        let decoded = try f.decode("cmyk.jpg")
        #expect(decoded.format == .jpeg && !decoded.isGrayscaleSource)
        #expect(decoded.image.width == 600 && decoded.image.height == 400)
        // Same as libvips' own ICC conversion of the file ...
        let toReference = meanAbsoluteDifference(decoded.image.pixels, try f.raw("reference.v"))
        #expect(toReference < 0.5, "mean abs difference to libvips \(toReference)")
        // ... and close to the photo: the printing profile's gamut costs about 18 levels.
        let toPhoto = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("coffee.png")))
        #expect(toPhoto < 20, "mean abs difference to the photo \(toPhoto)")
    }

    @Test func cmykJPEGWithoutProfileIsConvertedNaively() throws {
        let f = try Fixtures()
        // Plain CMYK (C = 255 − R, ..., K = 0) with no ICC profile, as Pillow's convert("CMYK").
        let rgb = try f.raw(f.photo("chelsea.png"))
        var cmyk = [UInt8]()
        cmyk.reserveCapacity(rgb.count / 3 * 4)
        for p in stride(from: 0, to: rgb.count, by: 3) {
            cmyk += [255 - rgb[p], 255 - rgb[p + 1], 255 - rgb[p + 2], 0]
        }
        try f.write(cmyk, "cmyk.raw")
        try f.vips("rawload", "cmyk.raw", "cmyk4.v", "451", "300", "4")
        try f.vips("copy", "cmyk4.v", "cmyk.v", "--interpretation", "cmyk")
        try f.vips("jpegsave", "cmyk.v", "cmyk.jpg", "--Q", "95")
        let decoded = try f.decode("cmyk.jpg")
        #expect(decoded.image.width == 451 && decoded.image.height == 300)
        let difference = meanAbsoluteDifference(decoded.image.pixels, rgb)
        #expect(difference < 3, "mean abs difference \(difference)")
    }

    // MARK: PNG

    @Test func sixteenBitPNGAndTIFFAreReducedToEightBits() throws {
        let f = try Fixtures()
        try f.vips("cast", f.photo("coffee.png"), "u.v", "ushort")
        try f.vips("linear", "u.v", "l.v", "257", "0")
        try f.vips("cast", "l.v", "c16.v", "ushort")
        try f.vips("copy", "c16.v", "rgb16.v", "--interpretation", "rgb16")
        try f.vips("pngsave", "rgb16.v", "rgb16.png", "--bitdepth", "16")
        try f.vips("tiffsave", "rgb16.v", "rgb16.tif")
        try f.vips("colourspace", f.photo("coffee.png"), "g.png", "b-w")
        try f.vips("cast", "g.png", "gu.v", "ushort")
        try f.vips("linear", "gu.v", "gl.v", "257", "0")
        try f.vips("cast", "gl.v", "g16c.v", "ushort")
        try f.vips("copy", "g16c.v", "g16.v", "--interpretation", "grey16")
        try f.vips("pngsave", "g16.v", "gray16.png", "--bitdepth", "16")
        try f.vips("tiffsave", "g16.v", "gray16.tif")
        let color = try f.raw(f.photo("coffee.png"))
        let gray = try f.raw("g.png").flatMap { [$0, $0, $0] }
        let cases: [(String, [UInt8], Bool)] = [("rgb16.png", color, false), ("rgb16.tif", color, false),
                                                ("gray16.png", gray, true), ("gray16.tif", gray, true)]
        for (name, reference, isGray) in cases {
            let decoded = try f.decode(name)
            #expect(decoded.isGrayscaleSource == isGray, "\(name)")
            let difference = meanAbsoluteDifference(decoded.image.pixels, reference)
            #expect(difference < 0.6, "\(name): mean abs difference \(difference)")
        }
    }

    @Test func palettePNGDecodes() throws {
        let f = try Fixtures()
        try f.vips("pngsave", f.photo("astronaut.png"), "palette.png", "--palette")
        let decoded = try f.decode("palette.png")
        #expect(decoded.format == .png && decoded.image.width == 512)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("astronaut.png")))
        #expect(difference < 8, "mean abs difference \(difference)")
    }

    @Test func alphaIsCompositedOnWhite() throws {
        let f = try Fixtures()
        try f.vips("bandjoin_const", f.photo("chelsea.png"), "rgba.png", "128")
        try f.vips("webpsave", "rgba.png", "rgba.webp", "--lossless")
        try f.vips("tiffsave", "rgba.png", "rgba.tif")
        try f.vips("pngsave", "rgba.png", "palette-alpha.png", "--palette")
        let expected = try f.raw(f.photo("chelsea.png")).map(compositedAtHalfAlpha)
        let cases: [(String, Double)] = [("rgba.png", 0.6), ("rgba.webp", 0.6), ("rgba.tif", 1.0), ("palette-alpha.png", 6.0)]
        for (name, tolerance) in cases {
            let decoded = try f.decode(name)
            #expect(decoded.image.width == 451 && decoded.image.height == 300, "\(name)")
            let difference = meanAbsoluteDifference(decoded.image.pixels, expected)
            #expect(difference < tolerance, "\(name): mean abs difference \(difference)")
        }
    }

    @Test func pngNamedJPGDecodesAsPNG() throws {
        let f = try Fixtures()
        try f.write(try f.bytes(f.photo("coffee.png")), "actually-a-png.jpg")
        let decoded = try f.decode("actually-a-png.jpg")
        #expect(decoded.format == .png && decoded.image.width == 600)
    }

    // MARK: Other formats (libvips, libwebp)

    @Test(arguments: [
        // (file, vips command producing it from the photo, format, max mean abs difference)
        ("photo.tif", "copy", ImageFormat.tiff, 0.01),
        ("photo.bmp", "magicksave", .bmp, 0.01),
        ("photo.tga", "magicksave", .tga, 0.01),
        ("photo.pcx", "magicksave", .pcx, 0.01),
        ("photo.ppm", "copy", .ppm, 0.01),
        ("photo.webp", "webpsave", .webp, 5.0),
        ("photo.gif", "gifsave", .gif, 12.0),
        ("photo.jp2", "copy", .jpeg2000, 5.0),
        ("photo.jxl", "copy", .jxl, 5.0),
        ("photo.avif", "heifsave-av1", .avif, 8.0),
        ("photo.heic", "heifsave", .heif, 8.0),
    ])
    func otherFormatsDecode(file: String, command: String, format: ImageFormat, tolerance: Double) throws {
        let f = try Fixtures(file)
        if command == "heifsave-av1" {
            try f.vips("heifsave", f.photo("chelsea.png"), file, "--compression", "av1")
        } else {
            try f.vips(command, f.photo("chelsea.png"), file)
        }
        let bytes = try f.bytes(file)
        #expect(bytes.withUnsafeBytes { sniffImageFormat($0) } == format)
        #expect(Array(bytes.prefix(64)).withUnsafeBytes { sniffImageFormat($0) } == format, "64-byte prefix")
        let decoded = try f.decode(file)
        #expect(decoded.format == format)
        #expect(decoded.image.width == 451 && decoded.image.height == 300)
        #expect(decoded.originalWidth == 451 && decoded.originalHeight == 300)
        let difference = meanAbsoluteDifference(decoded.image.pixels, try f.raw(f.photo("chelsea.png")))
        #expect(difference < tolerance, "mean abs difference \(difference)")
    }

    @Test func icoDecodes() throws {
        let f = try Fixtures()
        try f.vips("thumbnail", f.photo("chelsea.png"), "small.png", "64")
        try f.vips("magicksave", "small.png", "icon.ico")
        let decoded = try f.decode("icon.ico")
        #expect(decoded.format == .ico)
        #expect(decoded.image.width == 64 && decoded.image.height == 43)
        #expect(meanAbsoluteDifference(decoded.image.pixels, try f.raw("small.png")) < 0.01)
    }

    @Test func animatedGIFAndWebPGiveTheFirstFrame() throws {
        let f = try Fixtures()
        try f.vips("flip", f.photo("chelsea.png"), "flipped.png", "horizontal")
        try f.vips("arrayjoin", "\(f.photo("chelsea.png")) flipped.png", "strip.v", "--across", "1")
        try f.vips("gifsave", "strip.v", "animated.gif", "--page-height", "300")
        try f.vips("webpsave", "strip.v", "animated.webp", "--page-height", "300", "--Q", "90")
        let first = try f.raw(f.photo("chelsea.png"))
        let second = try f.raw("flipped.png")
        for name in ["animated.gif", "animated.webp"] {
            let decoded = try f.decode(name)
            #expect(decoded.image.width == 451 && decoded.image.height == 300, "\(name)")
            let toFirst = meanAbsoluteDifference(decoded.image.pixels, first)
            #expect(toFirst < 12, "\(name): \(toFirst)")
            #expect(toFirst * 2 < meanAbsoluteDifference(decoded.image.pixels, second), "\(name)")
        }
    }

    // MARK: Failures

    @Test func emptyFileIsZeroSize() throws {
        expectFailure(catchFailure([]), .zeroSizeFile, containing: "0 bytes")
    }

    @Test func truncatedJPEGsAreTruncated() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("coffee.png"), "baseline.jpg", "--Q", "90")
        try f.vips("jpegsave", f.photo("coffee.png"), "progressive.jpg", "--Q", "90", "--interlace")
        let baseline = try f.bytes("baseline.jpg")
        try f.write(Array(baseline.prefix(baseline.count / 2)), "half.jpg")
        expectFailure(try f.failure("half.jpg"), .truncatedImage, containing: "% of rows decoded")
        let progressive = try f.bytes("progressive.jpg")
        try f.write(Array(progressive.prefix(progressive.count / 2)), "half-progressive.jpg")
        expectFailure(try f.failure("half-progressive.jpg"), .truncatedImage, containing: "end-of-image")
        let camera = try f.bytes(f.photo("rocket.jpg"))
        try f.write(Array(camera.prefix(camera.count * 2 / 3)), "rocket-cut.jpg")
        expectFailure(try f.failure("rocket-cut.jpg"), .truncatedImage)
        try f.write(Array(baseline.prefix(300)), "headers-only.jpg")
        expectFailure(try f.failure("headers-only.jpg"), .truncatedImage, containing: "headers")
        // Cut, then padded with zeros (a half-written download): still no EOI.
        try f.write(Array(baseline.prefix(baseline.count / 2)) + [UInt8](repeating: 0, count: baseline.count / 2),
                    "zero-padded.jpg")
        expectFailure(try f.failure("zero-padded.jpg"), .truncatedImage)
    }

    @Test func truncatedPNGsAreTruncated() throws {
        let f = try Fixtures()
        let png = try f.bytes(f.photo("coffee.png"))
        try f.write(Array(png.prefix(png.count / 2)), "half.png")
        expectFailure(try f.failure("half.png"), .truncatedImage, containing: "IDAT")
        try f.write(Array(png.prefix(png.count - 12)), "no-iend.png")
        expectFailure(try f.failure("no-iend.png"), .truncatedImage, containing: "IEND")
    }

    @Test(arguments: ["photo.tif", "photo.gif", "photo.webp", "photo.bmp", "photo.tga", "photo.ppm",
                      "photo.jp2", "photo.heic", "photo.ico"])
    func truncatedFilesOfOtherFormatsAreTruncated(file: String) throws {
        let f = try Fixtures(file)
        if file.hasSuffix(".ico") {
            try f.vips("thumbnail", f.photo("chelsea.png"), "small.png", "64")
            try f.vips("magicksave", "small.png", file)
        } else {
            let command = [".bmp", ".tga", ".ico"].contains(where: file.hasSuffix) ? "magicksave"
                : file.hasSuffix(".heic") ? "heifsave" : "copy"
            try f.vips(command, f.photo("chelsea.png"), file)
        }
        let whole = try f.bytes(file)
        try f.write(Array(whole.prefix(whole.count / 2)), "cut-" + file)
        expectFailure(try f.failure("cut-" + file), .truncatedImage)
    }

    @Test func truncatedJPEGXLIsInvalid() throws {
        let f = try Fixtures()
        try f.vips("copy", f.photo("chelsea.png"), "photo.jxl")
        let whole = try f.bytes("photo.jxl")
        try f.write(Array(whole.prefix(whole.count / 2)), "cut.jxl")
        let failure = try f.failure("cut.jxl")
        #expect(failure?.reason == .truncatedImage || failure?.reason == .corruptImage)
    }

    @Test func jpegWithOverwrittenHeaderIsCorrupt() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("astronaut.png"), "photo.jpg", "--Q", "90")
        var bytes = try f.bytes("photo.jpg")
        var random = SplitMix(seed: 7)
        bytes.replaceSubrange(0..<120, with: random.bytes(120))
        try f.write(bytes, "bad-header.jpg")
        expectFailure(try f.failure("bad-header.jpg"), .corruptImage, containing: "no image signature")
    }

    @Test func jpegWithDamagedScanDataIsCorrupt() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("astronaut.png"), "photo.jpg", "--Q", "90")
        var random = SplitMix(seed: 11)
        var detected = 0
        for seed in 0..<4 {
            var bytes = try f.bytes("photo.jpg")
            let start = bytes.count * (40 + 10 * seed) / 100
            bytes.replaceSubrange(start..<(start + 64), with: random.bytes(64))
            try f.write(bytes, "damaged\(seed).jpg")
            if let failure = try f.failure("damaged\(seed).jpg") {
                #expect(failure.reason == .corruptImage, "\(failure.message)")
                #expect(!failure.message.contains("\n"))
                detected += 1
            }
        }
        // Huffman codes can resynchronise, so now and then damage leaves libjpeg nothing to
        // notice (here one of the four); the others must be caught, EOI marker or not.
        #expect(detected >= 3)
    }

    @Test func harmlessJPEGOdditiesStillDecode() throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("coffee.png"), "photo.jpg", "--Q", "90")
        let bytes = try f.bytes("photo.jpg")
        // Junk before the EOI marker ("N extraneous bytes before marker 0xd9").
        try f.write(Array(bytes.dropLast(2)) + [0, 0, 0, 0xFF, 0xD9], "extraneous.jpg")
        // Data appended after the EOI marker.
        try f.write(bytes + Array(repeating: 0x41, count: 1000), "trailing.jpg")
        for name in ["extraneous.jpg", "trailing.jpg"] {
            #expect(try f.failure(name) == nil, "\(name)")
        }
    }

    @Test func pngWithBadChecksumIsCorrupt() throws {
        let f = try Fixtures()
        let png = try f.bytes(f.photo("chelsea.png"))
        var damagedData = png
        let idat = try #require(png.indices.first { png[$0...].starts(with: Array("IDAT".utf8)) })
        damagedData[idat + 200] ^= 0xFF
        try f.write(damagedData, "damaged-idat.png")
        expectFailure(try f.failure("damaged-idat.png"), .corruptImage)
        var badChecksum = png
        badChecksum[8 + 8 + 13] ^= 0xFF                       // first byte of IHDR's CRC
        try f.write(badChecksum, "bad-crc.png")
        expectFailure(try f.failure("bad-crc.png"), .corruptImage, containing: "CRC")
    }

    @Test func randomBytesAreCorrupt() throws {
        var random = SplitMix(seed: 3)
        for count in [200, 5000, 60000] {
            expectFailure(catchFailure(random.bytes(count)), .corruptImage, containing: "no image signature")
        }
    }

    @Test func documentsAndTextAreUnsupported() throws {
        let documents: [(String, String)] = [
            ("text", "this is not an image, just text with an image extension\n"),
            ("svg", ##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="#f00"/></svg>"##),
            ("svg with prolog", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- drawn by hand -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            ("html", "<!DOCTYPE html><html><body>hi</body></html>"),
            ("pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
            ("postscript", "%!PS-Adobe-3.0\n/Times findfont 12 scalefont setfont\nshowpage\n"),
            ("utf-8 text", "Grüße aus Köln – ein Bild ist das nicht. 画像ではありません。\n"),
        ]
        for (kind, text) in documents {
            let failure = catchFailure(Array(text.utf8))
            #expect(failure?.reason == .unsupportedFormat, "\(kind): \(failure?.message ?? "decoded")")
        }
        #expect(catchFailure(Array("%PDF-1.7\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".utf8) + [0, 1, 2, 0xFF, 0xFE])?.message
                    .contains("PDF") == true)
    }

    @Test func tinyImagesAreTooSmall() throws {
        let f = try Fixtures()
        for (width, height) in [(9, 9), (1, 1), (12, 9), (9, 40)] {
            try f.vips("thumbnail", f.photo("coffee.png"), "tiny.png", "\(width)", "--height", "\(height)", "--size", "force")
            try f.vips("jpegsave", "tiny.png", "tiny.jpg")
            for name in ["tiny.png", "tiny.jpg"] {
                expectFailure(try f.failure(name), .tooSmall, containing: "\(width)×\(height)")
            }
        }
        try f.vips("thumbnail", f.photo("coffee.png"), "ten.png", "10", "--height", "10", "--size", "force")
        #expect(try f.decode("ten.png").image.width == 10)
    }

    @Test func hugeImagesAreRefusedBeforeDecoding() throws {
        let f = try Fixtures()
        try f.vips("black", "wide.v", "25000", "16")
        try f.vips("jpegsave", "wide.v", "wide.jpg")
        try f.vips("pngsave", "wide.v", "wide.png")
        try f.vips("gifsave", "wide.v", "wide.gif")
        for name in ["wide.jpg", "wide.png", "wide.gif"] {
            expectFailure(try f.failure(name), .unsupportedFormat, containing: "image too large: 25000×16")
        }
    }

    // MARK: Sniffing, stderr, threads

    @Test func sniffingNeedsConsistentHeaders() throws {
        // Formats ImageMagick decodes from weak or missing signatures (TGA, ICO, PCX, BMP, PNM)
        // must not fire on random bytes: ImageMagick might turn garbage into a picture. (The
        // 2-byte JPEG XL codestream signature can fire; its decoder then rejects the garbage.)
        var random = SplitMix(seed: 99)
        var hits: [ImageFormat] = []
        for _ in 0..<20_000 {
            let count = Int.random(in: 32...300, using: &random)
            let bytes = random.bytes(count)
            if let format = bytes.withUnsafeBytes({ sniffImageFormat($0) }),
               [.tga, .ico, .pcx, .bmp, .ppm].contains(format) {
                hits.append(format)
            }
        }
        #expect(hits.isEmpty, "random bytes sniffed as \(hits)")
        #expect([UInt8]().withUnsafeBytes { sniffImageFormat($0) } == nil)
    }

    @Test func libraryMessagesNeverReachStderr() throws {
        let f = try Fixtures()
        try f.vips("copy", f.photo("chelsea.png"), "photo.tif")
        try f.vips("magicksave", f.photo("chelsea.png"), "photo.bmp")
        try f.vips("magicksave", f.photo("chelsea.png"), "photo.tga")
        try f.vips("copy", f.photo("chelsea.png"), "photo.gif")
        try f.vips("copy", f.photo("chelsea.png"), "photo.jp2")
        try f.vips("heifsave", f.photo("chelsea.png"), "photo.heic")
        try f.vips("copy", f.photo("chelsea.png"), "photo.jxl")
        var random = SplitMix(seed: 5)
        var broken: [[UInt8]] = []
        for name in ["photo.tif", "photo.bmp", "photo.tga", "photo.gif", "photo.jp2", "photo.heic", "photo.jxl"] {
            let whole = try f.bytes(name)
            broken.append(Array(whole.prefix(whole.count / 2)))                  // truncated
            var damaged = whole
            let start = whole.count / 3
            damaged.replaceSubrange(start..<(start + 256), with: random.bytes(256))
            broken.append(damaged)                                               // damaged in the middle
            var badHeader = whole
            badHeader.replaceSubrange(8..<40, with: random.bytes(32))
            broken.append(badHeader)                                             // damaged header
        }

        try f.vips("jpegsave", f.photo("chelsea.png"), "photo.jpg")
        let jpeg = try f.bytes("photo.jpg")
        let noisyButValid = [Array(jpeg.dropLast(2)) + [0, 0, 0xFF, 0xD9]]

        // Send fd 2 to a file while decoding.
        let capture = f.path("stderr.txt")
        _ = FileManager.default.createFile(atPath: capture, contents: nil)
        let captureHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: capture))
        fflush(nil)
        let saved = dup(2)
        dup2(captureHandle.fileDescriptor, 2)
        var outcomes: [InvalidReason?] = []
        for bytes in broken { outcomes.append(catchFailure(bytes)?.reason) }
        // Harmless files with notes for the loaders: a JPEG with junk before EOI.
        for bytes in noisyButValid { _ = catchFailure(bytes) }
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        try captureHandle.close()

        // Swift Testing itself reports progress on stderr from other threads; ignore its lines.
        let printed = try String(contentsOfFile: capture, encoding: .utf8)
            .split(separator: "\n")
            .filter { !$0.contains("Test ") && !$0.contains("Suite ") && !$0.contains("Test run") }
        #expect(printed.isEmpty, "printed to stderr: \(printed)")
        // Damage inside uncompressed pixel data can't be detected, but truncation is (JPEG XL,
        // last in the list, may also call it corrupt).
        let truncations = stride(from: 0, to: outcomes.count, by: 3).map { outcomes[$0] }
        #expect(truncations.dropLast().allSatisfy { $0 == .truncatedImage }, "\(truncations)")
        #expect(truncations.last.flatMap { $0 } != nil)
    }

    @Test func decodingIsThreadSafe() async throws {
        let f = try Fixtures()
        try f.vips("jpegsave", f.photo("coffee.png"), "a.jpg", "--Q", "85")
        try f.vips("copy", f.photo("chelsea.png"), "b.webp")
        try f.vips("copy", f.photo("astronaut.png"), "c.gif")
        try f.vips("copy", f.photo("motorcycle_left.png"), "d.tif")
        try f.vips("magicksave", f.photo("chelsea.png"), "e.bmp")
        let files = try ["a.jpg", "b.webp", "c.gif", "d.tif", "e.bmp"].map { try f.bytes($0) }
            + [try f.bytes(f.photo("coffee.png")), try f.bytes(f.photo("rocket.jpg"))]
        // minimumSide 0 and 100 (reduced JPEG decodes) alternate between rounds.
        let expected = try [0, 100].map { side in try files.map { try ImageDecoder(minimumSide: side).decode($0).image } }
        let results = await withTaskGroup(of: (Int, Int, RGBImage?).self) { group in
            for round in 0..<4 {
                for (index, bytes) in files.enumerated() {
                    group.addTask { (round % 2, index, try? ImageDecoder(minimumSide: 100 * (round % 2)).decode(bytes).image) }
                }
            }
            var all: [(Int, Int, RGBImage?)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == files.count * 4)
        for (variant, index, image) in results {
            #expect(image == expected[variant][index], "file \(index) decoded differently on another thread")
        }
    }

    /// libvips keeps one error buffer for the whole process: failures decoded at the same
    /// time must still each get their own message and code (found by FuzzTests).
    @Test func concurrentLoaderFailuresKeepTheirOwnMessages() async throws {
        let f = try Fixtures()
        try f.vips("copy", f.photo("chelsea.png"), "photo.tif")
        try f.vips("copy", f.photo("coffee.png"), "photo.gif")
        try f.vips("copy", f.photo("chelsea.png"), "photo.jp2")
        try f.vips("heifsave", f.photo("coffee.png"), "photo.heic")
        try f.vips("magicksave", f.photo("chelsea.png"), "photo.bmp")
        var random = SplitMix(seed: 9)
        var broken: [[UInt8]] = []
        for name in ["photo.tif", "photo.gif", "photo.jp2", "photo.heic", "photo.bmp"] {
            let whole = try f.bytes(name)
            broken.append(Array(whole.prefix(whole.count / 2)))
            var damaged = whole
            damaged.replaceSubrange(whole.count / 3..<(whole.count / 3 + 512), with: random.bytes(512))
            broken.append(damaged)
        }
        let files = broken.filter { catchFailure($0) != nil }        // damage in raw pixels can go unseen
        let expected = files.map { catchFailure($0) }
        #expect(files.count >= 5)
        let results = await withTaskGroup(of: (Int, InvalidSample?).self) { group in
            for _ in 0..<6 {
                for (index, bytes) in files.enumerated() { group.addTask { (index, catchFailure(bytes)) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (index, failure) in results {
            #expect(failure == expected[index], "file \(index): \(failure?.message ?? "decoded") ≠ \(expected[index]?.message ?? "")")
        }
    }

    // MARK: Corpus set B

    @Test
    func corpusSetBIsClassifiedCorrectly() throws {
        let folder = try TestData.corpus("B")
        let csv = try String(contentsOf: folder.appendingPathComponent("ground_truth.csv"), encoding: .utf8)
        var lines = csv.split(whereSeparator: \.isNewline).map(String.init)
        let header = CSVReader.fields(lines.removeFirst()) ?? []
        let fileColumn = try #require(header.firstIndex(of: "file"))
        let issueColumn = try #require(header.firstIndex(of: "issue"))
        let corruptColumn = try #require(header.firstIndex(of: "is_corrupt"))
        let widthColumn = try #require(header.firstIndex(of: "width"))
        let heightColumn = try #require(header.firstIndex(of: "height"))
        let mustDecode: Set<String> = ["ok", "blurry", "bright", "dark", "exif_orientation", "grayscale",
                                       "low_information", "odd_aspect_ratio", "odd_format",
                                       "wrong_extension_png_as_jpg"]
        var checked = 0
        for line in lines where !line.isEmpty {
            let columns = CSVReader.fields(line) ?? []
            let file = columns[fileColumn], issue = columns[issueColumn]
            let data = try [UInt8](Data(contentsOf: folder.appendingPathComponent("images").appendingPathComponent(file)))
            let failure = catchFailure(data)
            let whole = data.withUnsafeBytes { sniffImageFormat($0) }
            #expect(Array(data.prefix(64)).withUnsafeBytes { sniffImageFormat($0) } == whole, "\(file): prefix sniff")
            // Pillow's size is the stored one; EXIF orientation 6 turns it.
            if failure == nil, let width = Int(columns[widthColumn]), let height = Int(columns[heightColumn]) {
                let decoded = try ImageDecoder().decode(data)
                let expected = issue == "exif_orientation" ? (height, width) : (width, height)
                #expect(decoded.originalWidth == expected.0 && decoded.originalHeight == expected.1,
                        "\(file) (\(issue)): \(decoded.originalWidth)×\(decoded.originalHeight)")
            }
            if columns[corruptColumn] == "1" {
                let invalid = [InvalidReason.corruptImage, .truncatedImage, .zeroSizeFile].contains(failure?.reason)
                #expect(invalid, "\(file) (\(issue)) should be invalid: \(failure?.message ?? "decoded")")
            } else if mustDecode.contains(issue) {
                #expect(failure == nil, "\(file) (\(issue)) should decode: \(failure?.message ?? "")")
            } else if issue == "tiny" {
                #expect(failure?.reason == .tooSmall, "\(file): \(failure?.message ?? "decoded")")
            } else if issue == "unsupported_format" {
                // JPEG 2000 is a raster format Winnow decodes; SVG, PDF and text are not.
                let isJPEG2000 = data.withUnsafeBytes { sniffImageFormat($0) } == .jpeg2000
                #expect(isJPEG2000 ? failure == nil : failure?.reason == .unsupportedFormat,
                        "\(file): \(failure?.message ?? "decoded")")
            }
            checked += 1
        }
        #expect(checked >= 17)
    }
}

/// A sample blended at alpha 128 on white, rounded.
private func compositedAtHalfAlpha(_ value: UInt8) -> UInt8 {
    let blended: Int = (Int(value) * 128 + 255 * 127 + 127) / 255
    return UInt8(blended)
}

/// Decodes bytes and returns the error, or nil when they decode.
private func catchFailure(_ bytes: [UInt8]) -> InvalidSample? {
    do {
        _ = try ImageDecoder().decode(bytes)
        return nil
    } catch {
        return error
    }
}
