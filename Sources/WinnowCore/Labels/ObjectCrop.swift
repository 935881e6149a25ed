/// One annotated object cut out of its image to be a sample of its own (`--data-type bbox`),
/// as fiftyone.brain extracts patches: `force_square` first grows the shorter side to the
/// longer one, then `alpha` scales width and height by `1 + alpha` (alpha = 0.1 expands by 10 %,
/// −0.1 shrinks), both about the box centre; then the detector crops' ``CropMargins``; the
/// result is clipped to the image.
public struct ObjectCrop: Sendable, Hashable, Codable {
    public var box: BoundingBox
    public var alpha: Double
    public var forceSquare: Bool
    /// `--bounding-box face|ocr`: the margins around each detected region.
    public var margins: CropMargins

    public init(box: BoundingBox, alpha: Double = 0, forceSquare: Bool = false, margins: CropMargins = .none) {
        self.box = box
        self.alpha = alpha
        self.forceSquare = forceSquare
        self.margins = margins
    }

    /// The region to cut from a `width × height` image, in pixels; nil when nothing is left.
    public func region(imageWidth: Int, imageHeight: Int) -> CropBox? {
        let pixels = box.inPixels(imageWidth: imageWidth, imageHeight: imageHeight)
        var w = pixels.width, h = pixels.height
        let cx = pixels.x + w / 2, cy = pixels.y + h / 2
        if forceSquare { let side = max(w, h); w = side; h = side }
        w = w * (1 + alpha) * (1 + margins.horizontal) + 2 * Double(margins.pixels)
        h = h * (1 + alpha) * (1 + margins.vertical) + 2 * Double(margins.pixels)
        let x0 = max(0, (cx - w / 2).rounded()), y0 = max(0, (cy - h / 2).rounded())
        let x1 = min(Double(imageWidth), (cx + w / 2).rounded()), y1 = min(Double(imageHeight), (cy + h / 2).rounded())
        guard x1 - x0 >= 1, y1 - y0 >= 1 else { return nil }
        return CropBox(rowY: Int(y0), colX: Int(x0), height: Int(y1 - y0), width: Int(x1 - x0))
    }

    /// `x_y_w_h` of the box, then `_a<alpha>`, `_sq`, `_mh<h>_mv<v>` and `_mp<pixels>` when set:
    /// the crop's part of a sample id.
    var idPart: String {
        func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }
        var text = [box.x, box.y, box.width, box.height].map(number).joined(separator: "_")
        if box.corners != nil { text += "_r" }
        if alpha != 0 { text += "_a" + number(alpha) }
        if forceSquare { text += "_sq" }
        if margins.horizontal != 0 || margins.vertical != 0 { text += "_mh\(number(margins.horizontal))_mv\(number(margins.vertical))" }
        if margins.pixels != 0 { text += "_mp\(margins.pixels)" }
        return text
    }

    /// Identifies the crop inside a content hash, so objects of one image are not exact duplicates.
    var hashSuffix: String {
        let values = [box.x, box.y, box.width, box.height, alpha, margins.horizontal, margins.vertical, Double(margins.pixels)]
        return "#" + values.map { String($0) }.joined(separator: ",") + (forceSquare ? "s" : "")
    }
}

/// The margin fastdup adds around each detected face or text region: `augmentation_horiz` and
/// `augmentation_vert` grow the width and height by these fractions (0.2: 20 % wider, 10 % on
/// each side), or `augmentation_additive_margin` adds this many pixels on every side; never both.
public struct CropMargins: Sendable, Hashable, Codable {
    public var horizontal: Double
    public var vertical: Double
    public var pixels: Int

    public init(horizontal: Double = 0, vertical: Double = 0, pixels: Int = 0) {
        self.horizontal = horizontal
        self.vertical = vertical
        self.pixels = pixels
    }

    public static let none = CropMargins()
    /// fastdup's margin when none is given: 20 % of the width and of the height.
    public static let fastdupDefault = CropMargins(horizontal: 0.2, vertical: 0.2)
    /// The largest fraction fastdup allows, and the largest additive margin Winnow accepts.
    public static let maximumFraction = 1.0
    public static let maximumPixels = 10_000
}
