import Foundation

/// Reads the RFC 4180 CSV files Winnow writes (quoted fields may hold commas, quotes, newlines).
enum CSV {
    /// The rows of `text`, header first; an empty text gives no rows.
    static func rows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
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
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                row = []
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty || afterQuote {
            row.append(field)
            rows.append(row)
        }
        return rows
    }

    /// Rows of a CSV file as column → value, or nil when the file does not exist.
    static func records(at url: URL) throws -> [[String: String]]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AppError.unreadable(url.lastPathComponent, "not UTF-8 text")
        }
        var all = rows(text)
        guard !all.isEmpty else { return [] }
        let header = all.removeFirst()
        return all.map { fields in
            var record: [String: String] = [:]
            for (i, name) in header.enumerated() { record[name] = i < fields.count ? fields[i] : "" }
            return record
        }
    }

    /// One CSV line (with newline) for `fields`, quoting where needed.
    static func line(_ fields: [String]) -> String {
        fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",") + "\n"
    }
}

/// Why the app cannot start or load a work_dir file; one line each.
public enum AppError: Error, Equatable, CustomStringConvertible {
    case notAWorkDirectory(String)
    case unreadable(String, String)
    case insecureBinding(String)
    case badPort(Int)
    case badToken

    public var description: String {
        switch self {
        case .notAWorkDirectory(let path): "\(path) is not a Winnow work_dir (no winnow.sqlite): run `winnow run` first"
        case .unreadable(let file, let why): "\(file): \(why)"
        case .insecureBinding(let host):
            "refusing to listen on \(host) without --token: only loopback (127.0.0.1, ::1, localhost) is served without one"
        case .badPort(let port): "port \(port) is outside 0–65535"
        case .badToken: "--token must be at least 8 characters of letters, digits, '-', '.', '_' or '~'"
        }
    }
}
