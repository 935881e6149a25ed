import Foundation

/// Where the video members of archives are extracted so that their frames are read like videos
/// on disk: one file per member in a folder of the work_dir, never named by the member's path
/// (which may be `../x.mp4`, absolute, very long or not UTF-8) but by hashes of it and of the
/// archive: `<archive path and member>-<archive size and mtime>.<extension>`. A later run
/// reuses a file whose archive is unchanged and whose size is the member's (within
/// `maximumFileBytes`); a changed archive's member is extracted anew, and its earlier file removed.
public struct ArchiveVideoFolder: Sendable {
    /// The folder's name in the work_dir.
    public static let name = "archive_videos"
    public var url: URL
    /// Members larger than this (uncompressed) are not extracted (`--max-file-bytes`).
    public var maximumFileBytes: Int64
    /// Bytes the videos extracted in one run may take (nil: half the free space of the disk).
    public var diskLimit: Int?

    /// The folder of the work_dir at `workDirectory`.
    public init(workDirectory: URL, maximumFileBytes: Int64 = DecodeLimits.defaultMaximumFileBytes, diskLimit: Int? = nil) {
        url = workDirectory.appendingPathComponent(Self.name)
        (self.maximumFileBytes, self.diskLimit) = (maximumFileBytes, diskLimit)
    }

    /// The files holding `members` (video members of the archive at `archive`, whose status is
    /// `status`), extracted now unless an earlier run did, by member path; or why a member
    /// cannot be. Extraction claims its bytes from `allowance`.
    func files(for members: [ArchiveMember], of archive: URL, status: FileStatus,
               allowance: DiskAllowance) -> [String: Result<String, InvalidSample>] {
        let archivePath = realPath(archive.path) ?? archive.standardizedFileURL.path
        let version = Self.hash("\(status.byteCount) \(status.modificationTime)")
        let earlier = Dictionary(grouping: (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []) { $0.prefix(17) }
        var files: [String: Result<String, InvalidSample>] = [:], wanted: [String: String] = [:]
        for member in members {
            let stem = Self.hash(archivePath + "\0" + member.path) + "-"
            let file = url.appendingPathComponent(stem + version + "." + (member.path as NSString).pathExtension.lowercased()).path
            files[member.path] = .success(file)
            if member.byteCount <= maximumFileBytes, case .success(let found) = FileStatus.of(file), found.kind == .regular,
               found.byteCount == member.byteCount { continue }
            wanted[member.path] = file
            for name in earlier[Substring(stem)] ?? [] { unlink(url.appendingPathComponent(name).path) }
        }
        guard !wanted.isEmpty else { return files }
        let problems: [String: InvalidSample]
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            problems = try ArchiveReader(url: archive, maximumFileBytes: maximumFileBytes).copyMembers(wanted, allowance: allowance)
        } catch {
            let reason = (error as? ArchiveError)?.message ?? "cannot create \(url.path): \(error.localizedDescription)"
            problems = Dictionary(uniqueKeysWithValues: wanted.keys.map {
                ($0, InvalidSample(.unreadable, "\(archive.lastPathComponent)/\($0): not extracted: \(reason)"))
            })
        }
        for (path, problem) in problems { files[path] = .failure(problem) }
        return files
    }

    /// Bytes extraction may write in one run: `diskLimit`, else half the free space of the disk
    /// holding the work_dir.
    func allowance() -> DiskAllowance {
        DiskAllowance(limit: DiskAllowance.limit(diskLimit, onDiskOf: url.path))
    }

    private static func hash(_ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { ContentHash.hex($0) }
    }
}
