import Foundation

/// Embeddings the user computed elsewhere (`--embeddings`):
/// - a NumPy `.npy` (N×d, float32 or float16, C order): with an `index,filename` list beside
///   it (`X.npy.csv`, as `--export-npy` writes) rows are matched by file name; otherwise rows
///   follow the run's sorted file list, so N must equal the number of files;
/// - a fastdup work_dir's `atrain_features.dat` with its `atrain_features.dat.csv`
///   (`index,filename`), matched by file name;
/// - a CSV `filename,v0,v1,…` (header optional), matched by file name.
/// Names match a sample when equal to its output filename, its id, or a path ending in its id.
public struct PrecomputedEmbeddings: Sendable {
    public let path: String
    public let matrix: FeatureMatrix
    /// Row names for name-matched formats; nil when rows follow the file order (`.npy`).
    public let names: [String]?

    public var dimension: Int { matrix.dimension }

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

    /// The row of each sample, keyed by sample id. `samples` are all the run's files in id
    /// order (`filename` is the name written to outputs); `valid` says which decoded.
    public func rows(for samples: [(id: String, filename: String)]) throws(EmbeddingError) -> [String: Int] {
        guard let names else {
            guard matrix.rows == samples.count else {
                throw .invalidEmbeddings(path: path, reason:
                    "\(matrix.rows) rows, but the run has \(samples.count) files (rows must follow the sorted file list)")
            }
            return Dictionary(uniqueKeysWithValues: samples.enumerated().map { ($0.element.id, $0.offset) })
        }
        var byName: [String: Int] = [:]
        for (row, name) in names.enumerated() { byName[name] = row }
        var rows: [String: Int] = [:]
        var suffixIndex: [String: Int]?
        for sample in samples {
            if let row = byName[sample.filename] ?? byName[sample.id] {
                rows[sample.id] = row
                continue
            }
            if suffixIndex == nil {
                var index: [String: Int] = [:]
                for (row, name) in names.enumerated() {
                    let parts = name.split(separator: "/")
                    for start in parts.indices { index[parts[start...].joined(separator: "/"), default: row] = row }
                }
                suffixIndex = index
            }
            if let row = suffixIndex?[sample.id] { rows[sample.id] = row }
        }
        return rows
    }

    // MARK: Formats

    private static func loadNumPy(_ path: String) throws -> PrecomputedEmbeddings {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard data.count >= 10, Array(data.prefix(6)) == magic else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "not a NumPy .npy file")
        }
        let major = data[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        } else {
            guard data.count >= 12 else { throw EmbeddingError.invalidEmbeddings(path: path, reason: "truncated .npy header") }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        }
        guard data.count >= headerStart + headerLength else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "truncated .npy header")
        }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return String(header[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let shape = field("shape") else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "unreadable .npy header: \(header)")
        }
        if field("fortran_order")?.hasPrefix("True") == true {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        let isHalf: Bool
        if descr.hasPrefix("'<f4'") || descr.hasPrefix("'|f4'") { isHalf = false }
        else if descr.hasPrefix("'<f2'") { isHalf = true }
        else { throw EmbeddingError.invalidEmbeddings(path: path, reason: "dtype \(descr.prefix { $0 != "," }) is not float32 or float16") }
        let inside = shape.drop { $0 != "(" }.dropFirst().prefix { $0 != ")" }
        let dims = inside.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2, dims[0] > 0, dims[1] > 0 else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "shape (\(inside)) is not N×d")
        }
        let offset = headerStart + headerLength
        let count = dims[0] * dims[1]
        guard data.count - offset == count * (isHalf ? 2 : 4) else {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "file size does not match shape \(dims[0])×\(dims[1])")
        }
        var values = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            for i in 0..<count {
                if isHalf {
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 2 * i, as: UInt16.self))
                    values[i] = Float(Float16(bitPattern: bits))
                } else {
                    values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
                }
            }
        }
        let names = FileManager.default.fileExists(atPath: path + ".csv") ? try readNameList(path + ".csv") : nil
        if let names, names.count != dims[0] {
            throw EmbeddingError.invalidEmbeddings(path: path, reason: "\(dims[0]) rows but \(names.count) names in its .csv")
        }
        return PrecomputedEmbeddings(path: path, matrix: FeatureMatrix(rows: dims[0], dimension: dims[1], values: values), names: names)
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
        return PrecomputedEmbeddings(path: path, matrix: matrix, names: names)
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
        var names: [String] = [], values: [Float] = []
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
        }
        guard let dimension else { throw EmbeddingError.invalidEmbeddings(path: path, reason: "no rows") }
        return PrecomputedEmbeddings(path: path, matrix: FeatureMatrix(rows: names.count, dimension: dimension, values: values), names: names)
    }
}
