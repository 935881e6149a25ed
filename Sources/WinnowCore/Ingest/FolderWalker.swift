import Foundation

/// Walks a folder tree in name order, following symbolic links to files and folders. Each
/// folder is walked once (a link back to a folder being walked is reported as a loop; another
/// link to a folder already walked adds nothing), hidden names and `excluded` folders are passed
/// over, and everything else that cannot be used is reported with the reason.
struct FolderWalker {
    /// A regular file found: its path, its path relative to the root, and its status.
    struct File {
        var path: String
        var relative: String
        var status: FileStatus
    }

    /// Folders never entered (the work_dir).
    var excluded: Set<FileIdentity>

    /// What a walk found: the regular files, and the entries passed over with the reason.
    struct Found {
        var files: [File] = []
        var skipped: [(relative: String, reason: String)] = []
    }

    /// The regular files under the folder `root` (whose identity is `rootIdentity`), in name order.
    func walk(_ root: String, rootIdentity: FileIdentity) -> Found {
        var found = Found()
        func skip(_ relative: String, _ reason: String) { found.skipped.append((relative, reason)) }
        var pending = [(path: root, relative: "")]
        var walked: [FileIdentity: String] = [rootIdentity: ""]
        while let folder = pending.popLast() {
            let names: [DirectoryName]
            switch Self.list(folder.path) {
            case .success(let listed): names = listed
            case .failure(let error):
                skip(folder.relative, "cannot list this folder: \(error)")
                continue
            }
            var subfolders: [(path: String, relative: String)] = []
            for name in names {
                let relative = folder.relative.isEmpty ? name.text : folder.relative + "/" + name.text
                guard name.isUTF8 else {
                    skip(relative, "the name is not valid UTF-8 (shown with \u{FFFD}); rename it to include it")
                    continue
                }
                let path = folder.path + "/" + name.text
                switch FileStatus.of(path) {
                case .failure(let error):
                    skip(relative, Self.unreachable(path, error))
                case .success(let status) where status.kind == .directory:
                    guard !excluded.contains(status.identity) else { continue }
                    if let first = walked[status.identity] {
                        if first.isEmpty || relative.hasPrefix(first + "/") {
                            skip(relative, "symbolic link loop (leads back to \(first.isEmpty ? "the input folder" : first)); not followed")
                        }
                        continue
                    }
                    walked[status.identity] = relative
                    subfolders.append((path, relative))
                case .success(let status) where status.kind == .regular:
                    found.files.append(File(path: path, relative: relative, status: status))
                case .success(let status):
                    skip(relative, "not a regular file (\(status.kind))")
                }
            }
            pending += subfolders.reversed()
        }
        return found
    }

    /// Why `stat` failed on an entry: a broken or looping symbolic link, or the system's reason.
    private static func unreachable(_ path: String, _ error: FileError) -> String {
        guard error == .system(ENOENT), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
            return error == .system(ELOOP) ? "symbolic link loop; not followed" : "\(error)"
        }
        return "broken symbolic link (to \(target))"
    }

    /// One name in a folder; `text` is lossy (U+FFFD) when the bytes are not UTF-8.
    struct DirectoryName {
        var text: String
        var isUTF8: Bool
    }

    /// The names in a folder, sorted, without hidden ones (and `.`, `..`).
    static func list(_ path: String) -> Result<[DirectoryName], FileError> {
        guard let directory = opendir(path) else { return .failure(.system(errno)) }
        defer { closedir(directory) }
        var names: [DirectoryName] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { return .failure(.system(errno)) }
                break
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard bytes.first != UInt8(ascii: ".") else { continue }
            if let text = String(validating: bytes, as: UTF8.self) {
                names.append(DirectoryName(text: text, isUTF8: true))
            } else {
                names.append(DirectoryName(text: String(decoding: bytes, as: UTF8.self), isUTF8: false))
            }
        }
        return .success(names.sorted { $0.text < $1.text })
    }
}
