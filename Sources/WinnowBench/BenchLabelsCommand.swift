import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow-bench labels`: how well each wrong-label score finds the flipped labels of corpus set D.
struct BenchLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labels",
        abstract: "Wrong-label detection on corpus set D: AUROC and precision@k of each score.",
        discussion: """
            For each SUBSET folder (images/<given_label>/…, labels.csv with file, given_label,
            is_flipped) and each model, runs `winnow run images --annotations labels.csv
            --label-column given_label` and scores label_scores.csv against is_flipped: AUROC and
            precision@k (k = number of flipped labels) of wrong_label_score (out-of-sample linear
            classifier) and knn_disagreement (neighbour labels), and the precision / recall of the
            likely-wrong flag.

            Example:
              winnow-bench labels --corpus ~/.cache/winnow/corpus/D/photos --corpus ~/.cache/winnow/corpus/D/fashion_mnist
            """
    )

    @Option(help: "A corpus set D subset folder (repeatable).")
    var corpus: [String]

    @Option(help: "Comma-separated embedding models (as `winnow run --model`).")
    var models = "mobilenet_v2,copy"

    @OptionGroup var places: BenchPlaces

    func run() throws {
        print("| subset | model | score | AUROC | precision@k | k |")
        print("|---|---|---|---|---|---|")
        var flags: [String] = []
        for folder in corpus {
            let name = URL(fileURLWithPath: folder).lastPathComponent
            let truth = try readTable(folder + "/labels.csv")
            let flipped = Dictionary(truth.map { ($0["file"] ?? "", $0["is_flipped"] == "1") }, uniquingKeysWith: { a, _ in a })
            for model in commaSeparated(models) {
                let work = places.scratch + "/labels-\(name)-\(model)"
                try? FileManager.default.removeItem(atPath: work)
                _ = try BenchSupport.winnowRun([folder + "/images", "--work-dir", work, "--model", model,
                                                "--annotations", folder + "/labels.csv", "--label-column", "given_label"])
                let rows = try WorkDirFile.labelScores.read(in: URL(fileURLWithPath: work)) ?? []
                typealias Column = LabelScoreRow.CodingKeys
                let scored: [(Column, KeyPath<LabelScoreRow, Double?>)] = [(.wrongLabelScore, \.wrongLabelScore),
                                                                          (.knnDisagreement, \.knnDisagreement)]
                var positives: [Bool] = [], columns: [Column: [Double]] = [:], flagged: [Bool] = []
                for row in rows {
                    let parts = row.filename.split(separator: "/")
                    guard parts.count >= 2, let isFlipped = flipped[parts.suffix(2).joined(separator: "/")] else { continue }
                    positives.append(isFlipped)
                    flagged.append(row.isLikelyWrong == true)
                    for (column, value) in scored { columns[column, default: []].append(row[keyPath: value] ?? 0) }
                }
                let k = positives.filter { $0 }.count
                for (column, _) in scored {
                    let scores = columns[column] ?? []
                    let auroc = LabelNoiseMetrics.auroc(scores: scores, positives: positives) ?? .nan
                    let precision = LabelNoiseMetrics.precisionAtK(scores: scores, positives: positives) ?? .nan
                    print("| \(name) | \(model) | \(column.rawValue) | \(String(format: "%.4f", auroc)) | \(String(format: "%.3f", precision)) | \(k) |")
                }
                let hits = zip(flagged, positives).filter { $0.0 && $0.1 }.count
                let count = flagged.filter { $0 }.count
                flags.append("\(name) \(model): likely_wrong_labels.csv lists \(count), \(hits) of them flipped "
                             + String(format: "(precision %.3f, recall %.3f)", Double(hits) / Double(max(count, 1)), Double(hits) / Double(max(k, 1))))
            }
        }
        for line in flags { print(line) }
    }

    private func readTable(_ path: String) throws -> [[String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            standardError("winnow-bench labels: cannot read \(path)")
            throw ExitStatus.noInput
        }
        return CSVReader.records(text)
    }
}
