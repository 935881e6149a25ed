import Foundation
import WinnowCore

/// Everything the app shows about a finished work_dir, read once at start: the decoded samples
/// from the catalog (`winnow.sqlite`) joined with `scores.csv`, `quality.csv`,
/// `connected_components.csv`, `exact_duplicates.csv`, `near_duplicates.csv`, `leaks.csv` and,
/// after `winnow run --annotations`, `label_scores.csv` (given labels, wrong-label scores).
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
        /// The given label: from the annotations (`label_scores.csv`; several joined by `;`)
        /// when the run had them, else the image's parent folder when the images sit in several.
        public var label: String
        public var issues: [String]
        /// With annotations: the label scores of `label_scores.csv` (nil for unlabelled images).
        public var labelScores: LabelScores?
    }

    /// One row of `label_scores.csv`; scores the run could not compute are nil.
    public struct LabelScores: Sendable, Encodable, Equatable {
        /// 1 − out-of-sample probability of the given label.
        public var wrongLabelScore: Double?
        public var pGiven: Double?
        public var suggestedLabel: String?
        public var pSuggested: Double?
        public var isLikelyWrong: Bool
        public var knnDisagreement: Double?
        public var knnMajorityLabel: String?
        public var predictedLabel: String?
        public var confidence: Double?
        public var hardness: Double?
        public var mistakenness: Double?

        /// A `label_scores.csv` row's scores.
        init(_ r: LabelScoreRow) {
            (wrongLabelScore, pGiven, suggestedLabel) = (r.wrongLabelScore, r.probabilityOfGiven, r.suggestedLabel)
            (pSuggested, isLikelyWrong, knnDisagreement) = (r.probabilityOfSuggested, r.isLikelyWrong == true, r.knnDisagreement)
            (knnMajorityLabel, predictedLabel, confidence) = (r.knnMajorityLabel, r.predictedLabel, r.confidence)
            (hardness, mistakenness) = (r.hardness, r.mistakenness)
        }
    }

    /// Where the samples' labels come from.
    public enum LabelSource: String, Sendable, Encodable {
        /// `label_scores.csv` of a run with `--annotations`.
        case annotations
        /// The images' parent folders (a stand-in when there are no annotations).
        case folders
        case none
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
    public let labelSource: LabelSource

    /// The issue of an image whose given label is likely wrong (`is_likely_wrong` in `label_scores.csv`).
    public static let wrongLabelIssue = "likely_wrong_label"
    /// Issue names shown by the app, in display order.
    public static let issueOrder = ["duplicate", "near_duplicate", "outlier", "leak", wrongLabelIssue]
        + QualityIssue.allCases.map(\.rawValue)

    /// Reads the work_dir; fails only when it is not a work_dir at all (no catalog).
    public init(directory: URL) throws {
        self.directory = directory.standardizedFileURL
        let catalogURL = directory.appendingPathComponent(Catalog.fileName)
        guard FileManager.default.fileExists(atPath: catalogURL.path) else { throw AppError.notAWorkDirectory(directory.path) }
        let catalog = try Catalog(url: catalogURL)
        var table = try SampleTable(validSamplesIn: catalog)
        invalid = try Self.invalidFiles(in: catalog)
        try table.addScores(Self.readCSV(WorkDirFile.scores, in: directory) ?? [])
        for r in try Self.readCSV(WorkDirFile.quality, in: directory) ?? [] {
            for issue in r.issues { table.flag(r.index, as: issue.rawValue) }
        }
        try table.addComponents(Self.readCSV(WorkDirFile.connectedComponents, in: directory) ?? [])
        for r in try Self.readCSV(WorkDirFile.exactDuplicates, in: directory) ?? [] { table.flag(r.firstIndex, r.index, as: "duplicate") }
        for r in try Self.readCSV(WorkDirFile.nearDuplicates, in: directory) ?? [] { table.flag(r.index, as: "near_duplicate") }
        // Given labels and their scores (`winnow run --annotations`); folder names stand in without them.
        labelSource = try table.addLabels(Self.readCSV(WorkDirFile.labelScores, in: directory))
        for r in try Self.readCSV(WorkDirFile.leaks, in: directory) ?? [] { table.flag(r.from, r.to, as: "leak") }
        self.samples = table.samplesWithOrderedIssues()
        self.rowOfIndex = table.rowOfIndex
        self.components = table.components.mapValues { $0.sorted() }
        summaryJSON = try? String(contentsOf: directory.appendingPathComponent("summary.json"), encoding: .utf8)
    }

    /// The label outputs of `winnow run --annotations` the summary links to when present.
    public static let labelFiles = [WorkDirFile.likelyWrongLabels.name, WorkDirFile.labelScores.name, WorkDirFile.labelPurity.name,
                                    WorkDirFile.detectionMistakenness.name, WorkDirFile.annotationProblems.name]


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

extension WorkDirData {
    /// The listed files the run could not use (`state = 'invalid'` in the catalog), by id.
    private static func invalidFiles(in catalog: Catalog) throws -> [Invalid] {
        try catalog.query("""
            SELECT id, filename, error_code, error_message FROM samples WHERE listed = 1 AND state = 'invalid' ORDER BY id
            """).compactMap { row in
            guard let id = Int64(row["id"] ?? "") else { return nil }
            return Invalid(index: id, filename: row["filename"] ?? "", errorCode: row["error_code"] ?? "",
                           reason: row["error_message"] ?? "")
        }
    }

    /// The rows of a work_dir CSV file in `directory`, nil when it is missing; a damaged file is ``AppError/unreadable(_:_:)``.
    private static func readCSV<Row: WorkDirRow>(_ file: WorkDirCSV<Row>, in directory: URL) throws -> [Row]? {
        do { return try file.read(in: directory) } catch {
            throw AppError.unreadable(file.name, error.line.map { "line \($0): \(error.reason)" } ?? error.reason)
        }
    }

    /// The samples being put together from the catalog and the result files, with their issues so far.
    private struct SampleTable {
        var samples: [Sample] = []
        /// Row in `samples` of each sample index.
        var rowOfIndex: [Int64: Int] = [:]
        /// The issue names of each row of `samples`.
        var issues: [Set<String>] = []
        /// Members of each component with more than one image, by component id (in file order).
        var components: [Int64: [Int64]] = [:]

        /// The catalog's valid listed samples by id, each labelled with its parent folder.
        init(validSamplesIn catalog: Catalog) throws {
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
            issues = Array(repeating: Set<String>(), count: samples.count)
        }

        /// Gives `issue` to each sample of `ids` (ids of no sample here are ignored).
        mutating func flag(_ ids: Int64..., as issue: String) {
            for id in ids { if let row = rowOfIndex[id] { issues[row].insert(issue) } }
        }

        /// Takes uniqueness, nearest similarity, cluster and split from `scores.csv` rows, and flags outliers.
        mutating func addScores(_ rows: [ScoresRow]) {
            for r in rows {
                guard let row = rowOfIndex[r.index] else { continue }
                (samples[row].uniqueness, samples[row].nearestSimilarity) = (r.uniqueness, r.nearestSimilarity)
                (samples[row].cluster, samples[row].split) = (r.kmeansCluster, r.split ?? "")
                if r.isOutlier { issues[row].insert("outlier") }
            }
        }

        /// Takes each sample's component from `connected_components.csv` rows; members of a
        /// component of more than one image are collected and flagged as duplicates.
        mutating func addComponents(_ rows: [ComponentMemberRow]) {
            for r in rows {
                guard let row = rowOfIndex[r.index] else { continue }
                samples[row].component = r.componentID
                if r.count > 1 {
                    components[r.componentID, default: []].append(r.index)
                    issues[row].insert("duplicate")
                }
            }
        }

        /// Sets the given labels and their scores from `label_scores.csv` rows when there are any,
        /// else keeps folder names as labels only when there are several; returns where labels come from.
        mutating func addLabels(_ labelScores: [LabelScoreRow]?) -> LabelSource {
            if let labelScores {
                for row in samples.indices { samples[row].label = "" }
                for r in labelScores {
                    guard let row = rowOfIndex[r.index] else { continue }
                    samples[row].label = r.label ?? ""
                    if let split = r.split { samples[row].split = split }
                    samples[row].labelScores = LabelScores(r)
                    if r.isLikelyWrong == true { issues[row].insert(WorkDirData.wrongLabelIssue) }
                }
            } else if Set(samples.map(\.label)).count < 2 {
                // Folder names are labels only when the images sit in more than one folder.
                for i in samples.indices { samples[i].label = "" }
            }
            return labelScores != nil ? .annotations : samples.contains { !$0.label.isEmpty } ? .folders : .none
        }

        /// The samples, each with its issues in display order (``WorkDirData/issueOrder``, then by name).
        func samplesWithOrderedIssues() -> [Sample] {
            var ordered = samples
            let order = Dictionary(uniqueKeysWithValues: WorkDirData.issueOrder.enumerated().map { ($1, $0) })
            for row in ordered.indices {
                ordered[row].issues = issues[row].sorted { (order[$0] ?? 99, $0) < (order[$1] ?? 99, $1) }
            }
            return ordered
        }
    }
}
