import ArgumentParser
import Foundation
import WinnowCommandSupport
import WinnowCore

/// The images a scale benchmark runs on, and the vectors it may give `winnow run`: the options
/// `winnow-bench scale` and `winnow-bench resume` share.
struct ScaleImages: ParsableArguments {
    @Option(help: "Take the first N images of this folder (sorted paths) instead of making them.")
    var images: String?

    @Option(help: "The photo pool the images are made from (its pool.csv).")
    var pool = ScaleImages.winnowCache + "/corpus/_pool"

    @Option(help: "Where made images are kept between runs.")
    var cache = ScaleImages.winnowCache + "/scale"

    @Option(parsing: .unconditional, help: "Seed of the made images.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Share of the made images that are planted copies of earlier ones.")
    var copies = 0.05

    @Option(help: "Long sides of the made images, in pixels: LOW-HIGH (the 1M run uses 128-320).")
    var sides = "128-640"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Give `winnow run` precomputed copy descriptors (--model copy --embeddings) instead of running the network: real ones for the first COUNT made images, made from them for the rest (see ScaleDescriptors). Every other stage runs as in the default.",
        valueName: "count"))
    var vectorsFrom: Int?

    static let winnowCache = ProcessInfo.processInfo.environment["WINNOW_CACHE"] ?? (NSHomeDirectory() + "/.cache/winnow")

    func validate() throws {
        try OptionRange.check("--copies", copies, in: 0...0.5)
        _ = try sideRange()
        if let vectorsFrom {
            guard images == nil else { throw ValidationError("--vectors-from needs made images, not --images") }
            try OptionRange.check("--vectors-from", vectorsFrom, in: 2...1_000_000)
        }
    }

    /// `--sides` as a range of at least 16 px.
    func sideRange() throws -> ClosedRange<Int> {
        let parts = sides.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 16, parts[0] <= parts[1], parts[1] <= 8192 else {
            throw ValidationError("--sides must be LOW-HIGH pixels, 16 ≤ LOW ≤ HIGH ≤ 8192 (got \(sides))")
        }
        return parts[0]...parts[1]
    }

    /// A file with the absolute paths of the first `count` images, one a line.
    func fileList(_ count: Int, scratch: String) throws -> URL {
        if let images { return try firstImages(count, of: images, scratch: scratch) }
        let set = try imageSet()
        let started = Date()
        do {
            let list = try set.make(count: count, workers: ProcessInfo.processInfo.activeProcessorCount)
            print(String(format: "%d images ready in %@ (%.1f s)", count, set.images.path, Date().timeIntervalSince(started)))
            return list
        } catch {
            standardError("winnow-bench: \(error)")
            throw ExitStatus.software
        }
    }

    private func imageSet() throws -> ScaleImageSet {
        do {
            return try ScaleImageSet(poolFolder: URL(fileURLWithPath: pool), seed: seed, copyFraction: copies,
                                     sides: try sideRange(), cache: URL(fileURLWithPath: cache))
        } catch {
            standardError("winnow-bench: \(error)")
            throw ExitStatus.noInput
        }
    }

    /// `winnow run`'s arguments for the vectors of the first `count` images (none without --vectors-from).
    func vectorArguments(_ count: Int, scratch: String) throws -> [String] {
        guard let vectorsFrom else { return [] }
        let started = Date()
        let file = try ScaleDescriptors(set: try imageSet(), sampleCount: min(vectorsFrom, count)).file(count: count, scratch: scratch)
        print(String(format: "%d descriptors ready in %@ (%.1f s)", count, file.path, Date().timeIntervalSince(started)))
        return ["--model", "copy", "--embeddings", file.path]
    }

    /// The first `count` images of `folder` in sorted path order, listed in the scratch folder.
    private func firstImages(_ count: Int, of folder: String, scratch: String) throws -> URL {
        let extensions: Set<String> = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
        guard let walker = FileManager.default.enumerator(atPath: folder) else {
            standardError("winnow-bench: --images folder not found: \(folder)")
            throw ExitStatus.noInput
        }
        var paths: [String] = []
        while let path = walker.nextObject() as? String {
            if extensions.contains((path as NSString).pathExtension.lowercased()), !path.contains("\n") { paths.append(path) }
        }
        guard paths.count >= count else {
            standardError("winnow-bench: --images \(folder) has \(paths.count) images, fewer than \(count)")
            throw ExitStatus.noInput
        }
        let root = URL(fileURLWithPath: folder).standardizedFileURL
        let list = URL(fileURLWithPath: scratch).appendingPathComponent("scale-list-\(count).txt")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try AtomicFile.write(paths.sorted().prefix(count).map { root.appendingPathComponent($0).path + "\n" }.joined(), to: list)
        return list
    }
}

