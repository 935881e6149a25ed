import Foundation
import Testing
@testable import WinnowCore

// Decompression bombs and large images: pixel limits, shrink on load, archive member limits.
// Memory is measured in `winnow` subprocesses so that a regression cannot take the test
// runner down with it.

@Suite struct DecodeLimitsTests {
    /// What decoding each bomb must give, and a word its message must contain.
    static let expected: [String: (InvalidReason, String)] = [
        "png_20000.png": (.corruptImage, "90 bytes cannot hold the 20000×20000 image the header declares"),
        "png_60000.png": (.corruptImage, "90 bytes cannot hold the 60000×60000 image the header declares"),
        "jpeg_20000.jpg": (.corruptImage, "bytes cannot hold the 20000×20000 image the header declares"),
        "jpeg_60000.jpg": (.corruptImage, "bytes cannot hold the 60000×60000 image the header declares"),
        "jpeg_progressive_20000.jpg": (.corruptImage, "bytes cannot hold the 20000×20000 image the header declares"),
        "webp_lossless_16383.webp": (.unsupportedFormat, "16383×16383 is 268.4 megapixels, over the limit of 89.5 megapixels"),
        "gif_9400.gif": (.corruptImage, "bytes cannot hold the 9400×9400 first frame the header declares"),
        "gif_20000.gif": (.corruptImage, "bytes cannot hold the 20000×20000 first frame the header declares"),
        "gif_60000.gif": (.corruptImage, "bytes cannot hold the 60000×60000 first frame the header declares"),
        "tiff_20000.tif": (.unsupportedFormat, "20000×20000 is 400.0 megapixels, over the limit of 89.5 megapixels"),
        "tiff_60000.tif": (.unsupportedFormat, "60000×60000 (limit 20000 px per side)"),
    ]

    @Test func bombsAreRefusedFromTheirHeadersInOneLine() throws {
        let bombs = try BombFixtures(in: try TestData.temporaryDirectory()).all()
        for (name, bytes) in bombs.sorted(by: { $0.key < $1.key }) {
            let started = Date()
            do {
                _ = try ImageDecoder().decode(bytes)
                Issue.record("\(name) decoded")
            } catch {
                #expect(!error.message.contains("\n"), "\(name): \(error.message)")
                if let (reason, text) = Self.expected[name] {
                    #expect(error.reason == reason && error.message.contains(text), "\(name): \(error.message)")
                } else {
                    // Lossy WebP is decoded shrunk: it fails on its missing data, not its size.
                    #expect(error.reason == .truncatedImage || error.reason == .corruptImage, "\(name): \(error.message)")
                }
            }
            #expect(Date().timeIntervalSince(started) < 2, "\(name) took \(Date().timeIntervalSince(started)) s")
        }
    }

    @Test func largeImagesAreDecodedShrunkOnLoadWhereTheDecoderCan() throws {
        let f = try BombFixtures(in: try TestData.temporaryDirectory())
        let decoder = ImageDecoder(limits: DecodeLimits(maximumPixels: 60_000))   // coffee is 600×400
        let shrinkable = [try f.small("b.jpg", side: 600), try f.small("l.webp", side: 600, options: "[Q=80]")]
        for bytes in shrinkable {
            let decoded = try decoder.decode(bytes)
            #expect(decoded.originalWidth == 600 && decoded.originalHeight == 400)
            #expect(decoded.image.width * decoded.image.height <= 60_000 && decoded.image.width >= 290,
                    "\(decoded.format): \(decoded.image.width)×\(decoded.image.height)")
        }
        let refused = [
            ("p.jpg", "[interlace]", "progressive or multi-scan JPEG"), ("p.png", "", "PNG cannot be decoded shrunk"),
            ("p.gif", "", "GIF cannot be decoded shrunk"), ("p.tif", "", "TIFF cannot be decoded shrunk"),
            ("p.webp", "[lossless]", "WebP cannot be decoded shrunk"),
        ]
        for (name, options, why) in refused {
            let bytes = try f.small(name, side: 600, options: options)
            let error = #expect(throws: InvalidSample.self) { try decoder.decode(bytes) }
            #expect(error?.reason == .unsupportedFormat && error?.message.contains(
                "600×400 is 0.2 megapixels, over the limit of 0.1 megapixels (--max-image-pixels); ") == true
                && error?.message.contains(why) == true, "\(name): \(error?.message ?? "")")
        }
    }

    @Test func minimumSideAndThePixelLimitTakeTheStrongerJPEGReduction() throws {
        let f = try BombFixtures(in: try TestData.temporaryDirectory())
        let jpeg = try f.small("b.jpg", side: 600)
        let limited = try ImageDecoder(minimumSide: 300, limits: DecodeLimits(maximumPixels: 20_000)).decode(jpeg)
        #expect(limited.image.width == 150 && limited.image.height == 100)             // 1/4: the limit wins
        let wanted = try ImageDecoder(minimumSide: 100, limits: DecodeLimits(maximumPixels: 200_000)).decode(jpeg)
        #expect(wanted.image.width == 150 && wanted.image.height == 100)               // 1/4: minimumSide wins
    }

    @Test func oversizedArchiveMembersAreRefusedWithoutBeingRead() throws {
        let folder = try TestData.temporaryDirectory()
        let f = try BombFixtures(in: folder)
        _ = try f.small("photo.jpg", side: 200)
        try f.write([UInt8](repeating: 0, count: 5_000_000), "zeros.jpg")
        let zip = folder.appendingPathComponent("a.zip")
        #expect(try TestData.shell("zip", ["-q", "-1", zip.path, "photo.jpg", "zeros.jpg"], in: folder).status == 0)
        var results: [String: Result<[UInt8], InvalidSample>] = [:]
        try ArchiveReader(url: zip, maximumFileBytes: 1_000_000).readMembers(["photo.jpg", "zeros.jpg"]) { name, result in
            results[name] = result
            return true
        }
        #expect((try? results["photo.jpg"]?.get())?.count ?? 0 > 1_000)
        #expect(throws: InvalidSample(.unsupportedFormat, "a.zip/zeros.jpg: archive member of 5000000 bytes is over "
                                      + "the limit of 1000000 bytes (--max-file-bytes); not read")) {
            try results["zeros.jpg"]?.get()
        }
    }

    /// A tar header claiming more bytes than the archive holds, but within the limit: the
    /// member is read up to what is there (not allocated from the claim) and reported as
    /// unreadable in one line.
    @Test func archiveMemberShorterThanItsHeaderSaysIsUnreadable() throws {
        let folder = try TestData.temporaryDirectory()
        let f = try BombFixtures(in: folder)
        let photo = try f.small("photo.jpg", side: 200)
        let tar = folder.appendingPathComponent("a.tar")
        #expect(try TestData.shell("tar", ["-cf", tar.path, "photo.jpg"], in: folder).status == 0)
        var bytes = [UInt8](try Data(contentsOf: tar))
        let claimed = Array(String(100_000_000, radix: 8).utf8)                 // size field: 11 octal digits
        bytes.replaceSubrange(124..<136, with: [UInt8](repeating: 0x30, count: 11 - claimed.count) + claimed + [0])
        bytes.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
        bytes.replaceSubrange(148..<156, with: Array(String(format: "%06o", sum).utf8) + [0, 0x20])
        try Data(bytes.prefix(512 + photo.count)).write(to: tar)
        var result: Result<[UInt8], InvalidSample>?
        try? ArchiveReader(url: tar).readMembers(["photo.jpg"]) { _, read in
            result = read
            return false
        }
        let error = #expect(throws: InvalidSample.self) { try result?.get() }
        #expect(error?.reason == .unreadable && error?.message.hasPrefix("a.tar/photo.jpg: ") == true
                && !(error?.message.contains("\n") ?? true), "\(error?.message ?? "")")
    }

    /// `winnow run` over a folder of bombs plus two photos: every bomb is an invalid row, the
    /// photos are valid, and the peak memory stays near that of a run over the photos alone.
    @Test func runOverBombsStaysSmall() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let f = try BombFixtures(in: images)
        _ = try f.small("coffee.jpg", side: 400)
        _ = try f.small("chelsea.jpg", side: 400, photo: "chelsea")
        let photosOnly = try MeasuredRun(["run", images.path, "-w", root.appendingPathComponent("w0").path,
                                          "--no-embeddings", "--quiet"])
        for (name, bytes) in try f.all() { try f.write(bytes, name) }
        for name in ["s.png", "s.jpg", "p.jpg", "s.gif", "s.tif", "s.webp", "l.webp"] {
            try FileManager.default.removeItem(at: images.appendingPathComponent(name))
        }
        let work = root.appendingPathComponent("w1")
        let bombs = try MeasuredRun(["run", images.path, "-w", work.path, "--no-embeddings", "--quiet"])
        #expect(bombs.status == 0 && photosOnly.status == 0, "\(bombs.output)")
        #expect(photosOnly.peakKilobytes > 0 && bombs.peakKilobytes < photosOnly.peakKilobytes + 150_000,
                "peak RSS \(bombs.peakKilobytes) kB over bombs, \(photosOnly.peakKilobytes) kB over the photos")
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 12 && bad.allSatisfy { !($0["reason"] ?? "\n").contains("\n") }, "\(bad)")
        #expect(try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv")).count == 2)
    }

    /// A zip member larger than the limit is an invalid row and is never inflated.
    /// A huge regular file named as an image (a sparse 4 GiB `.jpg`) is refused by its size and
    /// never read; a smaller limit refuses an ordinary photo the same way, and the run goes on.
    @Test func filesOverTheByteLimitAreRefusedWithoutBeingRead() throws {
        let root = try TestData.temporaryDirectory()
        let f = try BombFixtures(in: root)
        let photoBytes = try f.small("coffee.jpg", side: 400).count
        let photo = root.appendingPathComponent("coffee.jpg")
        let huge = root.appendingPathComponent("huge.jpg")
        #expect(try TestData.shell("truncate", ["-s", "4G", huge.path]).status == 0)
        let work = root.appendingPathComponent("w")
        let run = try MeasuredRun(["run", root.path, "-w", work.path, "--no-embeddings", "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.peakKilobytes > 0 && run.peakKilobytes < 200_000, "peak RSS \(run.peakKilobytes) kB")
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.map { $0["error_code"] } == ["ERROR_UNSUPPORTED_FORMAT"], "\(bad)")
        #expect(bad.first?["reason"] == "huge.jpg: file of 4294967296 bytes is over the limit of 268435456 bytes "
                + "(--max-file-bytes); not read", "\(bad)")
        let small = try MeasuredRun(["run", photo.path, "-w", root.appendingPathComponent("w2").path, "--no-embeddings",
                                     "--quiet", "--max-file-bytes", String(photoBytes - 1)])
        #expect(small.status == 0, "\(small.output)")
        let refused = try TestData.readCSV(root.appendingPathComponent("w2/atrain_features.bad.csv"))
        #expect(refused.first?["reason"]?.contains("file of \(photoBytes) bytes is over the limit") == true, "\(refused)")
    }

    @Test func runOverAnArchiveWithAHugeMemberStaysSmall() throws {
        let root = try TestData.temporaryDirectory()
        let f = try BombFixtures(in: root)
        _ = try f.small("coffee.jpg", side: 400)
        try f.write([UInt8](repeating: 0, count: 64_000_000), "zeros.jpg")
        let zip = root.appendingPathComponent("a.zip")
        #expect(try TestData.shell("zip", ["-q", "-1", zip.path, "coffee.jpg", "zeros.jpg"], in: root).status == 0)
        try FileManager.default.removeItem(at: root.appendingPathComponent("zeros.jpg"))
        let work = root.appendingPathComponent("w")
        let run = try MeasuredRun(["run", zip.path, "-w", work.path, "--no-embeddings", "--quiet",
                                   "--max-file-bytes", "10000000"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.peakKilobytes > 0 && run.peakKilobytes < 200_000, "peak RSS \(run.peakKilobytes) kB")
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.map { $0["error_code"] } == ["ERROR_UNSUPPORTED_FORMAT"], "\(bad)")
        #expect(bad.first?["reason"]?.contains("64000000 bytes is over the limit of 10000000 bytes") == true, "\(bad)")
    }

    /// The limits are kept in config.json; thumbnails use them, and configs written before
    /// they existed still load (with the defaults).
    @Test func thumbnailsUseTheRunsLimits() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try BombFixtures(in: images).small("coffee.jpg", side: 600)
        let work = root.appendingPathComponent("w")
        let run = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--no-embeddings",
                                     "--quiet", "--max-image-pixels", "100000", "--max-file-bytes", "5000000"])
        #expect(run.status == 0, "\(run.output)")
        let limits = DecodeLimits(maximumPixels: 100_000, maximumFileBytes: 5_000_000)
        let store = ThumbnailStore(workDirectory: work)
        #expect(store.limits == limits && store.resized(side: 800, folder: "large").limits == limits)
        #expect(throws: Never.self) { try store.thumbnail(of: 0) }

        let config = work.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        json["decodeLimits"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        #expect(ThumbnailStore(workDirectory: work).limits == DecodeLimits())
    }

    @Test func limitOptionsAreValidatedAndDocumented() throws {
        let winnow = TestData.winnowExecutable.path
        let help = try TestData.shell(winnow, ["run", "--help"]).output
        #expect(help.contains("--max-image-pixels") && help.contains("--max-file-bytes"))
        for option in ["--max-image-pixels", "--max-file-bytes"] {
            for value in ["0", "-1"] {
                let result = try TestData.shell(winnow, ["run", "/nonexistent", option, value])
                #expect(result.status == 64 && result.output.contains("\(option) must be a number ≥ 1 (got \(value))"), "\(result.output)")
            }
        }
    }
}
