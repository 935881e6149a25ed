import CTurboJPEG
import Foundation
import WinnowCore

/// Small JPEG previews of dataset images for the app, cached as `thumbnails/<index>.jpg` in the
/// work_dir (the layout the galleries use). Made on first request: decoded with Winnow's
/// decoder (JPEG shrink-on-load), area-reduced to at most `side` pixels, encoded at quality 80.
struct ThumbnailCache: Sendable {
    var directory: URL
    var side = 256

    enum Failure: Error { case unreadable(String), undecodable(String), encoder }

    /// The thumbnail's JPEG bytes, made and cached when missing (or older than the image).
    func jpeg(index: Int64, imageAt path: String) throws(Failure) -> Data {
        let cached = directory.appendingPathComponent("\(index).jpg")
        let imageDate = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
        if let attributes = try? FileManager.default.attributesOfItem(atPath: cached.path),
           let made = attributes[.modificationDate] as? Date, imageDate.map({ made >= $0 }) ?? true,
           let data = try? Data(contentsOf: cached) {
            return data
        }
        guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: path)) else { throw .unreadable(path) }
        let decoded: DecodedImage
        do { decoded = try ImageDecoder(minimumSide: side).decode([UInt8](bytes)) } catch {
            throw .undecodable("\(path): \(error.message)")
        }
        let image = AreaResize.fit(decoded.image, within: side)
        let data = try Self.encode(image)
        // Cache failures (read-only work_dir) only cost a re-encode next time.
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(index).\(UUID().uuidString).tmp")
        if FileManager.default.createFile(atPath: temporary.path, contents: data) {
            if rename(temporary.path, cached.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        }
        return data
    }

    static func encode(_ image: RGBImage, quality: Int32 = 80) throws(Failure) -> Data {
        guard let handle = tjInitCompress() else { throw .encoder }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &output, &size, Int32(TJSAMP_420.rawValue), quality, 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else { throw .encoder }
        return Data(bytes: output, count: Int(size))
    }
}
