import Foundation

/// The annotations linked to the run's samples: ground truth and predictions by sample row, and
/// every record that could not be used.
struct LinkedAnnotations {
    var truth: [Int: [Annotation]] = [:]
    var predicted: [Int: [Annotation]] = [:]
    var problems: [AnnotationError]
}

/// What the label step knows of each sample before scoring: its image-level labels (records
/// without a box) and split, the class names, and which rows the slice keeps.
struct LabelPlan {
    var imageLabels: [Set<String>?]
    var splits: [String?]
    /// Whether the annotations gave any split (folder names give the others).
    var annotatedSplits = false
    /// The label of each sample that has exactly one.
    var single: [String?]
    /// The annotation file's classes first, then the other labels in order.
    var classNames: [String]
    var sliceLabels: [String]
    var sliceSplit: String?

    init(truth: [Int: [Annotation]], samples: [ValidSample], classes: [String], options: LabelOptions) {
        imageLabels = Array(repeating: nil, count: samples.count)
        splits = samples.map { LeakySplits.split(fromPath: $0.path) }
        for (row, list) in truth {
            let labels = Set(list.filter { $0.box == nil }.compactMap(\.label))
            if !labels.isEmpty { imageLabels[row] = labels }
            if let split = list.compactMap(\.split).first { splits[row] = split; annotatedSplits = true }
        }
        single = imageLabels.map { $0?.count == 1 ? $0?.first : nil }
        let singles = Set(single.compactMap { $0 })
        classNames = classes.isEmpty ? singles.sorted() : classes + singles.subtracting(classes).sorted()
        (sliceLabels, sliceSplit) = (options.sliceLabels, options.sliceSplit)
    }

    /// Whether the label outputs keep `row`, given the label its row is shown with.
    func keeps(_ row: Int, label: String?) -> Bool {
        if let sliceSplit, splits[row] != sliceSplit { return false }
        if !sliceLabels.isEmpty { return label.map(sliceLabels.contains) ?? false }
        return true
    }

    var isSliced: Bool { !sliceLabels.isEmpty || sliceSplit != nil }

    /// The rows of the slice's samples (`--slice`, `--slice-split`) for `slice/`.
    var slicedRows: [Int] {
        imageLabels.indices.filter { row in
            guard imageLabels[row] != nil || sliceLabels.isEmpty else { return false }
            if let sliceSplit, splits[row] != sliceSplit { return false }
            return sliceLabels.isEmpty || !(imageLabels[row] ?? []).isDisjoint(with: sliceLabels)
        }
    }
}

/// The embedding-based label scores of the single-label samples with a vector: the wrong-label
/// score, the kNN disagreement and the similarity component of each.
struct EmbeddingLabelScores {
    /// Sample row → position among the scored rows.
    var position: [Int: Int]
    /// The class index of each scored row's label.
    var labels: [Int]
    var wrong: WrongLabels.Result
    var disagreement: LabelDisagreement.Result
    /// Sample row → the sample row its component is named after.
    var componentOf: [Int: Int]
}

/// Classification predictions per image: predicted labels, confidence, hardness (with logits) and
/// mistakenness (1 for a labelled image without a prediction, when predictions were given).
struct PredictionScores {
    var label: [Int: String] = [:]
    var confidence: [Int: Double] = [:]
    var hardness: [Int: Double] = [:]
    var mistakenness: [Int: Double] = [:]

    init(predicted: [Int: [Annotation]], imageLabels: [Set<String>?], predictionsGiven: Bool, useLogits: Bool) {
        for (row, list) in predicted {
            let imageLevel = list.filter { $0.box == nil }
            guard !imageLevel.isEmpty else { continue }
            let labels = Set(imageLevel.compactMap(\.label))
            let best = imageLevel.max { ($0.confidence ?? 0) < ($1.confidence ?? 0) }
            if let logits = best?.logits { hardness[row] = Hardness.entropy(logits: logits) }
            label[row] = labels.sorted().joined(separator: ";")
            confidence[row] = best?.confidence
            mistakenness[row] = Mistakenness.classification(groundTruth: imageLabels[row], predicted: labels,
                                                            confidence: best?.confidence, logits: best?.logits,
                                                            useLogits: useLogits)
        }
        guard predictionsGiven else { return }
        for row in imageLabels.indices where imageLabels[row] != nil && mistakenness[row] == nil
            && !(predicted[row]?.contains { $0.box != nil } ?? false) {
            mistakenness[row] = 1
        }
    }
}
