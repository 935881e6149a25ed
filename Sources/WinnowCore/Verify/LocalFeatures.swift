import CopyVerifyShim
import Foundation

/// Why local features could not be made, read or compared: one line, naming the image.
public struct LocalFeatureError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Local features of one image for copy verification (OpenCV through `CopyVerifyShim`):
/// RootSIFT or ORB keypoints of the grey image — reduced to `maximumSide`, small images enlarged
/// to `minimumSide` first — and of its mirror (the same keypoints, mirrored), plus a small grey
/// copy for the pixel check.
/// Immutable once made, so shared freely between threads.
public final class LocalFeatures: @unchecked Sendable {
    let handle: OpaquePointer

    /// The keypoint detector and descriptor.
    public enum Detector: String, Sendable, Codable {
        /// RootSIFT: robust to blur, small images and strong rescaling; about 3.5× ORB's cost an image
        /// at the default sides (OpenCV doubles the image for its first octave).
        case sift
        /// ORB (FAST corners, rotated BRIEF, 8 levels): about 3 ms an image with its mirror and
        /// several times cheaper to compare, weaker on blur and small images; its keypoints lie
        /// less precisely.
        case orb
    }

    /// How features are extracted; part of the cache key.
    public struct Options: Sendable, Codable, Equatable {
        public var detector = Detector.sift
        /// Long side the image is reduced to, and the side small images are enlarged to. 384 / 192
        /// rather than 512 / 384: SIFT's keypoints (on OpenCV's doubled image) land on coarser,
        /// steadier structure, at half the cost: corpus set A seeds 0–2 copy→original recall at
        /// pair precision 0.99 0.986 / 0.987 / 0.988 (was 0.985 / 0.984 / 0.981), hard negatives
        /// 8 / 5 / 8 of 432 (9 / 6 / 9); 256 / 128 lost quarter-turn recall (seed 1: 0.957).
        public var maximumSide = 384
        public var minimumSide = 192
        public var maximumKeypoints = 500
        public var checkSide = 256
        public var mirror = true
        public init() {}

        /// The screening pass of ``CopyVerification``: ORB on the image at 384 px (small images
        /// enlarged to 256, not 384: on set A seeds 0–2 ORB then settles more pairs itself — 30 %
        /// fewer go to SIFT — at recall 0.987 / 0.986 / 0.991, hard negatives unchanged; 192 lost
        /// seed 1's recall, 0.982), 300 keypoints.
        public static var screening: Options {
            var o = Options()
            o.detector = .orb
            o.maximumSide = 384
            o.minimumSide = 256
            o.maximumKeypoints = 300
            return o
        }

        var cacheTag: String {
            "v5-\(detector.rawValue)-\(maximumSide)-\(minimumSide)-\(maximumKeypoints)-\(checkSide)-\(mirror ? 1 : 0)"
        }
    }

    private init(handle: OpaquePointer) { self.handle = handle }

    /// The detector that described the image.
    public var detector: Detector { winnow_cv_detector(handle) == Int32(WINNOW_CV_ORB) ? .orb : .sift }
    deinit { winnow_cv_features_free(handle) }

    /// Keypoints found on the upright image (0 for a featureless image).
    public var keypointCount: Int { Int(winnow_cv_keypoint_count(handle)) }

    /// The upright view's ORB descriptors (32 bytes each, one after the other) given to `body`;
    /// empty for SIFT's features.
    func withBinaryDescriptors<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        var count: Int32 = 0
        let start = winnow_cv_binary_descriptors(handle, &count)
        return body(UnsafeBufferPointer(start: start, count: start == nil ? 0 : Int(count) * 32))
    }

    /// Bytes held in memory: keypoints and descriptors of both views and the grey copy.
    public var residentBytes: Int { winnow_cv_resident_bytes(handle) }

    /// Describes `image` (its perceived brightness, Rec. 601 weights in 1/256ths); `sourceScale`:
    /// its pixels per pixel of the original (below 1 when it was decoded reduced).
    public static func extract(from image: RGBImage, options: Options = Options(), sourceScale: Float = 1,
                               name: String) throws(LocalFeatureError) -> LocalFeatures {
        var grey = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { p in
            grey.withUnsafeMutableBufferPointer { out in
                for i in 0..<out.count {
                    let r = UInt32(p[3 * i]), g = UInt32(p[3 * i + 1]), b = UInt32(p[3 * i + 2])
                    out[i] = UInt8(truncatingIfNeeded: (77 * r + 150 * g + 29 * b + 128) >> 8)
                }
            }
        }
        return try extract(grey: grey, width: image.width, height: image.height, options: options,
                           sourceScale: sourceScale, name: name)
    }

    /// Describes an 8-bit grey image, rows packed.
    public static func extract(grey: [UInt8], width: Int, height: Int, options: Options = Options(), sourceScale: Float = 1,
                               name: String) throws(LocalFeatureError) -> LocalFeatures {
        guard grey.count >= width * height, width > 0, height > 0 else {
            throw LocalFeatureError("\(name): \(width)×\(height) image with \(grey.count) bytes")
        }
        var o = winnow_cv_extract_options(max_side: Int32(options.maximumSide), min_side: Int32(options.minimumSide),
                                          max_keypoints: Int32(options.maximumKeypoints),
                                          check_side: Int32(options.checkSide), mirror: options.mirror ? 1 : 0,
                                          detector: options.detector == .orb ? Int32(WINNOW_CV_ORB) : Int32(WINNOW_CV_SIFT),
                                          source_scale: sourceScale)
        var error = [CChar](repeating: 0, count: 512)
        let made = grey.withUnsafeBufferPointer { p in
            winnow_cv_extract(p.baseAddress, Int32(width), Int32(height), Int32(width), &o, &error, error.count)
        }
        guard let made else { throw LocalFeatureError("\(name): \(shimMessage(error))") }
        return LocalFeatures(handle: made)
    }

    /// The cache file's bytes.
    public func serialized() -> [UInt8] {
        let size = winnow_cv_serialize(handle, nil, 0)
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBufferPointer { winnow_cv_serialize(handle, $0.baseAddress, size) }
        return written == size ? bytes : []
    }

    /// Reads what `serialized()` wrote.
    public static func deserialize(_ bytes: [UInt8], name: String) throws(LocalFeatureError) -> LocalFeatures {
        var error = [CChar](repeating: 0, count: 512)
        let made = bytes.withUnsafeBufferPointer { winnow_cv_deserialize($0.baseAddress, $0.count, &error, error.count) }
        guard let made else { throw LocalFeatureError("\(name): \(shimMessage(error))") }
        return LocalFeatures(handle: made)
    }

    /// OpenCV's own threads per call; Winnow runs pairs and images in parallel itself.
    static func useSingleThreadedOpenCV() { winnow_cv_set_threads(1) }
}

/// What checking one pair measured (see `winnow_cv_verdict`).
public struct PairEvidence: Sendable, Equatable {
    /// Ratio-test matches and distinct affine inliers.
    public var matches: Int
    public var inliers: Int
    /// Normalised cross-correlation after the warp, −1…1 (−2: no acceptable model).
    public var ncc: Float
    /// Scale of the second image relative to the first (original pixels), rotation in degrees.
    public var scale: Float
    public var rotation: Float
    public var mirrored: Bool
    public var anisotropy: Float
    /// Fraction of each image lying inside the other.
    public var coveredA: Float
    public var coveredB: Float
    /// Median inlier distance from the model, SIFT-image pixels.
    public var residual: Float
    /// Whether the first image's mirrored view was compared too (only when the upright views
    /// gave no plausible model).
    public var mirrorTried: Bool
    /// Whether the model passed the sanity checks, contained or not: the two views are related
    /// as they are (for two crops of one photo that overlap, a model without containment).
    public var plausible: Bool
    /// The detector that produced this evidence.
    public var detector: LocalFeatures.Detector
    /// How well the smaller image lines up somewhere inside the larger one, pixel by pixel
    /// (``contentMatch(_:_:options:)``), for the pairs the screen measures it on; −2 otherwise.
    public var contentMatch: Float = -2

    /// Compares two images' features.
    public static func check(_ a: LocalFeatures, _ b: LocalFeatures,
                             options: CopyVerification.Options) throws(LocalFeatureError) -> PairEvidence {
        var o = winnow_cv_verify_options(ratio: options.ratio, ransac_threshold: options.ransacThreshold,
                                         min_inliers: Int32(options.minimumInliers), max_anisotropy: options.maximumAnisotropy,
                                         max_scale: options.maximumScale, min_containment: options.minimumContainment)
        var v = winnow_cv_verdict()
        var error = [CChar](repeating: 0, count: 512)
        guard winnow_cv_verify(a.handle, b.handle, &o, &v, &error, error.count) == 0 else {
            throw LocalFeatureError(shimMessage(error))
        }
        return PairEvidence(matches: Int(v.matches), inliers: Int(v.inliers), ncc: v.ncc, scale: v.scale,
                            rotation: v.rotation, mirrored: v.mirrored != 0, anisotropy: v.anisotropy,
                            coveredA: v.covered_a, coveredB: v.covered_b, residual: v.residual,
                            mirrorTried: v.mirror_tried != 0, plausible: v.plausible != 0, detector: a.detector)
    }
}

extension LocalFeatures {
    /// How many of this image's upright keypoints find other two nearest keypoints of `other`
    /// with the matcher verification uses than with OpenCV's brute-force matcher (tests: 0).
    func matcherDisagreements(with other: LocalFeatures) throws(LocalFeatureError) -> Int {
        var error = [CChar](repeating: 0, count: 512)
        let count = winnow_cv_matcher_disagreements(handle, other.handle, &error, error.count)
        guard count >= 0 else { throw LocalFeatureError(shimMessage(error)) }
        return Int(count)
    }
}

extension PairEvidence {
    /// The screening pass's evidence on `candidate`: ``check(_:_:options:)``, and the content
    /// match where the screen's verdict waits for it (``CopyVerification/wantsContentMatch(_:evidence:sideRatio:options:)``).
    public static func screening(_ a: LocalFeatures, _ b: LocalFeatures, candidate: CopyVerification.Candidate,
                                 sideRatio: Float, options: CopyVerification.Options) throws(LocalFeatureError) -> PairEvidence {
        var e = try check(a, b, options: options)
        if CopyVerification.wantsContentMatch(candidate, evidence: e, sideRatio: sideRatio, options: options) {
            e.contentMatch = try contentMatch(a, b, options: options)
        }
        return e
    }

    /// The best correlation of the smaller image, at several scales, over every position in the
    /// larger one (`winnow_cv_content_match`; −2 when it does not fit or is flat).
    public static func contentMatch(_ a: LocalFeatures, _ b: LocalFeatures,
                                    options: CopyVerification.Options) throws(LocalFeatureError) -> Float {
        var score: Float = -2
        var error = [CChar](repeating: 0, count: 512)
        guard winnow_cv_content_match(a.handle, b.handle, Int32(options.contentMatchSide), options.contentMatchLargestScale,
                                      &score, &error, error.count) == 0 else {
            throw LocalFeatureError(shimMessage(error))
        }
        return score
    }
}

/// The NUL-terminated message a shim call wrote.
private func shimMessage(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
