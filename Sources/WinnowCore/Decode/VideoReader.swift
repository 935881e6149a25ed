import Foundation
import VideoShim

/// Which frames of a video become samples: one per `1 / fps` seconds (`--video-fps`, the first
/// frame at or after each step), or every keyframe (`--video-keyframes`).
public enum VideoSampling: Sendable, Hashable, Codable {
    case framesPerSecond(Double)
    case keyframes

    /// One frame a second.
    public static let standard = VideoSampling.framesPerSecond(1)
}

/// A frame of a video file: the video's path and the frame's timestamp in its stream's time base.
public struct VideoFrame: Sendable, Hashable {
    public var video: String
    public var timestamp: Int64

    public init(video: String, timestamp: Int64) {
        (self.video, self.timestamp) = (video, timestamp)
    }
}

/// File name endings read as videos.
let videoExtensions: Set<String> = ["mp4", "m4v", "avi", "mkv", "mov", "webm"]

func isVideoName(_ name: String) -> Bool {
    videoExtensions.contains((name as NSString).pathExtension.lowercased())
}

/// One open video, read through FFmpeg's libraries (``VideoShim``): its packets without
/// decoding (to plan which frames to sample), or its frames one at a time, never more than
/// one decoded frame in memory. Not thread-safe: one reader per thread.
final class VideoReader {
    private let handle: OpaquePointer
    let info: winnow_video_info
    let path: String
    /// The frame ``frame(at:limits:)`` returned last (the decoder stands just after it).
    private var lastReturned: Int64?

    /// Opens `path`. A file that is empty, holds no video stream or cannot be opened is
    /// refused with the reason its invalid row gives.
    init(path: String) throws(InvalidSample) {
        self.path = path
        var info = winnow_video_info()
        var pointer: OpaquePointer?
        let (status, message) = Self.calling { error, size in winnow_video_open(path, &pointer, &info, error, size) }
        guard status == 0, let pointer else {
            if status == -1000 { throw InvalidSample(.unsupportedFormat, "\(path): \(message): not a video") }
            if status == -1001 { throw InvalidSample(.unsupportedFormat, "\(path): \(message)") }
            if (try? FileStatus.of(path).get().byteCount) == 0 {
                throw InvalidSample(.unsupportedFormat, "\(path): empty file (0 bytes), no video frames")
            }
            let indexed = ["mp4", "m4v", "mov"].contains((path as NSString).pathExtension.lowercased())
            throw InvalidSample(.corruptImage, "\(path): \(message)" + (indexed ? " (a truncated MP4/MOV loses its index)" : ""))
        }
        (handle, self.info) = (pointer, info)
    }

    deinit { winnow_video_close(handle) }

    /// Seconds of `timestamp` from the stream's start.
    func seconds(_ timestamp: Int64) -> Double {
        guard info.time_base_den > 0 else { return 0 }
        return Double(timestamp &- info.start_pts) * Double(info.time_base_num) / Double(info.time_base_den)
    }

    /// The sample id part of a frame: `#t=12.000`.
    func idSuffix(_ timestamp: Int64) -> String { "#t=" + String(format: "%.3f", max(0, seconds(timestamp))) }

    /// The next packet of the video stream, demuxed only; nil at the end.
    func nextPacket() throws(InvalidSample) -> (timestamp: Int64, isKeyframe: Bool)? {
        var timestamp: Int64 = 0, key: Int32 = 0
        let (status, message) = Self.calling { error, size in winnow_video_next_packet(handle, &timestamp, &key, error, size) }
        if status < 0 { throw InvalidSample(.truncatedImage, "\(path): \(message)") }
        return status == 0 ? nil : (timestamp, key != 0)
    }

    /// Decodes up to the next frame and returns its timestamp; nil at the end.
    func nextFrame(keyframesOnly: Bool) throws(InvalidSample) -> Int64? {
        lastReturned = nil
        var timestamp: Int64 = 0
        let (status, message) = Self.calling { error, size in
            winnow_video_next_frame(handle, keyframesOnly ? 1 : 0, &timestamp, error, size)
        }
        if status < 0 { throw InvalidSample(.truncatedImage, "\(path): \(message)") }
        return status == 0 ? nil : timestamp
    }

    /// The last decoded frame as 8-bit RGB; frames over `limits` are refused.
    func frameImage(limits: DecodeLimits) throws(InvalidSample) -> RGBImage {
        var width: Int32 = 0, height: Int32 = 0
        winnow_video_frame_size(handle, &width, &height)
        let (w, h) = (Int(width), Int(height))
        guard w > 0, h > 0, w <= ImageDecoder.maximumSide, h <= ImageDecoder.maximumSide, w * h <= limits.maximumPixels else {
            throw InvalidSample(.unsupportedFormat, "\(path): frame too large: \(w)×\(h)")
        }
        var failure = ""
        let pixels = [UInt8](unsafeUninitializedCapacity: w * h * 3) { buffer, count in
            let (status, message) = Self.calling { error, size in
                winnow_video_frame_rgb(handle, buffer.baseAddress, buffer.count, error, size)
            }
            count = status == 0 ? w * h * 3 : 0
            failure = message
        }
        guard pixels.count == w * h * 3 else { throw InvalidSample(.corruptImage, "\(path): \(failure)") }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// Moves to the keyframe at or before `timestamp`.
    func seek(to timestamp: Int64) throws(InvalidSample) {
        lastReturned = nil
        let (status, message) = Self.calling { error, size in winnow_video_seek(handle, timestamp, error, size) }
        if status < 0 { throw InvalidSample(.corruptImage, "\(path): \(message)") }
    }

    /// Stream seconds ``frame(at:limits:)`` decodes forward from the last frame it returned
    /// rather than seek (a seek decodes again from the keyframe before the frame: up to a whole
    /// group of pictures, often 8–10 s, for every frame).
    static let forwardSeconds = 4.0

    /// The frame at `timestamp` (a thumbnail, copy verification): decoded on from the last
    /// frame this reader returned when that is a little earlier, else after a seek. Frames asked
    /// in time order cost one pass over the video between them.
    func frame(at timestamp: Int64, limits: DecodeLimits) throws(InvalidSample) -> RGBImage {
        let onward = lastReturned.map { $0 < timestamp && seconds(timestamp) - seconds($0) <= Self.forwardSeconds } ?? false
        if !onward { try seek(to: timestamp) }
        while let decoded = try nextFrame(keyframesOnly: false) {
            if decoded == timestamp {
                let image = try frameImage(limits: limits)
                lastReturned = timestamp
                return image
            }
            if decoded > timestamp { break }
        }
        throw InvalidSample(.corruptImage, "\(path)\(idSuffix(timestamp)): the frame could not be decoded")
    }

    /// Calls `body` with an error buffer; returns its status and the buffer's message.
    private static func calling(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> (Int32, String) {
        var buffer = [CChar](repeating: 0, count: 256)
        let status = buffer.withUnsafeMutableBufferPointer { chars in chars.baseAddress.map { body($0, chars.count - 1) } ?? -1 }
        return (status, oneLine(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
    }
}

/// The header of ``portablePixmap(_:)``.
func portablePixmapHeader(_ image: RGBImage) -> String { "P6\n\(image.width) \(image.height)\n255\n" }

/// A decoded frame as a binary PPM, so that it travels the path of image bytes (thumbnails,
/// copy verification) unchanged; its content hash is this file's.
func portablePixmap(_ image: RGBImage) -> [UInt8] {
    var bytes = Array(portablePixmapHeader(image).utf8)
    bytes.reserveCapacity(bytes.count + image.pixels.count)
    bytes += image.pixels
    return bytes
}

extension VideoFrame {
    /// The frame on its own as image bytes (``portablePixmap(_:)``): for thumbnails, which read
    /// a few frames each, by seeking.
    func imageBytes(limits: DecodeLimits = DecodeLimits()) -> Result<[UInt8], InvalidSample> {
        var reader: VideoReader?
        return imageBytes(reusing: &reader, limits: limits)
    }

    /// The frame as image bytes, read by `reader` when it is open on this frame's video (so
    /// frames asked in time order decode on from one to the next), else by a new reader left in
    /// `reader` for the next frame (copy verification).
    func imageBytes(reusing reader: inout VideoReader?, limits: DecodeLimits = DecodeLimits()) -> Result<[UInt8], InvalidSample> {
        Result { () throws(InvalidSample) in
            let open: VideoReader
            if let current = reader, current.path == video { open = current } else { open = try VideoReader(path: video) }
            reader = open
            return portablePixmap(try open.frame(at: timestamp, limits: limits))
        }
    }
}
