import Foundation

/// The index stage's results kept in the work_dir between runs — the kNN graph (`knn.bin`) and
/// the saved index `winnow search` loads — in a hidden folder named after everything they depend
/// on: the vectors' bytes, the metric, k and the index kind. A run killed after its index stage,
/// or run again with other thresholds, finds them there and does not build the index again.
/// Files are hard-linked into the run's staging folder, so keeping them costs no space.
struct IndexCache {
    static let folderPrefix = ".index-"
    let folder: URL

    /// The cache entry for `vectors` in `workDirectory`.
    init(workDirectory: URL, vectors: FeatureMatrix, metric: DistanceMetric, k: Int, kind: IndexKind) {
        folder = workDirectory.appendingPathComponent(Self.folderPrefix + Self.key(vectors, metric: metric, k: k, kind: kind))
    }

    /// XXH64 chained over a description of the index and the vectors' bytes, block by block (each
    /// block's mapped pages released after it), as 16 hex digits.
    static func key(_ vectors: FeatureMatrix, metric: DistanceMetric, k: Int, kind: IndexKind, blockRows: Int = 4096) -> String {
        let header = "winnow-index-v1 \(metric.rawValue) k=\(k) \(kind.rawValue) \(vectors.rows)×\(vectors.dimension)"
        var hash = Array(header.utf8).withUnsafeBytes { ContentHash.xxh64($0) }
        for start in stride(from: 0, to: vectors.rows, by: blockRows) {
            let rows = start..<min(vectors.rows, start + blockRows)
            vectors.withValues { all in
                let block = UnsafeBufferPointer(rebasing: all[(rows.lowerBound * vectors.dimension)..<(rows.upperBound * vectors.dimension)])
                hash = ContentHash.xxh64(UnsafeRawBufferPointer(block), seed: hash)
            }
            vectors.releasePages(rows: rows)
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    var graphURL: URL { folder.appendingPathComponent(KNNGraph.fileName) }

    /// The graph a finished earlier index stage left for these vectors: complete (it is written
    /// through a temporary file and renamed, after the index was saved) and of the expected shape.
    func finishedGraph(rows: Int, k: Int) -> KNNGraph? {
        guard let graph = try? KNNGraph(contentsOf: graphURL), graph.rows == rows, graph.k == k else { return nil }
        return graph
    }

    /// Removes every cache entry of `workDirectory` (older vectors' too) and makes this one's
    /// folder, empty.
    func prepare() throws {
        let workDirectory = folder.deletingLastPathComponent()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workDirectory.path)) ?? []
        where name.hasPrefix(Self.folderPrefix) {
            try FileManager.default.removeItem(at: workDirectory.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
    }

    /// Hard-links (or, where that fails, copies) every file of the entry into `directory`.
    func link(into directory: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let source = folder.appendingPathComponent(name), target = directory.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: target)
            if Foundation.link(source.path, target.path) != 0 { try FileManager.default.copyItem(at: source, to: target) }
        }
    }
}
