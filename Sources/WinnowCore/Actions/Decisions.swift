import Foundation
import GRDB

/// A person's decision that lasts: stored in the catalog (`winnow mark`), applied by every later
/// run and `clean` — through incremental runs and reruns with other thresholds — until it is
/// undone (`winnow marks --undo`). Samples are named by their index (a sample keeps its index
/// for as long as its path is in the work_dir).
public enum Decision: Sendable, Hashable, CustomStringConvertible {
    /// The two images are not copies: their pair is scored below every threshold (their own edge
    /// leaves pairs, duplicates, components and near duplicates; images linked through a third
    /// image can still share a component).
    case notCopy(Int64, Int64)
    /// Never removed by `clean`; kept in its group.
    case keep(Int64)
    /// Removed by `clean`, in a group or alone.
    case remove(Int64)
    /// No image under this folder (an absolute path) is ever in `remove.csv`.
    case protect(folder: String)

    /// The catalog's (and the JSON's) spelling of the kind.
    public var kind: String {
        switch self {
        case .notCopy: "not_copy"
        case .keep: "keep"
        case .remove: "remove"
        case .protect: "protect"
        }
    }

    /// The sample indices the decision names.
    public var samples: [Int64] {
        switch self {
        case .notCopy(let a, let b): [a, b]
        case .keep(let id), .remove(let id): [id]
        case .protect: []
        }
    }

    /// One line for people: `not a copy: 12 40`, `protect: /data/canonical`.
    public var description: String {
        switch self {
        case .notCopy(let a, let b): "not a copy: \(a) \(b)"
        case .keep(let id): "keep: \(id)"
        case .remove(let id): "remove: \(id)"
        case .protect(let folder): "protect: \(folder)"
        }
    }
}

/// A decision as the catalog holds it: its number (for `--undo`) and when it was made. As JSON
/// (`winnow marks --json`, the app's `/api/decisions`): `number`, `created` (ISO 8601), `kind`,
/// `samples` and, for a protected folder, `folder`.
public struct RecordedDecision: Sendable, Equatable, Encodable {
    public var number: Int64
    public var decision: Decision
    public var created: Date

    private enum CodingKeys: String, CodingKey { case number, created, kind, samples, folder }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(number, forKey: .number)
        try container.encode(ISO8601DateFormatter().string(from: created), forKey: .created)
        try container.encode(decision.kind, forKey: .kind)
        try container.encode(decision.samples, forKey: .samples)
        if case .protect(let folder) = decision { try container.encode(folder, forKey: .folder) }
    }
}

/// Every decision of a work_dir, in the forms the run and `clean` apply them.
public struct Decisions: Sendable, Equatable {
    /// Pairs of sample indices marked not a copy, lower index first.
    public var notCopies: Set<SamplePair> = []
    public var marks: [Int64: ReviewMark] = [:]
    /// Protected folders, each ending in `/`.
    public var protectedFolders: [String] = []

    public struct SamplePair: Sendable, Hashable {
        public var first: Int64, second: Int64
        public init(_ a: Int64, _ b: Int64) { (first, second) = (min(a, b), max(a, b)) }
    }

    public init(_ recorded: [RecordedDecision] = []) {
        for entry in recorded {
            switch entry.decision {
            case .notCopy(let a, let b): notCopies.insert(SamplePair(a, b))
            case .keep(let id): marks[id] = .keep
            case .remove(let id): marks[id] = .remove
            case .protect(let folder): protectedFolders.append(folder.hasSuffix("/") ? folder : folder + "/")
            }
        }
    }

    /// Whether the file at `location` (an absolute path) is inside a protected folder.
    public func isProtected(location: String?) -> Bool {
        guard let location else { return false }
        return protectedFolders.contains { location.hasPrefix($0) }
    }
}

/// Why a decision cannot be recorded; one line.
public struct DecisionError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension Catalog {
    /// Records `decision` (once: recording it again changes nothing) and returns its number.
    /// The samples it names must be in the catalog; a pair must name two samples.
    @discardableResult
    public func record(_ decision: Decision, at created: Date = Date()) throws -> Int64 {
        if case .notCopy(let a, let b) = decision, a == b {
            throw DecisionError(description: "a pair needs two different indices (got \(a) twice)")
        }
        let (first, second, folder) = Self.columns(of: decision)
        return try write { db in
            for id in decision.samples where try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM samples WHERE id = ?", arguments: [id]) == 0 {
                throw DecisionError(description: "no image with index \(id) in this work_dir")
            }
            try db.execute(sql: """
                INSERT OR IGNORE INTO decisions (kind, first_id, second_id, folder, created) VALUES (?, ?, ?, ?, ?)
                """, arguments: [decision.kind, first, second, folder, created.timeIntervalSince1970])
            return try Int64.fetchOne(db, sql: "SELECT id FROM decisions WHERE kind = ? AND first_id = ? AND second_id = ? AND folder = ?",
                                      arguments: [decision.kind, first, second, folder]) ?? 0
        }
    }

    /// Every recorded decision, oldest first.
    public func decisions() throws -> [RecordedDecision] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, first_id, second_id, folder, created FROM decisions ORDER BY id").compactMap { row in
                let (first, second, folder): (Int64, Int64, String) = (row["first_id"], row["second_id"], row["folder"])
                let decision: Decision
                switch row["kind"] as String {
                case "not_copy": decision = .notCopy(first, second)
                case "keep": decision = .keep(first)
                case "remove": decision = .remove(first)
                case "protect": decision = .protect(folder: folder)
                default: return nil
                }
                return RecordedDecision(number: row["id"], decision: decision, created: Date(timeIntervalSince1970: row["created"]))
            }
        }
    }

    /// Makes `mark` the keep/remove decision of each of `ids` (nil: none), replacing the one
    /// they had — the app's keep/remove marks, kept as decisions too.
    public func setMark(_ mark: ReviewMark?, for ids: [Int64], at created: Date = Date()) throws {
        try write { db in
            for id in ids {
                try db.execute(sql: "DELETE FROM decisions WHERE kind IN ('keep', 'remove') AND first_id = ?", arguments: [id])
                guard let mark else { continue }
                try db.execute(sql: "INSERT INTO decisions (kind, first_id, created) VALUES (?, ?, ?)",
                               arguments: [mark.rawValue, id, created.timeIntervalSince1970])
            }
        }
    }

    /// Removes the decisions with these numbers; returns the numbers that were not found.
    public func undoDecisions(_ numbers: [Int64]) throws -> [Int64] {
        try write { db in
            try numbers.filter { number in
                try db.execute(sql: "DELETE FROM decisions WHERE id = ?", arguments: [number])
                return db.changesCount == 0
            }
        }
    }

    private static func columns(of decision: Decision) -> (first: Int64, second: Int64, folder: String) {
        switch decision {
        case .notCopy(let a, let b): (min(a, b), max(a, b), "")
        case .keep(let id), .remove(let id): (id, 0, "")
        case .protect(let folder): (0, 0, folder)
        }
    }
}
