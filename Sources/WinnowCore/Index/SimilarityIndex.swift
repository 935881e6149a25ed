import Foundation

/// A k-nearest-neighbour index over float32 vectors: the exact brute-force `ExactIndex` or the
/// Faiss-backed `ApproximateIndex`. Both give `Neighbor.distance` the same meaning (cosine:
/// `1 − cos`, euclidean: L2), so callers can switch between them by size alone.
public protocol SimilarityIndex: Sendable {
    /// Rows stored.
    var count: Int { get }
    var dimension: Int { get }
    var metric: DistanceMetric { get }
    var kind: IndexKind { get }
    /// The `k` nearest stored rows of each query row, nearest first. With `excludingSelf`, query
    /// row `i` is taken to be stored row `i` and never returned. Queries of another dimension:
    /// `ApproximateIndex` throws `IndexError.dimensionMismatch`; `ExactIndex` (whose search
    /// predates this protocol and does not throw) stops on a precondition.
    func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool) throws(IndexError) -> [[Neighbor]]
    /// Every stored row's `k` nearest other rows.
    func allNeighbors(k: Int) throws(IndexError) -> [[Neighbor]]
    /// The `k` nearest other rows of each stored row in `rows`: a block of `allNeighbors(k:)`.
    func neighbors(ofStoredRows rows: Range<Int>, k: Int) throws(IndexError) -> [[Neighbor]]
    /// ``writeNeighborGraph(k:to:blockRows:resumable:progress:)``'s work: by blocks of stored
    /// rows unless an index searches its own way (``ListIndex``: list by list); `progress` hears
    /// how many rows' neighbours are written.
    func writeAllNeighbors(k: Int, to url: URL, blockRows: Int, resumable: Bool,
                           progress: ((Int) -> Void)?) throws -> KNNGraph
    /// Appends rows; they get the next row numbers.
    mutating func add(_ vectors: FeatureMatrix) throws(IndexError)
    /// Writes the index so that `load(from:)` gives one that answers identically.
    func save(to url: URL) throws(IndexError)
    static func load(from url: URL) throws(IndexError) -> Self
}

/// Which index answers nearest-neighbour queries.
public enum IndexKind: String, Sendable, Codable, CaseIterable {
    /// `ExactIndex`: brute force through tiled BLAS sgemm; exact; all metrics.
    case flat
    /// `ApproximateIndex` with Faiss HNSW (graph): fast queries, slower build, more memory.
    case hnsw
    /// `ApproximateIndex` with Faiss IVF-flat (k-means lists): fast build, slower queries.
    case ivf
    /// `ProjectedIndex`: candidates from a 256-d PCA projection, re-ranked by exact cosine over the
    /// full vectors read from disk; memory about 1.3 KiB per row whatever the dimension; cosine only.
    case projected
    /// `ListIndex`: k-means lists, each row in its ``ListIndex/listsPerRow`` nearest, neighbours
    /// searched exactly among the members of a row's lists; searched list by list (shared by a
    /// cluster's workers).
    case lists

    /// Largest row count for which `automatic` picks the exact index.
    ///
    /// Measured for the real workload (every row's 10 nearest neighbours, 256-d cosine, 1000
    /// Gaussian clusters; `winnow-bench index --kind flat|hnsw --all-neighbors`) on the 2-vCPU
    /// reference machine (AMD EPYC Zen 5, Debian OpenBLAS 0.3.21, machine shared with other
    /// builds, so CPU seconds are the steadier figure):
    ///
    ///     rows    exact, CPU s (Haswell / Cooperlake kernels)   HNSW build + all, CPU s
    ///      25k     7.2 / –                                         16.3
    ///      50k    20.8 / 17.7                                      31.0
    ///      75k    52.0 / 31.0                                      40.2
    ///     100k    92.7 / 69.1                                      54.7
    ///
    /// The exact index grows with N², HNSW about with N: they cross near 65k rows with
    /// `OPENBLAS_CORETYPE=Haswell` (as that machine sets it) and near 85k with the kernels
    /// OpenBLAS picks itself. Up to 75k the exact index is kept: it is never slower by more than
    /// ~1.3× there, and it is exact.
    public static let exactRowLimit = 75_000

    /// The kind for `rows` vectors of `dimension` values: always flat for L1/L∞ (which only the
    /// exact index supports). For cosine over vectors longer than the projection, flat while its
    /// work (rows² × dimension) is at most that of `exactRowLimit` 256-d rows, projected beyond
    /// (its work grows with rows, not with the dimension). Otherwise flat up to `exactRowLimit`
    /// rows and HNSW above (both costs grow with the dimension, so that crossover does not move).
    public static func automatic(rows: Int, dimension: Int, metric: DistanceMetric) -> IndexKind {
        guard ApproximateIndex.supports(metric) else { return .flat }
        let projected = ProjectedIndex.defaultProjectedDimension
        guard metric == .cosine, dimension > projected else { return rows <= exactRowLimit ? .flat : .hnsw }
        let work = Double(rows) * Double(rows) * Double(dimension)
        return work <= Double(exactRowLimit) * Double(exactRowLimit) * Double(projected) ? .flat : .projected
    }
}

/// What went wrong in an index; `description` is one line.
public enum IndexError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// Vectors or queries of another dimension than the index's.
    case dimensionMismatch(expected: Int, actual: Int)
    /// A parameter out of range (k, M, nlist, …).
    case invalidParameter(String)
    /// The approximate index supports cosine and euclidean only.
    case unsupportedMetric(DistanceMetric)
    /// Faiss refused an operation; `message` is its own text.
    case faiss(operation: String, message: String)
    /// An index file could not be read or is not an index.
    case unreadable(path: String, reason: String)
    /// An index file could not be written.
    case unwritable(path: String, reason: String)

    public var description: String {
        let text: String
        switch self {
        case let .dimensionMismatch(expected, actual):
            text = "dimension mismatch: the index holds \(expected)-d vectors, got \(actual)-d"
        case let .invalidParameter(message): text = "invalid index parameter: \(message)"
        case let .unsupportedMetric(metric): text = "the approximate index does not support the \(metric.rawValue) metric"
        case let .faiss(operation, message): text = "faiss \(operation) failed: \(message)"
        case let .unreadable(path, reason): text = "cannot read index \(path): \(reason)"
        case let .unwritable(path, reason): text = "cannot write index \(path): \(reason)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var errorDescription: String? { description }
}

/// Builds the index `kind` (automatic by size when nil) over `vectors`; `listRows` sizes a
/// list index's lists (nil: its default).
public func buildSimilarityIndex(vectors: FeatureMatrix, metric: DistanceMetric = .cosine,
                                 kind: IndexKind? = nil, listRows: Int? = nil) throws(IndexError) -> any SimilarityIndex {
    switch kind ?? IndexKind.automatic(rows: vectors.rows, dimension: vectors.dimension, metric: metric) {
    case .flat: return ExactIndex(vectors: vectors, metric: metric)
    case .projected: return try ProjectedIndex(vectors: vectors, metric: metric)
    case .hnsw: return try ApproximateIndex(vectors: vectors, metric: metric, parameters: .hnsw())
    case .ivf: return try ApproximateIndex(vectors: vectors, metric: metric, parameters: .ivf(rows: vectors.rows))
    case .lists: return try ListIndex(vectors: vectors, metric: metric, listRows: listRows ?? ListIndex.defaultListRows)
    }
}

extension SimilarityIndex {
    /// Every stored row's `k` nearest other rows, searched `blockRows` rows at a time and written
    /// to the graph file `url` block by block (the exact index tiles 512 queries, so a block of
    /// a multiple of 512 rows gives exactly `allNeighbors(k:)`). `resumable`: a write stopped
    /// part-way goes on after its last finished block (see ``KNNGraphWriter``). `progress` hears
    /// how many rows' neighbours are written.
    public func writeNeighborGraph(k: Int, to url: URL, blockRows: Int = 4096, resumable: Bool = false,
                                   progress: ((Int) -> Void)? = nil) throws -> KNNGraph {
        try writeAllNeighbors(k: k, to: url, blockRows: blockRows, resumable: resumable, progress: progress)
    }

    public func writeAllNeighbors(k: Int, to url: URL, blockRows: Int, resumable: Bool,
                                  progress: ((Int) -> Void)?) throws -> KNNGraph {
        let rows = count
        let writer = try KNNGraphWriter(url: url, rows: rows, k: max(0, min(k, rows - 1)), metric: metric, resumable: resumable)
        for start in stride(from: writer.rowsWritten, to: rows, by: blockRows) {
            progress?(start)
            try writer.append(try neighbors(ofStoredRows: start..<min(rows, start + blockRows), k: k))
        }
        progress?(rows)
        return try writer.finish()
    }
}

/// Writes an index's manifest as JSON with sorted keys (temporary file, then rename).
func writeIndexManifest(_ manifest: some Encodable, to url: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try AtomicFile.write(try encoder.encode(manifest), to: url)
}

/// Loads an index saved by any kind: a Faiss index file, or an exact or projected index's manifest.
public func loadSimilarityIndex(from url: URL) throws(IndexError) -> any SimilarityIndex {
    let head: Data
    do {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        head = try handle.read(upToCount: 1) ?? Data()
    } catch {
        throw .unreadable(path: url.path, reason: error.localizedDescription)
    }
    guard head.first == UInt8(ascii: "{") else { return try ApproximateIndex.load(from: url) }
    struct Format: Decodable { var format: String? }
    let format = (try? JSONDecoder().decode(Format.self, from: Data(contentsOf: url)))?.format
    switch format {
    case ProjectedIndex.Manifest.format: return try ProjectedIndex.load(from: url)
    case ListIndex.Manifest.format: return try ListIndex.load(from: url)
    default: return try ExactIndex.load(from: url)
    }
}

// MARK: - The exact index as a SimilarityIndex

extension ExactIndex: SimilarityIndex {
    public var count: Int { vectors.rows }
    public var dimension: Int { vectors.dimension }
    public var kind: IndexKind { .flat }

    /// Appends rows. The exact index keeps one contiguous matrix, so this copies all rows
    /// (a mapped matrix becomes an in-memory one).
    public mutating func add(_ more: FeatureMatrix) throws(IndexError) {
        guard more.dimension == vectors.dimension else {
            throw .dimensionMismatch(expected: vectors.dimension, actual: more.dimension)
        }
        guard more.rows > 0 else { return }
        self = ExactIndex(vectors: vectors.appending(more), metric: metric)
    }

    /// Name of the raw float32 matrix next to a saved exact index (fastdup's layout, the same
    /// file a work_dir keeps its features in).
    public static let vectorsFileName = "atrain_features.dat"

    /// What `save(to:)` writes: the index is nothing but its vectors, which live in
    /// `atrain_features.dat` in the same folder.
    struct Manifest: Codable, Equatable {
        var format = "winnow-exact-index"
        var version = 1
        var metric: DistanceMetric
        var rows: Int
        var dimension: Int
        /// Relative to the manifest's folder.
        var vectors: String
    }

    /// Writes a small JSON manifest to `url`. The vectors themselves are expected in
    /// `atrain_features.dat` next to it (a work_dir already has them there): if that file
    /// exists with exactly rows × dimension float32 values it is left alone (its contents are
    /// trusted, not compared); if it is missing, the vectors are written there; if its size
    /// differs, saving fails rather than pointing the manifest at other vectors.
    public func save(to url: URL) throws(IndexError) {
        let vectorsURL = url.deletingLastPathComponent().appendingPathComponent(Self.vectorsFileName)
        let expectedBytes = vectors.rows * vectors.dimension * MemoryLayout<Float>.size
        let manager = FileManager.default
        do {
            if let size = (try? manager.attributesOfItem(atPath: vectorsURL.path))?[.size] as? Int {
                guard size == expectedBytes else {
                    throw IndexError.unwritable(path: url.path, reason: "\(vectorsURL.lastPathComponent) next to it has "
                        + "\(size) bytes, not the \(expectedBytes) of this index's \(vectors.rows)×\(vectors.dimension) vectors")
                }
            } else {
                let data = vectors.withValues { Data(buffer: $0) }
                try AtomicFile.write(data, to: vectorsURL)
            }
            try writeIndexManifest(Manifest(metric: metric, rows: vectors.rows, dimension: vectors.dimension,
                                            vectors: Self.vectorsFileName), to: url)
        } catch let error as IndexError {
            throw error
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads a manifest written by `save(to:)` and memory-maps its vectors.
    public static func load(from url: URL) throws(IndexError) -> ExactIndex {
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
        } catch {
            throw .unreadable(path: url.path, reason: "not an exact-index manifest (\(error.localizedDescription))")
        }
        guard manifest.format == "winnow-exact-index", manifest.version == 1, manifest.dimension > 0, manifest.rows >= 0,
              !manifest.vectors.contains("/") else {
            throw .unreadable(path: url.path, reason: "unsupported exact-index manifest")
        }
        let vectorsURL = url.deletingLastPathComponent().appendingPathComponent(manifest.vectors)
        let matrix: FeatureMatrix
        do {
            matrix = try FeatureMatrix(mapping: vectorsURL, dimension: manifest.dimension)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        guard matrix.rows == manifest.rows else {
            throw .unreadable(path: url.path, reason: "\(manifest.vectors) holds \(matrix.rows) rows, the manifest says \(manifest.rows)")
        }
        return ExactIndex(vectors: matrix, metric: manifest.metric)
    }
}
