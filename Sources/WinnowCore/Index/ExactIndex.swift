import COpenBLAS
import Foundation

/// How two vectors are compared.
public enum DistanceMetric: String, Sendable, Codable, CaseIterable {
    /// `1 − cos(a, b)`; similarity is `cos(a, b)` (fastdup's default).
    case cosine
    /// L2 distance.
    case euclidean
    /// L1 (city-block) distance; exact index only.
    case l1
    /// L∞ (largest coordinate difference); exact index only.
    case linf
}

/// One neighbour of a query: its row in the index and its distance under the index's metric.
public struct Neighbor: Sendable, Equatable {
    public var index: Int
    public var distance: Float
    /// For cosine, the cosine similarity `1 − distance`; otherwise `−distance`, so that higher
    /// is always more similar.
    public func similarity(_ metric: DistanceMetric) -> Float { metric == .cosine ? 1 - distance : -distance }
}

/// Exact k-nearest-neighbour search by brute force. Cosine and euclidean go through BLAS
/// `sgemm` in tiles (a block of queries against a block of the index at a time), keeping the
/// best k per query in Swift; L1 and L∞ are direct loops. Memory stays at one tile of scores.
public struct ExactIndex: Sendable {
    public let vectors: FeatureMatrix
    public let metric: DistanceMetric
    /// Squared norms of the rows (euclidean), or inverse norms (cosine).
    private let norms: [Float]

    public init(vectors: FeatureMatrix, metric: DistanceMetric = .cosine) {
        self.vectors = vectors
        self.metric = metric
        norms = (0..<vectors.rows).map { i in
            let row = vectors.row(i)
            var sum: Float = 0
            for v in row { sum += v * v }
            return metric == .cosine ? (sum > 0 ? 1 / sum.squareRoot() : 0) : sum
        }
    }

    /// The `k` nearest rows of the index to each query row, nearest first. With
    /// `excludingSelf`, query row `i` is taken to be index row `i` and never returned.
    public func search(_ queries: FeatureMatrix, k: Int, excludingSelf: Bool = false) -> [[Neighbor]] {
        search(queries, k: k, selfOffset: excludingSelf ? 0 : nil)
    }

    /// Every row's `k` nearest other rows.
    public func allNeighbors(k: Int) -> [[Neighbor]] { search(vectors, k: k, selfOffset: 0) }

    /// The `k` nearest other rows of each stored row in `rows` (a block of ``allNeighbors(k:)``).
    public func neighbors(ofStoredRows rows: Range<Int>, k: Int) -> [[Neighbor]] {
        search(vectors.view(rows), k: k, selfOffset: rows.lowerBound)
    }

    /// With `selfOffset`, query row `i` is index row `selfOffset + i` and never returned.
    private func search(_ queries: FeatureMatrix, k: Int, selfOffset: Int?) -> [[Neighbor]] {
        precondition(queries.dimension == vectors.dimension, "query dimension differs from the index")
        let k = min(k, vectors.rows - (selfOffset == nil ? 0 : 1))
        guard k > 0, queries.rows > 0 else { return Array(repeating: [], count: queries.rows) }
        switch metric {
        case .cosine, .euclidean: return searchByProducts(queries, k: k, selfOffset: selfOffset)
        case .l1, .linf: return searchDirectly(queries, k: k, selfOffset: selfOffset)
        }
    }

    /// Query rows multiplied at a time.
    static let queryBlock = 512
    private static let indexBlock = 4096

    /// One tile of a product search: a block of query rows against a block of index rows.
    private struct Tile: Sendable {
        var queryStart: Int, queryCount: Int
        var indexStart: Int, indexCount: Int
    }

    private func searchByProducts(_ queries: FeatureMatrix, k: Int, selfOffset: Int?) -> [[Neighbor]] {
        var results = [[Neighbor]](repeating: [], count: queries.rows)
        var scores = [Float](repeating: 0, count: Self.queryBlock * Self.indexBlock)
        let queryNorms = searchNorms(of: queries)
        for queryStart in stride(from: 0, to: queries.rows, by: Self.queryBlock) {
            let queryCount = min(Self.queryBlock, queries.rows - queryStart)
            var best = [TopK](repeating: TopK(k: k), count: queryCount)
            for indexStart in stride(from: 0, to: vectors.rows, by: Self.indexBlock) {
                let indexCount = min(Self.indexBlock, vectors.rows - indexStart)
                let tile = Tile(queryStart: queryStart, queryCount: queryCount, indexStart: indexStart, indexCount: indexCount)
                multiply(queries, tile: tile, into: &scores)
                // A mapped index is streamed once per query block: its resident size stays one block.
                vectors.releasePages(rows: indexStart..<(indexStart + indexCount))
                merge(scores, tile: tile, queryNorms: queryNorms, selfOffset: selfOffset, into: &best)
            }
            for qi in 0..<queryCount { results[queryStart + qi] = best[qi].sorted() }
        }
        return results
    }

    /// The query rows' inverse norms (cosine) or squared norms (euclidean), as ``norms`` holds the index's.
    private func searchNorms(of queries: FeatureMatrix) -> [Float] {
        (0..<queries.rows).map { i -> Float in
            var sum: Float = 0
            for v in queries.row(i) { sum += v * v }
            return metric == .cosine ? (sum > 0 ? 1 / sum.squareRoot() : 0) : sum
        }
    }

    /// The tile's query–index dot products into `scores` (`queryCount × indexCount`, row-major; BLAS).
    private func multiply(_ queries: FeatureMatrix, tile: Tile, into scores: inout [Float]) {
        let d = vectors.dimension
        scores.withUnsafeMutableBufferPointer { out in
            queries.withValues { q in
                vectors.withValues { x in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tile.queryCount), Int32(tile.indexCount),
                                Int32(d), 1, q.baseAddress! + tile.queryStart * d, Int32(d),
                                x.baseAddress! + tile.indexStart * d, Int32(d), 0, out.baseAddress, Int32(tile.indexCount))
                }
            }
        }
    }

    /// Folds the tile's distances (from its `scores` and the norms) into each query's best k, over all cores.
    private func merge(_ scores: [Float], tile: Tile, queryNorms: [Float], selfOffset: Int?, into best: inout [TopK]) {
        let metric = self.metric
        best.withUnsafeMutableBufferPointer { bestBuffer in
            scores.withUnsafeBufferPointer { scoreBuffer in
                norms.withUnsafeBufferPointer { normBuffer in
                    queryNorms.withUnsafeBufferPointer { queryNormBuffer in
                        Self.mergeRows(of: tile, metric: metric, selfOffset: selfOffset,
                                       scores: SharedReadPointer(base: scoreBuffer.baseAddress!),
                                       norms: SharedReadPointer(base: normBuffer.baseAddress!),
                                       queryNorms: SharedReadPointer(base: queryNormBuffer.baseAddress!),
                                       best: SharedPointer(base: bestBuffer.baseAddress!))
                    }
                }
            }
        }
    }

    /// The parallel loop of ``merge(_:tile:queryNorms:selfOffset:into:)``, on pointers valid only for this call.
    private static func mergeRows(of tile: Tile, metric: DistanceMetric, selfOffset: Int?, scores: SharedReadPointer<Float>,
                                  norms: SharedReadPointer<Float>, queryNorms: SharedReadPointer<Float>,
                                  best: SharedPointer<TopK>) {
        let indexStart = tile.indexStart, indexCount = tile.indexCount
        parallelRanges(tile.queryCount) { range in
            for qi in range {
                let query = tile.queryStart + qi
                let selfRow = selfOffset.map { $0 + query } ?? -1
                let row = qi * indexCount
                var top = best[qi]
                for j in 0..<indexCount {
                    let target = indexStart + j
                    if target == selfRow { continue }
                    let product = scores[row + j]
                    let distance: Float = metric == .cosine
                        ? max(0, 1 - product * queryNorms[query] * norms[target])
                        : max(0, queryNorms[query] + norms[target] - 2 * product).squareRoot()
                    top.insert(target, distance)
                }
                best[qi] = top
            }
        }
    }

    private func searchDirectly(_ queries: FeatureMatrix, k: Int, selfOffset: Int?) -> [[Neighbor]] {
        var results = [[Neighbor]](repeating: [], count: queries.rows)
        let metric = self.metric, vectors = self.vectors
        results.withUnsafeMutableBufferPointer { buffer in
            let results = SharedPointer(base: buffer.baseAddress!)
            parallelRanges(queries.rows) { range in
                for query in range {
                    var best = TopK(k: k)
                    let q = queries.row(query)
                    let selfRow = selfOffset.map { $0 + query } ?? -1
                    for target in 0..<vectors.rows where target != selfRow {
                        let x = vectors.row(target)
                        var distance: Float = 0
                        if metric == .l1 {
                            for i in 0..<q.count { distance += abs(q[i] - x[i]) }
                        } else {
                            for i in 0..<q.count { distance = max(distance, abs(q[i] - x[i])) }
                        }
                        best.insert(target, distance)
                    }
                    results[query] = best.sorted()
                }
            }
        }
        return results
    }
}

/// The k smallest distances seen so far (k is small: insertion into a sorted array).
struct TopK {
    let k: Int
    private(set) var items: [Neighbor] = []

    init(k: Int) {
        self.k = k
        items.reserveCapacity(k + 1)
    }

    /// Ties keep the lower index first, so results are deterministic.
    mutating func insert(_ index: Int, _ distance: Float) {
        if items.count == k, let worst = items.last,
           distance > worst.distance || (distance == worst.distance && index > worst.index) { return }
        var position = items.count
        while position > 0 {
            let previous = items[position - 1]
            if previous.distance < distance || (previous.distance == distance && previous.index < index) { break }
            position -= 1
        }
        items.insert(Neighbor(index: index, distance: distance), at: position)
        if items.count > k { items.removeLast() }
    }

    func sorted() -> [Neighbor] { items }
}
