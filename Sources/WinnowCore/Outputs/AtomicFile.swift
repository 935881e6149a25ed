import Foundation

/// Writes files so that a reader (or a killed run) sees either the old file or the complete
/// new one: write to a temporary file beside it, flush, then rename over it. The temporary name
/// is unique per call, so threads writing the same file (the app's thumbnails) do not collide.
public enum AtomicFile {
    /// Writes `data` to `url` atomically. `durable: false` skips the flush to disk (for caches
    /// whose readers check what they read: after a power loss they hold the old file, the new
    /// one or a file the reader rejects, never a half-written one under the final name).
    public static func write(_ data: Data, to url: URL, durable: Bool = true) throws {
        try write(to: url, durable: durable) { try $0.write(contentsOf: data) }
    }

    /// Writes what `body` writes to the handle it is given to `url` atomically.
    public static func write(to url: URL, durable: Bool = true, _ body: (FileHandle) throws -> Void) throws {
        let (temporary, handle) = try createTemporary(beside: url)
        do {
            try body(handle)
            if durable { try handle.synchronize() }
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        try replace(url, with: temporary)
    }

    /// A new, empty temporary file beside `url` (hidden, unique per call), open for writing.
    static func createTemporary(beside url: URL) throws -> (URL, FileHandle) {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString.prefix(8)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot create \(temporary.path)"])
        }
        do {
            return (temporary, try FileHandle(forWritingTo: temporary))
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Renames the finished `temporary` over `url` (removing `temporary` if that fails).
    static func replace(_ url: URL, with temporary: URL) throws {
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot replace \(url.path): \(reason)"])
        }
    }

    /// Writes `text` as UTF-8 to `url` atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}

/// Builds RFC 4180 CSV text (read back by ``CSVReader``).
public struct CSVTable: Sendable {
    private var text: String

    /// A table with this header row.
    public init(header: [String]) {
        text = header.map(Self.escape).joined(separator: ",") + "\n"
    }

    /// Adds a row, quoting fields that hold commas, quotes or line breaks.
    public mutating func append(_ fields: [String]) {
        text += fields.map(Self.escape).joined(separator: ",") + "\n"
    }

    /// The CSV text so far.
    public var contents: String { text }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Fixed-point formatting as fastdup writes its numbers.
func decimal(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
