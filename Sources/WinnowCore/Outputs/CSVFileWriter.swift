import Foundation

/// Writes a CSV file row by row, so a table over every image is never held whole in memory.
/// Rows go to a temporary file beside `url` in 64 KB chunks; ``finish()`` flushes it to disk and
/// renames it over `url`, so readers see the old file or the complete new one (as ``AtomicFile``).
/// A writer dropped without `finish()` removes its temporary file.
public final class CSVFileWriter {
    public let url: URL
    private let temporary: URL
    private let handle: FileHandle
    private var buffer = Data()
    private var finished = false
    private static let chunk = 1 << 16

    /// Starts `url` with this header row.
    public init(url: URL, header: [String]) throws {
        self.url = url
        (temporary, handle) = try AtomicFile.createTemporary(beside: url)
        buffer.reserveCapacity(Self.chunk * 2)
        try append(header)
    }

    deinit {
        guard !finished else { return }
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }

    /// Adds a row, quoting fields that hold commas, quotes or line breaks.
    public func append(_ fields: [String]) throws {
        buffer.append(contentsOf: fields.map(CSVTable.escape).joined(separator: ",").utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.chunk { try flush() }
    }

    /// Writes the rest, syncs and puts the file in place.
    public func finish() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
        finished = true
        try AtomicFile.replace(url, with: temporary)
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes a whole file: `rows` is called with an `append` that adds one row.
    public static func write(_ url: URL, header: [String], rows: (_ append: ([String]) throws -> Void) throws -> Void) throws {
        let writer = try CSVFileWriter(url: url, header: header)
        try rows(writer.append)
        try writer.finish()
    }
}
