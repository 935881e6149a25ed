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
        var pairs: [SimilarPair] = []
        pairs.reserveCapacity(2 * edges(graph, threshold: threshold).reduce(0) { count, _ in count + 1 })
        for (from, to, similarity) in edges(graph, threshold: threshold) {
            pairs.append(SimilarPair(from: from, to: to, similarity: similarity))
            pairs.append(SimilarPair(from: to, to: from, similarity: similarity))
        }
        pairs.sort { ($0.similarity, $1.from, $1.to) > ($1.similarity, $0.from, $0.to) }
        return pairs
    }

    /// Each pair of images once, with its similarity: an image's neighbour at or above
    /// `threshold`, unless the neighbour came first and lists the image too (then it was already
    /// given, with the similarity of the neighbour's list). No table of the pairs seen is kept.
    static func edges(_ graph: KNNGraph, threshold: Float) -> some Sequence<(Int, Int, Float)> {
        let metric = graph.metric
        return (0..<graph.rows).lazy.flatMap { from in
            graph.neighbors(of: from).lazy.compactMap { neighbour -> (Int, Int, Float)? in
                let similarity = neighbour.similarity(metric), to = neighbour.index
                guard similarity >= threshold, to != from else { return nil }
                let givenBefore = to < from && graph.neighbors(of: to).contains {
                    $0.index == from && $0.similarity(metric) >= threshold
                }
                return givenBefore ? nil : (from, to, similarity)
            }
        }
    }
}
