import Crypto
import Foundation

/// The local folder objects are copied to (`--sync-s3-to-local DIR`, or the work_dir's
/// `s3_objects`): `bucket/key` for `s3://` objects, `host_port/bucket/key` for `minio://` ones,
/// with the ETag and size of every copy winnow made in `.winnow-s3-manifest.tsv`. A copy whose
/// ETag and size match the object is not downloaded again; a file winnow did not put there is
/// never overwritten.
struct ObjectMirror: Sendable {
    static let manifestName = ".winnow-s3-manifest.tsv"
    /// Where keys that cannot be file paths (`..`, empty or over-long parts) are stored, by hash.
    static let hashedFolder = "_winnow_hashed_keys"
    let root: URL

    /// What the manifest says about one local copy.
    struct Entry: Sendable, Equatable {
        var etag: String
        var byteCount: Int64
    }

    /// The copy's path under ``root``: the key's own path when every part is a usable file
    /// name, else a hash of the key (keeping a short extension) under ``hashedFolder``.
    func relativePath(of address: S3Address) -> String {
        let top = (address.server.map { $0.replacingOccurrences(of: ":", with: "_") + "/" } ?? "") + address.bucket
        let parts = address.key.split(separator: "/", omittingEmptySubsequences: false)
        let usable = address.key.utf8.count <= 1024 && parts.allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && part.utf8.count <= 200 && !part.hasSuffix(ObjectFile.partialSuffix)
                && !part.contains("\0") && !(part == Substring(Self.hashedFolder))
        }
        if usable { return top + "/" + address.key }
        let ext = (address.key as NSString).pathExtension
        let suffix = ext.count <= 8 && ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) && !ext.isEmpty ? "." + ext : ""
        return top + "/" + Self.hashedFolder + "/" + SHA256.hash(data: Data(address.key.utf8)).hexString + suffix
    }

    /// The manifest's entries by relative path (the last line for a path wins).
    func loadManifest() -> [String: Entry] {
        guard let text = try? String(contentsOf: root.appendingPathComponent(Self.manifestName), encoding: .utf8) else { return [:] }
        var entries: [String: Entry] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, let size = Int64(fields[1]), let path = String(fields[2]).removingPercentEncoding else { continue }
            entries[path] = Entry(etag: String(fields[0]), byteCount: size)
        }
        return entries
    }

    /// Adds one line to the manifest (a copy just made).
    func record(_ entry: Entry, at path: String) throws(S3Error) {
        let line = Self.line(entry, path)
        let file = root.appendingPathComponent(Self.manifestName).path
        let descriptor = open(file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .local(what: file, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let bytes = Array(line.utf8)
        guard Glibc.write(descriptor, bytes, bytes.count) == bytes.count else {
            throw .local(what: file, reason: String(cString: strerror(errno)))
        }
    }

    /// Rewrites the manifest with one line per copy still on disk (atomically: a new file renamed over it).
    func compact(_ entries: [String: Entry]) throws(S3Error) {
        let file = root.appendingPathComponent(Self.manifestName)
        let text = entries.sorted { $0.key < $1.key }.map { Self.line($0.value, $0.key) }.joined()
        do { try Data(text.utf8).write(to: file, options: .atomic) } catch {
            throw .local(what: file.path, reason: oneLine(error.localizedDescription))
        }
    }

    private static func line(_ entry: Entry, _ path: String) -> String {
        let etag = entry.etag.filter { $0 != "\t" && $0 != "\n" && $0 != "\r" }
        return "\(etag)\t\(entry.byteCount)\t\(SignatureV4.uriEncode(path, keepingSlash: true))\n"
    }

    /// The size of the regular file at `path` (links not followed), or nil when there is none.
    static func regularFileSize(_ path: String) -> Int64? {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(status.st_size)
    }

    /// Whether anything (a file, a folder, a link) is at `path`.
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }
}
