import Foundation
import Testing
@testable import WinnowCore

// A short, bounded fuzz test of the decoders and the archive reader: random bytes and seeded
// mutations (bit flips, truncations, header-field changes, splices) of real small files of
// every supported format and of small tar/zip archives.
//
// Images are decoded by a `winnow run` subprocess under a time and memory bound (a crash or
// hang fails the test without taking the runner down); archives are read in-process.
// `WINNOW_FUZZ_SEED` and `WINNOW_FUZZ_ITERATIONS` (mutations per seed file, default 150:
// about 25 s on two cores)
// override the fixed defaults for longer local runs, e.g.
//   WINNOW_FUZZ_SEED=7 WINNOW_FUZZ_ITERATIONS=2000 swift test --filter FuzzTests

@Suite struct FuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seed = environment["WINNOW_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20_251_203
    static let iterations = environment["WINNOW_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 150

    /// Seed images: (file name, photo, `vips` command) — every format the decoders accept.
    static let seedImages: [(String, String, [String])] = [
        ("a.jpg", "coffee", ["jpegsave", "--Q", "60"]), ("b.jpg", "chelsea", ["jpegsave", "--interlace"]),
        ("c.png", "coffee", ["pngsave"]), ("d.png", "astronaut", ["pngsave", "--palette"]),
        ("e.webp", "coffee", ["webpsave", "--Q", "50"]), ("f.webp", "chelsea", ["webpsave", "--lossless"]),
        ("g.gif", "astronaut", ["gifsave"]), ("h.tif", "coffee", ["tiffsave", "--compression", "deflate"]),
        ("i.bmp", "chelsea", ["magicksave"]), ("j.tga", "coffee", ["magicksave"]), ("k.ppm", "chelsea", ["ppmsave"]),
        ("l.jp2", "coffee", ["jp2ksave"]), ("m.heic", "chelsea", ["heifsave"]), ("n.jxl", "coffee", ["jxlsave"]),
    ]

    @Test func mutatedImagesNeverCrashHangOrBlowUpMemory() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let seeds = try Self.makeSeedImages(in: root)
        var random = SplitMix(seed: Self.seed)
        var count = 0
        for (name, bytes) in seeds {
            for k in 0..<Self.iterations {
                let mutated = Mutator.mutate(bytes, others: seeds.map(\.1), using: &random)
                try Data(mutated).write(to: images.appendingPathComponent("\(k)-\(name)"))
                count += 1
            }
        }
        for k in 0..<Self.iterations {
            try Data(random.bytes(Int.random(in: 1...4096, using: &random))).write(to: images.appendingPathComponent("\(k)-random.jpg"))
            count += 1
        }
        let work = root.appendingPathComponent("work")
        let run = try MeasuredRun(["run", images.path, "-w", work.path, "--no-embeddings", "--quiet", "--threads", "2"],
                                  timeLimit: 120 + Self.iterations)
        let context = "seed \(Self.seed), \(Self.iterations) iterations; rerun with WINNOW_FUZZ_SEED=\(Self.seed) WINNOW_KEEP_TEST_FILES=1"
        #expect(run.status == 0, "winnow run failed (\(run.status)) on mutated images, \(context): \(run.output.suffix(2000))")
        #expect(run.peakKilobytes < 1_000_000, "peak RSS \(run.peakKilobytes) kB, \(context)")
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        let good = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(bad.count + good.count == count, "\(bad.count) invalid + \(good.count) valid of \(count), \(context)")
        for row in bad {
            let reason = row["reason"] ?? ""
            #expect(!reason.isEmpty && !reason.contains("\n") && !reason.contains("\r"), "\(row), \(context)")
        }
        guard run.status == 0 else { return }           // decoding them in-process could crash the runner
        try Self.expectSameFailuresAlone(bad, in: root, context: context)
    }

    /// libvips formats failed on two threads must get the message they get decoded alone.
    private static func expectSameFailuresAlone(_ bad: [[String: String]], in root: URL, context: String) throws {
        let vipsFormats: Set<String> = ["gif", "tif", "bmp", "tga", "ppm", "jp2", "heic", "jxl"]
        for row in bad {
            guard let name = row["filename"], vipsFormats.contains((name as NSString).pathExtension) else { continue }
            let url = name.hasPrefix("/") ? URL(fileURLWithPath: name) : root.appendingPathComponent(name)
            let bytes = [UInt8](try Data(contentsOf: url))
            var alone = "decoded"
            do { _ = try ImageDecoder().decode(bytes) } catch { alone = error.message }
            #expect(row["reason"] == alone, "\(url.lastPathComponent): \(row["reason"] ?? "") ≠ alone: \(alone), \(context)")
        }
    }

    @Test func mutatedArchivesNeverCrashOrHang() throws {
        let root = try TestData.temporaryDirectory()
        let seeds = try Self.makeSeedArchives(in: root)
        var random = SplitMix(seed: Self.seed &+ 1)
        let reader = { (url: URL) in ArchiveReader(url: url, maximumFileBytes: 4_000_000) }
        let decoder = ImageDecoder(limits: DecodeLimits(maximumPixels: 4_000_000))
        for (name, bytes) in seeds {
            for k in 0..<(Self.iterations * 2) {
                let url = root.appendingPathComponent("\(k)-\(name)")
                try Data(Mutator.mutate(bytes, others: seeds.map(\.1), using: &random)).write(to: url)
                let started = Date()
                do {
                    let members = try reader(url).listMembers()
                    try reader(url).readMembers(Set(members.map(\.path))) { _, result in
                        switch result {
                        case .success(let bytes):
                            do throws(InvalidSample) { _ = try decoder.decode(bytes) } catch { Self.checkOneLine(error.message, url) }
                        case .failure(let problem):
                            Self.checkOneLine(problem.message, url)
                        }
                        return true
                    }
                } catch {
                    Self.checkOneLine(error.message, url)
                }
                #expect(Date().timeIntervalSince(started) < 10, "\(url.lastPathComponent) took too long, seed \(Self.seed)")
                try? FileManager.default.removeItem(at: url)
            }
        }
    }

    private static func checkOneLine(_ message: String, _ url: URL) {
        #expect(!message.isEmpty && !message.contains("\n") && !message.contains("\r"),
                "\(url.lastPathComponent), seed \(seed): \(message)")
    }

    /// The seed images, made from real photos at 48 px.
    static func makeSeedImages(in folder: URL) throws -> [(String, [UInt8])] {
        let photos = try TestData.skimageData()
        return try seedImages.map { name, photo, command in
            let small = folder.appendingPathComponent("small-\(photo).v")
            if !FileManager.default.fileExists(atPath: small.path) {
                try vips(["thumbnail", photos.appendingPathComponent("\(photo).png").path, small.path, "48"])
            }
            let out = folder.appendingPathComponent(name)
            try vips([command[0], small.path, out.path] + command.dropFirst())
            return (name, [UInt8](try Data(contentsOf: out)))
        }
    }

    /// tar, tar.gz and zip (stored and deflated) archives of three small seed images.
    static func makeSeedArchives(in folder: URL) throws -> [(String, [UInt8])] {
        let images = try makeSeedImages(in: folder).prefix(3).map(\.0)
        let commands: [(String, String, [String])] = [
            ("a.tar", "tar", ["-cf", "a.tar"]), ("b.tar.gz", "tar", ["-czf", "b.tar.gz"]),
            ("c.zip", "zip", ["-q", "-0", "c.zip"]), ("d.zip", "zip", ["-q", "-9", "d.zip"]),
        ]
        return try commands.map { name, tool, arguments in
            let result = try TestData.shell(tool, arguments + images, in: folder)
            guard result.status == 0 else { throw TestDataMissing("\(tool) \(arguments): \(result.output)") }
            return (name, [UInt8](try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }

    private static func vips(_ arguments: [String]) throws {
        let result = try TestData.shell("vips", arguments)
        guard result.status == 0 else { throw TestDataMissing("vips \(arguments.joined(separator: " ")): \(result.output)") }
    }
}

/// Seeded mutations of a file.
enum Mutator {
    /// One to three mutations: bit flips, truncation, a header field set to an extreme value,
    /// a splice with another file, a run of random bytes, or a duplicated block.
    static func mutate(_ bytes: [UInt8], others: [[UInt8]], using random: inout SplitMix) -> [UInt8] {
        var out = bytes
        for _ in 0..<Int.random(in: 1...3, using: &random) where !out.isEmpty {
            let at = Int.random(in: 0..<out.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    out[Int.random(in: 0..<out.count, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
                }
            case 1:
                out = Array(out.prefix(Int.random(in: 1...out.count, using: &random)))
            case 2:
                let field = min(Int.random(in: 0..<min(out.count, 96), using: &random), out.count - 1)
                let width = min([1, 2, 4].randomElement(using: &random) ?? 1, out.count - field)
                let value: UInt8 = [0x00, 0xFF, 0x7F, 0x80, 0x01].randomElement(using: &random) ?? 0
                out.replaceSubrange(field..<(field + width), with: [UInt8](repeating: value, count: width))
            case 3:
                let other = others.randomElement(using: &random) ?? bytes
                out = Array(out.prefix(at)) + other.suffix(from: Int.random(in: 0..<max(1, other.count), using: &random))
            case 4:
                let length = min(Int.random(in: 1...64, using: &random), out.count - at)
                out.replaceSubrange(at..<(at + length), with: random.bytes(length))
            default:
                let length = min(Int.random(in: 1...256, using: &random), out.count - at)
                out.insert(contentsOf: out[at..<(at + length)], at: at)
            }
        }
        return out
    }
}
