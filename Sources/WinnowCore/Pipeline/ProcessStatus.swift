import Foundation

/// What Linux's `/proc` says about a process: its memory high-water mark and whether it is
/// stopped. Nil or false where `/proc` does not say.
public enum ProcessStatus {
    /// `VmHWM` in bytes: the peak resident memory of process `pid` (nil: this one) since it
    /// started or its mark was last reset (``StageMeter`` resets it at every stage).
    public static func highWaterMarkBytes(of pid: pid_t? = nil) -> Int64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int64($0) })
        else { return nil }
        return kilobytes * 1024
    }

    /// Whether process `pid` is stopped by a signal (state `T` in `/proc/PID/stat`).
    public static func isStopped(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.range(of: ") ", options: .backwards) else { return false }
        return stat[afterName.upperBound...].first == "T"
    }
}
