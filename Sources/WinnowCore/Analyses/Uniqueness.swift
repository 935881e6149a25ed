/// fiftyone.brain's `compute_uniqueness`: on mean-centred embeddings with cosine distance, each
/// sample's neighbours excluding itself are taken 4 deep; the first is dropped (as the anchor
/// does), and `u = mean(0.6·d₂, 0.3·d₃, 0.1·d₄)`, divided by the dataset's largest `u`.
/// With 3 samples or fewer every sample scores 1.
///
/// The anchor measures full N×N distances up to 15,000 samples and uses a kNN index beyond
/// (`/work/shared/reference/formulas-and-formats.md`); Winnow does the same: exact up to
/// ``exactRowLimit`` rows, beyond it each sample's run kNN-graph neighbors re-ranked by centred
/// cosine distance (a centred neighbor the graph lacks is missed).
public enum Uniqueness {
    /// Largest row count scored from exact centred-cosine neighbors (the anchor's bound).
    public static let exactRowLimit = 15_000

    /// The embeddings the anchor measures on: each row minus the column means.
    public static func centred(_ vectors: FeatureMatrix) -> FeatureMatrix {
        let d = vectors.dimension
        let mean = columnMeans(vectors)
        var values = [Float](repeating: 0, count: vectors.rows * d)
        for i in 0..<vectors.rows {
            for (j, v) in vectors.row(i).enumerated() { values[i * d + j] = v - mean[j] }
        }
        return FeatureMatrix(rows: vectors.rows, dimension: d, values: values)
    }

    /// Column means, summed in `Double`.
    static func columnMeans(_ vectors: FeatureMatrix) -> [Float] {
        var sum = [Double](repeating: 0, count: vectors.dimension)
        vectors.forEachRow(0..<vectors.rows) { _, row in
            for (j, v) in row.enumerated() { sum[j] += Double(v) }
        }
        let n = Double(max(vectors.rows, 1))
        return sum.map { Float($0 / n) }
    }

    /// Scores from each sample's neighbours in `graph` (excluding itself, nearest first, ≥ 4
    /// deep), by cosine distance on centred embeddings.
    public static func scores(graph: KNNGraph) -> [Float] {
        guard graph.rows > 3 else { return Array(repeating: 1, count: graph.rows) }
        return normalised((0..<graph.rows).map { raw(graph.neighbors(of: $0).map(\.distance)) })
    }

    /// Uniqueness of every row of `vectors`: exact (an exact cosine index on the centred rows)
    /// up to `exactRowLimit` rows, else from `graph`, the run's kNN graph over the same rows.
    public static func compute(_ vectors: FeatureMatrix, graph: KNNGraph, exactRowLimit: Int = exactRowLimit) -> [Float] {
        guard vectors.rows > 3 else { return Array(repeating: 1, count: vectors.rows) }
        guard vectors.rows > exactRowLimit else {
            let exact = ExactIndex(vectors: centred(vectors), metric: .cosine).allNeighbors(k: 4)
            return scores(graph: KNNGraph(lists: exact, metric: .cosine))
        }
        return normalised(rerankedRaw(vectors, graph: graph))
    }

    /// `mean(0.6·d₂, 0.3·d₃, 0.1·d₄)` of one sample's distances, nearest first.
    private static func raw(_ distances: [Float]) -> Float {
        let weights: [Float] = [0.6, 0.3, 0.1]
        return zip(distances.dropFirst().prefix(3), weights).reduce(0) { $0 + $1.0 * $1.1 } / 3
    }

    private static func normalised(_ raw: [Float]) -> [Float] {
        let top = raw.max() ?? 0
        return top > 0 ? raw.map { $0 / top } : raw.map { _ in 0 }
    }

    /// Row blocks of a pass over mapped rows, each released after use so that the pass stays
    /// resident by one block.
    private static func blocks(_ rows: Int, size: Int = 4096) -> [Range<Int>] {
        stride(from: 0, to: rows, by: size).map { $0..<min(rows, $0 + size) }
    }

    /// Per row, `raw` of its graph neighbors re-ranked by centred cosine distance
    /// `1 − (a−μ)·(b−μ) / (‖a−μ‖ ‖b−μ‖)`, computed on the fly from the (mapped) rows: a block of
    /// rows at a time, their neighbours' rows copied out of the file (`FeatureMatrix.copyRow`),
    /// so that resident memory stays one block whatever N.
    private static func rerankedRaw(_ vectors: FeatureMatrix, graph: KNNGraph) -> [Float] {
        precondition(graph.rows == vectors.rows, "the graph and the vectors have different rows")
        let mean = columnMeans(vectors)
        var inverseNorms = [Float]()
        inverseNorms.reserveCapacity(vectors.rows)
        vectors.forEachRow(0..<vectors.rows) { _, row in
            let norm = centredDot(row, row, mean: mean).squareRoot()
            inverseNorms.append(norm > 0 ? 1 / norm : 0)
        }
        var result = [Float](repeating: 0, count: vectors.rows)
        let d = vectors.dimension, inverse = inverseNorms
        result.withUnsafeMutableBufferPointer { buffer in
            let out = SharedPointer(base: buffer.baseAddress!)
            for block in blocks(vectors.rows) {
                parallelRanges(block.count, rangesPerCore: 4) { range in
                    let neighbor = UnsafeMutablePointer<Float>.allocate(capacity: d)
                    defer { neighbor.deallocate() }
                    for i in range.lowerBound + block.lowerBound..<range.upperBound + block.lowerBound {
                        let ranked = graph.neighbors(of: i).map { n -> Neighbor in
                            vectors.copyRow(n.index, into: neighbor)
                            let product = centredDot(vectors.row(i), UnsafeBufferPointer(start: neighbor, count: d), mean: mean)
                            return Neighbor(index: n.index, distance: max(0, 1 - product * inverse[i] * inverse[n.index]))
                        }.sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }
                        out[i] = raw(ranked.map(\.distance))
                    }
                }
                vectors.releasePages(rows: block)
            }
        }
        return result
    }

    private static func centredDot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, mean: [Float]) -> Float {
        var sum: Float = 0
        for j in 0..<a.count { sum += (a[j] - mean[j]) * (b[j] - mean[j]) }
        return sum
    }
}
