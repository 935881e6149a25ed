import Foundation

/// An object's box in the full-resolution image: fastdup's `col_x,row_y,width,height` (pixels),
/// or normalised to [0, 1] (YOLO) until the image's size is known. A rotated box (fastdup
/// `x1,y1,…,x4,y4`) keeps its corners and is handled as its enclosing axis-aligned box.
public struct BoundingBox: Sendable, Hashable, Codable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    /// Coordinates are fractions of the image's width and height.
    public var normalized: Bool
    /// Corners `x1,y1,x2,y2,x3,y3,x4,y4` of a rotated box, in the same units.
    public var corners: [Double]?

    public init(x: Double, y: Double, width: Double, height: Double, normalized: Bool = false) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.normalized = normalized
        corners = nil
    }

    /// The enclosing box of a rotated box's four corners.
    public init(corners: [Double], normalized: Bool = false) {
        let xs = stride(from: 0, to: 8, by: 2).map { corners[$0] }
        let ys = stride(from: 1, to: 8, by: 2).map { corners[$0] }
        let x0 = xs.min() ?? 0, y0 = ys.min() ?? 0
        self.init(x: x0, y: y0, width: (xs.max() ?? 0) - x0, height: (ys.max() ?? 0) - y0, normalized: normalized)
        self.corners = corners
    }

    /// The box in pixels of a `width × height` image.
    public func inPixels(imageWidth: Int, imageHeight: Int) -> BoundingBox {
        guard normalized else { return self }
        let w = Double(imageWidth), h = Double(imageHeight)
        var box = BoundingBox(x: x * w, y: y * h, width: width * w, height: height * h)
        box.corners = corners?.enumerated().map { $0.offset % 2 == 0 ? $0.element * w : $0.element * h }
        return box
    }

    public var area: Double { max(0, width) * max(0, height) }

    /// Intersection over union of two boxes in the same units (0 when either is empty).
    public func iou(_ other: BoundingBox) -> Double {
        let ix = max(0, min(x + width, other.x + other.width) - max(x, other.x))
        let iy = max(0, min(y + height, other.y + other.height) - max(y, other.y))
        let intersection = ix * iy
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }
}

/// One record of an annotation or prediction file: an image-level label (no box) or an object.
public struct Annotation: Sendable, Equatable {
    /// The image as the file names it (resolved against the run's samples by ``AnnotationMatcher``).
    public var filename: String
    public var label: String?
    public var split: String?
    public var box: BoundingBox?
    /// Predictions: the model's confidence in `label`, and optionally its logits.
    public var confidence: Double?
    public var logits: [Double]?
    /// Where it came from, for messages: `line 4`, `annotations[3]`, `labels/a.txt line 2`.
    public var record: String

    public init(filename: String, label: String? = nil, split: String? = nil, box: BoundingBox? = nil,
                confidence: Double? = nil, logits: [Double]? = nil, record: String = "") {
        self.filename = filename
        self.label = label
        self.split = split
        self.box = box
        self.confidence = confidence
        self.logits = logits
        self.record = record
    }
}

/// Annotation file formats Winnow reads.
public enum AnnotationFormat: String, Sendable, Codable, CaseIterable {
    /// fastdup's CSV: `filename,label,split` plus `col_x,row_y,width,height` or `x1..y4`,
    /// and for predictions `confidence` / `logits`.
    case csv
    /// COCO JSON: `images`, `annotations` (`bbox` optional, `score` / `logits` for predictions), `categories`.
    case coco
    /// YOLO: a data yaml (`path`, `train`/`val`/`test`, `names`) and one `labels/*.txt` per image.
    case yolo

    /// The format a path's name implies: `.json` COCO, `.yaml`/`.yml` YOLO, else CSV.
    public static func infer(from path: String) -> AnnotationFormat {
        switch (path as NSString).pathExtension.lowercased() {
        case "json": .coco
        case "yaml", "yml": .yolo
        default: .csv
        }
    }
}

/// A malformed annotation file or record: names the file, the record (line or JSON element) and the field.
public struct AnnotationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var record: String?
    public var field: String?
    public var reason: String

    public init(file: String, record: String? = nil, field: String? = nil, reason: String) {
        self.file = file
        self.record = record
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var text = file
        if let record { text += ", \(record)" }
        if let field { text += ", field '\(field)'" }
        return (text + ": " + reason).oneLine   // a JSON string may hold line breaks
    }
}

/// What an annotation file holds once read.
public struct AnnotationFile: Sendable {
    public var url: URL
    public var format: AnnotationFormat
    public var annotations: [Annotation]
    /// Class names in index order where the format declares them (COCO categories, YOLO names).
    public var classes: [String]
    /// Images the file declares, with or without objects (COCO `images`, YOLO image folders).
    public var images: [String]
    /// Records that were skipped, each with its reason (the rest of the file is used).
    public var problems: [AnnotationError]

    /// Reads `url` as `format` (inferred from the name when nil). Throws when the file cannot
    /// be used at all; malformed records are skipped and listed in ``problems``.
    public static func read(_ url: URL, format: AnnotationFormat? = nil,
                            labelColumn: String = "label") throws(AnnotationError) -> AnnotationFile {
        switch format ?? AnnotationFormat.infer(from: url.path) {
        case .csv: try CSVAnnotationReader(labelColumn: labelColumn).read(url)
        case .coco: try COCOAnnotationReader().read(url)
        case .yolo: try YOLOAnnotationReader().read(url)
        }
    }
}

/// Reads a whole text file as UTF-8, as an ``AnnotationError`` naming the file when it cannot.
func readAnnotationText(_ url: URL) throws(AnnotationError) -> String {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw AnnotationError(file: url.path, reason: "cannot read: \(error.localizedDescription)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw AnnotationError(file: url.path, reason: "not UTF-8 text")
    }
    return text
}
