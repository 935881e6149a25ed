import Foundation

import WinnowCore

/// The work_dir's CSV files for the app, read by WinnowCore's ``CSVReader``.
enum CSV {
    /// Rows of a CSV file as column → value, or nil when the file does not exist.
    static func records(at url: URL) throws(AppError) -> [[String: String]]? {
        do { return try CSVReader.records(at: url) } catch { throw .unreadable(url.lastPathComponent, error.reason) }
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
