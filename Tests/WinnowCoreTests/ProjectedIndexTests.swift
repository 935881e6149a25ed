import Foundation
import Testing
@testable import WinnowCore

@Suite struct ProjectedIndexTests {
    /// 6,000 × 384 vectors of intrinsic dimension 24: clustered 24-d points through a fixed
    /// random 384 × 24 map, plus a little noise in all 384 dimensions.
    static let lowRank: FeatureMatrix = {
        let latent = clusteredMatrix(rows: 6000, dimension: 24, clusters: 60, spread: 0.4, seed: 5)
        var generator = SplitMix(seed: 7)
        func gaussian() -> Float {
            let u = max(generator.nextUnit(), 1e-12), v = generator.nextUnit()
            return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
        let map = (0..<(384 * 24)).map { _ in gaussian() }
        var values = [Float](repeating: 0, count: 6000 * 384)
        for i in 0..<6000 {
            let z = latent.row(i)
            for j in 0..<384 {
                var sum: Float = 0
                for t in 0..<24 { sum += map[j * 24 + t] * z[t] }
                values[i * 384 + j] = sum + 0.05 * gaussian()
            }
        }
        return FeatureMatrix(rows: 6000, dimension: 384, values: values)
    }()

    @Test func withEveryRowACandidateItAnswersAsTheExactIndex() throws {
        let vectors = Self.lowRank.slice(0..<1500)
        let projected = try ProjectedIndex(vectors: vectors, projectedDimension: 8, candidates: 1499)
        let exact = ExactIndex(vectors: vectors, metric: .cosine).allNeighbors(k: 10)
        let found = try projected.allNeighbors(k: 10)
        #expect(projected.kind == .projected && projected.count == 1500 && projected.dimension == 384)
        #expect(recall(found, exact) == 1)
        expectSameDistances(found, exact, tolerance: 1e-5)
    }

    @Test func defaultCandidatesFindTheExactNeighborsThroughEitherCoarseIndex() throws {
        let vectors = Self.lowRank
        let exact = ExactIndex(vectors: vectors, metric: .cosine).allNeighbors(k: 10)
        for exactCoarseRows in [vectors.rows, 0] {
            let index = try ProjectedIndex(vectors: vectors, projectedDimension: 32, exactCoarseRows: exactCoarseRows)
            #expect((index.coarse.kind == .flat) == (exactCoarseRows > 0))
            let found = try index.allNeighbors(k: 10)
            #expect(recall(found, exact) >= 0.98)
            expectSameDistances(found, exact, tolerance: 1e-5)
            // Blocks of stored rows and searches by vector give the same answers.
            #expect(try index.neighbors(ofStoredRows: 100..<200, k: 10) == Array(found[100..<200]))
            let searched = try index.search(vectors.slice(0..<100), k: 10, excludingSelf: true)
            #expect(searched == Array(found[0..<100]))
        }
    }

    @Test func savedIndexesLoadAndAnswerIdentically() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let vectors = Self.lowRank.slice(0..<3000)
        try vectors.withValues { try Data(buffer: $0).write(to: folder.appendingPathComponent(ExactIndex.vectorsFileName)) }
        for exactCoarseRows in [3000, 0] {
            let index = try ProjectedIndex(vectors: vectors, projectedDimension: 32, exactCoarseRows: exactCoarseRows)
            let url = folder.appendingPathComponent("index.faiss")
            try index.save(to: url)
            let loaded = try loadSimilarityIndex(from: url)
            #expect(loaded.kind == .projected && loaded.count == 3000)
            #expect(FileManager.default.fileExists(atPath: ProjectedIndex.companionFiles(of: url).coarse.path)
                == (exactCoarseRows == 0))
            #expect(try loaded.allNeighbors(k: 5) == index.allNeighbors(k: 5))
        }
    }

    @Test func badParametersAndFilesAreOneLineIndexErrors() throws {
        let vectors = Self.lowRank.slice(0..<500)
        #expect(throws: IndexError.unsupportedMetric(.euclidean)) { try ProjectedIndex(vectors: vectors, metric: .euclidean) }
        #expect(throws: IndexError.self) { try ProjectedIndex(vectors: vectors.slice(0..<1)) }
        let index = try ProjectedIndex(vectors: vectors, projectedDimension: 16)
        #expect(throws: IndexError.dimensionMismatch(expected: 384, actual: 24)) {
            try index.search(clusteredMatrix(rows: 2, dimension: 24, clusters: 1, spread: 1, seed: 1), k: 3, excludingSelf: false)
        }
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("index.faiss")
        let vectorsURL = folder.appendingPathComponent(ExactIndex.vectorsFileName)
        try vectors.withValues { try Data(buffer: $0).write(to: vectorsURL) }
        try index.save(to: url)
        // The vectors beside it lost rows: refused, naming the manifest.
        try vectors.slice(0..<400).withValues { try Data(buffer: $0).write(to: vectorsURL) }
        do {
            _ = try loadSimilarityIndex(from: url)
            Issue.record("a manifest over missing rows loaded")
        } catch {
            #expect(error.description.contains(url.path) && !error.description.contains("\n"))
        }
        // A manifest naming a file outside its folder.
        var manifest = try JSONDecoder().decode(ProjectedIndex.Manifest.self, from: Data(contentsOf: url))
        manifest.vectors = "../elsewhere.dat"
        try JSONEncoder().encode(manifest).write(to: url)
        #expect(throws: IndexError.unreadable(path: url.path, reason: "unsupported projected-index manifest")) {
            try loadSimilarityIndex(from: url)
        }
    }

    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-projected-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
