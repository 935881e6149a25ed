import Foundation

/// Which files of the inputs become samples, as fastdup's `run()` selects them.
public struct IngestOptions: Sendable, Equatable, Codable {
    /// Keep at most this many files (after sorting, offsets and filters); fastdup `num_images`.
    public var maximumCount: Int?
    /// Keep only files whose id matches this regular expression; fastdup `find_regex`.
    public var findRegex: String?
    /// Skip files smaller than this many bytes; fastdup `min_file_size`.
    public var minimumFileSize: Int64
    /// Start at this position of the sorted file list; fastdup `min_offset`.
    public var minimumOffset: Int
    /// Stop before this position of the sorted file list; fastdup `max_offset` (nil = end).
    public var maximumOffset: Int?
    /// Which frames of videos become samples (nil: ``VideoSampling/standard``, one a second).
    public var videoSampling: VideoSampling?

    public init(maximumCount: Int? = nil, findRegex: String? = nil, minimumFileSize: Int64 = 0,
                minimumOffset: Int = 0, maximumOffset: Int? = nil, videoSampling: VideoSampling? = nil) {
        self.videoSampling = videoSampling
        self.maximumCount = maximumCount
        self.findRegex = findRegex
        self.minimumFileSize = minimumFileSize
        self.minimumOffset = minimumOffset
        self.maximumOffset = maximumOffset
    }
}

/// What ingest found: the samples to read, and what it passed over.
public struct IngestResult: Sendable {
    /// Candidate images in a stable order (sorted by id).
    public var sources: [SampleSource]
    /// Named inputs that cannot be read (missing from file lists, FIFOs, devices, no permission).
    public var missing: [(source: SampleSource, problem: InvalidSample)]
    /// Files that are not images by name or content (annotation sidecars, notes…).
    public var skippedNonImages: Int
    /// Files skipped by `minimumFileSize`.
    public var skippedSmallFiles: Int
    /// What folders held that could not be used, with the reason (see ``SkippedEntry``).
    public var skipped: [SkippedEntry] = []

    public init(sources: [SampleSource], missing: [(source: SampleSource, problem: InvalidSample)] = [],
                skippedNonImages: Int = 0, skippedSmallFiles: Int = 0, skipped: [SkippedEntry] = []) {
        (self.sources, self.missing, self.skipped) = (sources, missing, skipped)
        (self.skippedNonImages, self.skippedSmallFiles) = (skippedNonImages, skippedSmallFiles)
    }
}

/// A problem with the command's inputs themselves (not with one image).
public enum IngestError: Error, Equatable, CustomStringConvertible {
    case inputNotFound(String)
    /// The input is an excluded folder (the work_dir) or lies inside one.
    case inputInWorkDirectory(String)
    case invalidRegex(String)
    case unreadableList(String, String)
    case unreadableArchive(String, String)

    public var description: String {
        switch self {
        case .inputNotFound(let path): "input not found: \(path)"
        case .inputInWorkDirectory(let path):
            "input \(path) is the work_dir or lies inside it: winnow does not analyse its own outputs (give another --work-dir)"
        case .invalidRegex(let pattern): "invalid --find-regex pattern: \(pattern)"
        case .unreadableList(let path, let why): "cannot read file list \(path): \(why)"
        case .unreadableArchive(let path, let why): "cannot read archive \(path): \(why)"
        }
    }
}

/// File name endings that name images (decoded, or recognised and reported as unsupported).
let imageExtensions: Set<String> = [
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "bmp", "dib", "heic", "heif",
    "avif", "jp2", "j2k", "jpf", "jpx", "jxl", "ppm", "pgm", "pbm", "pnm", "tga", "ico", "pcx",
    "svg", "pdf", "eps", "psd", "dng", "cr2", "nef", "arw",
]
/// Endings of files that are never images: passed over without reading them.
let sidecarExtensions: Set<String> = [
    "txt", "csv", "tsv", "json", "jsonl", "xml", "yaml", "yml", "md", "html", "htm", "py", "sh",
    "log", "ini", "cfg", "toml", "npy", "npz", "pkl", "pt", "pth", "onnx", "db", "sqlite", "dat",
]
let archiveSuffixes = [".tar.gz", ".tgz", ".tar", ".zip"]

func isArchiveName(_ name: String) -> Bool {
    let lower = name.lowercased()
    return archiveSuffixes.contains { lower.hasSuffix($0) }
}

func isFileListName(_ url: URL) -> Bool {
    let ext = url.pathExtension.lowercased()
    return ext == "txt" || ext == "csv" || ext == "lst"
}

/// Finds the images in folders, file lists, archives and single files. Symbolic links are
/// followed; one file is one sample however many paths reach it (an input inside another, a
/// link, `./x` and `x`), while each hard link is its own file, as in fastdup.
///
/// Ids are paths relative to the input they were found under; with several inputs each id
/// starts with its input's last path component (or, for inputs with the same last name, as many
/// trailing components as tell them apart), so ids stay unique and readable. File lists keep the
/// paths as listed. An id another file already took is replaced by the file's absolute path.
public struct Ingestor: Sendable {
    public var options: IngestOptions
    /// Folders never descended into (the work_dir when it sits inside an input); an input that
    /// is one of them or lies inside one is refused.
    public var excludedFolders: [URL]
    /// Where video members of archives are extracted to be read (nil: each is an
    /// `UNSUPPORTED_FORMAT` row).
    public var archiveVideos: ArchiveVideoFolder?

    public init(options: IngestOptions = IngestOptions(), excludedFolders: [URL] = [], archiveVideos: ArchiveVideoFolder? = nil) {
        self.options = options
        self.excludedFolders = excludedFolders
        self.archiveVideos = archiveVideos
    }

    public func ingest(_ inputs: [String]) throws(IngestError) -> IngestResult {
        var ingestion = Ingestion(excludedFolders: excludedFolders, videoSampling: options.videoSampling ?? .standard,
                                  archiveVideos: archiveVideos)
        for (input, prefix) in zip(inputs, Self.idPrefixes(for: inputs)) {
            try ingestion.add(input: input, idPrefix: prefix)
        }
        var result = ingestion.merged()
        try select(&result)
        return result
    }

    /// Replaces the videos among `result`'s files (local copies listed elsewhere: S3 objects)
    /// by their sampled frames, as ``ingest(_:)`` does for videos it finds; a video that cannot
    /// be used, or breaks off, is also an invalid row. Keeps the order of ``select(_:)``.
    public func replaceVideosByFrames(_ result: inout IngestResult) {
        var sources: [SampleSource] = [], replaced = false
        for source in result.sources {
            guard case .file(let path) = source.location, isVideoName(path) else {
                sources.append(source)
                continue
            }
            let plan = VideoPlan.make(path: path, name: source.displayName, sampling: options.videoSampling ?? .standard)
            sources += plan.frameSources(of: source, file: path)
            if let problem = plan.problem { result.missing.append((source, problem)) }
            replaced = true
        }
        if replaced { result.sources = sources.sorted(by: SampleSource.areInOrder) }
    }

    /// The id prefix of each input: none for a single input; else its last path component, or
    /// as many trailing components as tell apart different inputs with the same last name.
    static func idPrefixes(for inputs: [String]) -> [String] {
        guard inputs.count > 1 else { return inputs.map { _ in "" } }
        let components = inputs.map { URL(fileURLWithPath: $0).standardizedFileURL.pathComponents.filter { $0 != "/" } }
        var lengths = components.map { _ in 1 }
        func suffix(_ index: Int) -> String { components[index].suffix(lengths[index]).joined(separator: "/") }
        while true {
            let clashing = Dictionary(grouping: components.indices, by: suffix).values
                .filter { group in Set(group.map { components[$0] }).count > 1 }
            if clashing.isEmpty { return components.indices.map { suffix($0) + "/" } }
            for group in clashing {
                for index in group where lengths[index] < components[index].count { lengths[index] += 1 }
            }
        }
    }

    /// Sorts by id, then applies offsets, regex, size and count limits, all in place (no second
    /// array of the sources). Public for listings made elsewhere (S3 objects).
    public func select(_ result: inout IngestResult) throws(IngestError) {
        result.sources.sort(by: SampleSource.areInOrder)
        let upper = min(options.maximumOffset ?? result.sources.count, result.sources.count)
        let lower = min(max(options.minimumOffset, 0), upper)
        result.sources.removeSubrange(upper...)
        result.sources.removeSubrange(..<lower)
        if let pattern = options.findRegex, !pattern.isEmpty {
            guard let regex = try? NSRegularExpression(pattern: pattern) else { throw .invalidRegex(pattern) }
            result.sources.removeAll {
                regex.firstMatch(in: $0.id, range: NSRange($0.id.startIndex..., in: $0.id)) == nil
            }
        }
        if options.minimumFileSize > 0 {
            let before = result.sources.count
            result.sources.removeAll { $0.byteCount < options.minimumFileSize }
            result.skippedSmallFiles = before - result.sources.count
        }
        if let limit = options.maximumCount, limit >= 0, limit < result.sources.count {
            result.sources.removeSubrange(limit...)
        }
    }
}

enum CandidateKind { case image, notImage }

/// Images by extension; sidecars by extension; anything else by its first bytes.
func classify(name: String, head: () -> [UInt8]) -> CandidateKind {
    let ext = (name as NSString).pathExtension.lowercased()
    if imageExtensions.contains(ext) || videoExtensions.contains(ext) { return .image }
    if sidecarExtensions.contains(ext) { return .notImage }
    return head().withUnsafeBytes { sniffImageFormat($0) } != nil ? .image : .notImage
}

/// Whether a file named `name` is an image candidate: by its name's ending, else by its first
/// bytes (`head`), as ingest decides for the files of folders.
public func isImageCandidate(name: String, head: () -> [UInt8]) -> Bool { classify(name: name, head: head) == .image }

/// Whether a file named `name` is never an image (annotations, notes…): passed over unread.
public func isSidecarName(_ name: String) -> Bool { sidecarExtensions.contains((name as NSString).pathExtension.lowercased()) }

/// The first 64 bytes of a regular file (empty when unreadable or not a regular file).
func readHead(of url: URL) -> [UInt8] {
    (try? RegularFile.read(url.path, limit: 64).get()) ?? []
}
