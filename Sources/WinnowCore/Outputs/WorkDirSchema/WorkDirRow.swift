import Foundation

/// One row of a work_dir CSV file. Its columns are its coding keys, fastdup's names where
/// fastdup has the file: writers and readers of the file use the row type, so a column renamed
/// here is a compile error everywhere else.
///
/// Values are written as fastdup writes them: integers in decimal, `Bool` as `1`/`0`, nil as an
/// empty field, floating-point numbers in fixed point with ``decimalPlaces(of:)`` digits.
public protocol WorkDirRow: Codable, Sendable {
    /// The header, in order.
    static var columns: [String] { get }
    /// Digits after the point of a floating-point column (6 unless the row type says otherwise).
    static func decimalPlaces(of column: String) -> Int
    /// The columns that hold a sample's index (`slice/` keeps the rows that name a sliced sample).
    static var sampleColumns: [String] { get }
}

extension WorkDirRow {
    public static func decimalPlaces(of column: String) -> Int { 6 }
    public static var sampleColumns: [String] { [] }
}

/// A row type whose columns are exactly its `CodingKeys`, in declaration order.
public protocol WorkDirKeyedRow: WorkDirRow {
    associatedtype CodingKeys: CodingKey & CaseIterable & RawRepresentable where CodingKeys.RawValue == String
}

extension WorkDirKeyedRow {
    public static var columns: [String] { CodingKeys.allCases.map(\.rawValue) }
}

/// A work_dir CSV file and the type of its rows.
public struct WorkDirCSV<Row: WorkDirRow>: Sendable {
    /// The file name in the work_dir.
    public let name: String

    public init(_ name: String) { self.name = name }

    public func url(in directory: URL) -> URL { directory.appendingPathComponent(name) }

    /// Writes the whole file (atomically): `rows` is called with an `append` that adds one row.
    public func write(in directory: URL, rows: (_ append: (Row) throws -> Void) throws -> Void) throws {
        let writer = try self.writer(in: directory)
        try rows(writer.append)
        try writer.finish()
    }

    /// Writes `rows` as the whole file.
    public func write<Rows: Sequence<Row>>(_ rows: Rows, in directory: URL) throws {
        try write(in: directory) { append in for row in rows { try append(row) } }
    }

    /// The file's text for `rows` (for a download; `write` puts a file in place).
    public func text(_ rows: [Row]) -> String {
        let encoder = CSVRowEncoder(columns: Row.columns, decimalPlaces: Row.decimalPlaces(of:))
        var table = CSVTable(header: Row.columns)
        for row in rows {
            // Fails only when a row type's encoding disagrees with its own columns: a schema bug.
            do { table.append(try encoder.encode(row)) } catch { preconditionFailure("\(name): \(error)") }
        }
        return table.contents
    }

    /// A writer that adds rows one at a time; ``WorkDirCSVWriter/finish()`` puts the file in place.
    public func writer(in directory: URL) throws -> WorkDirCSVWriter<Row> {
        try WorkDirCSVWriter(url: url(in: directory))
    }

    /// The rows of the file in `directory`, or nil when it does not exist (see ``read(_:skipping:)``).
    public func read(in directory: URL, skipping skip: ((WorkDirReadError) -> Void)? = nil) throws(WorkDirReadError) -> [Row]? {
        try Self.read(url(in: directory), skipping: skip)
    }

    /// The rows of the CSV file at `url` with this row type's columns, or nil when it does not
    /// exist. A column the file lacks reads as empty (nil for optional values). A row with a
    /// value that cannot be read is an error naming the file, line and column — or, given `skip`,
    /// is passed to it and left out.
    public static func read(_ url: URL, skipping skip: ((WorkDirReadError) -> Void)? = nil) throws(WorkDirReadError) -> [Row]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            throw WorkDirReadError(file: url.path, line: nil, reason: "cannot be read as UTF-8 text")
        }
        var records = CSVReader.numberedRows(text)[...]
        guard let header = records.popFirst() else { return [] }
        let decoder = CSVRowDecoder(header: header.fields)
        var rows: [Row] = []
        rows.reserveCapacity(records.count)
        for record in records {
            do { rows.append(try decoder.decode(Row.self, from: record.fields)) } catch {
                let failure = WorkDirReadError(file: url.path, line: record.line, reason: error.reason)
                guard let skip else { throw failure }
                skip(failure)
            }
        }
        return rows
    }
}

/// Adds typed rows to a work_dir CSV file as they are made (``CSVFileWriter``: nothing is held).
public final class WorkDirCSVWriter<Row: WorkDirRow> {
    private let file: CSVFileWriter
    private let encoder = CSVRowEncoder(columns: Row.columns, decimalPlaces: Row.decimalPlaces(of:))

    init(url: URL) throws {
        file = try CSVFileWriter(url: url, header: Row.columns)
    }

    public func append(_ row: Row) throws {
        try file.append(try encoder.encode(row))
    }

    /// Writes the rest, syncs and puts the file in place.
    public func finish() throws { try file.finish() }
}

/// A work_dir file that cannot be read; one line.
public struct WorkDirReadError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var reason: String
    public var description: String { line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)" }
}
