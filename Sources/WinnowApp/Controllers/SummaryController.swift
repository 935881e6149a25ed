import Foundation
import Hummingbird
import WinnowCore

/// `/api/summary`: the counts the summary view shows and the lists the grid's filters offer
/// (issues, labels, splits and clusters present, the sort keys with values). All but the marks
/// are counted once, when the app starts.
struct SummaryController {
    let marks: ReviewMarkStore
    /// The summary without the marks.
    let counted: Summary

    init(finder: SampleFinder, marks: ReviewMarkStore, hasNeighbors: Bool) {
        self.marks = marks
        counted = Self.summary(finder, hasNeighbors: hasNeighbors)
    }

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/api/summary") { _, _ in
            var summary = counted
            for mark in marks.all.values { summary.marks[mark.rawValue, default: 0] += 1 }
            return try Responses.json(summary)
        }
    }

    struct Summary: Encodable {
        var workDirectory: String
        var images: Int
        var invalid: [WorkDirData.Invalid]
        var issueCounts: [String: Int]
        var issueOrder: [String]
        var components: Int
        var imagesInComponents: Int
        var labels: [String: Int]
        /// annotations (`label_scores.csv`), folders, or none.
        var labelSource: WorkDirData.LabelSource
        /// Images whose given label is likely wrong (with annotations).
        var likelyWrongLabels: Int
        /// The label outputs of the run present in the work_dir (`likely_wrong_labels.csv`, …).
        var labelFiles: [String]
        var splits: [String: Int]
        /// The k-means clusters of `scores.csv`, ascending.
        var clusters: [Int]
        /// The keys `/api/samples` sorts by for which some image has a value.
        var sortKeys: [String]
        var maps: [String]
        var galleries: [String]
        var marks: [String: Int]
        var hasNeighbors: Bool
        /// Whether the run's summary.json is there (the page reads it from /files/summary.json).
        var hasRunSummary: Bool
    }

    /// The summary of the work_dir with no marks counted.
    static func summary(_ finder: SampleFinder, hasNeighbors: Bool) -> Summary {
        let data = finder.data
        var issueCounts: [String: Int] = [:], labels: [String: Int] = [:], splits: [String: Int] = [:]
        for s in data.samples {
            for issue in s.issues { issueCounts[issue, default: 0] += 1 }
            if !s.label.isEmpty { labels[s.label, default: 0] += 1 }
            if !s.split.isEmpty { splits[s.split, default: 0] += 1 }
        }
        return Summary(workDirectory: data.directory.path, images: data.samples.count, invalid: data.invalid,
                       issueCounts: issueCounts, issueOrder: WorkDirData.issueOrder, components: data.components.count,
                       imagesInComponents: data.components.values.reduce(0) { $0 + $1.count }, labels: labels,
                       labelSource: data.labelSource, likelyWrongLabels: issueCounts[WorkDirData.wrongLabelIssue] ?? 0,
                       labelFiles: WorkDirData.labelFiles.filter {
                           FileManager.default.fileExists(atPath: data.directory.appendingPathComponent($0).path)
                       }, splits: splits, clusters: Set(data.samples.compactMap(\.cluster)).sorted(),
                       sortKeys: finder.keysWithValues.map(\.rawValue),
                       maps: data.listing("maps", extension: "csv"), galleries: data.listing("galleries", extension: "html"),
                       marks: [:], hasNeighbors: hasNeighbors, hasRunSummary: data.summaryJSON != nil)
    }
}
