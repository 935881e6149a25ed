import ArgumentParser
import Foundation
import WinnowCommandSupport
import WinnowCore

/// `winnow-bench scale`: what each stage of the default `winnow run` costs as N grows, how
/// fast each grows (the fitted exponent), and fastdup's `run()` on the same files beside it.
struct BenchScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Per-stage wall and CPU seconds and peak RSS of `winnow run` as N grows, with growth exponents and fastdup beside it.",
        discussion: """
            For each N in --sizes runs the default `winnow run` (a child process, fresh work_dir)
            on N images and prints, per stage (summary.json's `stages`), wall and CPU seconds and
            peak RSS; then per stage the exponent b of time ≈ a·N^b and of peak RSS, fitted by
            least squares on log–log axes over the sizes run. With --fastdup, fastdup's run()
            (../shared/anchors) runs on the same files back to back, beside Winnow's totals.

            The images are the first N files of --images (sorted paths), or else made from the
            photo pool of the corpus (make_corpus.py --set pool): distinct crops, 128–640 px, as
            set C makes them, with --copies of them planted copies (resize, crop or JPEG
            re-encode) listed in ground_truth.csv. They depend only on --seed, are kept under
            --cache and reused by later runs.

            Examples:
              winnow-bench scale --sizes 10000,50000,100000,200000 --fastdup
              winnow-bench scale --sizes 2500,5000,10000 --images ~/.cache/winnow/corpus/C/images
              winnow-bench scale --sizes 1000 --only-images
              winnow-bench scale --sizes 1000000 --sides 128-320 --vectors-from 20000
            """
    )

    @Option(help: "Comma-separated image counts to measure.")
    var sizes = "10000,50000,100000,200000"

    @OptionGroup var made: ScaleImages

    @Flag(help: "Also run fastdup on the same files.")
    var fastdup = false

    @Flag(help: "Only make (or find) the images, print their file lists and stop.")
    var onlyImages = false

    @OptionGroup var places: BenchPlaces

    /// What one process cost: wall and CPU seconds, peak resident memory, and the wall seconds
    /// of the tool's own work where it reports them (fastdup's run(), without start-up).
    struct Cost {
        var wall: Double
        var cpu: Double
        var peakRSSBytes: Double
        var workSeconds: Double? = nil
    }

    /// The figures at one N.
    struct Measurement {
        var count: Int
        var stages: [StageFigures]
        var winnow: Cost
        var fastdup: Cost?
    }

    func validate() throws {
        _ = try OptionRange.counts("--sizes", sizes, in: 2...50_000_000)
    }

    func run() throws {
        let counts = Set(try OptionRange.counts("--sizes", sizes, in: 2...50_000_000)).sorted()
        let lists = try counts.map { try made.fileList($0, scratch: places.scratch) }
        if onlyImages {
            for (count, list) in zip(counts, lists) { print("\(count) images: \(list.path)") }
            return
        }
        print("winnow-bench scale: default `winnow run`, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
              + String(format: "%.1f GB RAM", Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        var measurements: [Measurement] = []
        for (count, list) in zip(counts, lists) {
            let measurement = try measure(count, list: list)
            printStages(measurement)
            measurements.append(measurement)
        }
        printGrowth(measurements)
        printRatios(measurements)
    }
}

// MARK: - Runs

extension BenchScaleCommand {
    private func measure(_ count: Int, list: URL) throws -> Measurement {
        let work = places.scratch + "/scale-\(count)"
        try? FileManager.default.removeItem(atPath: work)
        let vectors = try made.vectorArguments(count, scratch: places.scratch)
        let started = Date()
        let report = try BenchSupport.winnowRun([list.path, "--work-dir", work] + vectors)
        let wall = Date().timeIntervalSince(started)
        struct Summary: Decodable { var stages: [StageFigures]? }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/summary.json")))
        guard let stages = summary.stages else {
            standardError("winnow-bench: \(work)/summary.json has no stages (a winnow older than winnow-bench? `swift build -c release`)")
            throw ExitStatus.software
        }
        let winnow = Cost(wall: wall, cpu: report.resources.cpuSeconds, peakRSSBytes: report.resources.peakRSSMegabytes * 1_048_576)
        return Measurement(count: count, stages: stages, winnow: winnow, fastdup: fastdup ? try runFastdup(count, list: list) : nil)
    }

    /// fastdup's run() on the same files: wall and CPU of its process, its peak RSS as it reports it.
    private func runFastdup(_ count: Int, list: URL) throws -> Cost? {
        guard let (python, script) = places.anchor("fastdup") else { return nil }
        let work = places.scratch + "/scale-\(count)-fastdup"
        try? FileManager.default.removeItem(atPath: work)
        let started = Date()
        let child = try BenchSupport.runChild(python, [script, list.path, work],
                                             stderrLog: places.scratch + "/fastdup-scale-\(count).log")
        let wall = Date().timeIntervalSince(started)
        func reported(_ name: String) -> Double? {
            child.output.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        return Cost(wall: wall, cpu: child.cpuSeconds, peakRSSBytes: child.peakRSSMegabytes * 1_048_576,
                    workSeconds: reported("FASTDUP_SECONDS"))
    }
}

// MARK: - Tables

extension BenchScaleCommand {
    private func printStages(_ m: Measurement) {
        print("\nN = \(m.count)")
        var rows = m.stages
        rows.append(StageFigures(name: "winnow", wallSeconds: m.winnow.wall, cpuSeconds: m.winnow.cpu, peakRSSBytes: Int64(m.winnow.peakRSSBytes)))
        if let f = m.fastdup {
            rows.append(StageFigures(name: "fastdup", wallSeconds: f.wall, cpuSeconds: f.cpu, peakRSSBytes: Int64(f.peakRSSBytes)))
        }
        StageFigures.table(rows).forEach { print($0) }
        let staged = m.stages.reduce(0) { $0 + $1.wallSeconds }
        print(String(format: "  (stages %.1f s of the process's %.1f s wall; the rest is start-up, catalog commit and publishing)",
                     staged, m.winnow.wall))
        if let work = m.fastdup?.workSeconds, let wall = m.fastdup?.wall {
            print(String(format: "  (fastdup's run() %.1f s of its process's %.1f s wall; the rest is Python start-up)", work, wall))
        }
    }

    /// Per stage, the exponent b of wall time, CPU time and peak RSS ≈ a·N^b.
    private func printGrowth(_ measurements: [Measurement]) {
        let sizes = measurements.map { Double($0.count) }
        print("\nGrowth over N = " + measurements.map { String($0.count) }.joined(separator: ", ")
              + ": exponent b of y ≈ a·N^b, least squares on log–log (the machine is shared: noisy)")
        print("  stage         wall b     CPU b   peak RSS b")
        func cell(_ values: [Double]) -> String {
            GrowthFit(sizes: sizes, values: values).map { String(format: "%10.2f", $0.exponent) } ?? "         -"
        }
        func line(_ name: String, _ costs: [Cost]) {
            print("  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) + cell(costs.map(\.wall)) + cell(costs.map(\.cpu))
                  + "  " + cell(costs.map(\.peakRSSBytes)))
        }
        let names = measurements.last?.stages.map(\.name) ?? []
        for name in names {
            line(name, measurements.map { m in
                let stage = m.stages.first { $0.name == name }
                return Cost(wall: stage?.wallSeconds ?? 0, cpu: stage?.cpuSeconds ?? 0, peakRSSBytes: Double(stage?.peakRSSBytes ?? 0))
            })
        }
        line("winnow", measurements.map(\.winnow))
        let fastdupCosts = measurements.compactMap(\.fastdup)
        if fastdupCosts.count == measurements.count { line("fastdup", fastdupCosts) }
    }

    /// Winnow's process totals beside fastdup's at each N, and their ratios.
    private func printRatios(_ measurements: [Measurement]) {
        guard measurements.contains(where: { $0.fastdup != nil }) else { return }
        print("\nWinnow (W) / fastdup (F) on the same files, process totals (wall s, CPU s, peak RSS MB)")
        print("         N   W wall   F wall     ratio    W CPU    F CPU     ratio    W RSS    F RSS    ratio")
        for m in measurements {
            guard let f = m.fastdup else { continue }
            let w = m.winnow
            print(String(format: "%10d %8.1f %8.1f %8.2f× %8.1f %8.1f %8.2f× %8.0f %8.0f %7.2f×", m.count, w.wall, f.wall,
                         w.wall / max(f.wall, 1e-9), w.cpu, f.cpu, w.cpu / max(f.cpu, 1e-9),
                         w.peakRSSBytes / 1_048_576, f.peakRSSBytes / 1_048_576, w.peakRSSBytes / max(f.peakRSSBytes, 1)))
        }
    }
}
