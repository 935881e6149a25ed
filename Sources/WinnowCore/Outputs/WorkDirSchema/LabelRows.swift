import Foundation

// The rows of the files `winnow run --annotations` writes (``LabelStage``).

/// `atrain_crops.csv`: each object crop of `--data-type bbox` with its box (fractions of the image).
public struct CropRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var object: String
    public var label: String
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public var cropWidth: Int
    public var cropHeight: Int
    public var record: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, object, label, x = "col_x", y = "row_y", width, height
        case cropWidth = "crop_width", cropHeight = "crop_height", record
    }
    public static func decimalPlaces(of column: String) -> Int { 4 }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `label_purity.csv`: each similarity cluster's labels.
public struct LabelPurityRow: WorkDirKeyedRow, Equatable {
    public var componentID: Int64
    public var count: Int
    public var majorityLabel: String
    public var purity: Double
    /// `label:count` for each label, `;`-separated.
    public var labelCounts: String
    /// The members' file names, `;`-separated.
    public var filenames: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case componentID = "component_id", count, majorityLabel = "majority_label", purity
        case labelCounts = "label_counts", filenames
    }
    public static func decimalPlaces(of column: String) -> Int { 4 }
}

/// `label_scores.csv`: every labelled or predicted image's label scores.
public struct LabelScoreRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    /// The image-level labels, `;`-separated.
    public var label: String?
    public var split: String?
    public var wrongLabelScore: Double?
    public var probabilityOfGiven: Double?
    public var suggestedLabel: String?
    public var probabilityOfSuggested: Double?
    public var isLikelyWrong: Bool?
    public var knnDisagreement: Double?
    public var knnMajorityLabel: String?
    public var componentID: Int64?
    public var predictedLabel: String?
    public var confidence: Double?
    public var hardness: Double?
    public var mistakenness: Double?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, label, split, wrongLabelScore = "wrong_label_score", probabilityOfGiven = "p_given"
        case suggestedLabel = "suggested_label", probabilityOfSuggested = "p_suggested", isLikelyWrong = "is_likely_wrong"
        case knnDisagreement = "knn_disagreement", knnMajorityLabel = "knn_majority_label", componentID = "component_id"
        case predictedLabel = "predicted_label", confidence, hardness, mistakenness
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `likely_wrong_labels.csv`: the images whose label is likely wrong, most likely first.
public struct LikelyWrongLabelRow: WorkDirKeyedRow, Equatable {
    public var rank: Int
    public var index: Int64
    public var filename: String
    public var label: String?
    public var suggestedLabel: String
    public var wrongLabelScore: Double
    public var probabilityOfSuggested: Double
    public var knnDisagreement: Double
    public var split: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case rank, index, filename, label, suggestedLabel = "suggested_label", wrongLabelScore = "wrong_label_score"
        case probabilityOfSuggested = "p_suggested", knnDisagreement = "knn_disagreement", split
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `annotation_problems.csv`: each annotation record that could not be used, and why.
public struct AnnotationProblemRow: WorkDirKeyedRow, Equatable {
    public var file: String
    public var record: String?
    public var field: String?
    public var reason: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case file, record, field, reason }
}

/// `detection_mistakenness.csv`: each ground-truth object's match and mistakenness, and each
/// prediction no object matched (`possible_missing`); boxes in pixels of the original image.
public struct DetectionMistakennessRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    /// `matched`, `possible_spurious` or `possible_missing`.
    public var kind: String
    public var label: String?
    public var predictedLabel: String?
    public var confidence: Double?
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public var iou: Double?
    public var mistakenness: Double?
    public var locationMistakenness: Double?
    public var record: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, kind, label, predictedLabel = "predicted_label", confidence, x = "col_x", y = "row_y"
        case width, height, iou, mistakenness, locationMistakenness = "mistakenness_loc", record
    }
    public static func decimalPlaces(of column: String) -> Int {
        switch CodingKeys(rawValue: column) {
        case .x, .y, .width, .height: 2
        default: 6
        }
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `annotations_corrected.csv` (`--copy-missing`): the annotations with the predictions no
/// object matched copied in; boxes in pixels.
public struct CorrectedAnnotationRow: WorkDirKeyedRow, Equatable {
    public var filename: String
    public var label: String
    public var split: String?
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    /// `annotation` or `copied_prediction`.
    public var source: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case filename, label, split, x = "col_x", y = "row_y", width, height, source
    }
    public static func decimalPlaces(of column: String) -> Int { 2 }
}

/// `images_without_crops.csv` (`--bounding-box face|ocr`): each image the detector found no
/// region in (or failed on), so that it has no sample of its own.
public struct ImageWithoutCropsRow: WorkDirKeyedRow, Equatable {
    public var filename: String
    /// `face` or `ocr`.
    public var detector: String
    public var reason: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case filename, detector, reason }
}
