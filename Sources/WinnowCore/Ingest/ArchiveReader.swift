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
            var bytes = [UInt8](repeating: 0, count: Int(max(0, size)))
            var filled = 0
            var failure: String?
            bytes.withUnsafeMutableBytes { buffer in
                while filled < buffer.count {
                    let got = archive_read_data(archive, buffer.baseAddress! + filled, buffer.count - filled)
                    if got < 0 { failure = String(cString: archive_error_string(archive)); break }
                    if got == 0 { break }
                    filled += got
                }
            }
            if let failure {
                return body(path, .failure(InvalidSample(.unreadable, "\(url.lastPathComponent)/\(path): \(failure)")))
            }
            if filled < bytes.count {
                return body(path, .failure(InvalidSample(.unreadable,
                    "\(url.lastPathComponent)/\(path): archive ends after \(filled) of \(bytes.count) bytes")))
            }
            return body(path, .success(bytes))
        }
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
            throw ArchiveError(message: String(cString: archive_error_string(archive)))
        }
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError(message: String(cString: archive_error_string(archive)))
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
