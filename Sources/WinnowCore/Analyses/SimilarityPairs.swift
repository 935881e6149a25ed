/// A pair of samples and their similarity (cosine similarity for cosine features).
public struct SimilarPair: Sendable, Equatable {
    public var from: Int
    public var to: Int
    public var similarity: Float
}

/// fastdup's `similarity.csv`: every (image, neighbour) pair among each image's
/// `nearest_neighbors_k` neighbours whose similarity is at least `threshold` (default 0.9),
/// listed in both directions as fastdup does, most similar first.
public enum SimilarityPairs {
    public static func pairs(graph: KNNGraph, threshold: Float = 0.9) -> [SimilarPair] {
        let metric = graph.metric
        var seen = Set<Int64>()
        var pairs: [SimilarPair] = []
        for from in 0..<graph.rows {
            for neighbour in graph.neighbors(of: from) where neighbour.similarity(metric) >= threshold {
                for (a, b) in [(from, neighbour.index), (neighbour.index, from)] {
                    if seen.insert(Int64(a) << 32 | Int64(b)).inserted {
                        pairs.append(SimilarPair(from: a, to: b, similarity: neighbour.similarity(metric)))
                    }
                }
            }
        }
        return pairs.sorted { ($0.similarity, $1.from, $1.to) > ($1.similarity, $0.from, $0.to) }
    }
}
