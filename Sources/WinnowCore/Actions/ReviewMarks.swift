import Foundation

/// A person's decision about one image, made in `winnow serve` and saved to
/// `review_marks.csv` (`index,filename,mark`); `winnow clean --marks` applies them over the
/// keeper rules.
public enum ReviewMark: String, Sendable, Codable {
    case keep, remove

    /// Reads a marks file. Rows that cannot be used (bad index, unknown mark) are skipped, each
    /// with a one-line warning naming the file and line; a file without `index` and `mark`
    /// columns is an error.
    public static func read(from url: URL) throws -> (marks: [Int64: ReviewMark], warnings: [String]) {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ReviewMarksError(file: url.path, reason: "does not exist") }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ReviewMarksError(file: url.path, reason: "cannot be read as UTF-8 text")
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { throw ReviewMarksError(file: url.path, reason: "is empty (expected a header index,filename,mark)") }
        let header = CSVReader.fields(lines[0]) ?? []
        guard let indexColumn = header.firstIndex(of: "index"), let markColumn = header.firstIndex(of: "mark") else {
            throw ReviewMarksError(file: url.path, reason: "line 1: the header needs the columns index and mark")
        }
        var marks: [Int64: ReviewMark] = [:], warnings: [String] = []
        for (number, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            guard let row = CSVReader.fields(line), row.count > max(indexColumn, markColumn), let id = Int64(row[indexColumn].trimmingCharacters(in: .whitespaces)) else {
                warnings.append("\(url.path):\(number + 1): no integer index; line skipped")
                continue
            }
            guard let mark = ReviewMark(rawValue: row[markColumn].trimmingCharacters(in: .whitespaces).lowercased()) else {
                warnings.append("\(url.path):\(number + 1): mark must be keep or remove, not \"\(row[markColumn])\"; line skipped")
                continue
            }
            marks[id] = mark
        }
        return (marks, warnings)
    }
}

/// A marks file that cannot be used at all.
public struct ReviewMarksError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
