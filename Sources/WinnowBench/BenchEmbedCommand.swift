import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow-bench embed`: end-to-end decode + embedding speed next to fastdup's `run()`.
struct BenchEmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Measure decode + embedding speed (images per CPU-second, wall images/s) next to fastdup.",
        discussion: """
            Lists the first N images of CORPUS into a file list, runs `winnow run` on it in a child
            process for each model in --models and each thread count in --threads (fresh work_dir
            each; the copy model without verification, which `winnow-bench copies` measures),
            then fastdup's run() on the same list (../shared/anchors), and prints each ratio.

            Example:
              winnow-bench embed --corpus ~/.cache/winnow/corpus/C/images --images 2000
              winnow-bench embed --corpus ~/.cache/winnow/corpus/C/images --models mobilenet_v2:192 --threads 2,1
              winnow-bench embed --corpus ~/.cache/winnow/corpus/C/images --models mobilenet_v2,mobilenet_v2_int8
            """
    )

    @Option(help: "Folder of images (e.g. corpus set C).")
    var corpus: String

    @Option(parsing: .unconditional, help: "How many images.")
    var images = 2000

    @Option(help: "Comma-separated thread counts to measure.")
    var threads = "2"

    @Option(help: "Comma-separated models (as `winnow run --model`), each optionally with :input-size.")
    var models = "copy,mobilenet_v2,mobilenet_v2:160"

    @Flag(help: "Skip fastdup.")
    var skipAnchors = false

    @OptionGroup var places: BenchPlaces

    func validate() throws {
        try OptionRange.check("--images", images, in: 1...10_000_000)
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: places.scratch, withIntermediateDirectories: true)
        let list = places.scratch + "/images-\(images).txt"
        let files = firstImages(in: corpus, count: images)
        guard !files.isEmpty else {
            standardError("winnow-bench: no images under \(corpus)")
            throw ExitStatus.noInput
        }
        try (files.joined(separator: "\n") + "\n").write(toFile: list, atomically: false, encoding: .utf8)
        print("winnow-bench embed: \(files.count) images, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        let threadCounts = commaSeparated(threads).compactMap { Int($0) }
        func rowLabel(_ entry: String, _ count: Int) -> String { "winnow \(entry), \(count) thr" }
        let width = max(30, commaSeparated(models).flatMap { entry in threadCounts.map { rowLabel(entry, $0).count + 1 } }.max() ?? 0)
        func column(_ label: String) -> String { label.padding(toLength: width, withPad: " ", startingAt: 0) }
        print("  " + column("tool") + "wall s    img/s   img/CPU-s  peak RSS MB")
        var rates: [(label: String, perCPU: Double)] = []
        for entry in commaSeparated(models) {
            let parts = entry.split(separator: ":").map(String.init)
            var arguments = ["--model", parts[0]] + (parts.count > 1 ? ["--input-size", parts[1]] : [])
            if parts[0] == "copy" { arguments.append("--no-verify") }
            for count in threadCounts {
                let work = places.scratch + "/embed-\(parts.joined(separator: "-"))-\(count)"
                try? FileManager.default.removeItem(atPath: work)
                let report = try BenchSupport.winnowRun([list, "--work-dir", work, "--threads", String(count)] + arguments)
                let perCPU = Double(report.summary.embedded ?? 0) / report.resources.cpuSeconds
                let label = rowLabel(entry, count)
                rates.append((label, perCPU))
                print(String(format: "  %@ %9.2f %8.1f %11.1f %12.0f", column(label),
                             report.summary.seconds, Double(report.summary.embedded ?? 0) / report.summary.seconds,
                             perCPU, report.resources.peakRSSMegabytes))
            }
        }
        guard !skipAnchors, let (python, script) = places.anchor("fastdup") else { return }
        let work = places.scratch + "/embed-fastdup"
        try? FileManager.default.removeItem(atPath: work)
        let child = try BenchSupport.runChild(python, [script, list, work], stderrLog: places.scratch + "/fastdup.log")
        let (output, cpu) = (child.output, child.cpuSeconds)
        func value(_ key: String) -> Double? {
            output.split(separator: "\n").first { $0.hasPrefix(key + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let embedded = (try? String(contentsOfFile: work + "/atrain_features.dat.csv", encoding: .utf8))
            .map { $0.split(whereSeparator: \.isNewline).count - 1 } ?? 0
        let wall = value("FASTDUP_SECONDS") ?? 0
        let perCPU = Double(embedded) / cpu
        print(String(format: "  %@ %9.2f %8.1f %11.1f %12.0f", column("fastdup run()"),
                     wall, Double(embedded) / max(wall, 1e-9), perCPU, child.peakRSSMegabytes))
        print("ratio (winnow / fastdup), images per CPU-second:")
        for rate in rates { print(String(format: "  %@ %.2f×", column(rate.label), rate.perCPU / perCPU)) }
    }

    private func firstImages(in folder: String, count: Int) -> [String] {
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        var paths: [String] = []
        let walker = FileManager.default.enumerator(atPath: root)
        while let path = walker?.nextObject() as? String {
            if ["jpg", "jpeg", "png", "webp"].contains((path as NSString).pathExtension.lowercased()) { paths.append(root + "/" + path) }
        }
        return Array(paths.sorted().prefix(count))
    }
}
