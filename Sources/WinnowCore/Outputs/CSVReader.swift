import Foundation

/// Reads the RFC 4180 CSV that `CSVTable` writes (and users give): fields separated by commas,
/// a field in double quotes may hold commas, `""` quotes and line breaks. The one CSV reader of
/// Winnow: annotations, maps, galleries, review marks, slices and the app all use it.
public enum CSVReader {
    /// Splits one line into fields; nil when a quote is left open. A trailing `\r` is dropped;
    /// a quote opens a quoted field only at the start of a field (after optional spaces).
    public static func fields<S: StringProtocol>(_ line: S) -> [String]? {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var atFieldStart = true
        var characters = Array(line)
        if characters.last == "\r" { characters.removeLast() }
        var i = 0
        while i < characters.count {
            let c = characters[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < characters.count && characters[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && atFieldStart {
                quoted = true
                atFieldStart = false
            } else if c == "," {
                fields.append(field)
                field = ""
                atFieldStart = true
            } else {
                field.append(c)
                if c != " " { atFieldStart = false }
            }
            i += 1
        }
        if quoted { return nil }
        fields.append(field)
        return fields
    }

    /// The lines of `text` that are not empty, with their 1-based line numbers (for messages).
    public static func numberedLines(_ text: String) -> [(number: Int, text: Substring)] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .filter { !$0.element.isEmpty }.map { (number: $0.offset + 1, text: $0.element) }
    }

    /// All records of `text`, header first; quoted fields may span lines, blank lines are
    /// skipped, and an empty text gives no records.
    public static func rows(_ text: String) -> [[String]] {
        numberedRows(text).map(\.fields)
    }

    /// The records of `text` as ``rows(_:)`` gives them, each with the 1-based number of the
    /// line it starts on (for messages about files whose quoted fields span lines).
    public static func numberedRows(_ text: String) -> [(line: Int, fields: [String])] {
        var rows: [(line: Int, fields: [String])] = []
        var line = 1, rowLine = 1
        var row: [String] = []
        var field = ""
        var quoted = false
        var afterQuote = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return iterator.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let n = iterator.next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; afterQuote = true; pending = n }
                    } else { quoted = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !afterQuote: quoted = true
            case ",": row.append(field); field = ""; afterQuote = false
            case "\n", "\r":
                if c == "\r", let n = iterator.next(), n != "\n" { pending = n }
                row.append(field); field = ""; afterQuote = false
                if !(row.count == 1 && row[0].isEmpty) { rows.append((rowLine, row)) }
                row = []
                line += 1
                rowLine = line
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty || afterQuote {
            row.append(field)
            rows.append((rowLine, row))
        }
        return rows
    }

    /// The records of `text` as column → value (missing trailing fields are empty).
    public static func records(_ text: String) -> [[String: String]] {
        var all = rows(text)
        guard !all.isEmpty else { return [] }
        let header = all.removeFirst()
        return all.map { fields in
            var record: [String: String] = [:]
            for (i, name) in header.enumerated() { record[name] = i < fields.count ? fields[i] : "" }
            return record
        }
    }

    /// The records of a CSV file as column → value; nil when the file does not exist.
    public static func records(at url: URL) throws(CSVReadError) -> [[String: String]]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let data = FileManager.default.contents(atPath: url.path) else { throw CSVReadError(path: url.path, reason: "cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw CSVReadError(path: url.path, reason: "not UTF-8 text") }
        return records(text)
    }
}

/// A CSV file that cannot be read at all; one line naming the file.
public struct CSVReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
