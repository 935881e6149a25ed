import Foundation

// The rows of the files the analyses write (``AnalysisStage``, ``LabelStage``'s leaks).

/// `similarity.csv`, `outliers.csv`: `from,to,distance`, where distance is a similarity, as
/// fastdup writes it.
public struct PairRow: WorkDirKeyedRow, Equatable {
    public var from: Int64
    public var to: Int64
    public var distance: Double

    public enum CodingKeys: String, CodingKey, CaseIterable { case from, to, distance }
    public static var sampleColumns: [String] { [CodingKeys.from.rawValue, CodingKeys.to.rawValue] }
}

/// `duplicates.csv`: each reported pair once with the evidence behind its score — the global
/// similarity and, for checked pairs, the local evidence and the detector that decided.
public struct DuplicateRow: WorkDirKeyedRow, Equatable {
    public var from: Int64
    public var to: Int64
    public var fromFilename: String
    public var toFilename: String
    public var score: Double
    public var globalSimilarity: Double
    public var checked: Bool
    public var verified: Bool
    public var matches: Int?
    public var inliers: Int?
    public var ncc: Double?
    public var residual: Double?
    public var scale: Double?
    public var rotation: Double?
    public var mirrored: Bool?
    public var coveredFrom: Double?
    public var coveredTo: Double?
    /// The transform the model suggests, for verified copies.
    public var transform: String?
    public var detector: LocalFeatures.Detector?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case from, to, fromFilename = "from_filename", toFilename = "to_filename", score
        case globalSimilarity = "global_similarity", checked, verified, matches, inliers, ncc, residual = "residual_px"
        case scale, rotation = "rotation_deg", mirrored, coveredFrom = "covered_from", coveredTo = "covered_to"
        case transform, detector
    }

    public static func decimalPlaces(of column: String) -> Int {
        switch CodingKeys(rawValue: column) {
        case .ncc: 4
        case .residual, .scale, .coveredFrom, .coveredTo: 3
        case .rotation: 2
        default: 6
        }
    }
    public static var sampleColumns: [String] { [CodingKeys.from.rawValue, CodingKeys.to.rawValue] }
}

/// `connected_components.csv`: every image with its component's size and similarities.
public struct ComponentMemberRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var componentID: Int64
    public var count: Int
    public var meanDistance: Double
    public var minimumDistance: Double
    public var maximumDistance: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index = "__id", componentID = "component_id", count, meanDistance = "mean_distance"
        case minimumDistance = "min_distance", maximumDistance = "max_distance"
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `component_info.csv`: one row per component of two or more images.
public struct ComponentRow: WorkDirKeyedRow, Equatable {
    public var componentID: Int64
    public var count: Int
    public var mean: Double
    public var minimum: Double
    public var maximum: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case componentID = "component_id", count, mean, minimum = "min", maximum = "max"
    }
}

/// `near_duplicates.csv` (fiftyone `compute_near_duplicates`): each removed image, the one kept
/// in its place and their distance in the final graph.
public struct NearDuplicateRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var duplicateOfIndex: Int64
    public var duplicateOfFilename: String
    public var distance: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, duplicateOfIndex = "duplicate_of_index", duplicateOfFilename = "duplicate_of_filename", distance
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue, CodingKeys.duplicateOfIndex.rawValue] }
}

/// `scores.csv`: every embedded image's per-image scores.
public struct ScoresRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var uniqueness: Double
    public var representativeness: Double
    public var representativenessFiftyone: Double
    public var kmeansCluster: Int
    public var nearestSimilarity: Double
    public var componentID: Int64
    public var isOutlier: Bool
    public var split: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, uniqueness, representativeness, representativenessFiftyone = "representativeness_fiftyone"
        case kmeansCluster = "kmeans_cluster", nearestSimilarity = "nn_similarity", componentID = "component_id"
        case isOutlier = "is_outlier", split
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `leaks.csv`: similar pairs across splits.
public struct LeakRow: WorkDirKeyedRow, Equatable {
    public var from: Int64
    public var to: Int64
    public var distance: Double
    public var fromSplit: String
    public var toSplit: String
    public var fromFilename: String
    public var toFilename: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case from, to, distance, fromSplit = "from_split", toSplit = "to_split"
        case fromFilename = "from_filename", toFilename = "to_filename"
    }
    public static var sampleColumns: [String] { [CodingKeys.from.rawValue, CodingKeys.to.rawValue] }
}

/// `new_vs_known.csv`: each image a run added with its best match among the known ones.
public struct NewVsKnownRow: WorkDirKeyedRow, Equatable {
    public var newIndex: Int64
    public var newFilename: String
    public var knownIndex: Int64
    public var knownFilename: String
    public var similarity: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case newIndex = "new_index", newFilename = "new_filename", knownIndex = "known_index"
        case knownFilename = "known_filename", similarity
    }
}

extension LeakRow {
    /// A leak between two samples given by index and file name.
    init(_ leak: LeakySplits.Leak, from: (id: Int64, name: String), to: (id: Int64, name: String)) {
        self.init(from: from.id, to: to.id, distance: Double(leak.pair.similarity), fromSplit: leak.fromSplit, toSplit: leak.toSplit,
                  fromFilename: from.name, toFilename: to.name)
    }
}

/// `reference_matches.csv` (`--reference`): an image of this run and a reference image it is a
/// copy of — the final score (verification's where it checked the pair, else the global
/// similarity), the global similarity, and whether local features verified it (a match above
/// the certain similarity is not checked).
public struct ReferenceMatchRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var referenceIndex: Int64
    public var referenceFilename: String
    public var similarity: Double
    public var globalSimilarity: Double
    public var verified: Bool

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, referenceIndex = "reference_index", referenceFilename = "reference_filename", similarity
        case globalSimilarity = "global_similarity", verified
    }

    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}
