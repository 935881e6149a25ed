/// A fixed region cropped from every image before statistics and embeddings, in full-resolution
/// pixel coordinates: fastdup's global `bounding_box='row_y=…,col_x=…,height=…,width=…'`.
public struct CropBox: Sendable, Codable, Equatable {
    public var rowY: Int
    public var colX: Int
    public var height: Int
    public var width: Int

    public init(rowY: Int, colX: Int, height: Int, width: Int) {
        self.rowY = rowY
        self.colX = colX
        self.height = height
        self.width = width
    }

    /// Parses fastdup's `row_y=10,col_x=20,height=100,width=200` (any order); nil if malformed.
    public init?(parsing text: String) {
        var values: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let value = Int(pair[1]), value >= 0 else { return nil }
            values[pair[0]] = value
        }
        guard let y = values["row_y"], let x = values["col_x"], let h = values["height"], let w = values["width"],
              h > 0, w > 0, values.count == 4 else { return nil }
        self.init(rowY: y, colX: x, height: h, width: w)
    }

    /// The part of `decoded` under the box, where `decoded` may be a reduced version of an
    /// `originalWidth × originalHeight` image. Clipped to the image; nil when nothing is left.
    public func crop(_ decoded: RGBImage, originalWidth: Int, originalHeight: Int) -> RGBImage? {
        let sx = Double(decoded.width) / Double(max(originalWidth, 1))
        let sy = Double(decoded.height) / Double(max(originalHeight, 1))
        let x0 = min(decoded.width, Int((Double(colX) * sx).rounded()))
        let y0 = min(decoded.height, Int((Double(rowY) * sy).rounded()))
        let x1 = min(decoded.width, Int((Double(colX + width) * sx).rounded()))
        let y1 = min(decoded.height, Int((Double(rowY + height) * sy).rounded()))
        guard x1 > x0, y1 > y0 else { return nil }
        var pixels = [UInt8]()
        pixels.reserveCapacity((x1 - x0) * (y1 - y0) * 3)
        for y in y0..<y1 {
            let start = (y * decoded.width + x0) * 3
            pixels.append(contentsOf: decoded.pixels[start..<(start + (x1 - x0) * 3)])
        }
        return RGBImage(width: x1 - x0, height: y1 - y0, pixels: pixels)
    }
}
