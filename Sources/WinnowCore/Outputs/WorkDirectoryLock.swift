import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a work_dir cannot be used now.
public enum WorkDirectoryError: Error, Equatable, CustomStringConvertible {
    /// Another process holds the work_dir's lock (its pid, when known).
    case busy(path: String, pid: Int32?)
    /// The work_dir, or a file in it, cannot be created or written (read-only, full, no permission).
    case notWritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .busy(let path, let pid):
            "\(path) is in use by another winnow" + (pid.map { " (pid \($0))" } ?? "")
        case .notWritable(let path, let reason):
            "cannot write to work_dir \(path): \(reason)"
        }
    }
}

/// The exclusive right to change a work_dir: an `flock` on `.winnow.lock` inside it, taken by
/// `Run` and by `winnow clean` and `undo` for their whole length, and released when this object
/// goes away or the process ends (however it ends). The file holds the holder's pid, for the
/// message another command prints. Readers (`winnow serve`, `search`) take no lock: the catalog
/// gives them consistent snapshots and every output file is replaced by a rename.
public final class WorkDirectoryLock: Sendable {
    public static let fileName = ".winnow.lock"
    public let workDirectory: URL
    private let descriptor: Int32

    /// Takes the lock. Without `wait`, throws `.busy` at once when another process holds it.
    public init(workDirectory: URL, wait: Bool = false) throws(WorkDirectoryError) {
        let path = workDirectory.appendingPathComponent(Self.fileName).path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .notWritable(path: workDirectory.path, reason: String(cString: strerror(errno))) }
        while flock(descriptor, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let failure = errno
            if failure == EINTR { continue }
            let holder = Self.holder(descriptor)
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw .notWritable(path: workDirectory.path, reason: "cannot lock: " + String(cString: strerror(failure)))
            }
            throw .busy(path: workDirectory.path, pid: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 { _ = pwrite(descriptor, pid, pid.count, 0) }
        self.descriptor = descriptor
        self.workDirectory = workDirectory
    }

    deinit { close(descriptor) }

    /// The pid written by the current holder, if it is a running process.
    private static func holder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0, let pid = Int32(String(decoding: buffer[..<count], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
    }
}
