import Testing
@testable import WinnowCore

@Suite struct ExactIndexTests {
    /// Four 2-d points whose distances are worked out by hand.
    let points = FeatureMatrix(rows: 4, dimension: 2, values: [1, 0,  0, 1,  1, 1,  -1, 0])

    @Test func cosineNeighboursMatchHandComputedValues() {
        let neighbors = ExactIndex(vectors: points, metric: .cosine).allNeighbors(k: 2)
        // From p0: cos = 1/√2 with p2, 0 with p1, −1 with p3.
        #expect(neighbors[0].map(\.index) == [2, 1])
        #expect(abs(neighbors[0][0].distance - (1 - 1 / Float(2).squareRoot())) < 1e-6)
        #expect(abs(neighbors[0][1].distance - 1) < 1e-6)
        #expect(neighbors[3].map(\.index) == [1, 2])   // cos = 0 with p1, −1/√2 with p2
        #expect(abs(neighbors[0][0].similarity(.cosine) - 1 / Float(2).squareRoot()) < 1e-6)
    }

    @Test func euclideanL1AndLinfMatchHandComputedValues() {
        let euclidean = ExactIndex(vectors: points, metric: .euclidean).allNeighbors(k: 3)
        #expect(euclidean[3].map(\.index) == [1, 0, 2])   // √2, 2, √5
        #expect(abs(euclidean[3][2].distance - Float(5).squareRoot()) < 1e-5)
        let l1 = ExactIndex(vectors: points, metric: .l1).allNeighbors(k: 3)
        #expect(l1[3].map(\.distance) == [2, 2, 3])        // p0: 2, p1: 2 (tie → lower index first), p2: 3
        #expect(l1[3].map(\.index) == [0, 1, 2])
        let linf = ExactIndex(vectors: points, metric: .linf).allNeighbors(k: 1)
        #expect(linf[2].first == Neighbor(index: 0, distance: 1))
    }

    /// Tiles of 512 queries × 4,096 rows: more rows than one tile still gives the brute-force answer.
    @Test func tiledSearchAgreesWithDirectComputationAcrossTiles() {
        var generator = SplitMix(seed: 7)
        let n = 5000, d = 16
        let values = (0..<(n * d)).map { _ in Float(generator.nextUnit() - 0.5) }
        let matrix = FeatureMatrix(rows: n, dimension: d, values: values)
        let found = ExactIndex(vectors: matrix, metric: .euclidean).search(matrix.slice(4990..<5000), k: 3)
        for (offset, neighbors) in found.enumerated() {
            let q = matrix.row(4990 + offset)
            let truth = (0..<n).map { j -> (Int, Float) in
                let x = matrix.row(j)
                return (j, zip(q, x).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot())
            }.sorted { $0.1 < $1.1 }.prefix(3)
            #expect(neighbors.map(\.index) == truth.map(\.0))
            #expect(zip(neighbors, truth).allSatisfy { abs($0.distance - $1.1) < 1e-3 })
        }
    }
}
