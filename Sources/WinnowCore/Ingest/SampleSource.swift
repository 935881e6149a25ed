import Foundation

/// Where the bytes of one input image live.
public enum SampleLocation: Sendable, Hashable {
    /// A regular file on disk, by path (a path string: a `URL` per image costs ~2.5× its memory).
    case file(String)
    /// A member of a tar / tar.gz / tgz / zip archive.
    case archiveMember(archive: URL, member: String)
    /// A frame of a video file (decoded from the video, never stored as a file).
    case videoFrame(VideoFrame)

    /// The file's path, the archive's path joined with the member's, or the video's path with
    /// the frame's timestamp (`#pts=`).
    public var path: String {
        switch self {
        case .file(let path): path
        case .archiveMember(let archive, let member): archive.path + "/" + member
        case .videoFrame(let frame): frame.video + "#pts=\(frame.timestamp)"
        }
    }
}

/// One input image as found by ingest, before it is read.
public struct SampleSource: Sendable, Hashable {
    /// Stable id: the path relative to the input root it was found under
    /// (`archive.tar.gz/member/path.jpg` for archive members). Unique within a run.
    public var id: String
    /// The path written to output files (`filename` columns): for files found in a folder, the
    /// folder as typed joined with the relative path, as fastdup names them (`photos/sub/a.jpg`);
    /// otherwise the location's path.
    public var displayName: String
    /// Where to read the bytes from.
    public var location: SampleLocation
    /// Size in bytes as listed (file system or archive header).
    public var byteCount: Int64
    /// Modification time in seconds since 1970, used to notice changed files on resume (for an
    /// S3 object, a number made from its ETag: objects are keyed by their ETag).
    public var modificationTime: Double
    /// `--data-type bbox`: the object of the image this sample is (nil: the whole image).
    public var object: ObjectCrop? = nil

    public init(id: String, location: SampleLocation, byteCount: Int64, modificationTime: Double,
                displayName: String? = nil) {
        self.id = id
        self.displayName = displayName ?? location.path
        self.location = location
        self.byteCount = byteCount
        self.modificationTime = modificationTime
    }
}

extension SampleSource {
    /// The order of samples in every listing and output: by id, except that the frames of a
    /// video follow each other in time (`clip.mp4#t=9.000` before `clip.mp4#t=10.000`, as
    /// fastdup's numbered frame files do), after the video's own row.
    public static func areInOrder(_ first: SampleSource, _ second: SampleSource) -> Bool {
        let (a, b) = (first.orderKey, second.orderKey)
        if a.stem != b.stem { return a.stem < b.stem }
        return a.time != b.time ? a.time < b.time : first.id < second.id
    }

    private var orderKey: (stem: Substring, time: Int64) {
        guard case .videoFrame(let frame) = location, let mark = id.range(of: "#t=", options: .backwards) else {
            return (id[...], .min)
        }
        return (id[..<mark.lowerBound], frame.timestamp)
    }
}

/// Something an input folder held that was passed over without becoming a sample (so it has no
/// row in `atrain_features.bad.csv`), and why: a folder that cannot be listed, a broken symbolic
/// link or a link loop, a name that is not UTF-8, a FIFO or device; or a file list or archive
/// input that is not a regular file.
public struct SkippedEntry: Sendable, Hashable {
    /// The path as the input was typed, joined with the path under it.
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Why an input could not become a sample. Codes match fastdup's `atrain_features.bad.csv`
/// (`ERROR_` + code) plus `TRUNCATED_IMAGE` and `UNSUPPORTED_FORMAT`, which fastdup lacks.
public enum InvalidReason: String, Sendable, CaseIterable, Codable {
    case zeroSizeFile = "ZERO_SIZE_FILE"
    case corruptImage = "CORRUPT_IMAGE"
    case truncatedImage = "TRUNCATED_IMAGE"
    case unsupportedFormat = "UNSUPPORTED_FORMAT"
    case tooSmall = "TOO_SMALL"
    case unreadable = "UNREADABLE"
}

/// A file that could not be used, with a one-line human reason.
public struct InvalidSample: Error, Sendable, Hashable {
    public var reason: InvalidReason
    public var message: String
    public init(_ reason: InvalidReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}
