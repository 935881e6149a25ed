import Foundation
@testable import WinnowCore

extension TestData {
    /// One of scikit-image's sample photos (`<name>.png`), decoded.
    static func photo(_ name: String) throws -> RGBImage {
        let url = try skimageData().appendingPathComponent("\(name).png")
        return try ImageDecoder().decode(try [UInt8](Data(contentsOf: url))).image
    }
}

/// The edits the copy-verification tests make of a photo.
extension RGBImage {
    /// The image turned 90° clockwise.
    func turnedClockwise() -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                for k in 0..<3 { out[(x * height + (height - 1 - y)) * 3 + k] = pixels[(y * width + x) * 3 + k] }
            }
        }
        return RGBImage(width: height, height: width, pixels: out)
    }

    /// The image after a JPEG round trip at `quality`.
    func throughJPEG(quality: Int) throws -> RGBImage {
        try ImageDecoder().decode([UInt8](try JPEGEncoder.encode(self, quality: quality))).image
    }

    /// The image mirrored left–right.
    func mirroredLeftRight() -> RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                for k in 0..<3 { out[(y * width + x) * 3 + k] = pixels[(y * width + width - 1 - x) * 3 + k] }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
