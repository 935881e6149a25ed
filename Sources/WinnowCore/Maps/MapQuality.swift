import COpenBLAS
import Foundation

/// How well a map keeps the neighbourhoods of the vectors it was made from.
///
/// - kNN recall@k: the share of each point's k nearest neighbours among the vectors (the run's
///   metric) that are also among its k nearest in the map (euclidean), averaged over points.
/// - Trustworthiness@k (Venna & Kaski 2001; scikit-learn `manifold.trustworthiness`):
///   `T = 1 − 2/(n k (2n − 3k − 1)) Σ_i Σ_{j ∈ U_i} (r(i, j) − k)`, where `U_i` are the map
///   neighbours of i that are not among its k nearest vectors and `r(i, j)` is j's rank among
///   i's neighbours by vector distance (1 = nearest).
///
/// Both are exact over the points measured: every measured point's distances to all others
/// (BLAS, in blocks), O(n² d). Up to ``sampleLimit`` points that is every point; above, a
/// seeded uniform sample of `sampleLimit` points, neighbours taken within the sample (as
/// scoring a subsample does), so time and memory stay bounded; ``Report/measured`` says which.
public enum MapQuality {
    public struct Report: Sendable, Equatable {
        public var recall: Double
        public var trustworthiness: Double
        /// Points measured: all of them, or the sample's `sampleLimit`.
        public var measured: Int
    }

    /// Most points measured: 4000 hold a copy of the sampled vectors (25 MB at 1600-d) and 4 MB of
    /// products per 256-point block, whatever the map's size.
    public static let sampleLimit = 4000

    public static func measure(vectors: FeatureMatrix, metric: DistanceMetric, points: [Float], dimensions: Int,
                               k: Int = 15, sampleLimit: Int = sampleLimit, seed: UInt64 = 0) throws(MapError) -> Report {
        let n = vectors.rows
        guard points.count == n * dimensions else { throw .invalidParameter("the map has \(points.count / max(dimensions, 1)) points for \(n) vectors") }
        guard metric == .cosine || metric == .euclidean else { throw .invalidParameter("map quality supports cosine and euclidean") }
        guard k >= 1, sampleLimit > 2 * k + 1, n > 2 * k + 1 else { throw .tooFewPoints(n, needed: 2 * k + 2) }
        guard n > sampleLimit else { return measureAll(vectors: vectors, metric: metric, points: points, dimensions: dimensions, k: k) }
        let rows = sample(sampleLimit, of: n, seed: seed)
        let sampledPoints = rows.flatMap { points[$0 * dimensions..<($0 + 1) * dimensions] }
        let sampledVectors = FeatureMatrix(rows: rows.count, dimension: vectors.dimension, values: rows.flatMap { vectors.row($0) })
        return measureAll(vectors: sampledVectors, metric: metric, points: sampledPoints, dimensions: dimensions, k: k)
    }

    /// `count` distinct rows of `0..<n`, ascending, uniformly at random (Floyd's algorithm: O(count)).
    static func sample(_ count: Int, of n: Int, seed: UInt64) -> [Int] {
        var random = SplitMix64(seed: seed)
        var chosen = Set<Int>(minimumCapacity: count)
        for j in (n - count)..<n {
            let t = Int(random.next() % UInt64(j + 1))
            chosen.insert(chosen.contains(t) ? j : t)
        }
        return chosen.sorted()
    }

    /// Recall and trustworthiness over every point.
    private static func measureAll(vectors: FeatureMatrix, metric: DistanceMetric, points: [Float], dimensions: Int,
                                   k: Int) -> Report {
        let n = vectors.rows
        let low = ExactIndex(vectors: FeatureMatrix(rows: n, dimension: dimensions, values: points), metric: .euclidean)
            .allNeighbors(k: k).map { $0.map(\.index) }
        // Vector distances, all pairs in blocks: rank the map's neighbours and find the vectors' own.
        let d = vectors.dimension
        let (unit, squared) = scaledRows(of: vectors, metric: metric)
        let block = 256
        var recallHits = 0
        var penalty = 0.0
        var products = [Float](repeating: 0, count: block * n)
        for start in stride(from: 0, to: n, by: block) {
            let count = min(block, n - start)
            multiplyBlock(unit, start: start, count: count, rows: n, dimension: d, into: &products)
            let (hitsOf, penaltyOf) = scoreBlock(products, start: start, count: count, rows: n, metric: metric,
                                                 norms: squared, mapNeighbors: low, k: k)
            for q in 0..<count { recallHits += hitsOf[q]; penalty += penaltyOf[q] }
        }
        let nn = Double(n), kk = Double(k)
        let trust = 1 - 2 / (nn * kk * (2 * nn - 3 * kk - 1)) * penalty
        return Report(recall: Double(recallHits) / (nn * kk), trustworthiness: trust, measured: n)
    }

    /// The rows of `vectors` (`rows × dimension`), scaled to unit length for cosine and left as
    /// they are for euclidean, and each row's squared norm.
    private static func scaledRows(of vectors: FeatureMatrix, metric: DistanceMetric) -> (unit: [Float], squared: [Float]) {
        let n = vectors.rows, d = vectors.dimension
        var unit = [Float](repeating: 0, count: n * d)
        var squared = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let row = vectors.row(i)
            var s: Float = 0
            for v in row { s += v * v }
            squared[i] = s
            let scale: Float = metric == .cosine ? (s > 0 ? 1 / s.squareRoot() : 0) : 1
            for j in 0..<d { unit[i * d + j] = row[j] * scale }
        }
        return (unit, squared)
    }

    /// The products of rows `start..<start + count` of `unit` with all its `n` rows, into the
    /// first `count × n` values of `products` (BLAS).
    private static func multiplyBlock(_ unit: [Float], start: Int, count: Int, rows n: Int, dimension d: Int,
                                      into products: inout [Float]) {
        unit.withUnsafeBufferPointer { u in
            products.withUnsafeMutableBufferPointer { out in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(n), Int32(d), 1,
                            u.baseAddress! + start * d, Int32(d), u.baseAddress!, Int32(d), 0, out.baseAddress!, Int32(n))
            }
        }
    }

    /// Each block point's recall hits and trustworthiness penalty, from the block's products
    /// (``multiplyBlock(_:start:count:rows:dimension:into:)``), over all cores.
    private static func scoreBlock(_ products: [Float], start: Int, count: Int, rows n: Int, metric: DistanceMetric,
                                   norms: [Float], mapNeighbors low: [[Int]], k: Int) -> (hits: [Int], penalties: [Double]) {
        var hitsOf = [Int](repeating: 0, count: count), penaltyOf = [Double](repeating: 0, count: count)
        products.withUnsafeBufferPointer { buffer in
            hitsOf.withUnsafeMutableBufferPointer { hitsBuffer in
                penaltyOf.withUnsafeMutableBufferPointer { penaltyBuffer in
                    let products = SharedReadPointer(base: buffer.baseAddress!)
                    let hitsOut = SharedPointer(base: hitsBuffer.baseAddress!), penaltyOut = SharedPointer(base: penaltyBuffer.baseAddress!)
                    parallelRanges(count, rangesPerCore: 4) { range in
                        var distance = [Float](repeating: 0, count: n)
                        for q in range {
                            let i = start + q
                            fillDistances(&distance, products: products, row: q, point: i, metric: metric, norms: norms)
                            let score = neighborhoodScore(of: i, distance: distance, mapNeighbors: low[i], k: k)
                            hitsOut[q] = score.hits
                            penaltyOut[q] = score.penalty
                        }
                    }
                }
            }
        }
        return (hitsOf, penaltyOf)
    }

    /// The vector distances of point `i` (row `q` of the block's products) to every point,
    /// its own set to infinity; `distance` holds one value per point.
    private static func fillDistances(_ distance: inout [Float], products: SharedReadPointer<Float>, row q: Int,
                                      point i: Int, metric: DistanceMetric, norms: [Float]) {
        let n = distance.count
        for j in 0..<n {
            let dot = products[q * n + j]
            distance[j] = metric == .cosine ? 1 - dot : max(0, norms[i] + norms[j] - 2 * dot)
        }
        distance[i] = .infinity
    }

    /// How many of point `i`'s map neighbours are among its k nearest vectors, and the
    /// trustworthiness penalty `Σ (r(i, j) − k)` of those that are not.
    private static func neighborhoodScore(of i: Int, distance: [Float], mapNeighbors: [Int],
                                          k: Int) -> (hits: Int, penalty: Double) {
        let n = distance.count
        // The vectors' k nearest: the k smallest distances (ties by index).
        var nearest = TopK(k: k)
        for j in 0..<n where j != i { nearest.insert(j, distance[j]) }
        let high = Set(nearest.sorted().map(\.index))
        var hits = 0, pen = 0.0
        for j in mapNeighbors {
            if high.contains(j) { hits += 1; continue }
            let dj = distance[j]
            var rank = 1
            for l in 0..<n where distance[l] < dj || (distance[l] == dj && l < j) { rank += 1 }
            pen += Double(rank - k)
        }
        return (hits, pen)
    }
}
