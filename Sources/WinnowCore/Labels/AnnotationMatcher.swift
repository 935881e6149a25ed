import Foundation

/// Resolves the image names of annotation files to the run's samples: by the name as written
/// to the work_dir (`input/sub/a.jpg`), by the path relative to the input (`sub/a.jpg`), by
/// absolute path (relative names taken from the annotation file's folder or the current
/// folder), then by a unique path suffix. Names that match nothing are reported, not dropped.
public struct AnnotationMatcher: Sendable {
    private var exact: [String: Int] = [:]
    private var bySuffix: [String: [Int]] = [:]

    /// `samples`: each sample's work_dir name and input-relative path, in row order.
    public init(samples: [(filename: String, path: String)]) {
        for (row, sample) in samples.enumerated() {
            for key in [sample.filename, sample.path, Self.absolute(sample.filename)] where exact[key] == nil {
                exact[key] = row
            }
            let parts = sample.path.split(separator: "/")
            for start in parts.indices {
                bySuffix[parts[start...].joined(separator: "/"), default: []].append(row)
            }
        }
    }

    /// The sample row of `name`, read from an annotation file in `folder`; nil if none or ambiguous.
    public func row(for name: String, relativeTo folder: URL?) -> Int? {
        if let row = exact[name] { return row }
        if name.hasPrefix("/") { if let row = exact[Self.absolute(name)] { return row } } else {
            if let folder, let row = exact[folder.appendingPathComponent(name).standardizedFileURL.path] { return row }
            if let row = exact[Self.absolute(name)] { return row }
        }
        var trimmed = name
        while trimmed.hasPrefix("./") { trimmed.removeFirst(2) }
        if let rows = bySuffix[trimmed], rows.count == 1 { return rows[0] }
        return nil
    }

    private static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}
