/// A pair of samples and their similarity (cosine similarity for cosine features). Rows are
/// stored in 32 bits, as the kNN graph stores them: 12 bytes a pair, not 24.
public struct SimilarPair: Sendable, Equatable {
    private var storedFrom: Int32
    private var storedTo: Int32
    public var similarity: Float

    public var from: Int { Int(storedFrom) }
    public var to: Int { Int(storedTo) }

    public init(from: Int, to: Int, similarity: Float) {
        storedFrom = Int32(from)
        storedTo = Int32(to)
        self.similarity = similarity
    }
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
    /// `threshold`, unless the neighbour came first and lists the image too, or the image's own
    /// list gave it higher up (then it was already given, with the similarity of the list that
    /// gave it first). No table of the pairs seen is kept.
    static func edges(_ graph: KNNGraph, threshold: Float) -> some Sequence<(Int, Int, Float)> {
        let metric = graph.metric
        return (0..<graph.rows).lazy.flatMap { from in
            let list = graph.neighbors(of: from)
            return list.indices.lazy.compactMap { rank -> (Int, Int, Float)? in
                let similarity = list[rank].similarity(metric), to = list[rank].index
                guard similarity >= threshold, to != from else { return nil }
                let givenBefore = list[..<rank].contains { $0.index == to && $0.similarity(metric) >= threshold }
                    || to < from && graph.neighbors(of: to).contains { $0.index == from && $0.similarity(metric) >= threshold }
                return givenBefore ? nil : (from, to, similarity)
            }
        }
    }
}
