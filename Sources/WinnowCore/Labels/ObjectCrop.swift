/// One annotated object cut out of its image to be a sample of its own (`--data-type bbox`),
/// as fiftyone.brain extracts patches: `force_square` first grows the shorter side to the
/// longer one, then `alpha` scales width and height by `1 + alpha` (alpha = 0.1 expands by 10 %,
/// −0.1 shrinks), both about the box centre; the result is clipped to the image.
public struct ObjectCrop: Sendable, Hashable, Codable {
    public var box: BoundingBox
    public var alpha: Double
    public var forceSquare: Bool

    public init(box: BoundingBox, alpha: Double = 0, forceSquare: Bool = false) {
        self.box = box
        self.alpha = alpha
        self.forceSquare = forceSquare
    }

    /// The region to cut from a `width × height` image, in pixels; nil when nothing is left.
    public func region(imageWidth: Int, imageHeight: Int) -> CropBox? {
        let pixels = box.inPixels(imageWidth: imageWidth, imageHeight: imageHeight)
        var w = pixels.width, h = pixels.height
        let cx = pixels.x + w / 2, cy = pixels.y + h / 2
        if forceSquare { let side = max(w, h); w = side; h = side }
        w *= 1 + alpha
        h *= 1 + alpha
        let x0 = max(0, (cx - w / 2).rounded()), y0 = max(0, (cy - h / 2).rounded())
        let x1 = min(Double(imageWidth), (cx + w / 2).rounded()), y1 = min(Double(imageHeight), (cy + h / 2).rounded())
        guard x1 - x0 >= 1, y1 - y0 >= 1 else { return nil }
        return CropBox(rowY: Int(y0), colX: Int(x0), height: Int(y1 - y0), width: Int(x1 - x0))
    }

    /// `x_y_w_h` of the box, then `_a<alpha>` and `_sq` when set: the crop's part of a sample id.
    static func idPart(box: BoundingBox, alpha: Double, forceSquare: Bool) -> String {
        func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }
        var text = [box.x, box.y, box.width, box.height].map(number).joined(separator: "_")
        if box.corners != nil { text += "_r" }
        if alpha != 0 { text += "_a" + number(alpha) }
        if forceSquare { text += "_sq" }
        return text
    }

    /// Identifies the crop inside a content hash, so objects of one image are not exact duplicates.
    var hashSuffix: String {
        "#" + [box.x, box.y, box.width, box.height, alpha].map { String($0) }.joined(separator: ",") + (forceSquare ? "s" : "")
    }
}
