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

    public init(maximumCount: Int? = nil, findRegex: String? = nil, minimumFileSize: Int64 = 0,
                minimumOffset: Int = 0, maximumOffset: Int? = nil) {
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
    /// Listed inputs that do not exist or cannot be opened (from file lists).
    public var missing: [(source: SampleSource, problem: InvalidSample)]
    /// Files that are not images by name or content (annotation sidecars, notes…).
    public var skippedNonImages: Int
    /// Files skipped by `minimumFileSize`.
    public var skippedSmallFiles: Int
}

/// A problem with the command's inputs themselves (not with one image).
public enum IngestError: Error, Equatable, CustomStringConvertible {
    case inputNotFound(String)
    case invalidRegex(String)
    case unreadableList(String, String)
    case unreadableArchive(String, String)

    public var description: String {
        switch self {
        case .inputNotFound(let path): "input not found: \(path)"
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

/// Finds the images in folders, file lists, archives and single files.
///
/// Ids are paths relative to the input they were found under; with several inputs each id
/// starts with its input's last path component, so ids stay unique and readable.
public struct Ingestor: Sendable {
    public var options: IngestOptions
    /// Folders never descended into (typically the work_dir when it sits inside an input).
    public var excludedFolders: [URL]

    public init(options: IngestOptions = IngestOptions(), excludedFolders: [URL] = []) {
        self.options = options
        self.excludedFolders = excludedFolders
    }

    public func ingest(_ inputs: [String]) throws(IngestError) -> IngestResult {
        var result = IngestResult(sources: [], missing: [], skippedNonImages: 0, skippedSmallFiles: 0)
        let prefixWithInputName = inputs.count > 1
        for input in inputs {
            let url = URL(fileURLWithPath: input).standardizedFileURL
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
                throw .inputNotFound(input)
            }
            let prefix = prefixWithInputName ? url.lastPathComponent + "/" : ""
            if isFolder.boolValue {
                try walk(folder: url, displayRoot: input, idPrefix: prefix, into: &result)
            } else if isArchiveName(url.lastPathComponent) {
                try addArchive(url, id: prefix + url.lastPathComponent, into: &result)
            } else if isFileList(url) {
                try readList(url, into: &result)
            } else {
                add(file: url, id: prefix + url.lastPathComponent, into: &result)
            }
        }
        try select(&result)
        return result
    }

    private func isFileList(_ url: URL) -> Bool {
        let ext = url.pathExtension.lowercased()
        return ext == "txt" || ext == "csv" || ext == "lst"
    }

    private func walk(folder: URL, displayRoot: String, idPrefix: String,
                      into result: inout IngestResult) throws(IngestError) {
        let excluded = Set(excludedFolders.map { $0.standardizedFileURL.resolvingSymlinksInPath().path })
        let keys: [URLResourceKey] = [.isDirectoryKey, .isRegularFileKey, .fileSizeKey, .contentModificationDateKey]
        guard let walker = FileManager.default.enumerator(
            at: folder, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles]
        ) else { throw .inputNotFound(displayRoot) }
        let rootPath = folder.resolvingSymlinksInPath().path
        for case let url as URL in walker {
            let values = try? url.resourceValues(forKeys: Set(keys))
            if values?.isDirectory == true {
                if excluded.contains(url.resolvingSymlinksInPath().path) { walker.skipDescendants() }
                continue
            }
            guard values?.isRegularFile == true else { continue }
            let full = url.resolvingSymlinksInPath().path
            let relative = full.hasPrefix(rootPath + "/") ? String(full.dropFirst(rootPath.count + 1)) : url.lastPathComponent
            if isArchiveName(url.lastPathComponent) {
                try addArchive(url, id: idPrefix + relative, into: &result)
            } else {
                add(file: url, id: idPrefix + relative, size: Int64(values?.fileSize ?? 0),
                    mtime: values?.contentModificationDate?.timeIntervalSince1970 ?? 0, into: &result)
            }
        }
    }

    private func add(file url: URL, id: String, size: Int64? = nil, mtime: Double? = nil,
                     into result: inout IngestResult) {
        var byteCount = size ?? 0
        var modified = mtime ?? 0
        if size == nil, let attributes = try? FileManager.default.attributesOfItem(atPath: url.path) {
            byteCount = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        }
        let source = SampleSource(id: id, location: .file(url), byteCount: byteCount, modificationTime: modified)
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            result.missing.append((source, InvalidSample(.unreadable, "\(url.path): permission denied")))
            return
        }
        switch classify(name: url.lastPathComponent, head: { readHead(of: url) }) {
        case .image: result.sources.append(source)
        case .notImage: result.skippedNonImages += 1
        }
    }

    private func addArchive(_ url: URL, id: String, into result: inout IngestResult) throws(IngestError) {
        let members: [ArchiveMember]
        do { members = try ArchiveReader(url: url).listMembers() } catch {
            throw .unreadableArchive(url.path, error.message)
        }
        for member in members {
            let source = SampleSource(id: id + "/" + member.path, location: .archiveMember(archive: url, member: member.path),
                                      byteCount: member.byteCount, modificationTime: member.modificationTime)
            switch classify(name: member.path, head: { member.head }) {
            case .image: result.sources.append(source)
            case .notImage: result.skippedNonImages += 1
            }
        }
    }

    /// A file list: one path per line, or a CSV whose header has a `filename` column.
    /// Relative paths are taken relative to the list's folder.
    private func readList(_ url: URL, into result: inout IngestResult) throws(IngestError) {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw .unreadableList(url.path, error.localizedDescription)
        }
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        var column = 0
        if let header = lines.first, header.contains(",") {
            let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if let index = names.firstIndex(where: { $0 == "filename" || $0 == "path" || $0 == "file" }) {
                column = index
                lines.removeFirst()
            }
        }
        let base = url.deletingLastPathComponent()
        for line in lines where !line.isEmpty && !line.hasPrefix("#") {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard column < fields.count else { continue }
            let path = fields[column].trimmingCharacters(in: CharacterSet(charactersIn: " \""))
            let fileURL = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: fileURL.path) {
                add(file: fileURL, id: path, into: &result)
            } else {
                let source = SampleSource(id: path, location: .file(fileURL), byteCount: 0, modificationTime: 0)
                result.missing.append((source, InvalidSample(.unreadable, "\(path): listed in \(url.lastPathComponent) but not found")))
            }
        }
    }

    /// Sorts by id, drops duplicates, then applies offsets, regex, size and count limits.
    private func select(_ result: inout IngestResult) throws(IngestError) {
        var seen = Set<String>()
        var sources = result.sources.sorted { $0.id < $1.id }.filter { seen.insert($0.id).inserted }
        let upper = min(options.maximumOffset ?? sources.count, sources.count)
        let lower = min(max(options.minimumOffset, 0), upper)
        sources = Array(sources[lower..<upper])
        if let pattern = options.findRegex, !pattern.isEmpty {
            guard let regex = try? NSRegularExpression(pattern: pattern) else { throw .invalidRegex(pattern) }
            sources = sources.filter {
                regex.firstMatch(in: $0.id, range: NSRange($0.id.startIndex..., in: $0.id)) != nil
            }
        }
        if options.minimumFileSize > 0 {
            let before = sources.count
            sources = sources.filter { $0.byteCount >= options.minimumFileSize }
            result.skippedSmallFiles = before - sources.count
        }
        if let limit = options.maximumCount, limit >= 0 { sources = Array(sources.prefix(limit)) }
        result.sources = sources
    }
}

enum CandidateKind { case image, notImage }

/// Images by extension; sidecars by extension; anything else by its first bytes.
func classify(name: String, head: () -> [UInt8]) -> CandidateKind {
    let ext = (name as NSString).pathExtension.lowercased()
    if imageExtensions.contains(ext) { return .image }
    if sidecarExtensions.contains(ext) { return .notImage }
    return head().withUnsafeBytes { sniffImageFormat($0) } != nil ? .image : .notImage
}

/// The first 64 bytes of a file (empty when unreadable).
func readHead(of url: URL) -> [UInt8] {
    guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
    defer { try? handle.close() }
    return [UInt8]((try? handle.read(upToCount: 64)) ?? Data())
}
