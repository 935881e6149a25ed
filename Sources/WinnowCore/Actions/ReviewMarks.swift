import Foundation

/// A person's decision about one image, made in `winnow serve` and saved to
/// `review_marks.csv` (`index,filename,mark`); `winnow clean --marks` applies them over the
/// keeper rules. ``read(from:)`` and ``write(_:names:to:)`` are the one reader and writer of
/// that file: the app saves and reloads its marks with them, and `winnow clean` reads them.
public enum ReviewMark: String, Sendable, Codable {
    case keep, remove

    /// The name of the marks file `winnow serve` keeps in the work_dir.
    public static let fileName = WorkDirFile.reviewMarks.name

    /// Reads a marks file. Rows that cannot be used (bad index, unknown mark) are skipped, each
    /// with a one-line warning naming the file and line; a file without `index` and `mark`
    /// columns is an error. Quoted fields may span lines (a file name with a line break).
    public static func read(from url: URL) throws(ReviewMarksError) -> (marks: [Int64: ReviewMark], warnings: [String]) {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ReviewMarksError(file: url.path, reason: "does not exist") }
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            throw ReviewMarksError(file: url.path, reason: "cannot be read as UTF-8 text")
        }
        var rows = CSVReader.numberedRows(text)[...]
        guard let header = rows.popFirst() else {
            throw ReviewMarksError(file: url.path, reason: "is empty (expected a header index,filename,mark)")
        }
        typealias Column = ReviewMarkRow.CodingKeys
        guard let indexColumn = header.fields.firstIndex(of: Column.index.rawValue),
              let markColumn = header.fields.firstIndex(of: Column.mark.rawValue) else {
            throw ReviewMarksError(file: url.path, reason: "line \(header.line): the header needs the columns index and mark")
        }
        var marks: [Int64: ReviewMark] = [:], warnings: [String] = []
        for (line, row) in rows {
            guard row.count > max(indexColumn, markColumn), let id = Int64(row[indexColumn].trimmingCharacters(in: .whitespaces)) else {
                warnings.append("\(url.path):\(line): no integer index; line skipped")
                continue
            }
            guard let mark = ReviewMark(rawValue: row[markColumn].trimmingCharacters(in: .whitespaces).lowercased()) else {
                warnings.append("\(url.path):\(line): mark must be keep or remove, not \(String(reflecting: row[markColumn])); line skipped")
                continue
            }
            marks[id] = mark
        }
        return (marks, warnings)
    }

    /// The marks file's text: `index,filename,mark`, one row per mark by index (`names` gives
    /// each sample's file name).
    public static func csv(_ marks: [Int64: ReviewMark], names: [Int64: String]) -> String {
        WorkDirFile.reviewMarks.text(marks.sorted { $0.key < $1.key }.map {
            ReviewMarkRow(index: $0.key, filename: names[$0.key] ?? "", mark: $0.value)
        })
    }

    /// Writes the marks file atomically (a reader sees the old file or the new one, never half).
    public static func write(_ marks: [Int64: ReviewMark], names: [Int64: String], to url: URL) throws(ReviewMarksError) {
        do { try AtomicFile.write(csv(marks, names: names), to: url) } catch {
            throw ReviewMarksError(file: url.path, reason: "cannot be written: \(error.localizedDescription)")
        }
    }
}

/// A marks file that cannot be used at all.
public struct ReviewMarksError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
