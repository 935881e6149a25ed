import Foundation
import WinnowCommandSupport
import WinnowCore

/// Child processes for benchmarks: each measured run is its own process, so CPU time and peak
/// memory belong to it alone.
enum BenchSupport {
    struct RunReport: Decodable {
        struct Summary: Decodable { var files: Int; var valid: Int; var embedded: Int?; var seconds: Double }
        struct Resources: Decodable { var cpuSeconds: Double; var peakRSSMegabytes: Double }
        var summary: Summary
        var resources: Resources
    }

    /// `winnow run ARGUMENTS --json --quiet` in a child process, with the `winnow` built beside
    /// this executable.
    static func winnowRun(_ arguments: [String], stderrLog: String? = nil) throws -> RunReport {
        guard let winnow = winnowExecutable else { throw ExitStatus.noInput }
        let output = try runChild(winnow, ["run"] + arguments + ["--json", "--quiet"], stderrLog: stderrLog).output
        return try JSONDecoder().decode(RunReport.self, from: Data(output.utf8))
    }

    /// The `winnow` executable beside this `winnow-bench` (links resolved), or nil (with a line
    /// on standard error) when there is none. `swift run winnow-bench` builds only winnow-bench,
    /// so a `winnow` older than it may predate the last change: that gets a note, once.
    static let winnowExecutable: String? = {
        let own = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        let winnow = own.deletingLastPathComponent().appendingPathComponent("winnow").path
        guard FileManager.default.isExecutableFile(atPath: winnow) else {
            standardError("winnow-bench: no winnow executable beside this one (\(winnow)); build both with `swift build -c release`")
            return nil
        }
        func modified(_ path: String) -> Date? {
            (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        }
        if let benchDate = modified(own.path), let winnowDate = modified(winnow), benchDate.timeIntervalSince(winnowDate) > 60 {
            standardError("winnow-bench: note: \(winnow) was built before winnow-bench; `swift build -c release` brings it up to date")
        }
        return winnow
    }()

    /// What a child process printed and cost.
    struct ChildRun {
        var output: String
        /// CPU seconds of the child and its own children.
        var cpuSeconds: Double
        /// The child's peak resident memory, from its `VmHWM` read every 50 ms while it ran: a
        /// child's own `ru_maxrss` starts from its parent's peak on Linux (the high-water mark of
        /// the memory it was spawned from is kept across `exec`), so an anchor that reports its
        /// `ru_maxrss` reports this benchmark's peak whenever that is the larger.
        var peakRSSMegabytes: Double
    }

    /// Runs a child process to its end. Its standard error goes to `stderrLog` when given, else
    /// passes through.
    static func runChild(_ executable: String, _ arguments: [String], stderrLog: String? = nil,
                         allowFailure: Bool = false) throws -> ChildRun {
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
        let peak = PeakWatch(pid: process.processIdentifier)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 || allowFailure else {
            standardError("winnow-bench: \(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)"
                          + (stderrLog.map { " (see \($0))" } ?? ""))
            throw ExitStatus.software
        }
        return ChildRun(output: String(decoding: data, as: UTF8.self), cpuSeconds: childrenCPU() - before,
                        peakRSSMegabytes: peak.stop())
    }

    static func childrenCPU() -> Double { ResourceUsage.current(children: true).cpuSeconds }
}

/// The highest `VmHWM` of a process, read every 50 ms on a thread of its own until ``stop()``.
private final class PeakWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var peakBytes: Int64 = 0
    private var stopped = false

    init(pid: Int32) {
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopped }) {
                if let bytes = ProcessStatus.highWaterMarkBytes(of: pid) { lock.withLock { peakBytes = max(peakBytes, bytes) } }
                usleep(50_000)
            }
        }
    }

    /// Stops reading and returns the peak in megabytes.
    func stop() -> Double {
        lock.withLock {
            stopped = true
            return Double(peakBytes) / 1_048_576
        }
    }
}
