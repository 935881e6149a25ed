import Foundation

/// Moves the images a `CleanPlan` removes into a quarantine folder, and moves them back.
/// Nothing is ever deleted or overwritten: every move is first written (and flushed) to the
/// undo log `quarantine_log.jsonl` in the work_dir, a name already taken in the quarantine
/// gets a ` (2)` suffix, and undo skips files whose original place is taken again. Both need
/// the work_dir's lock.
public enum Quarantine {
    public static let logFileName = "quarantine_log.jsonl"

    /// One move as recorded in the undo log.
    public struct Move: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        public var bytes: Int64
        public var batch: String
    }

    public struct Report: Sendable, Equatable {
        public var moved: [Move] = []
        /// File and one-line reason for each image that was not moved (or not restored).
        public var failed: [(String, String)] = []
        public static func == (a: Report, b: Report) -> Bool {
            a.moved == b.moved && a.failed.map(\.0) == b.failed.map(\.0) && a.failed.map(\.1) == b.failed.map(\.1)
        }
    }

    /// Moves every removed image of `plan` under `folder`, keeping its path relative to its input.
    public static func move(_ plan: CleanPlan, into folder: URL, holding lock: WorkDirectoryLock) throws -> Report {
        let log = lock.workDirectory.appendingPathComponent(logFileName)
        let batch = ISO8601DateFormatter().string(from: Date())
        var report = Report()
        for member in plan.removed {
            guard let source = member.location else {
                report.failed.append((member.filename, "inside an archive: not moved"))
                continue
            }
            var target = folder.appendingPathComponent(member.path)
            var attempt = 2
            while FileManager.default.fileExists(atPath: target.path) {
                let base = URL(fileURLWithPath: member.path).deletingPathExtension().lastPathComponent
                let ext = URL(fileURLWithPath: member.path).pathExtension
                target = target.deletingLastPathComponent()
                    .appendingPathComponent("\(base) (\(attempt))" + (ext.isEmpty ? "" : ".\(ext)"))
                attempt += 1
            }
            guard let size = (try? FileManager.default.attributesOfItem(atPath: source))?[.size] as? NSNumber else {
                report.failed.append((source, "no longer exists"))
                continue
            }
            let move = Move(from: source, to: target.path, bytes: size.int64Value, batch: batch)
            do {
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try append(move, to: log)
                try relocate(from: source, to: target.path)
                report.moved.append(move)
            } catch {
                report.failed.append((source, error.localizedDescription))
            }
        }
        return report
    }

    /// Moves back every logged file that is still in quarantine, and rewrites the log with what
    /// could not be restored.
    public static func undo(holding lock: WorkDirectoryLock) throws -> Report {
        let log = lock.workDirectory.appendingPathComponent(logFileName)
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return Report() }
        var report = Report()
        var remaining: [Move] = []
        for line in text.split(whereSeparator: \.isNewline) {
            guard let move = try? JSONDecoder().decode(Move.self, from: Data(line.utf8)) else { continue }
            let quarantined = FileManager.default.fileExists(atPath: move.to)
            let originalTaken = FileManager.default.fileExists(atPath: move.from)
            switch (quarantined, originalTaken) {
            case (false, true):
                continue   // logged but never moved (interrupted before the move): nothing to undo
            case (false, false):
                report.failed.append((move.from, "missing from the quarantine (\(move.to))"))
            case (true, true):
                report.failed.append((move.from, "a file is at the original path again; left in \(move.to)"))
                remaining.append(move)
            case (true, false):
                do {
                    try FileManager.default.createDirectory(at: URL(fileURLWithPath: move.from).deletingLastPathComponent(),
                                                            withIntermediateDirectories: true)
                    try relocate(from: move.to, to: move.from)
                    report.moved.append(move)
                } catch {
                    report.failed.append((move.from, error.localizedDescription))
                    remaining.append(move)
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let rest = try remaining.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        try AtomicFile.write(rest, to: log)
        return report
    }

    private static func append(_ move: Move, to log: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var line = try encoder.encode(move)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: log.path) {
            guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot create \(log.path)"])
            }
        }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }

    /// `rename`, or across file systems: copy, flush, check the size, then unlink the source.
    private static func relocate(from source: String, to target: String) throws {
        guard !FileManager.default.fileExists(atPath: target) else {
            throw CocoaError(.fileWriteFileExists, userInfo: [NSLocalizedDescriptionKey: "\(target) exists"])
        }
        if rename(source, target) == 0 { return }
        guard errno == EXDEV else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
        let partial = target + ".partial"
        try FileManager.default.copyItem(atPath: source, toPath: partial)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
        try handle.synchronize()
        try handle.close()
        let a = try FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber
        let b = try FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber
        guard a == b, rename(partial, target) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "copy to \(target) did not complete"])
        }
        try FileManager.default.removeItem(atPath: source)
    }
}
