import DetectorShim
import Foundation
import Synchronization

/// What `--bounding-box face|ocr` looks for (fastdup `bounding_box='face'` / `'ocr'`).
public enum DetectorKind: String, Sendable, Codable, CaseIterable {
    case face, ocr

    /// The label of its crops in `atrain_crops.csv`.
    public var label: String { self == .face ? "face" : "text" }
    /// Longer side of the grey copy the detector runs on: cost per image stays bounded, and
    /// boxes are mapped back to the full image. Text needs more pixels than faces.
    public var workingSide: Int { self == .face ? 640 : 1600 }
    /// The most regions one image gives (the most certain faces; text lines in reading order).
    public var maximumRegions: Int { self == .face ? 64 : 256 }
}

/// The detector of a run and the margins of its crops.
public struct DetectorOptions: Sendable, Codable, Equatable {
    public var kind: DetectorKind
    public var margins: CropMargins
    /// The OpenCV cascade (Haar or LBP XML) faces are found with.
    public var faceCascade: String
    /// The folder holding Tesseract's `eng.traineddata`.
    public var tessdata: String

    public static let defaultFaceCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml"
    public static let defaultTessdata = "/usr/share/tesseract-ocr/5/tessdata"
    /// A text line counts when one of its words is read with at least this confidence (0–100).
    public static let textConfidence: Int32 = 70
    /// Text recognition of one image stops after this long (the image then gives no crops).
    public static let textDeadlineMilliseconds: Int32 = 10_000

    public init(kind: DetectorKind, margins: CropMargins = .fastdupDefault, faceCascade: String = Self.defaultFaceCascade,
                tessdata: String = Self.defaultTessdata) {
        self.kind = kind
        self.margins = margins
        self.faceCascade = faceCascade
        self.tessdata = tessdata
    }

    /// The model file the detector loads (checked before the run starts).
    var modelFile: String {
        kind == .face ? faceCascade : URL(fileURLWithPath: tessdata).appendingPathComponent("eng.traineddata").path
    }
}

/// A detector that cannot be used (its model file missing or unreadable), or one image it failed on.
public struct DetectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// One OpenCV cascade or Tesseract instance. Not thread-safe: ``DetectorPool`` hands each to
/// one thread at a time.
final class RegionDetector: @unchecked Sendable {
    private enum Handle {
        case face(OpaquePointer)
        case text(OpaquePointer)
    }

    private let handle: Handle
    let kind: DetectorKind

    /// Loads the model: a missing or unusable file is one line naming it.
    init(_ options: DetectorOptions) throws(DetectorError) {
        kind = options.kind
        let file = options.modelFile
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw DetectorError(options.kind == .face
                ? "face cascade \(file) not found (Debian package opencv-data, or --face-cascade FILE)"
                : "Tesseract's \(file) not found (Debian package tesseract-ocr-eng, or --tessdata FOLDER)")
        }
        var message = [CChar](repeating: 0, count: 512)
        let opened: OpaquePointer? = switch options.kind {
        case .face: winnow_face_detector_open(file, &message, message.count)
        case .ocr: winnow_text_detector_open(options.tessdata, "eng", &message, message.count)
        }
        guard let opened else { throw DetectorError("\(file): \(Self.text(message))") }
        handle = options.kind == .face ? .face(opened) : .text(opened)
    }

    /// The NUL-terminated message the shim wrote.
    private static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        switch handle {
        case .face(let pointer): winnow_face_detector_free(pointer)
        case .text(let pointer): winnow_text_detector_free(pointer)
        }
    }

    /// The regions found in `image`, in its pixels.
    func regions(in image: RGBImage) throws(DetectorError) -> [CropBox] {
        let limit = kind.maximumRegions
        var boxes = [Int32](repeating: 0, count: 4 * limit)
        var message = [CChar](repeating: 0, count: 512)
        let side = Int32(kind.workingSide), width = Int32(image.width), height = Int32(image.height)
        let count = image.pixels.withUnsafeBufferPointer { pixels -> Int32 in
            guard let base = pixels.baseAddress else { return -1 }
            switch handle {
            case .face(let detector):
                return winnow_face_detect(detector, base, width, height, width * 3, side, &boxes, Int32(limit),
                                          &message, message.count)
            case .text(let detector):
                return winnow_text_detect(detector, base, width, height, width * 3, side, DetectorOptions.textConfidence,
                                          DetectorOptions.textDeadlineMilliseconds, &boxes, Int32(limit), &message, message.count)
            }
        }
        guard count >= 0 else { throw DetectorError(Self.text(message)) }
        return (0..<Int(count)).map { i in
            CropBox(rowY: Int(boxes[4 * i + 1]), colX: Int(boxes[4 * i]), height: Int(boxes[4 * i + 3]), width: Int(boxes[4 * i + 2]))
        }
    }
}

/// Detectors for the worker threads: each takes one (opening a new one when all are in use)
/// and gives it back, so no two threads share one.
final class DetectorPool: Sendable {
    private let options: DetectorOptions
    private let idle: Mutex<[RegionDetector]>

    /// Opens the first detector, so that an unusable model file fails here, before any decoding.
    init(_ options: DetectorOptions) throws(DetectorError) {
        self.options = options
        idle = Mutex([try RegionDetector(options)])
    }

    func withDetector<T>(_ body: (RegionDetector) throws(DetectorError) -> T) throws(DetectorError) -> T {
        let detector: RegionDetector
        if let taken = idle.withLock({ $0.popLast() }) { detector = taken } else { detector = try RegionDetector(options) }
        defer { idle.withLock { $0.append(detector) } }
        return try body(detector)
    }
}
