/// fastdup's outliers: an image's outlier score is its similarity to its nearest neighbour;
/// the images whose score falls in the lowest `percentile` (default 0.05) are outliers.
/// `outliers.csv` lists each outlier with its k neighbours (`from,to,distance` = similarity),
/// least similar first.
public enum Outliers {
    /// How strictly an image must be isolated.
    public enum Rule: String, Sendable, Codable, CaseIterable {
        /// Its own nearest neighbour is far (fastdup's default `how='one'`).
        case one
        /// Also no other image has it among its near neighbours (above the outlier cut-off).
        case all
    }

    public struct Result: Sendable, Equatable {
        /// Outlier sample rows, least similar first.
        public var outliers: [Int]
        /// Per sample, the similarity to its nearest neighbour.
        public var scores: [Float]
        /// The similarity at or below which a sample is an outlier.
        public var cutoff: Float
        /// Rows for `outliers.csv`.
        public var rows: [SimilarPair]
    }

    public static func find(graph: KNNGraph, percentile: Double = 0.05, rule: Rule = .one) -> Result {
        let metric = graph.metric
        let scores = (0..<graph.rows).map { graph.neighbors(of: $0).first?.similarity(metric) ?? -.infinity }
        guard !scores.isEmpty else { return Result(outliers: [], scores: [], cutoff: 0, rows: []) }
        let count = max(1, Int((Double(scores.count) * percentile).rounded(.up)))
        let order = scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }
        let cutoff = scores[order[min(count, order.count) - 1]]
        var candidates = order.prefix { scores[$0] <= cutoff }
        if rule == .all {
            var wanted = Set<Int>()
            for from in 0..<graph.rows {
                for n in graph.neighbors(of: from) where n.similarity(metric) > cutoff && scores[from] > cutoff { wanted.insert(n.index) }
            }
            candidates = candidates.filter { !wanted.contains($0) }[...]
        }
        let rows = candidates.flatMap { from in
            graph.neighbors(of: from).map { SimilarPair(from: from, to: $0.index, similarity: $0.similarity(metric)) }
        }
        return Result(outliers: Array(candidates), scores: scores, cutoff: cutoff, rows: rows)
    }
}
