import Foundation

/// What one stage of a run cost: wall and CPU seconds, and the peak resident memory while it ran.
public struct StageFigures: Sendable, Codable, Equatable {
    /// One of ``StageMeter/stageNames``.
    public var name: String
    public var wallSeconds: Double
    /// User + system time of the whole process (every thread) while the stage ran.
    public var cpuSeconds: Double
    /// The process's peak resident set size while the stage ran (`VmHWM` after resetting it at
    /// the stage's start). Where the reset is not allowed, the peak of the process so far.
    public var peakRSSBytes: Int64

    enum CodingKeys: String, CodingKey {
        case name
        case wallSeconds = "wall_seconds"
        case cpuSeconds = "cpu_seconds"
        case peakRSSBytes = "peak_rss_bytes"
    }

    public init(name: String, wallSeconds: Double, cpuSeconds: Double, peakRSSBytes: Int64) {
        self.name = name
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
        self.peakRSSBytes = peakRSSBytes
    }

    /// A compact table, one line per stage: name, wall s, CPU s, peak RSS in MB.
    public static func table(_ stages: [StageFigures], indent: String = "  ") -> [String] {
        let header = indent + "stage".padding(toLength: 10, withPad: " ", startingAt: 0) + "    wall s     CPU s  peak RSS MB"
        return [header] + stages.map { stage in
            indent + stage.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: "%10.2f%10.2f%13.0f", stage.wallSeconds, stage.cpuSeconds, Double(stage.peakRSSBytes) / 1_048_576)
        }
    }
}

/// Times a run's stages one after another: ``enter(_:)`` ends the current stage and starts the
/// next. A stage entered more than once (the outputs are written in two parts) adds up its
/// seconds and keeps its highest peak. Peak memory per stage comes from Linux's resettable
/// high-water mark: `echo 5 > /proc/self/clear_refs` at a stage's start, `VmHWM` of
/// `/proc/self/status` at its end; elsewhere `getrusage`'s `ru_maxrss` (the process's peak so far).
public final class StageMeter: @unchecked Sendable {
    /// The stages of `winnow run`, in order: ingest (listing the inputs, loading the model and
    /// annotations, registering the files in the catalog), decode (decode + statistics +
    /// embedding), whiten, index (kNN), verify (copy verification), analyses (the catalog read,
    /// quality issues, exact duplicates and the embedding analyses with their files), reference
    /// (matching the images with a reference work_dir's, `--reference`), labels,
    /// outputs (the work_dir's other files and the summary). The catalog commit and the move of
    /// the staged files into place follow `summary.json`, so no stage holds them.
    public static let stageNames = ["ingest", "decode", "whiten", "index", "verify", "analyses", "reference", "labels", "outputs"]
    /// Stages only some runs have, each listed right after the stage it names: detect (the face or
    /// text detector of `--bounding-box face|ocr`, before the run registers its samples).
    public static let occasionalStages = ["detect": "ingest"]

    private struct Running { var name: String; var wall: Date; var cpu: Double }
    private let lock = NSLock()
    private var current: Running?
    private var figures: [StageFigures] = []
    private var entries: [String: Int] = [:]

    /// The stage at whose start the process stops itself (`SIGSTOP`), so that a test or a
    /// benchmark can `kill -9` a run exactly there: `index` (its first entry) or `analyses#3`
    /// (the third time the run enters it); nil: never.
    private let stopAt: String?

    /// Told each stage's figures as it ends (a stage entered again is told again, for that part).
    private let onStageEnd: (@Sendable (StageFigures) -> Void)?

    public init(stoppingAt stage: String? = ProcessInfo.processInfo.environment["WINNOW_STOP_AT_STAGE"],
                onStageEnd: (@Sendable (StageFigures) -> Void)? = nil) {
        (stopAt, self.onStageEnd) = (stage, onStageEnd)
    }

    /// Ends the current stage (if any) and starts `name`.
    public func enter(_ name: String) {
        let entry = lock.withLock {
            endCurrent()
            // So that a stage's peak is its own and not its predecessors' garbage.
            FreedMemory.giveBack()
            Self.resetPeak()
            current = Running(name: name, wall: Date(), cpu: Self.processCPUSeconds())
            entries[name, default: 0] += 1
            return entries[name, default: 1]
        }
        if stopAt == "\(name)#\(entry)" || (stopAt == name && entry == 1) { raise(SIGSTOP) }
    }

    /// Ends the current stage; every stage measured, in the order of ``stageNames``.
    public func finish() -> [StageFigures] {
        lock.lock(); defer { lock.unlock() }
        endCurrent()
        func rank(_ stage: StageFigures) -> Int {
            let anchor = Self.occasionalStages[stage.name] ?? stage.name
            return 2 * (Self.stageNames.firstIndex(of: anchor) ?? Self.stageNames.count) + (anchor == stage.name ? 0 : 1)
        }
        return figures.sorted { rank($0) < rank($1) }
    }

    private func endCurrent() {
        guard let running = current else { return }
        current = nil
        let stage = StageFigures(name: running.name, wallSeconds: Date().timeIntervalSince(running.wall),
                                 cpuSeconds: Self.processCPUSeconds() - running.cpu, peakRSSBytes: Self.peakRSSBytes())
        onStageEnd?(stage)
        guard let at = figures.firstIndex(where: { $0.name == stage.name }) else {
            figures.append(stage)
            return
        }
        figures[at].wallSeconds += stage.wallSeconds
        figures[at].cpuSeconds += stage.cpuSeconds
        figures[at].peakRSSBytes = max(figures[at].peakRSSBytes, stage.peakRSSBytes)
    }

    private static func usage() -> rusage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage
    }

    static func processCPUSeconds() -> Double {
        let usage = usage()
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// Resets the kernel's high-water mark of this process to its current RSS; false where not allowed.
    @discardableResult
    static func resetPeak() -> Bool {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(descriptor, "5", 1) == 1
    }

    /// `VmHWM` in bytes (this process's own high-water mark, since its start or the last
    /// stage's), or `ru_maxrss` where `/proc` is not there.
    public static func peakRSSBytes() -> Int64 {
        ProcessStatus.highWaterMarkBytes() ?? Int64(usage().ru_maxrss) * 1024
    }
}
