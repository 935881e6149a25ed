import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

extension AnnotationFormat: ExpressibleByArgument {}
extension LabelOptions.DataType: ExpressibleByArgument {}

/// `winnow run` options for annotations, predictions and the label analyses.
struct LabelArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Ground-truth labels: fastdup CSV (filename,label,split[,col_x,row_y,width,height | x1..y4]), COCO .json or YOLO data .yaml. Adds label_scores.csv, likely_wrong_labels.csv, label_purity.csv.",
                               valueName: "file"))
    var annotations: String?
    @Option(help: ArgumentHelp("Model predictions in the same formats (+ confidence, optional logits): adds hardness and mistakenness.",
                               valueName: "file"))
    var predictions: String?
    @Option(help: "Annotation format: csv, coco or yolo (default: from the file name).")
    var annotationFormat: AnnotationFormat?
    @Option(help: "CSV column that holds the label.")
    var labelColumn = "label"
    @Flag(help: "Mistakenness from the entropy of the logits instead of the confidence (fiftyone use_logits).")
    var useLogits = false
    @Flag(help: "Write annotations_corrected.csv: the ground truth plus confident unmatched predicted boxes (fiftyone copy_missing). Inputs are never changed.")
    var copyMissing = false
    @Option(help: "image: images are the samples; bbox: every annotated box is a sample (its crop is measured, embedded and analysed; atrain_crops.csv links crops to images).")
    var dataType: LabelOptions.DataType = .image
    @Option(parsing: .unconditional, help: "bbox: grow (or shrink, < 0) each box's width and height by this fraction about its centre (fiftyone alpha).")
    var alpha = 0.0
    @Flag(help: "bbox: make each crop square by growing its shorter side (fiftyone force_square).")
    var forceSquare = false
    @Option(help: ArgumentHelp("Only these labels (comma-separated) in the label outputs, and slice/ copies of every per-sample file (fastdup slice).", valueName: "labels"))
    var slice: String?
    @Option(help: "Only this split (train, val, test, …) in the label outputs and slice/.")
    var sliceSplit: String?

    func validate() throws {
        if annotations == nil && (predictions != nil || slice != nil || sliceSplit != nil || copyMissing || dataType == .bbox) {
            throw ValidationError("--predictions, --slice, --slice-split, --copy-missing and --data-type bbox need --annotations")
        }
        try OptionRange.check("--alpha", alpha, in: -0.99...10)
        for path in [annotations, predictions].compactMap({ $0 }) where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("annotation file not found: \(path)")
        }
    }

    /// The options, nil without `--annotations`.
    var options: LabelOptions? {
        guard let annotations else { return nil }
        var o = LabelOptions(annotations: annotations, predictions: predictions, format: annotationFormat)
        o.labelColumn = labelColumn
        o.useLogits = useLogits
        o.copyMissing = copyMissing
        o.sliceLabels = slice.map(commaSeparated) ?? []
        o.sliceSplit = sliceSplit
        o.dataType = dataType
        o.alpha = alpha
        o.forceSquare = forceSquare
        return o
    }
}

extension SummaryReport {
    /// The label lines of the printed summary.
    static func labelLines(_ l: LabelSummary) -> [String] {
        var lines = ["  labels: \(l.labelledImages) labelled images, \(l.objects) objects, \(l.classes) classes"]
        lines.append("  likely wrong labels    \(l.likelyWrongLabels)  (likely_wrong_labels.csv; scores in label_scores.csv)")
        if l.contradictingClusters > 0 { lines.append("  clusters with contradicting labels  \(l.contradictingClusters)  (label_purity.csv)") }
        if l.possibleMissing + l.possibleSpurious > 0 {
            lines.append("  possible missing \(l.possibleMissing), possible spurious \(l.possibleSpurious) objects (detection_mistakenness.csv)")
        }
        let problems = l.unmatched + l.unusableImages + l.malformed
        if problems > 0 {
            lines.append("  annotation problems    \(problems)  (\(l.unmatched) name no image, \(l.unusableImages) an unusable one, \(l.malformed) malformed: annotation_problems.csv)")
        }
        return lines
    }
}
