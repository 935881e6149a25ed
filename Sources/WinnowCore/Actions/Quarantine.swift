import Foundation

/// Moves the images a `CleanPlan` removes into a quarantine folder, and moves them back.
/// Nothing is ever deleted or overwritten: every move is first written (and flushed) to the
/// undo log `quarantine_log.jsonl` in the work_dir, a name already taken in the quarantine
/// gets a ` (2)` suffix, and undo skips files whose original place is taken again. A file is
/// moved only if it is still the one the run saw (size, modification time, content hash), and
/// so is its group's kept file. Both need the work_dir's lock.
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
        /// File and one-line reason for each image that could not be moved (or restored).
        public var failed: [(String, String)] = []
        /// File and one-line reason for each image left in place on purpose: it (or its group's
        /// kept file) changed since the run, or it is inside an archive or a frame of a video.
        public var skipped: [(String, String)] = []
        public static func == (a: Report, b: Report) -> Bool {
            a.moved == b.moved && a.failed.map { [$0.0, $0.1] } == b.failed.map { [$0.0, $0.1] }
                && a.skipped.map { [$0.0, $0.1] } == b.skipped.map { [$0.0, $0.1] }
        }
    }

    /// Moves every removed image of `plan` under `folder`, keeping its path relative to its input.
    public static func move(_ plan: CleanPlan, into folder: URL, holding lock: WorkDirectoryLock) throws -> Report {
        let log = lock.workDirectory.appendingPathComponent(logFileName)
        let logged = Set(loggedMoves(in: log).map(\.to))
        let batch = ISO8601DateFormatter().string(from: Date())
        var report = Report()
        for (member, keeper) in plan.removals {
            guard let source = member.location else {
                report.skipped.append((member.filename, "inside an archive or a video: not moved"))
                continue
            }
            if let change = change(of: member) {
                report.skipped.append((source, change == "no longer exists" ? change : "changed since the run (\(change)); rerun winnow run"))
                continue
            }
            if let keeper, keeper.location != nil, let change = change(of: keeper) {
                let name = keeper.location ?? keeper.filename
                report.skipped.append((source, "its kept file \(name) " + (change == "no longer exists" ? change : "changed since the run (\(change))")))
                continue
            }
            do {
                let target = try freeTarget(for: member, in: folder, logged: logged)
                let move = Move(from: source, to: target, bytes: member.fileSize, batch: batch)
                try append(move, to: log)
                try relocate(from: source, to: target)
                report.moved.append(move)
            } catch {
                report.failed.append((source, reason(error)))
            }
        }
        return report
    }

    /// Moves back every logged file that is still in quarantine, and rewrites the log with what
    /// could not be restored.
    public static func undo(holding lock: WorkDirectoryLock) throws -> Report {
        let log = lock.workDirectory.appendingPathComponent(logFileName)
        guard FileManager.default.fileExists(atPath: log.path) else { return Report() }
        var report = Report()
        var remaining: [Move] = []
        for move in loggedMoves(in: log) {
            let quarantined = exists(move.to)
            let originalTaken = exists(move.from)
            switch (quarantined, originalTaken) {
            case (false, true):
                removeOwnPartial(for: move.to)   // logged but never moved (interrupted before or during the move)
            case (false, false):
                report.failed.append((move.from, "missing from the quarantine (\(move.to))"))
            case (true, true):
                report.failed.append((move.from, "a file is at the original path again; left in \(move.to)"))
                remaining.append(move)
            case (true, false):
                do {
                    try FileManager.default.createDirectory(at: URL(fileURLWithPath: move.from).deletingLastPathComponent(),
                                                            withIntermediateDirectories: true)
                    removeOwnPartial(for: move.from)
                    try relocate(from: move.to, to: move.from)
                    report.moved.append(move)
                } catch {
                    report.failed.append((move.from, reason(error)))
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

    /// The moves recorded in a work_dir's undo log (lines that cannot be read are left out).
    public static func loggedMoves(in log: URL) -> [Move] {
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { try? JSONDecoder().decode(Move.self, from: Data($0.utf8)) }
    }
}
