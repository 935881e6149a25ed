import Foundation

/// How a map's points are computed.
public enum MapMethod: String, Sendable, Codable, CaseIterable {
    /// Exact principal components (``PCAMap``).
    case pca
    /// Barnes–Hut t-SNE (``TSNEMap``).
    case tsne
    /// UMAP (``UMAPMap``).
    case umap
    /// Points given by the user (``EmbeddingMap/manual(points:ids:filenames:)``).
    case manual
}

/// Low-dimensional points, one per embedded sample of a work_dir (fiftyone
/// `compute_visualization`): `points` is `count × dimensions`, row-major, rows in the order of
/// `atrain_features.dat.csv`.
public struct EmbeddingMap: Sendable, Equatable {
    public var key: String
    public var method: MapMethod
    public var dimensions: Int
    /// Sample index and filename per row (as in `atrain_features.dat.csv`).
    public var ids: [Int64]
    public var filenames: [String]
    public var points: [Float]
    /// The parameters the method ran with (recorded in the map's JSON).
    public var parameters: [String: String]

    public var count: Int { ids.count }

    public init(key: String, method: MapMethod, dimensions: Int, ids: [Int64], filenames: [String], points: [Float],
                parameters: [String: String]) {
        precondition(ids.count == filenames.count && points.count == ids.count * dimensions, "map rows disagree")
        self.key = key
        self.method = method
        self.dimensions = dimensions
        self.ids = ids
        self.filenames = filenames
        self.points = points
        self.parameters = parameters
    }

    /// A key is a file name stem: letters, digits, `-`, `_` and `.` (not leading), at most 100.
    public static func isValidKey(_ key: String) -> Bool {
        guard !key.isEmpty, key.count <= 100, key.first != "." else { return false }
        return key.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }

    /// Writes `WORK_DIR/maps/KEY.csv` (`index,filename,x,y[,z,d3…]`) and `KEY.json`
    /// (`key, method, dimensions, count, parameters, created`), each atomically.
    public func write(to workDirectory: URL, created: Date = Date()) throws {
        guard Self.isValidKey(key) else { throw MapError.invalidKey(key) }
        try FileManager.default.createDirectory(at: MapFiles.folder(in: workDirectory), withIntermediateDirectories: true)
        let text = MapFiles.pointsText(ids: ids, filenames: filenames, points: points, dimensions: dimensions)
        try AtomicFile.write(text, to: MapFiles.pointsURL(key: key, in: workDirectory))
        let formatter = ISO8601DateFormatter()
        let info: [String: Any] = ["key": key, "method": method.rawValue, "dimensions": dimensions, "count": count,
                                   "parameters": parameters, "created": formatter.string(from: created)]
        let json = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json + Data("\n".utf8), to: MapFiles.infoURL(key: key, in: workDirectory))
    }

    /// Reads `WORK_DIR/maps/KEY.csv` back.
    public static func read(key: String, from workDirectory: URL) throws(MapError) -> EmbeddingMap {
        guard isValidKey(key) else { throw .invalidKey(key) }
        let csv = MapFiles.pointsURL(key: key, in: workDirectory)
        guard let text = try? String(contentsOf: csv, encoding: .utf8) else { throw .unreadable(csv.path, "cannot read the file") }
        let rows = try MapFiles.readPoints(text, of: csv)
        var method = MapMethod.manual
        var parameters: [String: String] = [:]
        if let data = try? Data(contentsOf: MapFiles.infoURL(key: key, in: workDirectory)),
           let info = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            method = (info["method"] as? String).flatMap(MapMethod.init(rawValue:)) ?? .manual
            parameters = info["parameters"] as? [String: String] ?? [:]
        }
        return EmbeddingMap(key: key, method: method, dimensions: rows.dimensions, ids: rows.ids, filenames: rows.filenames,
                            points: rows.points, parameters: parameters)
    }
}

/// The embedded samples of a work_dir: `atrain_features.dat.csv` and `atrain_features.dat`.
public struct WorkDirFeatures: Sendable {
    public var ids: [Int64]
    public var filenames: [String]
    public var vectors: FeatureMatrix
    /// The run's metric (`config.json`), cosine when unknown.
    public var metric: DistanceMetric

    /// Reads the features of `workDirectory`; throws ``MapError/noFeatures(_:)`` when the run
    /// had no embeddings.
    public static func load(from workDirectory: URL) throws(MapError) -> WorkDirFeatures {
        let list = WorkDirFile.featureList.url(in: workDirectory)
        let data = workDirectory.appendingPathComponent(FeatureFiles.vectors)
        let (ids, names) = try samples(in: workDirectory)
        guard let size = (try? FileManager.default.attributesOfItem(atPath: data.path))?[.size] as? Int, size > 0, !ids.isEmpty
        else { throw .noFeatures(workDirectory.path) }
        guard size % (ids.count * 4) == 0 else {
            throw .unreadable(data.path, "\(size) bytes is not \(ids.count) float32 rows (one per line of \(list.lastPathComponent))")
        }
        let matrix: FeatureMatrix
        do { matrix = try FeatureMatrix(mapping: data, dimension: size / (ids.count * 4)) } catch {
            throw .unreadable(data.path, error.localizedDescription)
        }
        var metric = DistanceMetric.cosine
        if let config = try? Data(contentsOf: workDirectory.appendingPathComponent("config.json")),
           let decoded = try? JSONDecoder().decode(RunConfiguration.self, from: config) {
            metric = decoded.analysis.metric
        }
        return WorkDirFeatures(ids: ids, filenames: names, vectors: matrix, metric: metric)
    }

    /// The sample indices and filenames of `atrain_features.dat.csv` (no vectors needed), one
    /// per feature row: a line that cannot be read is an error, never skipped.
    public static func samples(in workDirectory: URL) throws(MapError) -> (ids: [Int64], filenames: [String]) {
        let rows: [FeatureListRow]?
        do { rows = try WorkDirFile.featureList.read(in: workDirectory) } catch {
            throw .unreadable(error.file, error.line.map { "line \($0): \(error.reason)" } ?? error.reason)
        }
        guard let rows else { throw .notAWorkDirectory(workDirectory.path) }
        return (rows.map(\.index), rows.map(\.filename))
    }
}

extension EmbeddingMap {
    /// A map of points given by the user (fiftyone `method="manual"`): a CSV with a header whose
    /// first column is `index` (a sample index of the work_dir) and whose other columns are the
    /// coordinates. Every row must name a known sample; samples without a row are left out.
    public static func manual(pointsFile: URL, key: String, ids known: [Int64], filenames: [String]) throws(MapError) -> EmbeddingMap {
        guard let text = try? String(contentsOf: pointsFile, encoding: .utf8) else {
            throw .unreadable(pointsFile.path, "cannot read the file")
        }
        var lines = text.split(whereSeparator: \.isNewline)
        guard !lines.isEmpty else { throw .unreadable(pointsFile.path, "empty file") }
        let header = CSVReader.fields(lines.removeFirst()) ?? []
        let dimensions = header.count - 1
        guard header.first == "index", dimensions >= 1 else {
            throw .unreadable(pointsFile.path, "line 1: expected a header index,x,y[,…]")
        }
        let nameOf = Dictionary(zip(known, filenames), uniquingKeysWith: { a, _ in a })
        var ids: [Int64] = [], names: [String] = [], points: [Float] = []
        var seen = Set<Int64>()
        for (number, line) in lines.enumerated() {
            let where_ = "line \(number + 2)"
            guard let fields = CSVReader.fields(line), fields.count == dimensions + 1, let id = Int64(fields[0]) else {
                throw .unreadable(pointsFile.path, "\(where_): expected \(dimensions + 1) fields")
            }
            guard let name = nameOf[id] else { throw .unreadable(pointsFile.path, "\(where_): no sample with index \(id)") }
            guard seen.insert(id).inserted else { throw .unreadable(pointsFile.path, "\(where_): index \(id) given twice") }
            let values = fields.dropFirst().compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == dimensions, values.allSatisfy(\.isFinite) else {
                throw .unreadable(pointsFile.path, "\(where_): coordinates must be finite numbers")
            }
            ids.append(id)
            names.append(name)
            points += values
        }
        guard !ids.isEmpty else { throw .unreadable(pointsFile.path, "no points") }
        return EmbeddingMap(key: key, method: .manual, dimensions: dimensions, ids: ids, filenames: names, points: points,
                            parameters: ["points": pointsFile.path])
    }
}

/// Why a map cannot be made; one line each, naming the file.
public enum MapError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case notAWorkDirectory(String)
    case noFeatures(String)
    case unreadable(String, String)
    case invalidKey(String)
    case invalidParameter(String)
    case tooFewPoints(Int, needed: Int)
    case failed(String)

    public var description: String {
        switch self {
        case .notAWorkDirectory(let path): "\(path) is not a Winnow work_dir (no atrain_features.dat.csv): run `winnow run` first"
        case .noFeatures(let path): "\(path) has no features (atrain_features.dat): run `winnow run` with embeddings"
        case .unreadable(let path, let why): "\(path): \(why)"
        case .invalidKey(let key): "invalid map key \"\(key)\": use letters, digits, - _ . (at most 100)"
        case .invalidParameter(let what): "invalid map parameter: \(what)"
        case .tooFewPoints(let n, let needed): "a map needs at least \(needed) embedded images, got \(n)"
        case .failed(let why): "map failed: \(why)"
        }
    }

    public var errorDescription: String? { description }
}
