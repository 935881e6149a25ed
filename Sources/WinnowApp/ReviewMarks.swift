import Foundation
import Synchronization
import WinnowCore

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
            for r in records {
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

    var csv: String { state.withLock { table($0) } }

    private func table(_ marks: [Int64: Mark]) -> String {
        var table = CSVTable(header: ["index", "filename", "mark"])
        for id in marks.keys.sorted() { table.append([String(id), names[id] ?? "", marks[id]?.rawValue ?? ""]) }
        return table.contents
    }

    private func save(_ marks: [Int64: Mark]) throws {
        do { try AtomicFile.write(table(marks), to: url) } catch {
            throw AppError.unreadable(url.path, "cannot be written: \(error.localizedDescription)")
        }
    }
}
