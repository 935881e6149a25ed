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

/// Streams the members of tar, tar.gz / tgz and zip archives with libarchive, without
/// extracting them to disk. Members are read in archive order, one pass per call.
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

    /// Reads the current member in chunks, never beyond `maximumFileBytes` and never
    /// allocating more than the bytes actually read (the header's size may lie).
    private func readMember(_ archive: OpaquePointer, path: String, declaredSize: Int64) -> Result<[UInt8], InvalidSample> {
        let name = "\(url.lastPathComponent)/\(path)"
        if declaredSize > maximumFileBytes { return .failure(tooLarge(name, "of \(declaredSize) bytes is")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(min(max(0, declaredSize), 1 << 24)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { archive_read_data(archive, $0, buffer.count) } ?? -1
            }
            if got < 0 { return .failure(InvalidSample(.unreadable, "\(name): \(libarchiveMessage(archive))")) }
            if got == 0 { break }
            if Int64(bytes.count + got) > maximumFileBytes {
                return .failure(tooLarge(name, "inflates to more bytes than its header says, and is"))
            }
            bytes += chunk.prefix(got)
        }
        if Int64(bytes.count) < declaredSize {
            return .failure(InvalidSample(.unreadable, "\(name): archive ends after \(bytes.count) of \(declaredSize) bytes"))
        }
        return .success(bytes)
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
