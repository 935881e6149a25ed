import Foundation

/// The index stage's results kept in the work_dir between runs — the kNN graph (`knn.bin`) and
/// the saved index `winnow search` loads — in a hidden folder named after everything they depend
/// on: the vectors' bytes, the metric, k and the index kind. A run killed after its index stage,
/// or run again with other thresholds, finds them there and does not build the index again; one
/// killed while it searched the neighbours loads the saved index and goes on with the graph
/// from its last written block. Files are hard-linked into the run's staging folder, so keeping
/// them costs no space.
struct IndexCache {
    static let folderPrefix = ".index-"
    let folder: URL

    /// The cache entry for `vectors` in `workDirectory`.
    init(workDirectory: URL, vectors: FeatureMatrix, metric: DistanceMetric, k: Int, kind: IndexKind, listRows: Int? = nil) {
        folder = workDirectory.appendingPathComponent(Self.folderPrefix + Self.key(vectors, metric: metric, k: k, kind: kind,
                                                                                    listRows: listRows))
    }

    /// XXH64 chained over a description of the index (for a list index, its list size, lists a
    /// row and centroid fit too: lists cached before spherical k-means are not reused) and the
    /// vectors' bytes, as 16 hex digits.
    static func key(_ vectors: FeatureMatrix, metric: DistanceMetric, k: Int, kind: IndexKind, listRows: Int? = nil) -> String {
        let lists = kind == .lists ? " lists=\(listRows ?? ListIndex.defaultListRows)×\(ListIndex.listsPerRow) spherical" : ""
        let header = "winnow-index-v1 \(metric.rawValue) k=\(k) \(kind.rawValue)\(lists) \(vectors.rows)×\(vectors.dimension)"
        return ContentHash.hex(vectors.contentHash(seed: Array(header.utf8).withUnsafeBytes { ContentHash.xxh64($0) }))
    }

    /// The key the folder is named after.
    var key: String { String(folder.lastPathComponent.dropFirst(Self.folderPrefix.count)) }

    var graphURL: URL { folder.appendingPathComponent(KNNGraph.fileName) }

    /// The graph a finished earlier index stage left for these vectors: complete (it is written
    /// through a temporary file and renamed, after the index was saved) and of the expected shape.
    func finishedGraph(rows: Int, k: Int) -> KNNGraph? {
        guard let graph = try? KNNGraph(contentsOf: graphURL), graph.rows == rows, graph.k == k else { return nil }
        return graph
    }

    var indexURL: URL { folder.appendingPathComponent(SimilaritySearch.indexFileName) }

    /// The index an earlier run saved here for these vectors before it was stopped (nil: none,
    /// or not readable as one of `kind` over `vectors`). Saved indexes are complete or absent
    /// (written through a temporary file and renamed).
    func savedIndex(vectors: FeatureMatrix, kind: IndexKind) -> (any SimilarityIndex)? {
        guard FileManager.default.fileExists(atPath: indexURL.path) else { return nil }
        let index: (any SimilarityIndex)?
        switch kind {
        case .flat: index = nil
        case .projected: index = try? ProjectedIndex.load(from: indexURL, vectors: vectors)
        case .hnsw, .ivf: index = try? ApproximateIndex.load(from: indexURL)
        case .lists: index = try? ListIndex.load(from: indexURL, vectors: vectors)
        }
        guard let index, index.count == vectors.rows, index.dimension == vectors.dimension else { return nil }
        return index
    }

    /// Removes every other cache entry of the work_dir (older vectors' too) and makes this one's
    /// folder, keeping what it holds (a saved index, a partly written graph).
    func prepare() throws {
        let workDirectory = folder.deletingLastPathComponent()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workDirectory.path)) ?? []
        where name.hasPrefix(Self.folderPrefix) && name != folder.lastPathComponent {
            try FileManager.default.removeItem(at: workDirectory.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    /// Hard-links (or, where that fails, copies) every file of the entry into `directory`.
    func link(into directory: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where !KNNGraphWriter.isPartial(name) {
            let source = folder.appendingPathComponent(name), target = directory.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: target)
            if Foundation.link(source.path, target.path) != 0 { try FileManager.default.copyItem(at: source, to: target) }
        }
    }
}
