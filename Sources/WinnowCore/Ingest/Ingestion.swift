import Foundation

/// One pass of ``Ingestor`` over its inputs: everything reached, in the order reached (inputs
/// as given, folders in name order, lists in line order, archives in archive order), then
/// merged so that one physical file is one sample and every id is unique.
struct Ingestion {
    /// One file or archive member reached by some path.
    private struct Candidate {
        var source: SampleSource
        /// The physical thing read: the first path to reach it makes the sample.
        var key: Key
        /// Set when the file cannot be read at all (an invalid row without reading).
        var problem: InvalidSample?
    }

    private enum Key: Hashable {
        case file(FileKey)
        case member(archive: FileKey, path: String)
        /// A frame of a video: a file (`.file`) or an archive member (`.member`).
        indirect case frame(video: Key, timestamp: Int64)
        case absent(path: String)
    }

    /// One directory entry: device and inode, and for a file with several hard links (each its
    /// own name, as in fastdup) its real path too. Two paths to one entry (a symbolic link, an
    /// input inside another, `./x` and `x`) share the key.
    private struct FileKey: Hashable {
        var identity: FileIdentity
        var hardLink: String?

        init(path: String, status: FileStatus) {
            identity = status.identity
            hardLink = status.linkCount > 1 ? realPath(path) : nil
        }
    }

    /// Real paths of the folders never ingested (the work_dir).
    private let excludedPaths: [String]
    private let excludedIdentities: Set<FileIdentity>
    private var candidates: [Candidate] = []
    private var skipped: [SkippedEntry] = []
    private var nonImages = Set<Key>()
    private let videoSampling: VideoSampling
    /// Where video members of archives are extracted (nil: each is an invalid row).
    private let archiveVideos: ArchiveVideoFolder?
    private var extractionAllowance: DiskAllowance?

    init(excludedFolders: [URL], videoSampling: VideoSampling = .standard, archiveVideos: ArchiveVideoFolder? = nil) {
        (self.videoSampling, self.archiveVideos) = (videoSampling, archiveVideos)
        let paths = excludedFolders.map { $0.standardizedFileURL.path }
        excludedPaths = paths.compactMap(realPath)
        excludedIdentities = Set(paths.compactMap { try? FileStatus.of($0).get().identity })
    }

    /// Adds what `input` holds; ids start with `idPrefix`.
    mutating func add(input: String, idPrefix: String) throws(IngestError) {
        let url = URL(fileURLWithPath: input).standardizedFileURL
        guard case .success(let status) = FileStatus.of(url.path) else { throw .inputNotFound(input) }
        if let real = realPath(url.path), excludedPaths.contains(where: { real == $0 || real.hasPrefix($0 + "/") }) {
            throw .inputInWorkDirectory(input)
        }
        let name = url.lastPathComponent
        switch status.kind {
        case .directory:
            try walk(url.path, identity: status.identity, input: input, idPrefix: idPrefix)
        case .regular where isArchiveName(name):
            try addArchive(url, status: status, id: idPrefix + name)
        case .regular where isFileListName(url):
            try readList(url)
        case .other where isArchiveName(name) || isFileListName(url):
            skipped.append(SkippedEntry(path: input, reason: "not a regular file (\(status.kind))"))
        default:
            addFile(url.path, status: status, id: idPrefix + name, displayName: url.path)
        }
    }

    private mutating func walk(_ folder: String, identity: FileIdentity, input: String,
                               idPrefix: String) throws(IngestError) {
        let found = FolderWalker(excluded: excludedIdentities).walk(folder, rootIdentity: identity)
        for entry in found.skipped {
            skipped.append(SkippedEntry(path: Self.join(input, entry.relative), reason: entry.reason))
        }
        for file in found.files {
            let url = URL(fileURLWithPath: file.path)
            if isArchiveName(url.lastPathComponent) {
                try addArchive(url, status: file.status, id: idPrefix + file.relative)
            } else {
                addFile(file.path, status: file.status, id: idPrefix + file.relative, displayName: Self.join(input, file.relative))
            }
        }
    }

    /// The input as typed joined with a path under it, as fastdup names files (`photos/sub/a.jpg`).
    private static func join(_ input: String, _ relative: String) -> String {
        relative.isEmpty ? input : input.hasSuffix("/") ? input + relative : input + "/" + relative
    }

    /// Adds the file at `path`. Equal strings are stored once (a listed absolute path is the
    /// id, the name in outputs and the location: one string, not three, per image).
    private mutating func addFile(_ path: String, status: FileStatus, id: String, displayName: String) {
        let id = id == path ? path : id, displayName = displayName == path ? path : displayName == id ? id : displayName
        let source = SampleSource(id: id, location: .file(path), byteCount: status.byteCount,
                                  modificationTime: status.modificationTime, displayName: displayName)
        let key = Key.file(FileKey(path: path, status: status))
        var problem: InvalidSample?
        if status.kind != .regular {
            problem = InvalidSample(.unreadable, "\(displayName): not a regular file (\(status.kind))")
        } else if access(path, R_OK) != 0 {
            problem = InvalidSample(.unreadable, "\(path): permission denied")
        } else if classify(name: (path as NSString).lastPathComponent, head: { readHead(of: URL(fileURLWithPath: path)) }) == .notImage {
            nonImages.insert(key)
            return
        } else if isVideoName(path) {
            return addVideo(source, file: path, key: key)
        }
        candidates.append(Candidate(source: source, key: key, problem: problem))
    }

    /// A video's sampled frames (``VideoPlan``) read from `file`, each a sample of its own named
    /// `<video>#t=<seconds>`; a video that cannot be used or breaks off is also an invalid row.
    private mutating func addVideo(_ video: SampleSource, file path: String, key: Key) {
        let plan = VideoPlan.make(path: path, name: video.displayName, sampling: videoSampling)
        for (frame, source) in zip(plan.frames, plan.frameSources(of: video, file: path)) {
            candidates.append(Candidate(source: source, key: .frame(video: key, timestamp: frame.timestamp)))
        }
        if let problem = plan.problem {
            candidates.append(Candidate(source: video, key: key, problem: problem))
        }
    }

    private mutating func addArchive(_ url: URL, status: FileStatus, id: String) throws(IngestError) {
        let members: [ArchiveMember]
        do { members = try ArchiveReader(url: url).listMembers() } catch {
            throw .unreadableArchive(url.path, error.message)
        }
        let archive = FileKey(path: url.path, status: status)
        var videos: [ArchiveMember] = []
        for member in members {
            let key = Key.member(archive: archive, path: member.path)
            guard classify(name: member.path, head: { member.head }) == .image else {
                nonImages.insert(key)
                continue
            }
            if isVideoName(member.path) && archiveVideos != nil {
                videos.append(member)
                continue
            }
            let source = Self.source(member, of: url, id: id)
            let video = isVideoName(member.path)
                ? InvalidSample(.unsupportedFormat, "\(source.id): a video inside an archive is not read (extract it first)") : nil
            candidates.append(Candidate(source: source, key: key, problem: video))
        }
        if !videos.isEmpty { addVideos(videos, of: url, status: status, key: archive, id: id) }
    }

    private static func source(_ member: ArchiveMember, of archive: URL, id: String) -> SampleSource {
        SampleSource(id: id + "/" + member.path, location: .archiveMember(archive: archive, member: member.path),
                     byteCount: member.byteCount, modificationTime: member.modificationTime)
    }

    /// The frames of video members, read from their files in ``ArchiveVideoFolder`` (extracted
    /// now unless an earlier run did) and named by the member: `<archive>/<member>#t=<seconds>`.
    private mutating func addVideos(_ members: [ArchiveMember], of url: URL, status: FileStatus, key archive: FileKey, id: String) {
        guard let archiveVideos else { return }
        let allowance = extractionAllowance ?? archiveVideos.allowance()
        extractionAllowance = allowance
        let files = archiveVideos.files(for: members, of: url, status: status, allowance: allowance)
        for member in members {
            let source = Self.source(member, of: url, id: id)
            let key = Key.member(archive: archive, path: member.path)
            switch files[member.path] ?? .failure(InvalidSample(.unreadable, "\(source.displayName): not extracted")) {
            case .success(let file): addVideo(source, file: file, key: key)
            case .failure(let problem): candidates.append(Candidate(source: source, key: key, problem: problem))
            }
        }
    }

    /// A file list: one path per line, or a CSV whose header has a `filename` column.
    /// Relative paths are taken relative to the list's folder; ids are the paths as listed.
    private mutating func readList(_ url: URL) throws(IngestError) {
        let text: String
        switch RegularFile.read(url.path) {
        case .failure(let error): throw .unreadableList(url.path, "\(error)")
        case .success(let bytes):
            guard let decoded = String(validating: bytes, as: UTF8.self) else { throw .unreadableList(url.path, "not UTF-8 text") }
            text = decoded
        }
        let base = url.deletingLastPathComponent()
        for path in Self.listedPaths(text) {
            let fileURL = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
            let filePath = fileURL.path
            switch FileStatus.of(filePath) {
            case .success(let status):
                addFile(filePath, status: status, id: path, displayName: filePath)
            case .failure(let error):
                let source = SampleSource(id: path, location: .file(fileURL.path), byteCount: 0, modificationTime: 0)
                let why = error == .system(ENOENT) ? "listed in \(url.lastPathComponent) but not found" : "\(error)"
                candidates.append(Candidate(source: source, key: .absent(path: fileURL.standardizedFileURL.path),
                                            problem: InvalidSample(.unreadable, "\(path): \(why)")))
            }
        }
    }

    /// The paths a list names, in line order: every non-comment line, or its `filename`
    /// (`path`, `file`) column when the header has one.
    private static func listedPaths(_ text: String) -> [String] {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        var column = 0
        if let header = lines.first, header.contains(",") {
            let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if let index = names.firstIndex(where: { $0 == "filename" || $0 == "path" || $0 == "file" }) {
                column = index
                lines.removeFirst()
            }
        }
        return lines.filter { !$0.isEmpty && !$0.hasPrefix("#") }.compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return column < fields.count ? fields[column].trimmingCharacters(in: CharacterSet(charactersIn: " \"")) : nil
        }
    }

    /// The samples: the first path to reach each file or member; an id already taken by another
    /// file is replaced by the file's absolute path (`~2`, `~3`… appended should that be taken too).
    func merged() -> IngestResult {
        var result = IngestResult(sources: [], missing: [], skippedNonImages: nonImages.count, skippedSmallFiles: 0,
                                  skipped: skipped)
        var keys = Set<Key>(), ids = Set<String>()
        for var candidate in candidates where keys.insert(candidate.key).inserted {
            if !ids.insert(candidate.source.id).inserted {
                let absolute = Self.absolutePath(of: candidate.source.location)
                var id = absolute, copy = 2
                while ids.contains(id) { (id, copy) = ("\(absolute)~\(copy)", copy + 1) }
                candidate.source.id = id
                ids.insert(id)
            }
            if let problem = candidate.problem {
                result.missing.append((candidate.source, problem))
            } else {
                result.sources.append(candidate.source)
            }
        }
        return result
    }

    private static func absolutePath(of location: SampleLocation) -> String {
        switch location {
        case .file(let path): URL(fileURLWithPath: path).standardizedFileURL.path
        case .archiveMember(let archive, let member): archive.standardizedFileURL.path + "/" + member
        case .videoFrame(let frame): URL(fileURLWithPath: frame.video).standardizedFileURL.path + "#pts=\(frame.timestamp)"
        }
    }
}
