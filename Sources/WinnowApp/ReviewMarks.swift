import Foundation
import Synchronization

/// Keep/remove decisions made in the app, saved on every change to `review_marks.csv`
/// (`index,filename,mark`) in the work_dir — the file `winnow clean --marks` reads.
/// Written atomically (temporary file + rename); loaded back when the app starts again.
final class ReviewMarks: Sendable {
    static let fileName = "review_marks.csv"
    enum Mark: String, Codable, Sendable { case keep, remove }

    private let url: URL
    private let names: [Int64: String]
    private let state: Mutex<[Int64: Mark]>

    init(directory: URL, names: [Int64: String]) {
        url = directory.appendingPathComponent(Self.fileName)
        self.names = names
        var loaded: [Int64: Mark] = [:]
        if let records = try? CSV.records(at: url) {
            for r in records ?? [] {
                if let id = Int64(r["index"] ?? ""), names[id] != nil, let mark = Mark(rawValue: r["mark"] ?? "") { loaded[id] = mark }
            }
        }
        state = Mutex(loaded)
    }

    var all: [Int64: Mark] { state.withLock { $0 } }

    /// Sets (or with nil clears) the mark of the given samples; unknown indices are ignored and
    /// the number of samples changed is returned.
    func set(_ mark: Mark?, for indices: [Int64]) throws -> Int {
        try state.withLock { marks in
            var changed = 0
            for id in indices where names[id] != nil && marks[id] != mark {
                marks[id] = mark
                changed += 1
            }
            if changed > 0 { try save(marks) }
            return changed
        }
    }

    var csv: String {
        state.withLock { marks in
            marks.keys.sorted().reduce(CSV.line(["index", "filename", "mark"])) { text, id in
                text + CSV.line([String(id), names[id] ?? "", marks[id]?.rawValue ?? ""])
            }
        }
    }

    private func save(_ marks: [Int64: Mark]) throws {
        let text = marks.keys.sorted().reduce(CSV.line(["index", "filename", "mark"])) { text, id in
            text + CSV.line([String(id), names[id] ?? "", marks[id]?.rawValue ?? ""])
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(Self.fileName).\(UUID().uuidString).tmp")
        try Data(text.utf8).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw AppError.unreadable(url.path, "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}
