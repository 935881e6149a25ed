import Foundation
import WinnowCore

/// Everything the app shows about a finished work_dir, read once at start: the decoded samples
/// from the catalog (`winnow.sqlite`) joined with `scores.csv`, `quality.csv`,
/// `connected_components.csv`, `exact_duplicates.csv`, `near_duplicates.csv` and `leaks.csv`.
/// Missing files leave their columns empty (a statistics-only run has no scores).
public struct WorkDirData: Sendable {
    /// One decoded image.
    public struct Sample: Sendable {
        public var index: Int64
        public var filename: String
        /// Absolute path of the image file; nil for archive members.
        public var location: String?
        public var width: Int
        public var height: Int
        public var uniqueness: Double?
        public var nearestSimilarity: Double?
        public var component: Int64?
        public var cluster: Int?
        public var split: String
        /// Folder-derived class name (the image's parent folder) when the dataset has several.
        public var label: String
        public var issues: [String]
    }

    /// A file the run could not use.
    public struct Invalid: Sendable, Codable {
        public var index: Int64
        public var filename: String
        public var errorCode: String
        public var reason: String
    }

    public let directory: URL
    public let samples: [Sample]
    public let invalid: [Invalid]
    /// Row in `samples` of each sample index.
    public let rowOfIndex: [Int64: Int]
    /// Members of each component with more than one image, by component id.
    public let components: [Int64: [Int64]]
    /// `summary.json` as written by the run (raw JSON text), if present.
    public let summaryJSON: String?

    /// Issue names shown by the app, in display order.
    public static let issueOrder = ["duplicate", "near_duplicate", "outlier", "leak"] + QualityIssue.allCases.map(\.rawValue)

    /// Reads the work_dir; fails only when it is not a work_dir at all (no catalog).
    public init(directory: URL) throws {
        self.directory = directory.standardizedFileURL
        let catalogURL = directory.appendingPathComponent(Catalog.fileName)
        guard FileManager.default.fileExists(atPath: catalogURL.path) else { throw AppError.notAWorkDirectory(directory.path) }
        let catalog = try Catalog(url: catalogURL)
        var samples: [Sample] = []
        var rowOfIndex: [Int64: Int] = [:]
        for row in try catalog.query("""
            SELECT id, path, filename, location, width, height FROM samples
            WHERE listed = 1 AND state = 'valid' ORDER BY id
            """) {
            guard let id = Int64(row["id"] ?? "") else { continue }
            let location = row["location"].flatMap { $0.isEmpty ? nil : $0 }
            let folder = URL(fileURLWithPath: row["path"] ?? "").deletingLastPathComponent().lastPathComponent
            rowOfIndex[id] = samples.count
            samples.append(Sample(index: id, filename: row["filename"] ?? "", location: location,
                                  width: Int(row["width"] ?? "") ?? 0, height: Int(row["height"] ?? "") ?? 0,
                                  split: "", label: folder, issues: []))
        }
        // Folder names are labels only when the images sit in more than one folder.
        let folders = Set(samples.map(\.label))
        if folders.count < 2 { for i in samples.indices { samples[i].label = "" } }
        invalid = try catalog.query("""
            SELECT id, filename, error_code, error_message FROM samples WHERE listed = 1 AND state = 'invalid' ORDER BY id
            """).compactMap { row in
            guard let id = Int64(row["id"] ?? "") else { return nil }
            return Invalid(index: id, filename: row["filename"] ?? "", errorCode: row["error_code"] ?? "",
                           reason: row["error_message"] ?? "")
        }

        func each(_ name: String, _ body: (Int, [String: String]) -> Void) throws {
            for record in try CSV.records(at: directory.appendingPathComponent(name)) ?? [] {
                guard let id = Int64(record["index"] ?? record["__id"] ?? ""), let row = rowOfIndex[id] else { continue }
                body(row, record)
            }
        }
        var issues = Array(repeating: Set<String>(), count: samples.count)
        try each("scores.csv") { row, r in
            samples[row].uniqueness = Double(r["uniqueness"] ?? "")
            samples[row].nearestSimilarity = Double(r["nn_similarity"] ?? "")
            samples[row].cluster = Int(r["kmeans_cluster"] ?? "")
            samples[row].split = r["split"] ?? ""
            if r["is_outlier"] == "1" { issues[row].insert("outlier") }
        }
        try each("quality.csv") { row, r in
            for (column, value) in r where column.hasPrefix("is_") && value == "1" { issues[row].insert(String(column.dropFirst(3))) }
        }
        var components: [Int64: [Int64]] = [:]
        try each("connected_components.csv") { row, r in
            guard let component = Int64(r["component_id"] ?? "") else { return }
            samples[row].component = component
            if (Int(r["count"] ?? "") ?? 1) > 1 {
                components[component, default: []].append(samples[row].index)
                issues[row].insert("duplicate")
            }
        }
        for record in try CSV.records(at: directory.appendingPathComponent("exact_duplicates.csv")) ?? [] {
            for key in ["first_index", "index"] {
                if let id = Int64(record[key] ?? ""), let row = rowOfIndex[id] { issues[row].insert("duplicate") }
            }
        }
        try each("near_duplicates.csv") { row, _ in issues[row].insert("near_duplicate") }
        for record in try CSV.records(at: directory.appendingPathComponent("leaks.csv")) ?? [] {
            for key in ["from", "to"] {
                if let id = Int64(record[key] ?? ""), let row = rowOfIndex[id] { issues[row].insert("leak") }
            }
        }
        let order = Dictionary(uniqueKeysWithValues: Self.issueOrder.enumerated().map { ($1, $0) })
        for row in samples.indices {
            samples[row].issues = issues[row].sorted { (order[$0] ?? 99, $0) < (order[$1] ?? 99, $1) }
        }
        self.samples = samples
        self.rowOfIndex = rowOfIndex
        self.components = components.mapValues { $0.sorted() }
        summaryJSON = try? String(contentsOf: directory.appendingPathComponent("summary.json"), encoding: .utf8)
    }

    /// Names (without extension) of the files in a work_dir subfolder with the given extension,
    /// such as the maps (`maps/*.csv`) and galleries (`galleries/*.html`); names are restricted to
    /// letters, digits, `-`, `_` and `.` so they can be used in URLs as they are.
    public func listing(_ folder: String, extension ext: String) -> [String] {
        let url = directory.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { $0.hasSuffix("." + ext) && Self.isSafeName($0) }
            .map { String($0.dropLast(ext.count + 1)) }.sorted()
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }
}
