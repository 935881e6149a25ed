import Foundation

/// Embeddings the user computed elsewhere (`--embeddings`):
/// - a NumPy `.npy` (N×d, float32 or float16, C order): with an `index,filename` list beside
///   it (`X.npy.csv`, as `--export-npy` writes) rows are matched by file name; otherwise rows
///   follow the run's sorted file list, so N must equal the number of files;
/// - a fastdup work_dir's `atrain_features.dat` with its `atrain_features.dat.csv`
///   (`index,filename`), matched by file name;
/// - a CSV `filename,v0,v1,…` (header optional), matched by file name.
/// Names match a sample when equal to its output filename, its id, or a path ending in its id.
///
/// A row with a NaN or infinite value, or all zeros, is unusable (it has no direction: its cosine
/// with anything is undefined, and a NaN made the image a copy of everything): its image gets no
/// vector and the run says so in one line naming the file and rows (``unusableRowsMessage``).
/// A file with no usable row at all is refused.
public struct PrecomputedEmbeddings: Sendable {
    public let path: String
    public let matrix: FeatureMatrix
    /// Row names for name-matched formats; nil when rows follow the file order (`.npy`).
    public let names: [String]?
    /// Rows that are not finite or are all zero, with where they are in the file (`row 3`, `line 5`).
    public let unusableRows: [(row: Int, record: String)]

    public var dimension: Int { matrix.dimension }

    init(path: String, matrix: FeatureMatrix, names: [String]?, records: (Int) -> String) throws(EmbeddingError) {
        self.path = path
        self.matrix = matrix
        self.names = names
        var unusable: [(row: Int, record: String)] = []
        matrix.forEachRow(0..<matrix.rows) { row, values in
            if !isUsableEmbedding(values) { unusable.append((row, records(row))) }
        }
        unusableRows = unusable
        unusableRowSet = Set(unusableRows.map(\.row))
        guard unusableRows.count < matrix.rows else {
            throw .invalidEmbeddings(path: path, reason: "every row has NaN or infinite values or is all zero")
        }
    }

    /// Whether `row` can be used (finite, not all zero).
    public func isUsable(row: Int) -> Bool { !unusableRowSet.contains(row) }
    private let unusableRowSet: Set<Int>

    /// One line naming the unusable rows (the first ten), nil when every row is usable.
    public var unusableRowsMessage: String? {
        guard !unusableRows.isEmpty else { return nil }
        let shown = unusableRows.prefix(10).map(\.record).joined(separator: ", ")
        let more = unusableRows.count > 10 ? " and \(unusableRows.count - 10) more" : ""
        return "\(shown)\(more) (\(unusableRows.count) of \(matrix.rows) rows) have NaN or infinite values or are all zero: "
            + "their images get no vector"
    }

    public static func load(_ path: String) throws(EmbeddingError) -> PrecomputedEmbeddings {
        guard FileManager.default.fileExists(atPath: path) else { throw .invalidEmbeddings(path: path, reason: "file not found") }
        let lower = path.lowercased()
        do {
            if lower.hasSuffix(".npy") { return try loadNumPy(path) }
            if lower.hasSuffix(".dat") { return try loadFastdup(path) }
            if lower.hasSuffix(".csv") { return try loadCSV(path) }
        } catch let error as EmbeddingError {
            throw error
        } catch {
            throw .invalidEmbeddings(path: path, reason: error.localizedDescription)
        }
        throw .invalidEmbeddings(path: path, reason: "unknown format (expected .npy, fastdup .dat or .csv)")
    }

    /// The row of each sample (nil: none), in the order given. `samples` are all the run's
    /// files in id order (`filename` is the name written to outputs): without a name list the
    /// rows follow that order.
    public func rows(for samples: [(id: String, filename: String)]) throws(EmbeddingError) -> [Int?] {
        guard let names else {
            guard matrix.rows == samples.count else {
                throw .invalidEmbeddings(path: path, reason:
                    "\(matrix.rows) rows, but the run has \(samples.count) files (rows must follow the sorted file list)")
            }
            return samples.indices.map { Optional($0) }
        }
        var byName: [String: Int] = [:]
        for (row, name) in names.enumerated() { byName[name] = row }
        var suffixIndex: [String: Int]?
        return samples.map { sample in
            if let row = byName[sample.filename] ?? byName[sample.id] { return row }
            if suffixIndex == nil {
                var index: [String: Int] = [:]
                for (row, name) in names.enumerated() {
                    let parts = name.split(separator: "/")
                    for start in parts.indices { index[parts[start...].joined(separator: "/"), default: row] = row }
                }
                suffixIndex = index
            }
            return suffixIndex?[sample.id]
        }
    }

    // MARK: Formats

    /// A `.npy` header: element type, shape and where the data starts.
    struct NumPyHeader: Equatable {
        var isHalf: Bool
        var rows: Int
        var columns: Int
        var dataOffset: Int

        /// Parses the header of `data`, checking that the data after it is exactly rows × columns
        /// elements (so a forged shape can neither overflow nor ask for a huge allocation).
        init(_ data: Data, path: String) throws(EmbeddingError) {
            func bad(_ reason: String) -> EmbeddingError { .invalidEmbeddings(path: path, reason: reason) }
            let bytes = [UInt8](data.prefix(12))
            guard bytes.count >= 10, bytes.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) else { throw bad("not a NumPy .npy file") }
            let wide = bytes[6] >= 2
            guard !wide || bytes.count >= 12 else { throw bad("truncated .npy header") }
            let length = wide ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
                : Int(bytes[8]) | Int(bytes[9]) << 8
            let start = wide ? 12 : 10
            guard data.count - start >= length else { throw bad("truncated .npy header") }
            let header = String(decoding: data[(data.startIndex + start)..<(data.startIndex + start + length)], as: UTF8.self)
            func field(_ key: String) -> Substring? {
                header.range(of: "'\(key)':").map { header[$0.upperBound...].drop { $0 == " " } }
            }
            guard let descr = field("descr"), let shape = field("shape") else {
                throw bad("unreadable .npy header: \(header.prefix(200).filter { !$0.isNewline })")
            }
            if field("fortran_order")?.hasPrefix("True") == true {
                throw bad("Fortran-order arrays are not supported; save with np.ascontiguousarray")
            }
            if descr.hasPrefix("'<f4'") || descr.hasPrefix("'|f4'") { isHalf = false }
            else if descr.hasPrefix("'<f2'") { isHalf = true }
            else { throw bad("dtype \(descr.prefix { $0 != "," }.prefix(40)) is not float32 or float16") }
            let inside = shape.drop { $0 != "(" }.dropFirst().prefix { $0 != ")" }
            let dims = inside.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard dims.count == 2, let rows = dims[0], let columns = dims[1], rows > 0, columns > 0 else {
                throw bad("shape (\(inside.prefix(80))) is not N×d")
            }
            let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
            let expected = count.multipliedReportingOverflow(by: isHalf ? 2 : 4)
            guard !overflow, !expected.overflow, data.count - start - length == expected.partialValue else {
                throw bad("file size does not match shape \(rows)×\(columns)")
            }
            (self.rows, self.columns, dataOffset) = (rows, columns, start + length)
        }
    }

    /// A float32 file whose values start 4-byte aligned (NumPy aligns its header to 64 bytes) is
    /// memory-mapped, as a work_dir's own vectors are; float16 or an unaligned start is converted
    /// into memory.
    private static func loadNumPy(_ path: String) throws -> PrecomputedEmbeddings {
        let url = URL(fileURLWithPath: path)
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        let header = try NumPyHeader(data, path: path)
        let names = FileManager.default.fileExists(atPath: path + ".csv") ? try readNameList(path + ".csv") : nil
        if let names, names.count != header.rows {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "\(header.rows) rows but \(names.count) names in its .csv")
        }
        let matrix: FeatureMatrix
        if !header.isHalf && header.dataOffset % 4 == 0 {
            matrix = try FeatureMatrix(mapping: url, dimension: header.columns, offset: header.dataOffset)
        } else {
            matrix = FeatureMatrix(rows: header.rows, dimension: header.columns) { values in
                data.withUnsafeBytes { raw in
                    for i in values.indices {
                        let at = header.dataOffset + (header.isHalf ? 2 : 4) * i
                        values[i] = header.isHalf
                            ? Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))))
                            : Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                    }
                }
            }
        }
        return try PrecomputedEmbeddings(path: path, matrix: matrix, names: names, records: { "row \($0)" })
    }

    private static func loadFastdup(_ path: String) throws -> PrecomputedEmbeddings {
        let listPath = path + ".csv"
        guard FileManager.default.fileExists(atPath: listPath) else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "missing \(URL(fileURLWithPath: listPath).lastPathComponent) beside it")
        }
        let names = try readNameList(listPath)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard !names.isEmpty, size % (names.count * 4) == 0 else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason:
                "\(size) bytes is not \(names.count) float32 rows (one per line of the .dat.csv)")
        }
        let matrix = try FeatureMatrix(mapping: URL(fileURLWithPath: path), dimension: size / (names.count * 4))
        return try PrecomputedEmbeddings(path: path, matrix: matrix, names: names, records: { "row \($0)" })
    }

    /// The `filename` column of an `index,filename` list (fastdup's `.dat.csv`).
    private static func readNameList(_ path: String) throws -> [String] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
        return lines.dropFirst().map { line -> String in
            let fields = line.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            return fields.count > 1 ? String(fields[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) : ""
        }
    }

    private static func loadCSV(_ path: String) throws -> PrecomputedEmbeddings {
        var names: [String] = [], values: [Float] = [], lineNumbers: [Int] = []
        var dimension: Int?
        for (number, line) in try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            let numbers = fields.dropFirst().map { Float($0.trimmingCharacters(in: .whitespaces)) }
            if number == 0 && numbers.contains(where: { $0 == nil }) { continue }   // header
            guard !numbers.isEmpty, !numbers.contains(where: { $0 == nil }) else {
                throw EmbeddingError.invalidEmbeddings(path: path, reason: "line \(number + 1): expected filename then numbers")
            }
            if let dimension, dimension != numbers.count {
                throw EmbeddingError.invalidEmbeddings(path: path, reason: "line \(number + 1) has \(numbers.count) values, earlier lines \(dimension)")
            }
            dimension = numbers.count
            names.append(String(fields[0]).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")))
            values += numbers.compactMap { $0 }
            lineNumbers.append(number + 1)
        }
        guard let dimension else { throw EmbeddingError.invalidEmbeddings(path: path, reason: "no rows") }
        return try PrecomputedEmbeddings(path: path, matrix: FeatureMatrix(rows: names.count, dimension: dimension, values: values),
                                         names: names, records: { "line \(lineNumbers[$0])" })
    }
}

/// Whether a vector can be compared: every value finite and not all zero (a zero vector has no
/// direction, so its cosine with anything is undefined).
func isUsableEmbedding(_ vector: some Sequence<Float>) -> Bool {
    var nonZero = false
    for value in vector {
        guard value.isFinite else { return false }
        if value != 0 { nonZero = true }
    }
    return nonZero
}
