import ArgumentParser
import Foundation
import WinnowCommandSupport
import WinnowCore

/// `winnow-bench resume`: a run killed with `kill -9` part-way through a stage, then the same
/// command again: whether the outputs equal an uninterrupted run's, and how much work the two
/// runs together cost beside it (finished work is not redone when they add up to about one run).
struct BenchResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Kill `winnow run` inside each stage, run it again, and compare its outputs and CPU with an uninterrupted run's.",
        discussion: """
            Runs the default `winnow run` once uninterrupted, then for each stage of --stages a
            fresh run that is killed (SIGKILL) --into of the way through that stage (a share of
            the stage's wall time in the uninterrupted run; for a stage the run enters more than
            once, its longest entry), followed by the same command. Prints
            per stage the CPU seconds of the killed and the resumed run, their sum against the
            uninterrupted run's, and whether every CSV and .dat file of the work_dir equals the
            uninterrupted run's byte for byte; exits 70 when one differs. The images and vectors
            are those of `winnow-bench scale` (same options).

            Examples:
              winnow-bench resume --size 100000 --vectors-from 20000
              winnow-bench resume --size 5000 --stages decode,verify --into 0.25
            """
    )

    @Option(parsing: .unconditional, help: "How many images the runs take.")
    var size = 100_000

    @Option(help: "Comma-separated stages to kill a run in (of \(StageMeter.stageNames.joined(separator: ", "))).")
    var stages = "decode,whiten,index,verify,analyses,outputs"

    @Option(parsing: .unconditional, help: "How far into the stage the kill comes: a share of its uninterrupted wall time, 0–1.")
    var into = 0.5

    @OptionGroup var made: ScaleImages

    @OptionGroup var places: BenchPlaces

    func validate() throws {
        try OptionRange.check("--size", size, in: 2...50_000_000)
        try OptionRange.check("--into", into, in: 0...1)
        let unknown = stageList.filter { !StageMeter.stageNames.contains($0) }
        guard unknown.isEmpty, !stageList.isEmpty else {
            throw ValidationError("--stages takes stages of \(StageMeter.stageNames.joined(separator: ", ")) (got \(stages))")
        }
    }

    private var stageList: [String] { stages.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        let list = try made.fileList(size, scratch: places.scratch)
        let vectors = try made.vectorArguments(size, scratch: places.scratch)
        let folder = URL(fileURLWithPath: places.scratch).appendingPathComponent("resume-\(size)")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let arguments = { (work: URL) in [list.path, "--work-dir", work.path] + vectors }
        let reference = folder.appendingPathComponent("uninterrupted")
        let (uninterrupted, referenceStages) = try measuredRun(arguments(reference), in: reference)
        let longest = Self.longestEntries(referenceStages)
        print(String(format: "winnow-bench resume: %d images, uninterrupted run %.1f s wall, %.1f CPU-s", size,
                     uninterrupted.wall, uninterrupted.cpu))
        print("  (CPU s by stage: \(Self.cpuByStage(referenceStages)))")
        print("  killed in     after s      of s  killed CPU s  resumed CPU s  sum / uninterrupted  outputs")
        var differing = false
        for stage in stageList {
            let work = folder.appendingPathComponent("killed-in-\(stage)")
            let (entry, seconds) = longest[stage] ?? (1, 0)
            let delay = into * seconds
            let killed = try killedRun(arguments(work), in: "\(stage)#\(entry)", after: delay)
            let (resumed, resumedStages) = try measuredRun(arguments(work), in: work)
            let changed = try differingOutputs(reference, work)
            differing = differing || !changed.isEmpty
            print(String(format: "  %-10@ %10.1f %9.1f %13.1f %14.1f %19.2f×  ", "\(stage)#\(entry)" as NSString, delay, seconds,
                         killed, resumed.cpu, (killed + resumed.cpu) / max(uninterrupted.cpu, 1e-9))
                  + (changed.isEmpty ? "identical" : "differ: " + changed.joined(separator: ", ")))
            print("    (resumed run's CPU s by stage: \(Self.cpuByStage(resumedStages)))")
            try? FileManager.default.removeItem(at: work)
        }
        if differing { throw ExitStatus.software }
    }
}

// MARK: - Runs

extension BenchResumeCommand {
    /// `winnow run ARGUMENTS --stages` (whose work_dir is `work`) to its end: wall and CPU
    /// seconds, and its stages' figures, each entry of a stage apart, in run order (summary.json
    /// adds a stage's entries up).
    private func measuredRun(_ arguments: [String], in work: URL) throws -> (cost: (wall: Double, cpu: Double), stages: [StageFigures]) {
        let log = work.deletingLastPathComponent().appendingPathComponent(work.lastPathComponent + "-stages.log")
        let started = Date()
        let report = try BenchSupport.winnowRun(arguments + ["--stages"], stderrLog: log.path)
        let wall = Date().timeIntervalSince(started)
        return ((wall, report.resources.cpuSeconds), Self.stageEntries(try String(contentsOf: log, encoding: .utf8)))
    }

    /// The stage entries a run told as they ended (`winnow: stage NAME WALL CPU PEAK_MB`).
    private static func stageEntries(_ log: String) -> [StageFigures] {
        log.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("winnow: stage ") else { return nil }
            let fields = line.dropFirst("winnow: stage ".count).split(separator: " ")
            guard fields.count == 4, let wall = Double(fields[1]), let cpu = Double(fields[2]), let peak = Double(fields[3])
            else { return nil }
            return StageFigures(name: String(fields[0]), wallSeconds: wall, cpuSeconds: cpu, peakRSSBytes: Int64(peak * 1_048_576))
        }
    }

    /// Each stage's longest entry in `stages` (in run order): which time the run entered it
    /// (1 the first) and its wall seconds.
    private static func longestEntries(_ stages: [StageFigures]) -> [String: (entry: Int, seconds: Double)] {
        var entries: [String: Int] = [:], longest: [String: (entry: Int, seconds: Double)] = [:]
        for stage in stages {
            entries[stage.name, default: 0] += 1
            if stage.wallSeconds > longest[stage.name]?.seconds ?? -1 {
                longest[stage.name] = (entries[stage.name, default: 1], stage.wallSeconds)
            }
        }
        return longest
    }

    /// `name seconds` of each stage that used a tenth of a CPU-second or more, in run order
    /// (a stage entered twice counted once).
    private static func cpuByStage(_ stages: [StageFigures]) -> String {
        var order: [String] = [], seconds: [String: Double] = [:]
        for stage in stages {
            if seconds[stage.name] == nil { order.append(stage.name) }
            seconds[stage.name, default: 0] += stage.cpuSeconds
        }
        return order.filter { seconds[$0, default: 0] >= 0.1 }.map { "\($0) " + String(format: "%.1f", seconds[$0] ?? 0) }.joined(separator: ", ")
    }

    /// `winnow run ARGUMENTS`, stopped where it enters `stage` (`WINNOW_STOP_AT_STAGE`: `name#entry`), let go
    /// on for `delay` seconds and killed with SIGKILL; returns the CPU seconds it used.
    private func killedRun(_ arguments: [String], in stage: String, after delay: Double) throws -> Double {
        guard let winnow = BenchSupport.winnowExecutable else { throw ExitStatus.noInput }
        let before = BenchSupport.childrenCPU()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: winnow)
        process.arguments = ["run"] + arguments + ["--quiet"]
        process.environment = ProcessInfo.processInfo.environment.merging(["WINNOW_STOP_AT_STAGE": stage]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        while process.isRunning && !ProcessStatus.isStopped(process.processIdentifier) { usleep(20_000) }
        guard process.isRunning else {
            standardError("winnow-bench: the run ended (status \(process.terminationStatus)) before it entered \(stage)")
            throw ExitStatus.software
        }
        kill(process.processIdentifier, SIGCONT)
        Thread.sleep(forTimeInterval: delay)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        guard process.terminationReason == .uncaughtSignal else {
            standardError("winnow-bench: the run ended before it was killed in \(stage); a smaller --into kills it in time")
            throw ExitStatus.software
        }
        return BenchSupport.childrenCPU() - before
    }

    /// The CSV and `.dat` files of `reference` that `work` lacks or holds with other bytes.
    private func differingOutputs(_ reference: URL, _ work: URL) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: reference.path)
            .filter { $0.hasSuffix(".csv") || $0.hasSuffix(".dat") }.sorted()
        return names.filter { name in
            let expected = try? Data(contentsOf: reference.appendingPathComponent(name), options: .alwaysMapped)
            let found = try? Data(contentsOf: work.appendingPathComponent(name), options: .alwaysMapped)
            return expected == nil || found != expected
        }
    }
}
