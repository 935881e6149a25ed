/// fastdup's "find wrong labels": a sample whose nearest neighbours in embedding space carry
/// other labels is suspect. Score = share of the k neighbours' similarity held by neighbours
/// with a different label, `Σ_{j≠label} s⁺ / Σ_j s⁺` (s⁺ = max(similarity, 0); plain votes when
/// all similarities are ≤ 0), and the neighbours' majority (similarity-weighted) label.
public enum LabelDisagreement {
    public struct Result: Sendable, Equatable {
        public var scores: [Float]
        /// Neighbours' weighted majority label per sample (its own label when it has no neighbours).
        public var majority: [Int]
    }

    /// `graph` row i: sample i's neighbors (self excluded), most similar first.
    public static func compute(graph: KNNGraph, labels: [Int], k: Int = 10) -> Result {
        let metric = graph.metric
        var scores = [Float](repeating: 0, count: labels.count)
        var majority = labels
        for i in 0..<graph.rows {
            let near = graph.neighbors(of: i).prefix(k).filter { $0.index != i }
            guard !near.isEmpty else { continue }
            var weights = near.map { max($0.similarity(metric), 0) }
            if weights.allSatisfy({ $0 == 0 }) { weights = Array(repeating: 1, count: near.count) }
            let total = weights.reduce(0, +)
            var byLabel: [Int: Float] = [:]
            for (neighbor, weight) in zip(near, weights) { byLabel[labels[neighbor.index], default: 0] += weight }
            scores[i] = (total - (byLabel[labels[i]] ?? 0)) / total
            // Ties go to the sample's own label, then to the lower class index.
            majority[i] = byLabel.max { a, b in
                a.value != b.value ? a.value < b.value : (a.key == labels[i] ? false : b.key == labels[i] ? true : a.key > b.key)
            }?.key ?? labels[i]
        }
        return Result(scores: scores, majority: majority)
    }
}
