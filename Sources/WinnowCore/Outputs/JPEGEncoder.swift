import CTurboJPEG
import Foundation

/// Baseline JPEG encoding of RGB images (TurboJPEG, 4:2:0 chroma): thumbnails, benchmark images.
public enum JPEGEncoder {
    /// Why an image could not be encoded (one line).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The JPEG bytes of `image` at `quality` (clamped to 1–100).
    public static func encode(_ image: RGBImage, quality: Int) throws(Failure) -> Data {
        guard let handle = tjInitCompress() else { throw Failure(description: "TurboJPEG unavailable") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(min(100, max(1, quality))), 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else {
            throw Failure(description: "JPEG encoding failed: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Data(bytes: buffer, count: Int(size))
    }
}
