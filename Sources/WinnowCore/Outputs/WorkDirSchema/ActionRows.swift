import Foundation

// The rows of the files `winnow clean` and `winnow serve` write.

/// `keep.csv`: the image each duplicate group keeps.
public struct KeepRow: WorkDirKeyedRow, Equatable {
    public var group: Int
    public var index: Int64
    public var filename: String
    public var pixels: Int
    public var sharpness: Double
    public var fileSize: Int64

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case group, index, filename, pixels = "width_x_height", sharpness, fileSize = "file_size"
    }
    public static func decimalPlaces(of column: String) -> Int { 2 }
}

/// `remove.csv`: each image to quarantine, with the image kept in its place (none for an image
/// a person marked `remove`, whose group is `review`).
public struct RemoveRow: WorkDirKeyedRow, Equatable {
    public var group: String
    public var index: Int64
    public var filename: String
    public var keptIndex: Int64?
    public var keptFilename: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case group, index, filename, keptIndex = "kept_index", keptFilename = "kept_filename"
    }
}

/// `review_marks.csv`: a person's decision about one image, made in `winnow serve`.
public struct ReviewMarkRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var mark: ReviewMark

    public enum CodingKeys: String, CodingKey, CaseIterable { case index, filename, mark }
}
