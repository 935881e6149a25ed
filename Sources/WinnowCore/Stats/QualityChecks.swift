import Foundation

/// The image-quality issues Winnow reports, one checker each (as cleanvision organises them).
public enum QualityIssue: String, Sendable, CaseIterable, Codable {
    case dark, bright, blurry
    case lowInformation = "low_information"
    case oddAspectRatio = "odd_aspect_ratio"
    case grayscale
    case oddSize = "odd_size"
    case tiny
}

/// One flagged issue on one sample. `score` is the measurement the flag was decided on
/// (its meaning per issue is given on the thresholds).
public struct QualityFinding: Sendable, Equatable {
    public var sampleID: Int64
    public var issue: QualityIssue
    public var score: Double
}

/// Thresholds of the quality checks. Defaults were chosen by measurement on corpus set B
/// (see the project notes); each can be set from the command line.
public struct QualityThresholds: Sendable, Equatable, Codable {
    /// dark: 99th percentile of perceived brightness (0…255) below this. cleanvision: 0.32 × 255.
    public var darkBrightnessP99: Double = 64
    /// bright: 5th percentile of perceived brightness above this. cleanvision: 0.95 × 255.
    public var brightBrightnessP5: Double = 210
    /// blurry: contrast-normalised Laplacian variance (`sharpness`) below this…
    public var blurrySharpness: Double = 100
    /// …or directional sharpness (motion blur) below this.
    public var blurryDirectionalSharpness: Double = 0.9
    /// low_information: grey-histogram entropy (bits) below this. cleanvision: 3 bits.
    public var lowInformationEntropy: Double = 3.0
    /// low_information also when the 1–99 % brightness range is narrower than this many levels.
    public var lowInformationRange: Double = 24
    /// odd_aspect_ratio: `min(w/h, h/w)` below this (cleanvision 0.35).
    public var oddAspectRatio: Double = 0.35
    /// grayscale: mean channel spread relative to the 99th-percentile brightness,
    /// `meanChroma × 255 / max(p99, 16)`, below this (0 for identical channels).
    public var grayscaleChroma: Double = 1.0
    /// odd_size: `sqrt(w·h)` outside `[Q1 − k·IQR, Q3 + k·IQR]` of the dataset (cleanvision k = 3).
    public var oddSizeIQRFactor: Double = 3
    /// tiny: shorter side below this many pixels (files under 10 px are invalid, as in fastdup).
    public var tinySide: Int = 64

    public init() {}
}

/// A check of one quality issue on one image's statistics.
protocol QualityChecker: Sendable {
    var issue: QualityIssue { get }
    /// Issues that, when already found on the image, make this one not worth reporting: too
    /// little signal to judge (a near-black image is not also "blurry" or "low information").
    var deferredTo: Set<QualityIssue> { get }
    /// The score when the image has the issue, nil otherwise.
    func check(_ statistics: ImageStatistics) -> Double?
}

extension QualityChecker {
    var deferredTo: Set<QualityIssue> { [] }
}

struct DarkChecker: QualityChecker {
    var threshold: Double
    var issue: QualityIssue { .dark }
    func check(_ s: ImageStatistics) -> Double? { s.brightnessP99 < threshold ? s.brightnessP99 : nil }
}

struct BrightChecker: QualityChecker {
    var threshold: Double
    var issue: QualityIssue { .bright }
    func check(_ s: ImageStatistics) -> Double? { s.brightnessP5 > threshold ? s.brightnessP5 : nil }
}

struct BlurryChecker: QualityChecker {
    var sharpnessThreshold: Double
    var directionalThreshold: Double
    var issue: QualityIssue { .blurry }
    var deferredTo: Set<QualityIssue> { [.dark, .bright, .lowInformation] }
    /// Score: the contrast-normalised Laplacian variance.
    func check(_ s: ImageStatistics) -> Double? {
        let directional = s.directionalSharpness ?? .infinity
        return s.sharpness < sharpnessThreshold || directional < directionalThreshold ? s.sharpness : nil
    }
}

struct LowInformationChecker: QualityChecker {
    var entropyThreshold: Double
    var rangeThreshold: Double
    var issue: QualityIssue { .lowInformation }
    var deferredTo: Set<QualityIssue> { [.dark, .bright] }
    /// Score: grey entropy in bits.
    func check(_ s: ImageStatistics) -> Double? {
        let range = s.brightnessP99 - s.brightnessP1
        return s.entropy < entropyThreshold || range < rangeThreshold ? s.entropy : nil
    }
}

struct OddAspectRatioChecker: QualityChecker {
    var threshold: Double
    var issue: QualityIssue { .oddAspectRatio }
    func check(_ s: ImageStatistics) -> Double? {
        let ratio = Double(min(s.width, s.height)) / Double(max(1, max(s.width, s.height)))
        return ratio < threshold ? ratio : nil
    }
}

struct GrayscaleChecker: QualityChecker {
    var threshold: Double
    var issue: QualityIssue { .grayscale }
    /// Score: mean chroma relative to the image's brightness (0 = identical channels).
    func check(_ s: ImageStatistics) -> Double? {
        let relative = s.meanChroma * 255 / max(s.brightnessP99, 16)
        return relative < threshold ? relative : nil
    }
}

struct TinyChecker: QualityChecker {
    var threshold: Int
    var issue: QualityIssue { .tiny }
    func check(_ s: ImageStatistics) -> Double? {
        let side = min(s.width, s.height)
        return side < threshold ? Double(side) : nil
    }
}

/// Runs every per-image checker, plus the dataset-level odd-size check.
public struct QualityInspector: Sendable {
    public var thresholds: QualityThresholds

    public init(thresholds: QualityThresholds = QualityThresholds()) {
        self.thresholds = thresholds
    }

    /// In evaluation order: a checker comes after the ones it defers to.
    var checkers: [any QualityChecker] {
        [DarkChecker(threshold: thresholds.darkBrightnessP99),
         BrightChecker(threshold: thresholds.brightBrightnessP5),
         LowInformationChecker(entropyThreshold: thresholds.lowInformationEntropy,
                               rangeThreshold: thresholds.lowInformationRange),
         BlurryChecker(sharpnessThreshold: thresholds.blurrySharpness,
                       directionalThreshold: thresholds.blurryDirectionalSharpness),
         OddAspectRatioChecker(threshold: thresholds.oddAspectRatio),
         GrayscaleChecker(threshold: thresholds.grayscaleChroma),
         TinyChecker(threshold: thresholds.tinySide)]
    }

    /// All findings for the given samples, in sample order.
    public func findings(for samples: [(id: Int64, statistics: ImageStatistics)]) -> [QualityFinding] {
        let oddSize = oddSizeRange(sizes: samples.map { Self.size(width: $0.statistics.width, height: $0.statistics.height) })
        return samples.flatMap { findings(id: $0.id, statistics: $0.statistics, oddSize: oddSize) }
    }

    /// One sample's findings, given the collection's ``oddSizeRange(sizes:)``.
    public func findings(id: Int64, statistics: ImageStatistics, oddSize: ClosedRange<Double>?) -> [QualityFinding] {
        var findings = flags(statistics).map { QualityFinding(sampleID: id, issue: $0.0, score: $0.1) }
        let size = Self.size(width: statistics.width, height: statistics.height)
        if let oddSize, !oddSize.contains(size) { findings.append(QualityFinding(sampleID: id, issue: .oddSize, score: size)) }
        return findings
    }

    /// The per-image issues found on one image, with their scores.
    func flags(_ statistics: ImageStatistics, _ checkers: [any QualityChecker]? = nil) -> [(QualityIssue, Double)] {
        var found: [(QualityIssue, Double)] = []
        for checker in checkers ?? self.checkers where !found.contains(where: { checker.deferredTo.contains($0.0) }) {
            if let score = checker.check(statistics) { found.append((checker.issue, score)) }
        }
        return found
    }

    /// `sqrt(w·h)`, the size the odd-size check compares.
    public static func size(width: Int, height: Int) -> Double { (Double(width) * Double(height)).squareRoot() }

    /// `[Q1 − k·IQR, Q3 + k·IQR]` of the images' ``size(width:height:)``; nil for fewer than 4 images.
    public func oddSizeRange(sizes: [Double]) -> ClosedRange<Double>? {
        guard sizes.count >= 4 else { return nil }
        let sizes = sizes.sorted()
        func quantile(_ q: Double) -> Double {
            let position = q * Double(sizes.count - 1)
            let lower = Int(position), upper = min(lower + 1, sizes.count - 1)
            return sizes[lower] + (sizes[upper] - sizes[lower]) * (position - Double(lower))
        }
        let q1 = quantile(0.25), q3 = quantile(0.75), iqr = q3 - q1
        return (q1 - thresholds.oddSizeIQRFactor * iqr)...(q3 + thresholds.oddSizeIQRFactor * iqr)
    }
}
