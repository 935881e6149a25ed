import CArchive
import Foundation

/// One regular file inside an archive.
struct ArchiveMember: Sendable {
    var path: String
    var byteCount: Int64
    var modificationTime: Double
    /// First bytes, read only for members whose name does not tell whether they are images.
    var head: [UInt8]
}

/// A failure to read an archive or one of its members, with libarchive's message.
struct ArchiveError: Error {
    var message: String
}

/// Streams the members of tar, tar.gz / tgz and zip archives with libarchive: into memory, or
/// (videos) copied to files. Members are read in archive order, one pass per call.
struct ArchiveReader: Sendable {
    let url: URL
    /// Members larger than this (uncompressed) are refused, never inflated whole.
    var maximumFileBytes: Int64 = DecodeLimits.defaultMaximumFileBytes

    /// Lists the regular files in the archive.
    func listMembers() throws(ArchiveError) -> [ArchiveMember] {
        var members: [ArchiveMember] = []
        try forEachEntry { archive, path, size, mtime in
            var head: [UInt8] = []
            let ext = (path as NSString).pathExtension.lowercased()
            if !imageExtensions.contains(ext) && !sidecarExtensions.contains(ext) {
                head = [UInt8](repeating: 0, count: 64)
                let got = head.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress, 64) }
                head = Array(head.prefix(max(0, got)))
            }
            members.append(ArchiveMember(path: path, byteCount: size, modificationTime: mtime, head: head))
            return true
        }
        return members
    }

    /// Reads the members named in `wanted`, in archive order, handing each one's bytes (or the
    /// reason they could not be read) to `body`. Stops early when `body` returns false.
    func readMembers(_ wanted: Set<String>,
                     _ body: (String, Result<[UInt8], InvalidSample>) -> Bool) throws(ArchiveError) {
        try forEachEntry { archive, path, size, _ in
            guard wanted.contains(path) else { return true }
            return body(path, readMember(archive, path: path, declaredSize: size))
        }
    }

    /// Copies the members named in `wanted` (member path → destination file) in archive order,
    /// streamed in chunks, each to a temporary name renamed into place once whole. Every byte
    /// written past a member's declared size is claimed from `allowance` first. Returns why each
    /// member that was not copied could not be.
    func copyMembers(_ wanted: [String: String], allowance: DiskAllowance) throws(ArchiveError) -> [String: InvalidSample] {
        var left = wanted, problems: [String: InvalidSample] = [:]
        try forEachEntry { archive, path, size, _ in
            guard let destination = left.removeValue(forKey: path) else { return true }
            problems[path] = copyMember(archive, path: path, declaredSize: size, to: destination, allowance: allowance)
            return !left.isEmpty
        }
        for path in left.keys { problems[path] = InvalidSample(.unreadable, "\(url.lastPathComponent)/\(path): not found in the archive") }
        return problems
    }

    private func copyMember(_ archive: OpaquePointer, path: String, declaredSize: Int64, to destination: String,
                            allowance: DiskAllowance) -> InvalidSample? {
        let name = "\(url.lastPathComponent)/\(path)"
        if declaredSize > maximumFileBytes { return tooLarge(name, "of \(declaredSize) bytes is") }
        guard allowance.claim(Int(max(0, declaredSize))) else { return noRoom(name, allowance) }
        let temporary = "\(destination).\(getpid()).part"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return InvalidSample(.unreadable, "\(name): cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var written: Int64 = 0
        var problem = streamMember(archive, name: name, declaredSize: declaredSize) { chunk in
            written += Int64(chunk.count)
            if written > declaredSize, !allowance.claim(chunk.count) { return noRoom(name, allowance) }
            return writeAll(descriptor, chunk) ? nil : InvalidSample(.unreadable, "\(name): cannot write \(temporary): "
                                                                    + String(cString: strerror(errno)))
        }
        close(descriptor)
        if problem == nil, rename(temporary, destination) != 0 {
            problem = InvalidSample(.unreadable, "\(name): cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
        if problem != nil { unlink(temporary) }
        return problem
    }

    /// Reads the current member whole, never allocating more than the bytes actually read (the
    /// header's size may lie).
    private func readMember(_ archive: OpaquePointer, path: String, declaredSize: Int64) -> Result<[UInt8], InvalidSample> {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(min(max(0, declaredSize), 1 << 24)))
        let problem = streamMember(archive, name: "\(url.lastPathComponent)/\(path)", declaredSize: declaredSize) { chunk in
            bytes += chunk
            return nil
        }
        return problem.map { .failure($0) } ?? .success(bytes)
    }

    /// Hands the current member's bytes to `take` in chunks, never beyond `maximumFileBytes`;
    /// the first problem (`take`'s own, a read error, a member ending short of its header's
    /// size) stops it and is returned.
    private func streamMember(_ archive: OpaquePointer, name: String, declaredSize: Int64,
                              _ take: (UnsafeRawBufferPointer) -> InvalidSample?) -> InvalidSample? {
        if declaredSize > maximumFileBytes { return tooLarge(name, "of \(declaredSize) bytes is") }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var total: Int64 = 0
        while true {
            let got = chunk.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { archive_read_data(archive, $0, buffer.count) } ?? -1
            }
            if got < 0 { return InvalidSample(.unreadable, "\(name): \(libarchiveMessage(archive))") }
            if got == 0 { break }
            total += Int64(got)
            if total > maximumFileBytes { return tooLarge(name, "inflates to more bytes than its header says, and is") }
            if let problem = chunk.withUnsafeBytes({ take(UnsafeRawBufferPointer(rebasing: $0.prefix(got))) }) { return problem }
        }
        if total < declaredSize { return InvalidSample(.unreadable, "\(name): archive ends after \(total) of \(declaredSize) bytes") }
        return nil
    }

    private func noRoom(_ name: String, _ allowance: DiskAllowance) -> InvalidSample {
        InvalidSample(.unreadable, "\(name): not extracted: the videos extracted from archives in one run may take "
                      + "\(allowance.limit) bytes of disk at most")
    }

    /// `what` ends in "is" ("of 2147483648 bytes is"): a member over the size limit.
    private func tooLarge(_ name: String, _ what: String) -> InvalidSample {
        InvalidSample(.unsupportedFormat, "\(name): archive member \(what) over the limit of "
                      + "\(maximumFileBytes) bytes (--max-file-bytes); not read")
    }

    private func forEachEntry(
        _ visit: (OpaquePointer, String, Int64, Double) -> Bool
    ) throws(ArchiveError) {
        guard let archive = archive_read_new() else { throw ArchiveError(message: "libarchive: out of memory") }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        archive_read_support_format_zip(archive)
        guard archive_read_open_filename(archive, url.path, 1 << 16) == ARCHIVE_OK else {
            throw ArchiveError(message: libarchiveMessage(archive))
        }
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError(message: libarchiveMessage(archive))
            }
            guard archive_entry_filetype(entry) == 0o100000 /* AE_IFREG */, let name = archive_entry_pathname(entry) else {
                continue
            }
            var path = String(cString: name)
            while path.hasPrefix("./") { path.removeFirst(2) }
            let base = (path as NSString).lastPathComponent
            if base.hasPrefix(".") || path.hasPrefix("__MACOSX/") { continue }
            let size = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
            let mtime = Double(archive_entry_mtime(entry))
            if !visit(archive, path, size, mtime) { return }
        }
    }
}

/// libarchive's last error as one line ("unknown error" when it gave none).
private func libarchiveMessage(_ archive: OpaquePointer) -> String {
    guard let text = archive_error_string(archive) else { return "unknown libarchive error" }
    return oneLine(String(cString: text))
}

/// Writes all of `bytes` to `descriptor` (retrying short writes and EINTR); false on failure.
private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        guard let base = bytes.baseAddress else { return false }
        let done = write(descriptor, base + offset, bytes.count - offset)
        if done < 0 && errno == EINTR { continue }
        guard done > 0 else { return false }
        offset += done
    }
    return true
}
