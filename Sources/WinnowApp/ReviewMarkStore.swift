import Foundation
import Synchronization
import WinnowCore

/// Keep/remove decisions made in the app, saved on every change to `review_marks.csv` in the
/// work_dir — the file `winnow clean --marks` reads. Read and written by ``ReviewMark``
/// (atomically); loaded back when the app starts again.
final class ReviewMarkStore: Sendable {
    private let url: URL
    private let names: [Int64: String]
    private let state: Mutex<[Int64: ReviewMark]>

    /// Loads the marks file of `directory`, keeping the marks of samples in `names`; a missing
    /// or unusable file is no marks.
    init(directory: URL, names: [Int64: String]) {
        url = directory.appendingPathComponent(ReviewMark.fileName)
        self.names = names
        let loaded = (try? ReviewMark.read(from: url))?.marks ?? [:]
        state = Mutex(loaded.filter { names[$0.key] != nil })
    }

    var all: [Int64: ReviewMark] { state.withLock { $0 } }

    /// Sets (or with nil clears) the mark of the given samples; unknown indices are ignored and
    /// the number of samples changed is returned.
    func set(_ mark: ReviewMark?, for indices: [Int64]) throws(AppError) -> Int {
        try state.withLock { marks throws(AppError) in
            var changed = 0
            for id in indices where names[id] != nil && marks[id] != mark {
                marks[id] = mark
                changed += 1
            }
            if changed > 0 {
                do throws(ReviewMarksError) { try ReviewMark.write(marks, names: names, to: url) } catch {
                    throw .unreadable(url.path, error.reason)
                }
            }
            return changed
        }
    }

    /// The marks file's text.
    var csv: String { state.withLock { ReviewMark.csv($0, names: names) } }
}
