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
        invalid = try catalog.query("""
            SELECT id, filename, error_code, error_message FROM samples WHERE listed = 1 AND state = 'invalid' ORDER BY id
            """).compactMap { row in
            guard let id = Int64(row["id"] ?? "") else { return nil }
            return Invalid(index: id, filename: row["filename"] ?? "", errorCode: row["error_code"] ?? "",
                           reason: row["error_message"] ?? "")
        }

        func read<Row>(_ file: WorkDirCSV<Row>) throws -> [Row]? {
            do { return try file.read(in: directory) } catch {
                throw AppError.unreadable(file.name, error.line.map { "line \($0): \(error.reason)" } ?? error.reason)
            }
        }
        var issues = Array(repeating: Set<String>(), count: samples.count)
        func flag(_ ids: Int64..., as issue: String) {
            for id in ids { if let row = rowOfIndex[id] { issues[row].insert(issue) } }
        }
        for r in try read(WorkDirFile.scores) ?? [] {
            guard let row = rowOfIndex[r.index] else { continue }
            (samples[row].uniqueness, samples[row].nearestSimilarity) = (r.uniqueness, r.nearestSimilarity)
            (samples[row].cluster, samples[row].split) = (r.kmeansCluster, r.split ?? "")
            if r.isOutlier { issues[row].insert("outlier") }
        }
        for r in try read(WorkDirFile.quality) ?? [] {
            for issue in r.issues { flag(r.index, as: issue.rawValue) }
        }
        var components: [Int64: [Int64]] = [:]
        for r in try read(WorkDirFile.connectedComponents) ?? [] {
            guard let row = rowOfIndex[r.index] else { continue }
            samples[row].component = r.componentID
            if r.count > 1 {
                components[r.componentID, default: []].append(r.index)
                issues[row].insert("duplicate")
            }
        }
        for r in try read(WorkDirFile.exactDuplicates) ?? [] { flag(r.firstIndex, r.index, as: "duplicate") }
        for r in try read(WorkDirFile.nearDuplicates) ?? [] { flag(r.index, as: "near_duplicate") }
        // Given labels and their scores (`winnow run --annotations`); folder names stand in without them.
        let labelScores = try read(WorkDirFile.labelScores)
        if let labelScores {
            for row in samples.indices { samples[row].label = "" }
            for r in labelScores {
                guard let row = rowOfIndex[r.index] else { continue }
                samples[row].label = r.label ?? ""
                if let split = r.split { samples[row].split = split }
                samples[row].labelScores = LabelScores(r)
                if r.isLikelyWrong == true { issues[row].insert(Self.wrongLabelIssue) }
            }
        } else if Set(samples.map(\.label)).count < 2 {
            // Folder names are labels only when the images sit in more than one folder.
            for i in samples.indices { samples[i].label = "" }
        }
        labelSource = labelScores != nil ? .annotations : samples.contains { !$0.label.isEmpty } ? .folders : .none
        for r in try read(WorkDirFile.leaks) ?? [] { flag(r.from, r.to, as: "leak") }
        let order = Dictionary(uniqueKeysWithValues: Self.issueOrder.enumerated().map { ($1, $0) })
        for row in samples.indices {
            samples[row].issues = issues[row].sorted { (order[$0] ?? 99, $0) < (order[$1] ?? 99, $1) }
        }
        self.samples = samples
        self.rowOfIndex = rowOfIndex
        self.components = components.mapValues { $0.sorted() }
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
