import Foundation

// The rows of the per-sample files the run writes after decoding (``WorkDirectoryWriter``).

/// `atrain_features.dat.csv`, `features.npy.csv`: each sample in the order of the feature rows.
public struct FeatureListRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case index, filename }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `atrain_stats.csv`: fastdup's statistics columns, one row per decoded image.
public struct StatisticsRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var width: Int
    public var height: Int
    public var unique: Int
    public var blur: Double
    public var mean: Double
    public var minimum: Double
    public var maximum: Double
    public var standardDeviation: Double
    public var fileSize: Int64
    public var contrast: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, width, height, unique, blur, mean, minimum = "min", maximum = "max", standardDeviation = "stdv"
        case fileSize = "file_size", contrast
    }
    public static func decimalPlaces(of column: String) -> Int { 4 }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }

    init(_ sample: StatisticsRecord) {
        let s = sample.statistics
        (index, width, height, unique, blur) = (sample.id, s.width, s.height, s.uniqueGreyLevels, s.blur)
        (mean, minimum, maximum, standardDeviation) = (s.mean, s.minimum, s.maximum, s.standardDeviation)
        (fileSize, contrast) = (sample.fileSize, s.contrast)
    }
}

/// `quality.csv`: every quality measurement of a decoded image and a 0/1 flag per issue
/// (`is_dark`, `is_blurry`, …, one column per ``QualityIssue``).
public struct QualityRow: WorkDirRow, Equatable {
    public var index: Int64
    public var filename: String
    public var format: String?
    public var width: Int
    public var height: Int
    public var sharpness: Double
    public var directionalSharpness: Double?
    public var blur: Double
    public var entropy: Double
    public var brightnessP1: Double
    public var brightnessP5: Double
    public var brightnessP50: Double
    public var brightnessP95: Double
    public var brightnessP99: Double
    public var saturation: Double
    public var meanChroma: Double
    public var colourfulFraction: Double
    /// The issues flagged on the image.
    public var issues: Set<QualityIssue>

    enum Measurement: String, CodingKey, CaseIterable {
        case index, filename, format, width, height, sharpness, directionalSharpness = "directional_sharpness", blur, entropy
        case brightnessP1 = "brightness_p1", brightnessP5 = "brightness_p5", brightnessP50 = "brightness_p50"
        case brightnessP95 = "brightness_p95", brightnessP99 = "brightness_p99", saturation
        case meanChroma = "mean_chroma", colourfulFraction = "colourful_fraction"
    }

    /// The flag column of an issue.
    public static func column(of issue: QualityIssue) -> String { "is_" + issue.rawValue }

    public static var columns: [String] { Measurement.allCases.map(\.rawValue) + QualityIssue.allCases.map(column(of:)) }

    public static func decimalPlaces(of column: String) -> Int { column.hasPrefix("brightness_p") ? 0 : 4 }
    public static var sampleColumns: [String] { [Measurement.index.rawValue] }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Measurement.self)
        try c.encode(index, forKey: .index)
        try c.encode(filename, forKey: .filename)
        try c.encodeIfPresent(format, forKey: .format)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(sharpness, forKey: .sharpness)
        try c.encodeIfPresent(directionalSharpness, forKey: .directionalSharpness)
        for (value, key) in [(blur, Measurement.blur), (entropy, .entropy), (brightnessP1, .brightnessP1),
                             (brightnessP5, .brightnessP5), (brightnessP50, .brightnessP50), (brightnessP95, .brightnessP95),
                             (brightnessP99, .brightnessP99), (saturation, .saturation), (meanChroma, .meanChroma),
                             (colourfulFraction, .colourfulFraction)] {
            try c.encode(value, forKey: key)
        }
        var flags = encoder.container(keyedBy: ColumnKey.self)
        for issue in QualityIssue.allCases { try flags.encode(issues.contains(issue), forKey: ColumnKey(Self.column(of: issue))) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Measurement.self)
        index = try c.decode(Int64.self, forKey: .index)
        filename = try c.decode(String.self, forKey: .filename)
        format = try c.decodeIfPresent(String.self, forKey: .format)
        width = try c.decode(Int.self, forKey: .width)
        height = try c.decode(Int.self, forKey: .height)
        sharpness = try c.decode(Double.self, forKey: .sharpness)
        directionalSharpness = try c.decodeIfPresent(Double.self, forKey: .directionalSharpness)
        blur = try c.decode(Double.self, forKey: .blur)
        entropy = try c.decode(Double.self, forKey: .entropy)
        brightnessP1 = try c.decode(Double.self, forKey: .brightnessP1)
        brightnessP5 = try c.decode(Double.self, forKey: .brightnessP5)
        brightnessP50 = try c.decode(Double.self, forKey: .brightnessP50)
        brightnessP95 = try c.decode(Double.self, forKey: .brightnessP95)
        brightnessP99 = try c.decode(Double.self, forKey: .brightnessP99)
        saturation = try c.decode(Double.self, forKey: .saturation)
        meanChroma = try c.decode(Double.self, forKey: .meanChroma)
        colourfulFraction = try c.decode(Double.self, forKey: .colourfulFraction)
        let flags = try decoder.container(keyedBy: ColumnKey.self)
        issues = Set(try QualityIssue.allCases.filter {
            try flags.decodeIfPresent(Bool.self, forKey: ColumnKey(Self.column(of: $0))) ?? false
        })
    }

    init(_ sample: StatisticsRecord, issues: Set<QualityIssue>) {
        let s = sample.statistics
        (index, filename, format, width, height) = (sample.id, sample.filename, sample.format, s.width, s.height)
        (sharpness, directionalSharpness, blur, entropy) = (s.sharpness, s.directionalSharpness, s.blur, s.entropy)
        (brightnessP1, brightnessP5, brightnessP50) = (s.brightnessP1, s.brightnessP5, s.brightnessP50)
        (brightnessP95, brightnessP99, saturation) = (s.brightnessP95, s.brightnessP99, s.saturation)
        (meanChroma, colourfulFraction, self.issues) = (s.meanChroma, s.colourfulFraction, issues)
    }
}

/// A column named at run time (``QualityRow``'s issue flags).
struct ColumnKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `atrain_features.bad.csv`: fastdup's four columns for a file that could not be used, then
/// Winnow's one-line reason.
public struct BadFileRow: WorkDirKeyedRow, Equatable {
    public var index: Int64
    public var filename: String
    public var errorCode: String
    public var fileSize: Int64
    public var reason: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, filename, errorCode = "error_code", fileSize = "filesize", reason
    }
    public static var sampleColumns: [String] { [CodingKeys.index.rawValue] }
}

/// `exact_duplicates.csv`: each byte-identical copy beside its first instance.
public struct ExactDuplicateRow: WorkDirKeyedRow, Equatable {
    public var firstIndex: Int64
    public var firstFilename: String
    public var index: Int64
    public var filename: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case firstIndex = "first_index", firstFilename = "first_filename", index, filename
    }
    public static var sampleColumns: [String] { [CodingKeys.firstIndex.rawValue, CodingKeys.index.rawValue] }
}

/// `videos.csv`: one row per video whose frames were sampled (``VideoSummary``).
public struct VideoRow: WorkDirKeyedRow, Equatable {
    public var video: String
    public var frames: Int
    public var staticRuns: Int
    public var framesInStaticRuns: Int
    public var duplicateFrames: Int

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case video, frames, staticRuns = "static_runs", framesInStaticRuns = "frames_in_static_runs"
        case duplicateFrames = "duplicate_frames"
    }
}
