/// fiftyone.brain's `compute_uniqueness`: on mean-centred embeddings with cosine distance, each
/// sample's neighbours excluding itself are taken 4 deep; the first is dropped (as the anchor
/// does), and `u = mean(0.6·d₂, 0.3·d₃, 0.1·d₄)`, divided by the dataset's largest `u`.
/// With 3 samples or fewer every sample scores 1.
public enum Uniqueness {
    /// The embeddings the anchor measures on: each row minus the column means.
    public static func centred(_ vectors: FeatureMatrix) -> FeatureMatrix {
        let d = vectors.dimension
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<vectors.rows { for (j, v) in vectors.row(i).enumerated() { mean[j] += Double(v) } }
        let n = Double(max(vectors.rows, 1))
        var values = [Float](repeating: 0, count: vectors.rows * d)
        for i in 0..<vectors.rows {
            for (j, v) in vectors.row(i).enumerated() { values[i * d + j] = v - Float(mean[j] / n) }
        }
        return FeatureMatrix(rows: vectors.rows, dimension: d, values: values)
    }

    /// Scores from each sample's neighbours (excluding itself, nearest first, ≥ 4 deep), by
    /// cosine distance on centred embeddings.
    public static func scores(neighbours: [[Neighbor]]) -> [Float] {
        guard neighbours.count > 3 else { return Array(repeating: 1, count: neighbours.count) }
        let weights: [Float] = [0.6, 0.3, 0.1]
        let raw = neighbours.map { list -> Float in
            let used = list.dropFirst().prefix(3).map(\.distance)
            return zip(used, weights).reduce(0) { $0 + $1.0 * $1.1 } / 3
        }
        let top = raw.max() ?? 0
        return top > 0 ? raw.map { $0 / top } : raw.map { _ in 0 }
    }

    /// Uniqueness of every row of `vectors`, with an exact cosine index on the centred rows.
    public static func compute(_ vectors: FeatureMatrix) -> [Float] {
        guard vectors.rows > 3 else { return Array(repeating: 1, count: vectors.rows) }
        let centredVectors = centred(vectors)
        return scores(neighbours: ExactIndex(vectors: centredVectors, metric: .cosine).allNeighbors(k: 4))
    }
}
