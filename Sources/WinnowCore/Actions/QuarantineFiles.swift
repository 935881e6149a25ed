import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why one file was not moved into (or out of) the quarantine.
public enum QuarantineError: Error, CustomStringConvertible {
    /// The target would resolve outside the quarantine folder (a symbolic link inside it).
    case outsideQuarantine(String)
    case exists(String)
    case incompleteCopy(String)
    case system(String, String)

    public var description: String {
        switch self {
        case .outsideQuarantine(let path): "\(path) resolves outside the quarantine folder"
        case .exists(let path): "\(path) exists"
        case .incompleteCopy(let path): "copy to \(path) did not complete"
        case .system(let path, let reason): "\(path): \(reason)"
        }
    }
}

extension Quarantine {
    /// One line for an error: ours as written, the system's in its own words.
    static func reason(_ error: Error) -> String {
        (error as? QuarantineError)?.description ?? error.localizedDescription
    }

    /// A sample id as a path inside the quarantine: empty, `.` and `..` components and a
    /// leading `/` are dropped, so the path cannot leave the folder; with nothing left, the
    /// file's name (or `unnamed`).
    static func relativeTarget(for id: String, filename: String) -> String {
        func parts(_ path: String) -> [Substring] { path.split(separator: "/").filter { $0 != "." && $0 != ".." } }
        if !parts(id).isEmpty { return parts(id).joined(separator: "/") }
        return parts(filename).last.map(String.init) ?? "unnamed"
    }

    /// The first free path for `member` in `folder`: its relative target, else with ` (2)`, ` (3)`…
    /// A stale partial copy of our own (from a logged move that did not finish) is removed; any
    /// other file at a candidate path or its partial path makes the next candidate.
    static func freeTarget(for member: CleanPlan.Member, in folder: URL, logged: Set<String>) throws -> String {
        let first = folder.appendingPathComponent(relativeTarget(for: member.path, filename: member.filename))
        let parent = first.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try checkInside(parent, folder)
        let base = first.deletingPathExtension().lastPathComponent, ext = first.pathExtension
        var candidate = first.path, attempt = 2
        while true {
            if !exists(candidate) {
                if !exists(partialPath(for: candidate)) { return candidate }
                if logged.contains(candidate) {
                    try FileManager.default.removeItem(atPath: partialPath(for: candidate))
                    return candidate
                }
            }
            candidate = parent.appendingPathComponent("\(base) (\(attempt))" + (ext.isEmpty ? "" : ".\(ext)")).path
            attempt += 1
        }
    }

    /// Throws unless `directory`, with symbolic links resolved, is `folder` or inside it.
    private static func checkInside(_ directory: URL, _ folder: URL) throws {
        guard let inner = realPath(directory.path), let outer = realPath(folder.path),
              inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/") else {
            throw QuarantineError.outsideQuarantine(directory.path)
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What changed in a member's file since the run that planned it, or nil when it is the file
    /// the run saw (same size and modification time, and the same content hash).
    static func change(of member: CleanPlan.Member) -> String? {
        guard let path = member.location, let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            return "no longer exists"
        }
        if (attributes[.size] as? NSNumber)?.int64Value != member.fileSize { return "its size differs" }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? .nan
        if !(abs(modified - member.modificationTime) < 1e-6) { return "its modification time differs" }
        guard let expected = member.contentHash,
              let bytes = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            return "no finished run hashed it"
        }
        return expected.hasPrefix(bytes.withUnsafeBytes { ContentHash.hex($0) }) ? nil : "its content differs"
    }

    /// Where a copy across file systems is written before it is renamed to `path`: a hidden
    /// name no user file is expected to have.
    static func partialPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).winnow-partial").path
    }

    /// Removes the partial copy a logged move to `path` left behind, if any.
    static func removeOwnPartial(for path: String) {
        if exists(partialPath(for: path)) { try? FileManager.default.removeItem(atPath: partialPath(for: path)) }
    }

    /// Whether anything (a file, a folder, a dangling symbolic link) is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// `rename`, or across file systems: copy to the partial path, flush, check the size, rename,
    /// then unlink the source. A failed copy removes its partial file.
    static func relocate(from source: String, to target: String) throws {
        guard !exists(target) else { throw QuarantineError.exists(target) }
        if rename(source, target) == 0 { return }
        guard errno == EXDEV else { throw QuarantineError.system(target, String(cString: strerror(errno))) }
        let partial = partialPath(for: target)
        guard !exists(partial) else { throw QuarantineError.exists(partial) }
        do {
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
            defer { try? handle.close() }
            try handle.synchronize()
            let a = try FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber
            let b = try FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber
            guard a == b, !exists(target), rename(partial, target) == 0 else { throw QuarantineError.incompleteCopy(target) }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        try FileManager.default.removeItem(atPath: source)
    }

    /// Appends one move to the undo log and flushes it.
    static func append(_ move: Move, to log: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var line = try encoder.encode(move)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: log.path) {
            guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
                throw QuarantineError.system(log.path, "cannot create the undo log")
            }
        }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }
}
