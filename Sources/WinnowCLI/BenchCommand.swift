import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each beside the anchor it is compared with (fastdup, cleanvision, umap-learn).",
        discussion: """
            Examples:
              winnow bench decode --corpus ~/.cache/winnow/corpus/C/images
              winnow bench embed --corpus ~/.cache/winnow/corpus/C/images --images 2000
              winnow bench copies --corpus ~/.cache/winnow/corpus/A
              winnow bench index --rows 1000000
              winnow bench maps --corpus ~/.cache/winnow/corpus/C/images --images 10000
              winnow bench labels --corpus ~/.cache/winnow/corpus/D/photos
            """,
        subcommands: [BenchDecodeCommand.self, BenchEmbedCommand.self, BenchCopiesCommand.self, BenchIndexCommand.self,
                      BenchLabelsCommand.self, BenchMapsCommand.self]
    )
}

struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Measure decode+stats speed and memory on a corpus, next to cleanvision.",
        discussion: """
            Runs `winnow run` in a child process on the first N images of CORPUS for each N in
            --sizes (fresh work_dir each time), and reports wall time, images/s, CPU ms per image
            and peak RSS. With the anchors installed (../shared/anchors/setup.sh), cleanvision runs
            on the same folder in the same session for a side-by-side ratio.

            Example:
              winnow bench decode --corpus ~/.cache/winnow/corpus/C/images --sizes 2000,10000,20000
            """
    )

    @Option(help: "Folder of images (e.g. corpus set C).")
    var corpus: String

    @Option(help: "Comma-separated image counts to measure.")
    var sizes = "2000,10000,20000"

    @OptionGroup var places: BenchPlaces

    @Flag(help: "Skip cleanvision.")
    var skipAnchors = false

    func run() throws {
        let counts = commaSeparated(sizes).compactMap { Int($0) }
        guard !counts.isEmpty else { throw ValidationError("--sizes needs numbers, e.g. 2000,10000") }
        guard FileManager.default.fileExists(atPath: corpus) else {
            standardError("winnow: corpus not found: \(corpus)")
            throw ExitStatus.noInput
        }
        print("winnow bench: decode + stats, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("     images    wall s    img/s  CPU ms/img  CPU cores  peak RSS MB")
        var largest: (images: Int, wall: Double, cpu: Double)?
        for n in counts {
            let workDir = places.scratch + "/decode-\(n)"
            try? FileManager.default.removeItem(atPath: workDir)
            let report = try BenchSupport.winnowRun([corpus, "--work-dir", workDir, "--num-images", String(n), "--no-embeddings"])
            let files = report.summary.files, wall = report.summary.seconds, cpu = report.resources.cpuSeconds
            print(String(format: "%11d %9.2f %8.1f %11.2f %10.2f %12.0f", files, wall, Double(files) / wall,
                         1000 * cpu / Double(max(files, 1)), cpu / wall, report.resources.peakRSSMegabytes))
            largest = (files, wall, cpu)
        }
        guard !skipAnchors, let largest else { return }
        guard let (python, script) = places.anchor("cleanvision") else { return }
        let started = Date()
        let (output, childCPU) = try BenchSupport.runChild(python, [script, corpus, places.scratch + "/cleanvision.csv"],
                                                           stderrLog: places.scratch + "/cleanvision.log")
        let wall = Date().timeIntervalSince(started)
        let reported = output.split(separator: "\n").first { $0.hasPrefix("CLEANVISION_SECONDS") }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? wall
        let images = countImages(in: corpus)
        print(String(format: "cleanvision %d images: %.2f s wall (find_issues %.2f s), %.1f img/s, CPU ms/img %.2f",
                     images, wall, reported, Double(images) / wall, 1000 * childCPU / Double(max(images, 1))))
        let winnowRate = Double(largest.images) / largest.wall, cleanvisionRate = Double(images) / wall
        print(String(format: "ratio (winnow / cleanvision): %.1f× images/s, %.1f× less CPU per image",
                     winnowRate / cleanvisionRate,
                     (childCPU / Double(max(images, 1))) / (largest.cpu / Double(max(largest.images, 1)))))
    }

    private func countImages(in folder: String) -> Int {
        let walker = FileManager.default.enumerator(atPath: folder)
        var count = 0
        while let path = walker?.nextObject() as? String {
            if ["jpg", "jpeg", "png"].contains((path as NSString).pathExtension.lowercased()) { count += 1 }
        }
        return count
    }
}

/// Where benchmarks write and find the anchors.
struct BenchPlaces: ParsableArguments {
    @Option(help: "Scratch folder for the work_dirs.")
    var scratch = NSTemporaryDirectory() + "winnow-bench"

    @Option(help: "Folder with the anchors' venvs (venv-cleanvision, venv-fastdup).")
    var anchors = ProcessInfo.processInfo.environment["ANCHORS_BASE"] ?? (NSHomeDirectory() + "/.cache/winnow-anchors")

    @Option(help: "Folder with the anchors' run scripts (../shared/anchors).")
    var anchorScripts = "../shared/anchors"

    /// The venv python and run script of an anchor, or nil (with a note) when not installed.
    func anchor(_ name: String) -> (String, String)? {
        let python = anchors + "/venv-\(name)/bin/python"
        let script = anchorScripts + "/run_\(name).py"
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: script) else {
            print("\(name): not installed (run ../shared/anchors/setup.sh); skipped")
            return nil
        }
        return (python, script)
    }
}

/// Child processes for benchmarks: each measured run is its own process, so CPU time and peak
/// memory belong to it alone.
enum BenchSupport {
    struct RunReport: Decodable {
        struct Summary: Decodable { var files: Int; var valid: Int; var embedded: Int?; var seconds: Double }
        struct Resources: Decodable { var cpuSeconds: Double; var peakRSSMegabytes: Double }
        var summary: Summary
        var resources: Resources
    }

    /// `winnow run ARGUMENTS --json --quiet` in a child process.
    static func winnowRun(_ arguments: [String]) throws -> RunReport {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let (output, _) = try runChild(executable, ["run"] + arguments + ["--json", "--quiet"])
        return try JSONDecoder().decode(RunReport.self, from: Data(output.utf8))
    }

    /// Runs a child process, returns its standard output and the CPU seconds it (and its
    /// children) used. Its standard error goes to `stderrLog` when given, else passes through.
    static func runChild(_ executable: String, _ arguments: [String], stderrLog: String? = nil,
                         allowFailure: Bool = false) throws -> (String, Double) {
        let before = childrenCPU()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        if let stderrLog {
            _ = FileManager.default.createFile(atPath: stderrLog, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderrLog)
        }
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 || allowFailure else {
            standardError("winnow bench: \(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)"
                          + (stderrLog.map { " (see \($0))" } ?? ""))
            throw ExitStatus.software
        }
        return (String(decoding: data, as: UTF8.self), childrenCPU() - before)
    }

    static func childrenCPU() -> Double { ResourceUsage.current(children: true).cpuSeconds }
}
