/// fiftyone.brain's `compute_representativeness` (default method): k-means with 20 clusters
/// (seed 1234) on the raw embeddings; `d` = distance to the sample's own centre divided by the
/// largest such distance in its cluster. The anchor stores `d` itself (higher = farther from
/// the centre, despite its docs); Winnow reports `representativeness = 1 − d` (higher = more
/// typical of its cluster) and keeps the anchor's value as `representativeness_fiftyone`.
public enum Representativeness {
    public struct Result: Sendable {
        public var representativeness: [Float]
        public var fiftyone: [Float]
        public var cluster: [Int]
    }

    public static func compute(_ vectors: FeatureMatrix, clusters: Int = 20, seed: UInt64 = 1234) -> Result {
        guard vectors.rows > 0 else { return Result(representativeness: [], fiftyone: [], cluster: []) }
        let fit = KMeans(clusters: clusters, seed: seed).fit(vectors)
        var largest = [Float](repeating: 0, count: fit.centres.rows)
        for (i, c) in fit.assignment.enumerated() { largest[c] = max(largest[c], fit.distance[i]) }
        let relative = fit.assignment.enumerated().map { i, c in largest[c] > 0 ? fit.distance[i] / largest[c] : 0 }
        return Result(representativeness: relative.map { 1 - $0 }, fiftyone: relative, cluster: fit.assignment)
    }
}
