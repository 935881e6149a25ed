import Foundation

/// A file's device and inode: one physical file, however many paths lead to it.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}

/// What `stat` tells about a path, symbolic links followed.
struct FileStatus: Sendable {
    enum Kind: Sendable, Equatable, CustomStringConvertible {
        case regular, directory
        /// Anything else (FIFO, device, socket), described for messages: "a FIFO".
        case other(String)

        var description: String {
            switch self {
            case .regular: "a regular file"
            case .directory: "a folder"
            case .other(let kind): kind
            }
        }
    }

    var identity: FileIdentity
    var kind: Kind
    /// Hard links to the file (names in folders).
    var linkCount: UInt64
    var byteCount: Int64
    /// Seconds since 1970, as Foundation reports a file's modification date (resume compares them).
    var modificationTime: Double

    init(_ status: stat) {
        identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        linkCount = UInt64(status.st_nlink)
        byteCount = Int64(status.st_size)
        // Foundation's formula, to the last bit (through the reference date): resume compares these.
        modificationTime = Date(timeIntervalSinceReferenceDate: Double(status.st_mtim.tv_sec)
            - Date.timeIntervalBetween1970AndReferenceDate + Double(status.st_mtim.tv_nsec) / 1_000_000_000).timeIntervalSince1970
        switch status.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFIFO: kind = .other("a FIFO")
        case S_IFCHR: kind = .other("a character device")
        case S_IFBLK: kind = .other("a block device")
        case S_IFSOCK: kind = .other("a socket")
        default: kind = .other("not a file")
        }
    }

    /// The status of `path`, following symbolic links.
    static func of(_ path: String) -> Result<FileStatus, FileError> {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(.system(errno)) }
        return .success(FileStatus(status))
    }
}

/// Why a path could not be used as a file.
enum FileError: Error, Equatable, CustomStringConvertible {
    /// A failed system call, with its errno.
    case system(Int32)
    /// Not a regular file: `kind` says what it is ("a FIFO").
    case notRegular(String)
    /// The file held more bytes than its size said when it was opened.
    case grew(expected: Int)
    /// The file is larger than the caller allows: it was not read.
    case tooLarge(byteCount: Int64, limit: Int64)

    var description: String {
        switch self {
        case .system(let code): String(cString: strerror(code))
        case .notRegular(let kind): "not a regular file (\(kind))"
        case .grew(let expected): "grew beyond its \(expected) bytes while being read"
        case .tooLarge(let byteCount, let limit): "file of \(byteCount) bytes is over the limit of \(limit) bytes"
        }
    }
}

/// Reads regular files only: FIFOs, devices and sockets are refused before opening (stat) and
/// again after (fstat on a descriptor opened non-blocking), so a read never blocks, and never
/// takes more than the size the file had when opened (plus `slack` for a file being appended to).
/// POSIX calls: Foundation's FileHandle.readToEnd cost about 1 ms a file (chunked reads into a
/// growing Data, then a copy), as much as decoding a 640-px JPEG.
public enum RegularFile {
    static let slack = 1 << 20

    /// The bytes of the regular file at `path` (the first `limit` with one), or nil for a FIFO,
    /// device or socket, a missing or unreadable file, or one over `maximumBytes`. Never blocks.
    public static func contents(atPath path: String, limit: Int? = nil, maximumBytes: Int64 = .max) -> [UInt8]? {
        try? read(path, limit: limit, maximumBytes: maximumBytes).get()
    }

    /// The bytes of the regular file at `path`: the first `limit` bytes, or the whole file —
    /// refused unread when it is larger than `maximumBytes`.
    static func read(_ path: String, limit: Int? = nil, maximumBytes: Int64 = .max) -> Result<[UInt8], FileError> {
        switch FileStatus.of(path) {
        case .failure(let error): return .failure(error)
        case .success(let status) where status.kind != .regular: return .failure(.notRegular("\(status.kind)"))
        case .success: break
        }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(.system(errno)) }
        defer { close(descriptor) }
        var raw = stat()
        guard fstat(descriptor, &raw) == 0 else { return .failure(.system(errno)) }
        let opened = FileStatus(raw)
        guard opened.kind == .regular else { return .failure(.notRegular("\(opened.kind)")) }
        guard opened.byteCount <= maximumBytes else { return .failure(.tooLarge(byteCount: opened.byteCount, limit: maximumBytes)) }
        let expected = Int(max(0, opened.byteCount))
        let capacity = min(limit ?? Int.max, expected + slack)
        return readAll(descriptor, expected: expected, capacity: capacity).flatMap { bytes in
            limit == nil && bytes.count == capacity ? .failure(.grew(expected: expected)) : .success(bytes)
        }
    }

    /// Reads until end of file or `capacity` bytes, growing the buffer from `expected + 1`.
    private static func readAll(_ descriptor: Int32, expected: Int, capacity: Int) -> Result<[UInt8], FileError> {
        var bytes = [UInt8](repeating: 0, count: min(capacity, expected + 1))
        var length = 0
        while length < capacity {
            if length == bytes.count { bytes += [UInt8](repeating: 0, count: min(max(bytes.count, 65_536), capacity - length)) }
            let count = bytes.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { Glibc.read(descriptor, $0 + length, buffer.count - length) } ?? 0
            }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.system(errno))
            }
            length += count
        }
        bytes.removeSubrange(length...)
        return .success(bytes)
    }
}

/// The path with every symbolic link resolved, or nil when it does not exist.
func realPath(_ path: String) -> String? {
    guard let resolved = Glibc.realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
