import Foundation

/// Barnes–Hut t-SNE (van der Maaten 2014, "Accelerating t-SNE using tree-based algorithms"),
/// as fiftyone's `method="tsne"` runs scikit-learn's `TSNE` (PCA to 50 dimensions first,
/// perplexity 30, early exaggeration 12 for 250 of 1000 iterations, learning rate
/// `max(N / 12 / 4, 50)`, PCA initialisation scaled to standard deviation 10⁻⁴, θ = 0.5):
///
/// - input similarities from each point's ⌊3·perplexity⌋ nearest neighbours (Winnow's index,
///   euclidean on the PCA-reduced vectors): `p_{j|i} = exp(−β_i d²_ij) / Σ`, β_i by binary search
///   so that the entropy is `ln(perplexity)`; `P = (P + Pᵀ) / Σ`.
/// - gradient `4 (Σ_j p_ij q_ij Z (y_i − y_j) − Σ_j q_ij² Z² (y_i − y_j) / Z)`, `q_ij Z = 1/(1 + ‖y_i − y_j‖²)`,
///   the repulsive sum over a quadtree, cells with `size / distance < θ` taken as their centre of mass.
/// - steps with momentum (0.5, then 0.8) and per-coordinate gains (+0.2 when the gradient
///   changes sign, ×0.8 otherwise, at least 0.01).
///
/// Forces for all points are computed on all cores; the result is deterministic (per-point
/// sums, no shared accumulators). Two output dimensions only (the quadtree). Below 91 points the
/// perplexity is lowered to (N − 1)/3.
///
/// The kNN search runs on the PCA-reduced copy in euclidean distance, not on the run's vectors in
/// its metric, so the run's `knn.bin` cannot stand in for it (UMAP takes it; ``UMAPMap``).
public struct TSNEMap: Sendable {
    public struct Options: Sendable, Equatable {
        public var perplexity: Float = 30
        public var earlyExaggeration: Float = 12
        public var iterations = 1000
        public var exaggerationIterations = 250
        /// nil: `max(N / earlyExaggeration / 4, 50)` (scikit-learn "auto").
        public var learningRate: Float?
        public var theta: Float = 0.5
        /// Reduce to this many dimensions by PCA first (nil: no reduction).
        public var pcaDimensions: Int? = 50
        /// Seed of the initial jitter.
        public var seed: UInt64 = 0
        public init() {}
    }

    public var options: Options

    public init(options: Options = Options()) { self.options = options }

    /// The 2-D map of `vectors` (`rows × 2`, row-major).
    public func embed(_ vectors: FeatureMatrix) throws(MapError) -> [Float] {
        let n = vectors.rows
        guard n >= 4 else { throw .tooFewPoints(n, needed: 4) }
        guard options.perplexity > 0, options.iterations > 0, options.theta >= 0 else {
            throw .invalidParameter("t-SNE perplexity and iterations must be positive, theta ≥ 0")
        }
        // PCA first: the initial layout is the first two components either way.
        let reducedDimensions = min(options.pcaDimensions ?? vectors.dimension, vectors.dimension, n - 1)
        let basis = try PCAMap.components(vectors, dimensions: max(2, min(reducedDimensions, vectors.dimension)))
        let reducedValues = PCAMap.apply(basis, to: vectors)
        let reduced = options.pcaDimensions == nil
            ? vectors : FeatureMatrix(rows: n, dimension: basis.dimensions, values: reducedValues)
        // Small sets: perplexity at most (N − 1)/3, so that its 3·perplexity neighbours exist.
        let perplexity = min(options.perplexity, max(1, Float(n - 1) / 3))
        let k = min(n - 1, Int(3 * perplexity))
        let neighbors: [[Neighbor]]
        do { neighbors = try buildSimilarityIndex(vectors: reduced, metric: .euclidean).allNeighbors(k: k) } catch {
            throw .failed(error.description)
        }
        let p = Self.jointProbabilities(neighbors: neighbors, perplexity: perplexity)
        // Initial positions: the first two components, scaled to standard deviation 1e-4 on the first.
        var y = [Float](repeating: 0, count: n * 2)
        var mean: Double = 0, square: Double = 0
        for i in 0..<n {
            y[2 * i] = reducedValues[i * basis.dimensions]
            y[2 * i + 1] = basis.dimensions > 1 ? reducedValues[i * basis.dimensions + 1] : 0
            mean += Double(y[2 * i])
        }
        mean /= Double(n)
        for i in 0..<n { square += (Double(y[2 * i]) - mean) * (Double(y[2 * i]) - mean) }
        let deviation = (square / Double(n)).squareRoot()
        let scale = deviation > 0 ? Float(1e-4 / deviation) : 1
        for i in y.indices { y[i] *= scale }
        // Seeded jitter far below the initial spread: identical vectors (exact copies) would
        // otherwise start and stay at one point, which derailed the layout of the others
        // (8 of 8 copies beside their originals with it, 1 of 8 without, on the gallery test set).
        var random = SplitMix64(seed: options.seed)
        for i in y.indices { y[i] += Float(random.nextUnit() - 0.5) * 1e-8 }
        return optimise(p, initial: y)
    }

    /// Sparse symmetric P in compressed rows.
    struct Sparse {
        var offsets: [Int]
        var columns: [Int32]
        var values: [Float]
    }

    /// Conditional probabilities by per-point binary search on β, then `P = (P + Pᵀ) / ΣP`.
    static func jointProbabilities(neighbors: [[Neighbor]], perplexity: Float) -> Sparse {
        let n = neighbors.count
        let target = log(Double(perplexity))
        var conditional = [[Float]](repeating: [], count: n)
        for i in 0..<n {
            let d2 = neighbors[i].map { Double($0.distance) * Double($0.distance) }
            var beta = 1.0, lo = -Double.infinity, hi = Double.infinity
            var probabilities = [Double](repeating: 0, count: d2.count)
            for _ in 0..<100 {
                var sum = 0.0
                for j in d2.indices { probabilities[j] = exp(-d2[j] * beta); sum += probabilities[j] }
                if sum == 0 { sum = 1e-8 }
                var weighted = 0.0
                for j in d2.indices { probabilities[j] /= sum; weighted += d2[j] * probabilities[j] }
                let entropy = log(sum) + beta * weighted
                let gap = entropy - target
                if abs(gap) <= 1e-5 { break }
                if gap > 0 {
                    lo = beta
                    beta = hi == .infinity ? beta * 2 : (beta + hi) / 2
                } else {
                    hi = beta
                    beta = lo == -.infinity ? beta / 2 : (beta + lo) / 2
                }
            }
            conditional[i] = probabilities.map(Float.init)
        }
        var lookup = [Int: Float]()
        for i in 0..<n { for (neighbor, v) in zip(neighbors[i], conditional[i]) { lookup[i * n + neighbor.index] = v } }
        var rows = [[(Int32, Float)]](repeating: [], count: n)
        var total: Double = 0
        for i in 0..<n {
            for (neighbor, v) in zip(neighbors[i], conditional[i]) {
                let j = neighbor.index
                if let reverse = lookup[j * n + i] {
                    rows[i].append((Int32(j), v + reverse))
                    total += Double(v + reverse)
                } else {
                    rows[i].append((Int32(j), v))
                    rows[j].append((Int32(i), v))
                    total += 2 * Double(v)
                }
            }
        }
        var offsets = [0], columns = [Int32](), values = [Float]()
        let norm = Float(1 / max(total, 1e-12))
        for i in 0..<n {
            for (j, v) in rows[i].sorted(by: { $0.0 < $1.0 }) where Int(j) != i {
                columns.append(j); values.append(v * norm)
            }
            offsets.append(columns.count)
        }
        return Sparse(offsets: offsets, columns: columns, values: values)
    }

    func optimise(_ p: Sparse, initial: [Float]) -> [Float] {
        let n = initial.count / 2
        var y = initial
        var update = [Float](repeating: 0, count: 2 * n)
        var gains = [Float](repeating: 1, count: 2 * n)
        var gradient = [Float](repeating: 0, count: 2 * n)
        var pointSums = [Double](repeating: 0, count: n)
        var repulsion = [Float](repeating: 0, count: 2 * n)
        let rate = options.learningRate ?? max(Float(n) / options.earlyExaggeration / 4, 50)
        let theta = options.theta
        for iteration in 0..<options.iterations {
            let exaggeration: Float = iteration < options.exaggerationIterations ? options.earlyExaggeration : 1
            let momentum: Float = iteration < options.exaggerationIterations ? 0.5 : 0.8
            let tree = QuadTree(points: y)
            Self.computeRepulsion(tree: tree, positions: y, theta: theta,
                                  repulsion: &repulsion, pointSums: &pointSums)
            var z = 0.0
            for s in pointSums { z += s }
            let inverseZ = Float(1 / max(z, 1e-12))
            Self.computeGradient(p, positions: y, repulsion: repulsion, exaggeration: exaggeration,
                                 inverseZ: inverseZ, gradient: &gradient)
            for c in 0..<(2 * n) {
                let g = gradient[c]
                if (update[c] * g) < 0 { gains[c] += 0.2 } else { gains[c] *= 0.8 }
                gains[c] = max(gains[c], 0.01)
                update[c] = momentum * update[c] - rate * gains[c] * g
                y[c] += update[c]
            }
        }
        Self.centre(&y)
        return y
    }

    /// Fills each point's Barnes–Hut repulsive force (`repulsion`, two per point) and its
    /// `Σ_j q_ij Z` (`pointSums`) from `tree`, over all cores.
    private static func computeRepulsion(tree: QuadTree, positions y: [Float], theta: Float,
                                         repulsion: inout [Float], pointSums: inout [Double]) {
        let n = y.count / 2
        y.withUnsafeBufferPointer { yBuffer in
            repulsion.withUnsafeMutableBufferPointer { repBuffer in
                pointSums.withUnsafeMutableBufferPointer { sumBuffer in
                    let points = SharedReadPointer(base: yBuffer.baseAddress!)
                    let rep = SharedPointer(base: repBuffer.baseAddress!)
                    let sums = SharedPointer(base: sumBuffer.baseAddress!)
                    parallelRanges(n, rangesPerCore: 4) { range in
                        for i in range {
                            let (fx, fy, sum) = tree.repulsion(of: i, x: points[2 * i], y: points[2 * i + 1], theta: theta)
                            rep[2 * i] = fx; rep[2 * i + 1] = fy; sums[i] = sum
                        }
                    }
                }
            }
        }
    }

    /// Fills `gradient` with `4 (attraction − repulsion / Z)` for every point, the attraction
    /// summed over the sparse P (scaled by `exaggeration`), over all cores.
    private static func computeGradient(_ p: Sparse, positions y: [Float], repulsion: [Float],
                                        exaggeration: Float, inverseZ: Float, gradient: inout [Float]) {
        y.withUnsafeBufferPointer { yBuffer in
            gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                repulsion.withUnsafeBufferPointer { repBuffer in
                    p.offsets.withUnsafeBufferPointer { offsetBuffer in
                        p.columns.withUnsafeBufferPointer { columnBuffer in
                            p.values.withUnsafeBufferPointer { valueBuffer in
                                accumulateGradient(
                                    count: y.count / 2,
                                    points: SharedReadPointer(base: yBuffer.baseAddress!),
                                    repulsion: SharedReadPointer(base: repBuffer.baseAddress!),
                                    offsets: SharedReadPointer(base: offsetBuffer.baseAddress!),
                                    columns: SharedReadPointer(base: columnBuffer.baseAddress!),
                                    values: SharedReadPointer(base: valueBuffer.baseAddress!),
                                    exaggeration: exaggeration, inverseZ: inverseZ,
                                    gradient: SharedPointer(base: gradientBuffer.baseAddress!))
                            }
                        }
                    }
                }
            }
        }
    }

    /// The parallel gradient loop of ``computeGradient``, on pointers valid only for this call.
    private static func accumulateGradient(
        count n: Int, points: SharedReadPointer<Float>, repulsion rep: SharedReadPointer<Float>,
        offsets: SharedReadPointer<Int>, columns: SharedReadPointer<Int32>, values: SharedReadPointer<Float>,
        exaggeration: Float, inverseZ: Float, gradient grad: SharedPointer<Float>
    ) {
        parallelRanges(n, rangesPerCore: 4) { range in
            for i in range {
                var ax: Float = 0, ay: Float = 0
                let xi = points[2 * i], yi = points[2 * i + 1]
                for e in offsets[i]..<offsets[i + 1] {
                    let j = Int(columns[e])
                    let dx = xi - points[2 * j], dy = yi - points[2 * j + 1]
                    let q = 1 / (1 + dx * dx + dy * dy)
                    let w = values[e] * exaggeration * q
                    ax += w * dx; ay += w * dy
                }
                grad[2 * i] = 4 * (ax - rep[2 * i] * inverseZ)
                grad[2 * i + 1] = 4 * (ay - rep[2 * i + 1] * inverseZ)
            }
        }
    }

    /// Moves the 2-D layout `y` so that its mean is at the origin.
    private static func centre(_ y: inout [Float]) {
        let n = y.count / 2
        var cx: Double = 0, cy: Double = 0
        for i in 0..<n { cx += Double(y[2 * i]); cy += Double(y[2 * i + 1]) }
        cx /= Double(n); cy /= Double(n)
        for i in 0..<n { y[2 * i] -= Float(cx); y[2 * i + 1] -= Float(cy) }
    }
}

/// A point quadtree with each cell's point count and centre of mass, for Barnes–Hut sums.
struct QuadTree: Sendable {
    struct Node: Sendable {
        var centreX: Float, centreY: Float, half: Float
        var mass: Float = 0
        var massX: Float = 0, massY: Float = 0
        /// First of four children, or −1 for a leaf.
        var child: Int32 = -1
        /// The leaf's point (its first, when several share a position), −1 when empty.
        var point: Int32 = -1
    }

    private(set) var nodes: [Node] = []
    static let maximumDepth = 48

    init(points: [Float]) {
        let n = points.count / 2
        var minX = Float.infinity, minY = Float.infinity, maxX = -Float.infinity, maxY = -Float.infinity
        for i in 0..<n {
            minX = min(minX, points[2 * i]); maxX = max(maxX, points[2 * i])
            minY = min(minY, points[2 * i + 1]); maxY = max(maxY, points[2 * i + 1])
        }
        let half = max(maxX - minX, maxY - minY, 1e-12) / 2 * 1.0001
        nodes.reserveCapacity(4 * n)
        nodes.append(Node(centreX: (minX + maxX) / 2, centreY: (minY + maxY) / 2, half: half))
        for i in 0..<n { insert(i, x: points[2 * i], y: points[2 * i + 1], points: points) }
    }

    private func quadrant(_ node: Node, _ x: Float, _ y: Float) -> Int32 {
        (x >= node.centreX ? 1 : 0) + (y >= node.centreY ? 2 : 0)
    }

    private mutating func split(_ index: Int) {
        let node = nodes[index]
        let half = node.half / 2
        nodes[index].child = Int32(nodes.count)
        for q in 0..<4 {
            nodes.append(Node(centreX: node.centreX + (q & 1 == 1 ? half : -half),
                              centreY: node.centreY + (q & 2 == 2 ? half : -half), half: half))
        }
    }

    private mutating func insert(_ i: Int, x: Float, y: Float, points: [Float]) {
        var index = 0, depth = 0
        while true {
            // Add the point to this cell's mass.
            let m = nodes[index].mass
            nodes[index].massX = (nodes[index].massX * m + x) / (m + 1)
            nodes[index].massY = (nodes[index].massY * m + y) / (m + 1)
            nodes[index].mass = m + 1
            if nodes[index].child >= 0 {
                index = Int(nodes[index].child + quadrant(nodes[index], x, y))
                depth += 1
                continue
            }
            if m == 0 {
                nodes[index].point = Int32(i)
                return
            }
            let other = Int(nodes[index].point)
            let ox = points[2 * other], oy = points[2 * other + 1]
            if depth >= Self.maximumDepth || (ox == x && oy == y) { return }   // shares the leaf
            // Split: move the resident point (mass m, all at one position) down, continue with i.
            split(index)
            let child = Int(nodes[index].child + quadrant(nodes[index], ox, oy))
            nodes[child].mass = m
            nodes[child].massX = ox; nodes[child].massY = oy
            nodes[child].point = Int32(other)
            nodes[index].point = -1
            index = Int(nodes[index].child + quadrant(nodes[index], x, y))
            depth += 1
        }
    }

    /// `Σ_j q_ij² Z² (y_i − y_j)` and `Σ_j q_ij Z` over all j ≠ i, cells far enough summarised.
    /// Point i itself is left out of the leaf at its own position (a cell holding it is never
    /// summarised while θ < 0.7: its centre of mass is within the cell's diagonal).
    func repulsion(of i: Int, x: Float, y: Float, theta: Float) -> (Float, Float, Double) {
        var fx: Float = 0, fy: Float = 0
        var sum: Double = 0
        var stack: [Int32] = [0]
        stack.reserveCapacity(64)
        let theta2 = theta * theta
        while let top = stack.popLast() {
            let node = nodes[Int(top)]
            let dx = x - node.massX, dy = y - node.massY
            var mass = node.mass
            if node.child < 0 && dx == 0 && dy == 0 { mass -= 1 }
            guard mass > 0 else { continue }
            let d2 = dx * dx + dy * dy
            let size = 2 * node.half
            if node.child < 0 || size * size < theta2 * d2 {
                let q = 1 / (1 + d2)
                sum += Double(mass * q)
                let f = mass * q * q
                fx += f * dx; fy += f * dy
            } else {
                for c in 0..<4 { stack.append(node.child + Int32(c)) }
            }
        }
        return (fx, fy, sum)
    }
}
