import Foundation

/// Turns the tail of a request path into a file inside a root folder, or refuses it. The path
/// is never joined blindly: it is percent-decoded once, every component must be a plain name
/// (no `..`, `.`, empty, hidden, backslash or NUL), and the real path of the result (symlinks
/// resolved) must still lie inside the real path of the root and be a regular file.
enum SafePath {
    static func resolve(_ encoded: Substring, under root: URL) -> URL? {
        guard let decoded = String(encoded).removingPercentEncoding, !decoded.isEmpty, !decoded.hasPrefix("/") else { return nil }
        let components = decoded.split(separator: "/", omittingEmptySubsequences: false)
        for component in components {
            guard !component.isEmpty, !component.hasPrefix("."),
                  !component.contains(where: { $0 == "\\" || $0 == "\0" || $0.isNewline }) else { return nil }
        }
        guard let realRoot = realPath(root.path) else { return nil }
        let candidate = components.reduce(URL(fileURLWithPath: realRoot)) { $0.appendingPathComponent(String($1)) }
        guard let real = realPath(candidate.path), real.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") else {
            return nil
        }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return URL(fileURLWithPath: real)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
