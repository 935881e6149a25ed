import Foundation

/// UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426), matching umap-learn 0.5's defaults
/// (fiftyone `method="umap"`: `n_neighbors` 15, `min_dist` 0.1):
///
/// 1. kNN graph from Winnow's similarity index (exact up to 75k rows, HNSW above) in the run's
///    metric; each point's k − 1 nearest others (umap-learn counts the point itself among k).
/// 2. Fuzzy simplicial set: per point, ρᵢ = distance to the nearest neighbour and σᵢ from
///    `Σⱼ exp(−(dᵢⱼ − ρᵢ)/σᵢ) = log₂ k` (binary search); `wᵢⱼ = exp(−(dᵢⱼ − ρᵢ)/σᵢ)`; fuzzy union
///    `W = A + Aᵀ − A∘Aᵀ`; edges below `max W / n_epochs` dropped.
/// 3. Layout: low-dimensional similarity `1/(1 + a‖y‖^{2b})`, a and b fitted by least squares to
///    `1` for `x < min_dist` and `exp(−(x − min_dist)/spread)` beyond on 300 points of [0, 3·spread]
///    (umap-learn `find_ab_params`); initial positions from PCA scaled to [0, 10]; SGD over
///    `n_epochs` (500 up to 10 000 points, else 200) where edge e is sampled every
///    `max W / w_e` epochs, its ends attract with `−2ab‖d‖^{2(b−1)}/(1 + a‖d‖^{2b})`, and 5 random
///    points per sample repel with `2γb/((0.001 + ‖d‖²)(1 + a‖d‖^{2b}))`, every gradient clipped to
///    ±4, the learning rate falling linearly from 1 to 0.
///
/// The kNN search (BLAS) and PCA use all cores. The SGD runs in one thread, in edge order, each
/// sample moving both ends (umap-learn `move_other`), so a seed gives the same map every time.
/// (Measured and dropped: a lock-free layout on all cores, umap-learn's unseeded mode — no
/// wall-time gain on 2 busy cores, and on 18 points it collapsed the map; and a variant where each
/// point moved against the others' positions at the start of the epoch — trustworthiness@15 0.929
/// against 0.950 on 10k set-C vectors, stale positions make pairs overshoot each other.)
///
/// `winnow-bench maps --work-dir W` on 10 000 set-C images (`winnow run corpus/C/images
/// --num-images 10000`, 1600-d copy descriptors, cosine), 2 vCPUs shared with other builds
/// (load ≈ 12, so CPU seconds are the steadier figure), both scored by the same code:
///
///     method        wall s   CPU s   recall@15   trustworthiness@15
///     winnow UMAP     26.0    10.7     0.7203        0.9480
///     umap-learn     196.4    79.7     0.7196        0.9534   (JIT warm-up excluded)
///     winnow t-SNE   101.2    39.3     0.6826        0.9268
///     winnow PCA       1.2     0.5     0.0203        0.5321
///
/// The SGD is about 60 % of Winnow's UMAP time (7.7 of 12.2 CPU s; kNN + PCA the rest).
public struct UMAPMap: Sendable {
    public struct Options: Sendable, Equatable {
        public var neighbors = 15
        public var minimumDistance: Float = 0.1
        public var spread: Float = 1
        /// nil: 500 up to 10 000 points, 200 above (umap-learn).
        public var epochs: Int?
        public var negativeSampleRate = 5
        public var learningRate: Float = 1
        public var repulsionStrength: Float = 1
        /// Seed of the jitter and negative samples: the same seed gives the same map.
        public var seed: UInt64 = 0
        public init() {}
    }

    public var options: Options

    public init(options: Options = Options()) { self.options = options }

    /// Fits and lays out `vectors` in `dimensions` dimensions (`rows × dimensions`, row-major).
    /// `runGraph`: the run's kNN graph over these vectors, used instead of a new search when
    /// ``canUse(_:rows:metric:)``.
    public func embed(_ vectors: FeatureMatrix, metric: DistanceMetric = .cosine, dimensions: Int = 2,
                      runGraph: KNNGraph? = nil) throws(MapError) -> [Float] {
        let n = vectors.rows
        guard n >= 3 else { throw .tooFewPoints(n, needed: 3) }
        guard options.neighbors >= 2 else { throw .invalidParameter("UMAP needs at least 2 neighbours") }
        guard dimensions >= 1, dimensions < n else { throw .invalidParameter("UMAP to \(dimensions) dimensions of \(n) points") }
        guard options.minimumDistance >= 0, options.spread > 0, options.minimumDistance <= options.spread else {
            throw .invalidParameter("min_dist must be in [0, spread]")
        }
        let k = min(options.neighbors, n) - 1
        let neighbors: KNNGraph
        if let runGraph, canUse(runGraph, rows: n, metric: metric) {
            neighbors = runGraph
        } else {
            neighbors = try Self.searchNeighbors(vectors, metric: metric, k: k)
        }
        let graph = Self.fuzzySimplicialSet(neighbors: neighbors, k: k + 1)
        let epochs = options.epochs ?? (n <= 10_000 ? 500 : 200)
        let basis = try PCAMap.components(vectors, dimensions: min(dimensions, vectors.dimension, n - 1))
        var start = PCAMap.apply(basis, to: vectors)
        if basis.dimensions < dimensions {   // pad with zeros (then noise) when PCA has fewer axes
            var padded = [Float](repeating: 0, count: n * dimensions)
            for i in 0..<n { for c in 0..<basis.dimensions { padded[i * dimensions + c] = start[i * basis.dimensions + c] } }
            start = padded
        }
        Self.scaleToBox(&start, dimensions: dimensions, seed: options.seed)
        let (a, b) = Self.fitCurve(spread: options.spread, minimumDistance: options.minimumDistance)
        return layout(graph: graph, initial: start, dimensions: dimensions, epochs: epochs, a: a, b: b)
    }

    /// The symmetric fuzzy graph in compressed rows: `offsets[i]..<offsets[i+1]` index `columns`, `weights`.
    struct Graph {
        var offsets: [Int]
        var columns: [Int32]
        var weights: [Float]
        var count: Int { offsets.count - 1 }
    }

    /// Whether `graph` (a run's) can stand in for this map's kNN search over `rows` vectors:
    /// the same rows and metric, and at least the k − 1 neighbours per point the map needs.
    public func canUse(_ graph: KNNGraph, rows: Int, metric: DistanceMetric) -> Bool {
        graph.rows == rows && graph.metric == metric && graph.k >= min(options.neighbors, rows) - 1
    }

    /// Every row's `k` nearest others by a new search, written to a temporary graph file that is
    /// mapped and unlinked (the map keeps it), so no list of all rows' neighbours is held.
    static func searchNeighbors(_ vectors: FeatureMatrix, metric: DistanceMetric, k: Int) throws(MapError) -> KNNGraph {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-umap-\(UUID().uuidString).knn")
        defer { try? FileManager.default.removeItem(at: url) }
        do { return try buildSimilarityIndex(vectors: vectors, metric: metric).writeNeighborGraph(k: k, to: url) } catch {
            throw .failed("\(error)")
        }
    }

    /// Steps 2 of the paper: local radii, membership strengths and their fuzzy union, over each
    /// point's `k − 1` nearest others in `neighbors`. `k` counts the point itself, as
    /// umap-learn's `n_neighbors` does.
    static func fuzzySimplicialSet(neighbors graph: KNNGraph, k: Int) -> Graph {
        let n = graph.rows
        let neighbors = { (row: Int) in graph.neighbors(of: row).prefix(k - 1) }
        let target = log2(Float(k))
        var meanOfAll: Float = 0, total = 0
        for row in 0..<n { for x in neighbors(row) { meanOfAll += x.distance; total += 1 } }
        meanOfAll /= Float(max(total, 1))
        var directed = [[(Int32, Float)]](repeating: [], count: n)
        for i in 0..<n {
            let distances = neighbors(i).map { max(0, $0.distance) }
            let rho = distances.first { $0 > 0 } ?? 0
            let mid = smoothingScale(distances: distances, rho: rho, target: target)
            let meanHere = distances.isEmpty ? 0 : distances.reduce(0, +) / Float(distances.count)
            let sigma = max(mid, 1e-3 * (rho > 0 ? meanHere : meanOfAll), 1e-12)
            directed[i] = zip(neighbors(i), distances).map { neighbor, d in
                (Int32(neighbor.index), d - rho > 0 ? exp(-(d - rho) / sigma) : 1)
            }
        }
        return compressedRows(fuzzyUnion(directed, k: k))
    }

    /// σ by binary search so that `Σⱼ exp(−(dⱼ − ρ)/σ) = target` (distances within ρ count 1),
    /// before its floor.
    private static func smoothingScale(distances: [Float], rho: Float, target: Float) -> Float {
        var lo: Float = 0, hi = Float.infinity, mid: Float = 1
        for _ in 0..<64 {
            var sum: Float = 0
            for d in distances {
                let excess = d - rho
                sum += excess > 0 ? exp(-excess / mid) : 1
            }
            if abs(sum - target) < 1e-5 { break }
            if sum > target {
                hi = mid; mid = (lo + hi) / 2
            } else {
                lo = mid
                mid = hi == .infinity ? mid * 2 : (lo + hi) / 2
            }
        }
        return mid
    }

    /// The fuzzy union `w + wᵀ − w·wᵀ` of the directed memberships, per row (unsorted, self edges kept).
    private static func fuzzyUnion(_ directed: [[(Int32, Float)]], k: Int) -> [[(Int32, Float)]] {
        let n = directed.count
        var lookup = [Int: Float]()
        lookup.reserveCapacity(n * max(k, 1))
        for i in 0..<n { for (j, w) in directed[i] { lookup[i * n + Int(j)] = w } }
        var rows = [[(Int32, Float)]](repeating: [], count: n)
        for i in 0..<n {
            for (j32, w) in directed[i] {
                let j = Int(j32)
                if let reverse = lookup[j * n + i] {
                    rows[i].append((j32, w + reverse - w * reverse))   // (j, i) adds the other direction
                } else {
                    rows[i].append((j32, w))
                    rows[j].append((Int32(i), w))
                }
            }
        }
        return rows
    }

    /// `rows` as a ``Graph``: each row sorted by column, self edges dropped.
    private static func compressedRows(_ rows: [[(Int32, Float)]]) -> Graph {
        var offsets = [0], columns = [Int32](), weights = [Float]()
        for i in 0..<rows.count {
            for (j, w) in rows[i].sorted(by: { $0.0 < $1.0 }) where j != Int32(i) {
                columns.append(j); weights.append(w)
            }
            offsets.append(columns.count)
        }
        return Graph(offsets: offsets, columns: columns, weights: weights)
    }

    /// a, b of `1/(1 + a x^{2b})` fitted to the target curve (Levenberg–Marquardt, umap-learn `find_ab_params`).
    public static func fitCurve(spread: Float, minimumDistance: Float) -> (a: Float, b: Float) {
        let xs = (0..<300).map { Double($0) * 3 * Double(spread) / 299 }
        let ys = xs.map { $0 < Double(minimumDistance) ? 1 : exp(-($0 - Double(minimumDistance)) / Double(spread)) }
        func residuals(_ a: Double, _ b: Double) -> Double {
            zip(xs, ys).reduce(0) { s, p in
                let r = 1 / (1 + a * pow(p.0, 2 * b)) - p.1
                return s + r * r
            }
        }
        var a = 1.0, b = 1.0, lambda = 1e-3
        var error = residuals(a, b)
        for _ in 0..<200 {
            var jtj = [0.0, 0.0, 0.0], jtr = [0.0, 0.0]
            for (x, y) in zip(xs, ys) where x > 0 {
                let p = pow(x, 2 * b), g = 1 / (1 + a * p)
                let r = g - y
                let da = -p * g * g, db = -a * p * 2 * log(x) * g * g
                jtj[0] += da * da; jtj[1] += da * db; jtj[2] += db * db
                jtr[0] += da * r; jtr[1] += db * r
            }
            let m00 = jtj[0] * (1 + lambda), m11 = jtj[2] * (1 + lambda), m01 = jtj[1]
            let det = m00 * m11 - m01 * m01
            guard det != 0 else { break }
            let stepA = -(m11 * jtr[0] - m01 * jtr[1]) / det
            let stepB = -(m00 * jtr[1] - m01 * jtr[0]) / det
            let tried = residuals(a + stepA, b + stepB)
            if tried < error, a + stepA > 0, b + stepB > 0 {
                a += stepA; b += stepB
                let gain = error - tried
                error = tried
                lambda = max(lambda / 10, 1e-12)
                if gain < 1e-14 { break }
            } else {
                lambda *= 10
                if lambda > 1e12 { break }
            }
        }
        return (Float(a), Float(b))
    }

    /// Each coordinate min–max scaled to [0, 10], plus ±10⁻⁴ seeded jitter so that identical
    /// vectors do not start (and stay) at the same point.
    static func scaleToBox(_ points: inout [Float], dimensions: Int, seed: UInt64) {
        let n = points.count / dimensions
        var random = SplitMix64(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        for c in 0..<dimensions {
            var lo = Float.infinity, hi = -Float.infinity
            for i in 0..<n { lo = min(lo, points[i * dimensions + c]); hi = max(hi, points[i * dimensions + c]) }
            let scale = hi > lo ? 10 / (hi - lo) : 0
            for i in 0..<n { points[i * dimensions + c] = (points[i * dimensions + c] - lo) * scale }
        }
        for i in points.indices { points[i] += Float(random.nextUnit() * 2e-4 - 1e-4) }
    }

    /// Step 3: the SGD layout.
    func layout(graph: Graph, initial: [Float], dimensions dim: Int, epochs: Int, a: Float, b: Float) -> [Float] {
        let n = graph.count
        let maxWeight = graph.weights.max() ?? 1
        // Edges too weak to be sampled in `epochs` epochs never are (umap-learn drops them).
        let floor = maxWeight / Float(epochs)
        let epochsPerSample = graph.weights.map { $0 >= floor && $0 > 0 ? maxWeight / $0 : -1 }
        let negativeRate = Float(options.negativeSampleRate)
        var y = initial
        var nextSample = epochsPerSample
        var nextNegative = epochsPerSample.map { $0 / negativeRate }
        let gamma = options.repulsionStrength, initialAlpha = options.learningRate
        var random = SplitMix64(seed: options.seed ^ 0x2545_F491_4F6C_DD1D)
        let offsets = graph.offsets, columns = graph.columns
        y.withUnsafeMutableBufferPointer { yBuffer in
            nextSample.withUnsafeMutableBufferPointer { next in
                nextNegative.withUnsafeMutableBufferPointer { nextNeg in
                    epochsPerSample.withUnsafeBufferPointer { eps in
                        offsets.withUnsafeBufferPointer { offs in
                            columns.withUnsafeBufferPointer { cols in
                                let state = SGDState(y: yBuffer.baseAddress!, next: next.baseAddress!, nextNegative: nextNeg.baseAddress!,
                                                     perSample: eps.baseAddress!, offsets: offs.baseAddress!, columns: cols.baseAddress!,
                                                     count: n, dimensions: dim, a: a, b: b, gamma: gamma, negativeRate: negativeRate)
                                for epoch in 0..<epochs {
                                    let alpha = initialAlpha * (1 - Float(epoch) / Float(epochs))
                                    state.run(rows: 0..<n, epoch: Float(epoch), alpha: alpha, random: &random)
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}

/// One epoch of UMAP's SGD over a run of rows (head points).
private struct SGDState: @unchecked Sendable {
    let y: UnsafeMutablePointer<Float>
    let next: UnsafeMutablePointer<Float>
    let nextNegative: UnsafeMutablePointer<Float>
    let perSample: UnsafePointer<Float>
    let offsets: UnsafePointer<Int>
    let columns: UnsafePointer<Int32>
    let count: Int, dimensions: Int
    let a: Float, b: Float, gamma: Float, negativeRate: Float

    func run(rows: Range<Int>, epoch e: Float, alpha: Float, random: inout SplitMix64) {
        let dim = dimensions, n = count
        for i in rows {
            let head = y + i * dim
            for edge in offsets[i]..<offsets[i + 1] {
                let per = perSample[edge]
                guard per > 0, next[edge] <= e else { continue }
                let tail = y + Int(columns[edge]) * dim
                var d2: Float = 0
                for c in 0..<dim { let t = head[c] - tail[c]; d2 += t * t }
                if d2 > 0 {
                    let p = exp(b * log(d2))
                    let coefficient = -2 * a * b * p / d2 / (a * p + 1)
                    for c in 0..<dim {
                        let g = min(4, max(-4, coefficient * (head[c] - tail[c])))
                        head[c] += g * alpha
                        tail[c] -= g * alpha
                    }
                }
                next[edge] += per
                let perNegative = per / negativeRate
                let samples = Int((e - nextNegative[edge]) / perNegative)
                guard samples > 0 else { continue }
                for _ in 0..<samples {
                    let other = Int(random.next() % UInt64(n))
                    if other == i { continue }
                    let point = y + other * dim
                    var q2: Float = 0
                    for c in 0..<dim { let t = head[c] - point[c]; q2 += t * t }
                    guard q2 > 0 else { continue }
                    let p = exp(b * log(q2))
                    let coefficient = 2 * gamma * b / ((0.001 + q2) * (a * p + 1))
                    for c in 0..<dim { head[c] += min(4, max(-4, coefficient * (head[c] - point[c]))) * alpha }
                }
                nextNegative[edge] += Float(samples) * perNegative
            }
        }
    }
}
