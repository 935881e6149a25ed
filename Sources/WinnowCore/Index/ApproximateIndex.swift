import FaissShim
import Foundation

/// Approximate k-nearest-neighbour search through Faiss (HNSW or IVF-flat), for sets too large
/// for `ExactIndex`'s brute force. Distances mean the same as in `ExactIndex`:
/// - cosine: the index stores unit-length copies of the vectors and searches by inner product;
///   results are turned back into `1 − cos`;
/// - euclidean: Faiss's squared L2 distances are turned back into L2.
///
/// Concurrency: Faiss's search is a `const` method that may run on many threads at once, but
/// `add`/`train`/changing parameters mutate the index. This class therefore holds a read-write
/// lock: searches (and `allNeighbors`, `save`) take it shared, `add`/`train`/`searchEffort`
/// writes take it exclusively. With that, and the Faiss object never escaping, the class is
/// `@unchecked Sendable`. Each Faiss call already runs on all cores (OpenMP), so concurrent
/// searches from several threads add no speed and oversubscribe the cores.
public final class ApproximateIndex: SimilarityIndex, @unchecked Sendable {
    /// How the Faiss index is organised.
    public enum Parameters: Sendable, Equatable {
        /// HNSW graph over flat storage: `m` links per node and layer (2·m on the bottom layer),
        /// `efConstruction` candidates kept while inserting, `efSearch` while searching (at
        /// least k+1 are used). With `halfPrecision` the vectors are stored in fp16 (half the
        /// memory; distances within about 1e-3, for a coarse index whose results are re-ranked).
        case hnsw(m: Int = 32, efConstruction: Int = 100, efSearch: Int = 64, halfPrecision: Bool = false)
        /// `nlist` k-means lists over flat storage, `nprobe` of them scanned per query.
        case ivf(nlist: Int, nprobe: Int)

        /// IVF sized for `rows` vectors: about 4·√rows lists (at least 39 training rows per
        /// list, as Faiss's k-means asks), 1/32 of them (at least 8) probed.
        public static func ivf(rows: Int) -> Parameters {
            let nlist = max(1, min(Int(4 * Double(max(rows, 1)).squareRoot()), rows / 39, 65_536))
            return .ivf(nlist: nlist, nprobe: min(nlist, max(8, nlist / 32)))
        }

        public var kind: IndexKind {
            switch self {
            case .hnsw: .hnsw
            case .ivf: .ivf
            }
        }
    }

    public let metric: DistanceMetric
    public let dimension: Int
    public var kind: IndexKind { parameters.kind }

    private let handle: OpaquePointer
    private let lock = ReadWriteLock()

    /// Metrics the approximate index supports (L1 and L∞ are exact-only).
    public static func supports(_ metric: DistanceMetric) -> Bool { metric == .cosine || metric == .euclidean }

    /// An empty index. IVF needs training: `train(_:)`, or the first `add` trains on a sample
    /// of what it adds.
    public init(dimension: Int, metric: DistanceMetric = .cosine, parameters: Parameters = .hnsw()) throws(IndexError) {
        guard dimension > 0 else { throw .invalidParameter("dimension must be positive, got \(dimension)") }
        guard Self.supports(metric) else { throw .unsupportedMetric(metric) }
        let faissMetric = metric == .cosine ? WINNOW_FAISS_METRIC_INNER_PRODUCT : WINNOW_FAISS_METRIC_L2
        let made: OpaquePointer
        switch parameters {
        case let .hnsw(m, efConstruction, efSearch, halfPrecision):
            guard m >= 2, efConstruction >= 1, efSearch >= 1 else {
                throw .invalidParameter("HNSW needs m ≥ 2, efConstruction ≥ 1, efSearch ≥ 1 (got \(m), \(efConstruction), \(efSearch))")
            }
            made = try Self.creating("create HNSW") { error, size in
                winnow_faiss_new_hnsw(Int32(dimension), Int32(m), Int32(efConstruction), Int32(efSearch), halfPrecision ? 1 : 0,
                                      faissMetric, error, size)
            }
        case let .ivf(nlist, nprobe):
            guard nlist >= 1, nprobe >= 1, nlist <= Int(Int32.max), nprobe <= Int(Int32.max) else {
                throw .invalidParameter("IVF needs nlist ≥ 1 and nprobe ≥ 1 (got \(nlist), \(nprobe))")
            }
            made = try Self.creating("create IVF") { error, size in
                winnow_faiss_new_ivf(Int32(dimension), Int32(nlist), Int32(nprobe), faissMetric, error, size)
            }
        }
        handle = made
        self.metric = metric
        self.dimension = dimension
    }

    /// An index over `vectors` (trained on a sample of them for IVF).
    public convenience init(vectors: FeatureMatrix, metric: DistanceMetric = .cosine,
                            parameters: Parameters = .hnsw()) throws(IndexError) {
        try self.init(dimension: vectors.dimension, metric: metric, parameters: parameters)
        try add(vectors)
    }

    private init(handle: OpaquePointer, metric: DistanceMetric) {
        self.handle = handle
        self.metric = metric
        dimension = Int(winnow_faiss_get_dimension(handle))
    }

    deinit { winnow_faiss_free(handle) }

    public var count: Int { lock.reading { Int(winnow_faiss_get_count(handle)) } }

    /// The index's parameters as Faiss holds them now (after `searchEffort` changes, or as loaded).
    public var parameters: Parameters { lock.reading { parametersLocked() } }

    /// The default search effort: HNSW's efSearch or IVF's nprobe. Higher is slower and more
    /// accurate. Saved with the index.
    public var searchEffort: Int {
        get { lock.reading { effortLocked() } }
        set { lock.writing { winnow_faiss_set_effort(handle, Int32(clamping: max(1, newValue))) } }
    }

    /// OpenMP threads Faiss uses (process-wide; default: OpenMP's, i.e. all cores or
    /// `OMP_NUM_THREADS`).
    public static var threads: Int {
        get { Int(winnow_faiss_get_threads()) }
        set { winnow_faiss_set_threads(Int32(clamping: newValue)) }
    }

    /// The SIMD level of the distance kernels HNSW runs with ("avx512", "avx2" or "scalar").
    public static var distanceKernels: String { String(cString: winnow_faiss_distance_kernels()) }

    // MARK: Building

    /// Rows handed to Faiss per call while adding (a normalised copy of one batch is made for
    /// cosine, so the caller's matrix is never copied whole).
    static let addBatch = 65_536

    /// Trains an IVF index (k-means for its lists) on `sample`; nothing to do for HNSW.
    public func train(_ sample: FeatureMatrix) throws(IndexError) {
        try checkDimension(sample.dimension)
        try lock.writing { () throws(IndexError) in try trainLocked(sample, rows: 0..<sample.rows) }
    }

    /// Appends `vectors` (row numbers continue from `count`). An untrained IVF index is first
    /// trained on an evenly spread sample of them.
    public func add(_ vectors: FeatureMatrix) throws(IndexError) {
        try add(vectors, progress: { _ in })
    }

    /// `add`, calling `progress` with the number of rows added so far after each batch.
    public func add(_ vectors: FeatureMatrix, progress: (Int) -> Void) throws(IndexError) {
        try checkDimension(vectors.dimension)
        guard vectors.rows > 0 else { return }
        try lock.writing { () throws(IndexError) in
            // Faiss's HNSW numbers its nodes with 32-bit integers.
            guard Int(winnow_faiss_get_count(handle)) + vectors.rows <= Int(Int32.max) else {
                throw .invalidParameter("an index holds at most \(Int32.max) vectors")
            }
            if winnow_faiss_get_is_trained(handle) == 0 { try trainLocked(vectors, rows: 0..<vectors.rows) }
            try reserveLocked(Int(winnow_faiss_get_count(handle)) + vectors.rows)
            for start in stride(from: 0, to: vectors.rows, by: Self.addBatch) {
                let rows = start..<min(vectors.rows, start + Self.addBatch)
                try withPrepared(vectors, rows: rows) { (pointer) throws(IndexError) in
                    try Self.checked("add") { error, size in
                        winnow_faiss_add(handle, Int64(rows.count), pointer, error, size)
                    }
                }
                progress(rows.upperBound)
            }
        }
    }

    /// Makes room for `rows` vectors in all, so that adding them in many calls (as
    /// `ProjectedIndex` does, block by block) never moves the stored ones: a growing store is
    /// otherwise copied to one twice its size, both held for the copy.
    public func reserveCapacity(_ rows: Int) throws(IndexError) {
        try lock.writing { () throws(IndexError) in try reserveLocked(rows) }
    }

    private func reserveLocked(_ rows: Int) throws(IndexError) {
        try Self.checked("reserve") { error, size in winnow_faiss_reserve(handle, Int64(rows), error, size) }
    }

    /// Trains on at most max(64·nlist, 50,000) of `rows`, picked at an even stride (deterministic;
    /// Faiss's k-means itself uses at most 256 per list).
    private func trainLocked(_ vectors: FeatureMatrix, rows: Range<Int>) throws(IndexError) {
        guard case let .ivf(nlist, _) = parametersLocked() else { return }
        let wanted = min(rows.count, max(nlist * 64, 50_000))
        guard wanted >= nlist else {
            throw .invalidParameter("IVF with \(nlist) lists needs at least \(nlist) training vectors, got \(rows.count)")
        }
        var sample = [Float]()
        sample.reserveCapacity(wanted * dimension)
        for i in 0..<wanted {
            let row = vectors.row(rows.lowerBound + Int(Double(i) * Double(rows.count) / Double(wanted)))
            sample.append(contentsOf: row)
        }
        if metric == .cosine { Self.normalise(&sample, dimension: dimension) }
        try sample.withUnsafeBufferPointer { buffer in
            Result { () throws(IndexError) in
                try Self.checked("train") { error, size in
                    winnow_faiss_train(handle, Int64(wanted), buffer.baseAddress, error, size)
                }
            }
        }.get()
    }

    private func parametersLocked() -> Parameters {
        var first: Int32 = 0, second: Int32 = 0, third: Int32 = 0
        winnow_faiss_get_parameters(handle, &first, &second, &third)
        let kind = winnow_faiss_get_kind(handle)
        return kind == WINNOW_FAISS_KIND_IVF_FLAT
            ? .ivf(nlist: Int(first), nprobe: Int(second))
            : .hnsw(m: Int(first), efConstruction: Int(second), efSearch: Int(third), halfPrecision: kind == WINNOW_FAISS_KIND_HNSW_HALF)
    }

    // MARK: Searching

    /// Rows per Faiss search call (bounds the temporary distance/label arrays).
    static let queryBatch = 16_384

    public func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool = false) throws(IndexError) -> [[Neighbor]] {
        try search(queries, k: k, excludingSelf: excludingSelf, effort: nil)
    }

    /// `search` with a one-off search effort (efSearch or nprobe) instead of `searchEffort`.
    /// Faiss 1.7.3's HNSW reads efSearch only from the index, so a search with another effort
    /// sets it, searches and restores it under the exclusive lock: it waits for, and holds up,
    /// other searches.
    public func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool = false,
                       effort: Int?) throws(IndexError) -> [[Neighbor]] {
        try checkDimension(queries.dimension)
        guard k >= 0 else { throw .invalidParameter("k must not be negative, got \(k)") }
        return try withEffort(effort) { () throws(IndexError) in
            var results = [[Neighbor]]()
            results.reserveCapacity(queries.rows)
            for start in stride(from: 0, to: queries.rows, by: Self.queryBatch) {
                let rows = start..<min(queries.rows, start + Self.queryBatch)
                results += try withPrepared(queries, rows: rows) { (pointer) throws(IndexError) in
                    try searchLocked(pointer, rows: rows, k: k, excludingSelf: excludingSelf)
                }
            }
            return results
        }
    }

    /// Runs `body` under the shared lock, or, for another effort than the index's, under the
    /// exclusive lock with that effort set for the duration.
    private func withEffort<R>(_ effort: Int?, _ body: () throws(IndexError) -> R) throws(IndexError) -> R {
        guard let effort, effort > 0 else { return try lock.reading(body) }
        return try lock.writing { () throws(IndexError) in
            let saved = effortLocked()
            guard saved != effort else { return try body() }
            winnow_faiss_set_effort(handle, Int32(clamping: effort))
            defer { winnow_faiss_set_effort(handle, Int32(clamping: saved)) }
            return try body()
        }
    }

    private func effortLocked() -> Int {
        switch parametersLocked() {
        case let .hnsw(_, _, efSearch, _): efSearch
        case let .ivf(_, nprobe): nprobe
        }
    }

    /// Every stored row's `k` nearest other rows, from the vectors Faiss stores (no copy of the
    /// input is kept).
    public func allNeighbors(k: Int) throws(IndexError) -> [[Neighbor]] {
        try allNeighbors(k: k, effort: nil)
    }

    public func allNeighbors(k: Int, effort: Int?) throws(IndexError) -> [[Neighbor]] {
        try neighbors(ofStoredRows: 0..<count, k: k, effort: effort)
    }

    /// The `k` nearest other rows of each stored row in `rows` (a block of ``allNeighbors(k:)``).
    public func neighbors(ofStoredRows rows: Range<Int>, k: Int) throws(IndexError) -> [[Neighbor]] {
        try neighbors(ofStoredRows: rows, k: k, effort: nil)
    }

    public func neighbors(ofStoredRows wanted: Range<Int>, k: Int, effort: Int?) throws(IndexError) -> [[Neighbor]] {
        guard k >= 0 else { throw .invalidParameter("k must not be negative, got \(k)") }
        return try withEffort(effort) { () throws(IndexError) in
            let total = Int(winnow_faiss_get_count(handle))
            guard wanted.lowerBound >= 0, wanted.upperBound <= total else {
                throw .invalidParameter("rows \(wanted) outside the index's 0..<\(total)")
            }
            var results = [[Neighbor]]()
            results.reserveCapacity(wanted.count)
            var stored = [Float](repeating: 0, count: min(wanted.count, Self.queryBatch) * dimension)
            for start in stride(from: wanted.lowerBound, to: wanted.upperBound, by: Self.queryBatch) {
                let rows = start..<min(wanted.upperBound, start + Self.queryBatch)
                results += try stored.withUnsafeMutableBufferPointer { buffer in
                    Result { () throws(IndexError) in
                        try Self.checked("reconstruct") { error, size in
                            winnow_faiss_reconstruct(handle, Int64(rows.lowerBound), Int64(rows.count), buffer.baseAddress,
                                                     error, size)
                        }
                        // Stored vectors are already unit length for cosine.
                        return try searchLocked(UnsafePointer(buffer.baseAddress!), rows: rows, k: k, excludingSelf: true)
                    }
                }.get()
            }
            return results
        }
    }

    /// Searches `rows.count` prepared query rows at `pointer` (query `i` is row
    /// `rows.lowerBound + i`) and returns their neighbors.
    private func searchLocked(_ pointer: UnsafePointer<Float>, rows: Range<Int>, k: Int,
                              excludingSelf: Bool) throws(IndexError) -> [[Neighbor]] {
        let total = Int(winnow_faiss_get_count(handle))
        let k = min(k, total - (excludingSelf ? 1 : 0))
        guard k > 0, !rows.isEmpty else { return Array(repeating: [], count: rows.count) }
        let asked = k + (excludingSelf ? 1 : 0)
        var distances = [Float](repeating: 0, count: rows.count * asked)
        var labels = [Int64](repeating: -1, count: rows.count * asked)
        try distances.withUnsafeMutableBufferPointer { distanceBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                Result { () throws(IndexError) in
                    try Self.checked("search") { error, size in
                        winnow_faiss_search(handle, Int64(rows.count), pointer, Int64(asked), distanceBuffer.baseAddress,
                                            labelBuffer.baseAddress, error, size)
                    }
                }
            }
        }.get()
        let cosine = metric == .cosine
        var results = [[Neighbor]](repeating: [], count: rows.count)
        for (offset, query) in rows.enumerated() {
            var found = [Neighbor]()
            found.reserveCapacity(asked)
            var selfDropped = !excludingSelf
            for slot in (offset * asked)..<((offset + 1) * asked) {
                let label = Int(labels[slot])
                guard label >= 0 else { continue }
                if !selfDropped && label == query {
                    selfDropped = true
                    continue
                }
                let raw = distances[slot]
                found.append(Neighbor(index: label, distance: cosine ? 1 - raw : max(0, raw).squareRoot()))
            }
            // Self not among the k+1 (duplicates, or a miss of the approximate search): drop the farthest.
            if found.count > k { found.removeLast(found.count - k) }
            results[offset] = found
        }
        return results
    }

    // MARK: Saving

    /// Writes the index in Faiss's format (the metric follows from it: inner product is
    /// cosine, L2 euclidean). Written to a temporary file first, then renamed into place.
    public func save(to url: URL) throws(IndexError) {
        let temporary = url.path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try lock.reading { () throws(IndexError) in
            do throws(IndexError) {
                try Self.checked("write") { error, size in winnow_faiss_write(handle, temporary, error, size) }
            } catch {
                unlink(temporary)
                throw .unwritable(path: url.path, reason: Self.reason(error))
            }
        }
        guard rename(temporary, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .unwritable(path: url.path, reason: reason)
        }
    }

    /// Reads an index written by `save(to:)`.
    public static func load(from url: URL) throws(IndexError) -> ApproximateIndex {
        let read: OpaquePointer?
        do throws(IndexError) {
            read = try creating("read") { error, size in winnow_faiss_read(url.path, error, size) }
        } catch {
            throw .unreadable(path: url.path, reason: reason(error))
        }
        let metric: DistanceMetric = winnow_faiss_get_metric(read!) == WINNOW_FAISS_METRIC_INNER_PRODUCT ? .cosine : .euclidean
        return ApproximateIndex(handle: read!, metric: metric)
    }

    // MARK: Helpers

    private func checkDimension(_ actual: Int) throws(IndexError) {
        guard actual == dimension else { throw .dimensionMismatch(expected: dimension, actual: actual) }
    }

    /// Hands Faiss rows `rows` of `matrix`: unit-length copies for cosine, the rows themselves
    /// otherwise.
    private func withPrepared<R>(_ matrix: FeatureMatrix, rows: Range<Int>,
                                 _ body: (UnsafePointer<Float>) throws(IndexError) -> R) throws(IndexError) -> R {
        let d = dimension
        if metric == .cosine {
            var copy = matrix.withValues { Array($0[(rows.lowerBound * d)..<(rows.upperBound * d)]) }
            Self.normalise(&copy, dimension: d)
            return try copy.withUnsafeBufferPointer { buffer in
                Result { () throws(IndexError) in try body(buffer.baseAddress!) }
            }.get()
        }
        return try matrix.withValues { all in
            Result { () throws(IndexError) in try body(all.baseAddress! + rows.lowerBound * d) }
        }.get()
    }

    /// Scales each row to unit length (zero rows stay zero: cosine distance 1 to everything,
    /// as in `ExactIndex`).
    static func normalise(_ values: inout [Float], dimension: Int) {
        let rows = values.count / dimension
        values.withUnsafeMutableBufferPointer { buffer in
            let shared = SharedPointer(base: buffer.baseAddress!)
            parallelRanges(rows) { range in
                for row in range {
                    let base = row * dimension
                    var sum: Float = 0
                    for i in base..<(base + dimension) { sum += shared[i] * shared[i] }
                    guard sum > 0 else { continue }
                    let scale = 1 / sum.squareRoot()
                    for i in base..<(base + dimension) { shared[i] *= scale }
                }
            }
        }
    }

    private static let errorCapacity = 1024

    /// Runs a shim call that returns a status, throwing its message on failure.
    private static func checked(_ operation: String,
                                _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(IndexError) {
        var message = [CChar](repeating: 0, count: errorCapacity)
        let status = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        if status != 0 { throw .faiss(operation: operation, message: text(message)) }
    }

    /// Runs a shim call that returns an index, throwing its message when it returns NULL.
    private static func creating(_ operation: String,
                                 _ call: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws(IndexError) -> OpaquePointer {
        var message = [CChar](repeating: 0, count: errorCapacity)
        let made = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        guard let made else { throw .faiss(operation: operation, message: text(message)) }
        return made
    }

    private static func text(_ message: [CChar]) -> String {
        let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let line = String(decoding: bytes, as: UTF8.self)
        return line.isEmpty ? "unknown error" : line
    }

    private static func reason(_ error: IndexError) -> String {
        if case let .faiss(_, message) = error { return message }
        return error.description
    }
}

/// A pthread read-write lock (many readers or one writer).
final class ReadWriteLock: @unchecked Sendable {
    // The lock must not move, so it lives in its own allocation.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func reading<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func writing<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
