import COpenBLAS
import Foundation

/// Cosine nearest neighbours of a large collection of long vectors in bounded memory: each
/// query's `candidates` nearest rows are found over a short PCA projection of the vectors, then
/// re-ranked by their exact cosine distance over the full vectors, read from their
/// memory-mapped file (the refine step of Faiss's `IndexRefine`, which keeps the full vectors in
/// memory instead).
///
/// The projection keeps the `projectedDimension` leading principal components of the unit
/// vectors (fitted on at most `fitRows` evenly spaced rows), each projected row L2-normalised;
/// the projected rows are searched exactly up to ``IndexKind/exactRowLimit`` rows and through
/// HNSW above, which stores them in half precision (the candidates are re-ranked exactly).
/// Memory: the projected rows (512 B each at 256-d in HNSW, plus its links) and a norm per row,
/// whatever the full dimension. Measured on the whitened 1,600-d copy descriptors of
/// 20,000 images: 256 components and 64 candidates find 0.996 of the exact 10 nearest
/// neighbours and 0.9994 of those with cosine ≥ 0.3 (docs/benchmarks.md).
public struct ProjectedIndex: SimilarityIndex {
    /// The full vectors: every distance returned is computed from them.
    public let vectors: FeatureMatrix
    /// Centred, unwhitened PCA (`PCAWhitening.fit(whitens: false)`).
    public let projection: PCAWhitening
    /// The index over the projected rows.
    public private(set) var coarse: any SimilarityIndex
    /// Rows the coarse index proposes per query (at least the k asked for).
    public let candidates: Int
    /// 1/‖x‖ of each full row (0 for a zero row).
    private var inverseNorms: [Float]

    public static let defaultProjectedDimension = 256
    public static let defaultCandidates = 64
    public static let defaultFitRows = 20_000
    /// Rows projected (and searched) per block: their unit-length copy is the block's scratch,
    /// 6.5 MB at 1,600-d.
    static let blockRows = 1024

    public var count: Int { vectors.rows }
    public var dimension: Int { vectors.dimension }
    public var metric: DistanceMetric { .cosine }
    public var kind: IndexKind { .projected }

    /// Fits the projection on `vectors` and indexes their projections: exactly when there are at
    /// most `exactCoarseRows` rows, else through HNSW.
    public init(vectors: FeatureMatrix, metric: DistanceMetric = .cosine,
                projectedDimension: Int = defaultProjectedDimension, candidates: Int = defaultCandidates,
                fitRows: Int = defaultFitRows, exactCoarseRows: Int = IndexKind.exactRowLimit) throws(IndexError) {
        guard metric == .cosine else { throw .unsupportedMetric(metric) }
        guard projectedDimension >= 1, candidates >= 1, fitRows >= 2 else {
            throw .invalidParameter("the projected index needs a dimension, candidates ≥ 1 and ≥ 2 fit rows "
                + "(got \(projectedDimension), \(candidates), \(fitRows))")
        }
        guard vectors.rows >= 2 else { throw .invalidParameter("the projected index needs at least 2 rows, got \(vectors.rows)") }
        let options = PCAWhitening.Options(dimensions: projectedDimension, dimensionsPerVector: nil, ledoitWolf: false,
                                           maximumFitRows: fitRows)
        let projection: PCAWhitening
        do { projection = try PCAWhitening.fit(vectors, options: options, whitens: false) } catch {
            throw .invalidParameter("cannot fit the projection: \(error)")
        }
        var coarse: any SimilarityIndex
        if vectors.rows <= exactCoarseRows {
            coarse = Self.emptyExactIndex(dimension: projection.outputDimension)
        } else {
            let hnsw = try ApproximateIndex(dimension: projection.outputDimension, metric: .cosine,
                                            parameters: .hnsw(efSearch: max(64, candidates), halfPrecision: true))
            try hnsw.reserveCapacity(vectors.rows)
            coarse = hnsw
        }
        self.vectors = vectors
        self.projection = projection
        self.candidates = candidates
        self.coarse = coarse
        inverseNorms = []
        try append(vectors)
    }

    static func emptyExactIndex(dimension: Int) -> ExactIndex {
        ExactIndex(vectors: FeatureMatrix(rows: 0, dimension: dimension, values: []), metric: .cosine)
    }

    /// Projects and indexes `more` block by block, keeping their inverse norms. An exact coarse
    /// index gets all projected rows at once (its `add` copies every row it holds).
    private mutating func append(_ more: FeatureMatrix) throws(IndexError) {
        inverseNorms.reserveCapacity(inverseNorms.count + more.rows)
        let exact = coarse is ExactIndex
        var gathered = [Float]()
        if exact { gathered.reserveCapacity(more.rows * projection.outputDimension) }
        for start in stride(from: 0, to: more.rows, by: Self.blockRows) {
            let rows = start..<min(more.rows, start + Self.blockRows)
            let (projected, norms) = Self.project(more, rows: rows, with: projection)
            more.releasePages(rows: rows)
            inverseNorms += norms
            if exact { projected.withValues { gathered.append(contentsOf: $0) } } else { try coarse.add(projected) }
        }
        if exact { try coarse.add(FeatureMatrix(rows: more.rows, dimension: projection.outputDimension, values: gathered)) }
    }

    /// 1/‖x‖ of a row (0 for a zero row).
    static func inverseNorm(_ row: UnsafeBufferPointer<Float>) -> Float {
        let norm = cblas_snrm2(Int32(row.count), row.baseAddress, 1)
        return norm > 0 ? 1 / norm : 0
    }

    /// Rows `rows` of `matrix`, each scaled to unit length, projected and normalised; and their
    /// inverse norms.
    static func project(_ matrix: FeatureMatrix, rows: Range<Int>, with projection: PCAWhitening)
        -> (FeatureMatrix, [Float]) {
        let d = matrix.dimension
        var unit = [Float](repeating: 0, count: rows.count * d)
        var norms = [Float](repeating: 0, count: rows.count)
        for (i, row) in rows.enumerated() {
            let values = matrix.row(row)
            norms[i] = inverseNorm(values)
            for j in 0..<d { unit[i * d + j] = values[j] * norms[i] }
        }
        return (projection.apply(FeatureMatrix(rows: rows.count, dimension: d, values: unit)), norms)
    }

    private init(vectors: FeatureMatrix, projection: PCAWhitening, coarse: any SimilarityIndex, candidates: Int,
                 inverseNorms: [Float]) {
        self.vectors = vectors
        self.projection = projection
        self.coarse = coarse
        self.candidates = candidates
        self.inverseNorms = inverseNorms
    }

    // MARK: Searching

    public func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool) throws(IndexError) -> [[Neighbor]] {
        guard queries.dimension == dimension else { throw .dimensionMismatch(expected: dimension, actual: queries.dimension) }
        var results: [[Neighbor]] = []
        results.reserveCapacity(queries.rows)
        for start in stride(from: 0, to: queries.rows, by: Self.blockRows) {
            let rows = start..<min(queries.rows, start + Self.blockRows)
            let (projected, norms) = Self.project(queries, rows: rows, with: projection)
            let proposed = try coarse.search(projected, k: proposals(k), excludingSelf: excludingSelf)
            results += rerank(proposed, queries: queries, rows: rows, queryInverseNorms: norms, k: k)
        }
        return results
    }

    public func allNeighbors(k: Int) throws(IndexError) -> [[Neighbor]] {
        try neighbors(ofStoredRows: 0..<count, k: k)
    }

    public func neighbors(ofStoredRows rows: Range<Int>, k: Int) throws(IndexError) -> [[Neighbor]] {
        var results: [[Neighbor]] = []
        results.reserveCapacity(rows.count)
        for start in stride(from: rows.lowerBound, to: rows.upperBound, by: Self.blockRows) {
            let block = start..<min(rows.upperBound, start + Self.blockRows)
            let proposed = try coarse.neighbors(ofStoredRows: block, k: proposals(k))
            results += rerank(proposed, queries: vectors, rows: block,
                              queryInverseNorms: Array(inverseNorms[block]), k: k)
        }
        return results
    }

    /// How many rows the coarse index proposes for `k` wanted.
    private func proposals(_ k: Int) -> Int { max(k, candidates) }

    /// The `k` nearest of each query's proposed rows by exact cosine distance over the full
    /// vectors (ties: lower row first, as in `ExactIndex`). Rows are copied out of the vector file
    /// (`FeatureMatrix.copyRow`), so reading them at random adds nothing to resident memory.
    private func rerank(_ proposed: [[Neighbor]], queries: FeatureMatrix, rows: Range<Int>,
                        queryInverseNorms: [Float], k: Int) -> [[Neighbor]] {
        var results = [[Neighbor]](repeating: [], count: proposed.count)
        let d = dimension, vectors = vectors
        results.withUnsafeMutableBufferPointer { buffer in
            let out = SharedPointer(base: buffer.baseAddress!)
            inverseNorms.withUnsafeBufferPointer { norms in
                let norms = SharedReadPointer(base: norms.baseAddress!)
                parallelRanges(proposed.count) { range in
                    let query = UnsafeMutablePointer<Float>.allocate(capacity: d)
                    let candidate = UnsafeMutablePointer<Float>.allocate(capacity: d)
                    defer { query.deallocate(); candidate.deallocate() }
                    for i in range {
                        queries.copyRow(rows.lowerBound + i, into: query)
                        var top = TopK(k: min(k, proposed[i].count))
                        for neighbor in proposed[i] {
                            vectors.copyRow(neighbor.index, into: candidate)
                            let cosine = cblas_sdot(Int32(d), query, 1, candidate, 1) * queryInverseNorms[i] * norms[neighbor.index]
                            top.insert(neighbor.index, max(0, 1 - cosine))
                        }
                        out[i] = top.sorted()
                    }
                }
            }
        }
        return results
    }

    // MARK: Growing, saving

    /// Appends rows. The full vectors are one contiguous matrix, so this copies all of them into
    /// memory (as `ExactIndex.add` does); the projection is kept, not refitted.
    public mutating func add(_ more: FeatureMatrix) throws(IndexError) {
        guard more.dimension == dimension else { throw .dimensionMismatch(expected: dimension, actual: more.dimension) }
        guard more.rows > 0 else { return }
        self = ProjectedIndex(vectors: vectors.appending(more), projection: projection, coarse: coarse, candidates: candidates,
                              inverseNorms: inverseNorms)
        try append(more)
    }

    /// What `save(to:)` writes at its URL; the projection and (for HNSW) the coarse index go to
    /// files named after it, and the full vectors are expected in `atrain_features.dat` next to
    /// it, as for a saved `ExactIndex`.
    struct Manifest: Codable, Equatable {
        var format = Self.format
        var version = 1
        var rows: Int
        var dimension: Int
        var candidates: Int
        var vectors: String
        var projection: String
        /// nil: the projected rows are searched exactly and re-projected on loading.
        var coarse: String?

        static let format = "winnow-projected-index"
    }

    /// The projection's and the coarse index's files next to a manifest at `url`.
    public static func companionFiles(of url: URL) -> (projection: URL, coarse: URL) {
        (URL(fileURLWithPath: url.path + ".projection"), URL(fileURLWithPath: url.path + ".coarse"))
    }

    /// Writes the manifest, the projection and the HNSW coarse index; the full vectors must be in
    /// `atrain_features.dat` next to `url` when the index is loaded (a work_dir writes them there).
    public func save(to url: URL) throws(IndexError) {
        let files = Self.companionFiles(of: url)
        let hnsw = coarse as? ApproximateIndex
        do {
            try AtomicFile.write(projection.serialized(), to: files.projection)
            if let hnsw { try hnsw.save(to: files.coarse) } else { try? FileManager.default.removeItem(at: files.coarse) }
            try writeIndexManifest(Manifest(rows: count, dimension: dimension, candidates: candidates,
                                            vectors: ExactIndex.vectorsFileName, projection: files.projection.lastPathComponent,
                                            coarse: hnsw == nil ? nil : files.coarse.lastPathComponent), to: url)
        } catch let error as IndexError {
            throw error
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    public static func load(from url: URL) throws(IndexError) -> ProjectedIndex {
        try load(from: url, vectors: nil)
    }

    /// Reads an index written by `save(to:)`; its full vectors are `vectors` when given (they
    /// must have the manifest's shape), else the manifest's file next to `url`.
    public static func load(from url: URL, vectors given: FeatureMatrix?) throws(IndexError) -> ProjectedIndex {
        let folder = url.deletingLastPathComponent()
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url)) } catch {
            throw .unreadable(path: url.path, reason: "not a projected-index manifest (\(error.localizedDescription))")
        }
        let names = [manifest.vectors, manifest.projection] + (manifest.coarse.map { [$0] } ?? [])
        guard manifest.format == Manifest.format, manifest.version == 1, manifest.rows >= 2, manifest.dimension > 0,
              manifest.candidates >= 1, !names.contains(where: { $0.contains("/") }) else {
            throw .unreadable(path: url.path, reason: "unsupported projected-index manifest")
        }
        let vectors: FeatureMatrix
        let projection: PCAWhitening
        do {
            vectors = try given ?? FeatureMatrix(mapping: folder.appendingPathComponent(manifest.vectors), dimension: manifest.dimension)
            guard let read = PCAWhitening(serialized: try Data(contentsOf: folder.appendingPathComponent(manifest.projection))),
                  read.inputDimension == manifest.dimension else {
                throw IndexError.unreadable(path: url.path, reason: "\(manifest.projection) is not a \(manifest.dimension)-d projection")
            }
            projection = read
        } catch let error as IndexError {
            throw error
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        guard vectors.rows == manifest.rows, vectors.dimension == manifest.dimension else {
            throw .unreadable(path: url.path, reason: "\(manifest.vectors) holds \(vectors.rows) rows, the manifest says \(manifest.rows)")
        }
        guard let coarseName = manifest.coarse else {
            var index = ProjectedIndex(vectors: vectors, projection: projection,
                                       coarse: emptyExactIndex(dimension: projection.outputDimension),
                                       candidates: manifest.candidates, inverseNorms: [])
            try index.append(vectors)
            return index
        }
        let coarse = try ApproximateIndex.load(from: folder.appendingPathComponent(coarseName))
        guard coarse.count == vectors.rows, coarse.dimension == projection.outputDimension else {
            throw .unreadable(path: url.path, reason: "\(coarseName) does not index the \(vectors.rows) projected rows")
        }
        var norms = [Float]()
        norms.reserveCapacity(vectors.rows)
        for start in stride(from: 0, to: vectors.rows, by: blockRows) {
            let rows = start..<min(vectors.rows, start + blockRows)
            norms += rows.map { inverseNorm(vectors.row($0)) }
            vectors.releasePages(rows: rows)
        }
        return ProjectedIndex(vectors: vectors, projection: projection, coarse: coarse, candidates: manifest.candidates,
                              inverseNorms: norms)
    }
}
