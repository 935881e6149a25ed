/// fiftyone.brain's `compute_representativeness` (default method): k-means with 20 clusters
/// (seed 1234) on the raw embeddings; `d` = distance to the sample's own centre divided by the
/// largest such distance in its cluster. The anchor stores `d` itself (higher = farther from
/// the centre, despite its docs); Winnow reports `representativeness = 1 − d` (higher = more
/// typical of its cluster) and keeps the anchor's value as `representativeness_fiftyone`.
///
/// The anchor fits on every sample. Winnow does so up to ``sampleLimit`` rows; beyond, k-means
/// is fitted on `sampleLimit` rows drawn with the same seed (selection sampling), and every row
/// is then assigned to the nearest fitted centre, block by block.
public enum Representativeness {
    /// Largest number of rows k-means is fitted on (20,000 rows of the 1,856-d copy descriptor
    /// are 148 MB).
    public static let sampleLimit = 20_000

    public struct Result: Sendable {
        public var representativeness: [Float]
        public var fiftyone: [Float]
        public var cluster: [Int]
    }

    public static func compute(_ vectors: FeatureMatrix, clusters: Int = 20, seed: UInt64 = 1234,
                               sampleLimit: Int = sampleLimit) -> Result {
        guard vectors.rows > 0 else { return Result(representativeness: [], fiftyone: [], cluster: []) }
        let kMeans = KMeans(clusters: clusters, seed: seed)
        let assignment: [Int], distance: [Float]
        if vectors.rows <= sampleLimit {
            let fit = kMeans.fit(vectors)
            (assignment, distance) = (fit.assignment, fit.distance)
        } else {
            let fit = kMeans.fit(sample(vectors, rows: sampleLimit, seed: seed))
            (assignment, distance) = kMeans.assign(vectors, centres: fit.centres)
        }
        var largest = [Float](repeating: 0, count: max(clusters, 1))
        for (i, c) in assignment.enumerated() { largest[c] = max(largest[c], distance[i]) }
        let relative = assignment.enumerated().map { i, c in largest[c] > 0 ? distance[i] / largest[c] : 0 }
        return Result(representativeness: relative.map { 1 - $0 }, fiftyone: relative, cluster: assignment)
    }

    /// `count` of the rows, in order, each drawn with probability wanted / remaining (Knuth's
    /// selection sampling: one pass, memory for the sample only).
    static func sample(_ vectors: FeatureMatrix, rows count: Int, seed: UInt64) -> FeatureMatrix {
        var random = SplitMix64(seed: seed)
        let count = min(count, vectors.rows), dimension = vectors.dimension
        var picked: [Int] = []
        picked.reserveCapacity(count)
        for row in 0..<vectors.rows where picked.count < count {
            if random.nextUnit() * Double(vectors.rows - row) < Double(count - picked.count) { picked.append(row) }
        }
        return FeatureMatrix(rows: count, dimension: dimension) { values in
            var at = 0
            vectors.forEachRow(picked) { _, row in
                _ = UnsafeMutableBufferPointer(rebasing: values[at..<(at + dimension)]).initialize(from: row)
                at += dimension
            }
        }
    }
}
