import Foundation
import Testing
@testable import WinnowCore

@Suite struct ApproximateIndexTests {
    /// 20,000 × 64 vectors around 200 Gaussian centres (deterministic).
    static let clustered = clusteredMatrix(rows: 20_000, dimension: 64, clusters: 200, spread: 0.3, seed: 11)
    /// Every 40th row, as queries (500).
    static let queryRows = Array(stride(from: 0, to: 20_000, by: 40))

    @Test func hnswAgreesWithExactIndexOnClusteredVectors() throws {
        let vectors = Self.clustered
        let index = try ApproximateIndex(vectors: vectors, metric: .cosine, parameters: .hnsw())
        #expect(index.count == vectors.rows)
        #expect(index.kind == .hnsw)
        #expect(index.parameters == .hnsw(m: 32, efConstruction: 100, efSearch: 64))
        let (found, truth) = try answers(index, ExactIndex(vectors: vectors, metric: .cosine), k: 10)
        #expect(recall(found, truth) >= 0.95)
        expectSameDistances(found, truth)
    }

    @Test func halfPrecisionHNSWFindsTheSameNeighboursInHalfTheMemory() throws {
        let vectors = Self.clustered
        let half = try ApproximateIndex(vectors: vectors, metric: .cosine, parameters: .hnsw(halfPrecision: true))
        #expect(half.kind == .hnsw && half.parameters == .hnsw(m: 32, efConstruction: 100, efSearch: 64, halfPrecision: true))
        let (found, truth) = try answers(half, ExactIndex(vectors: vectors, metric: .cosine), k: 10)
        #expect(recall(found, truth) >= 0.95)
        // fp16 keeps 11 significant bits: each distance within 2e-3 of the exact one.
        let exact = try ExactIndex(vectors: vectors, metric: .cosine).search(vectors.slice(0..<500), k: 10)
        let approximate = try half.search(vectors.slice(0..<500), k: 10)
        for (a, e) in zip(approximate, exact) {
            let exactDistance = Dictionary(e.map { ($0.index, $0.distance) }, uniquingKeysWith: min)
            for n in a { if let d = exactDistance[n.index] { #expect(abs(n.distance - d) < 2e-3, "\(n) vs \(d)") } }
        }
        // Saved and loaded, it stays half precision (a smaller file) and answers the same.
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (halfURL, flatURL) = (folder.appendingPathComponent("half.faiss"), folder.appendingPathComponent("flat.faiss"))
        try half.save(to: halfURL)
        try ApproximateIndex(vectors: vectors, metric: .cosine, parameters: .hnsw()).save(to: flatURL)
        let size = { (url: URL) in try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0 }
        let (halfBytes, flatBytes) = (try size(halfURL), try size(flatURL))
        #expect(flatBytes - halfBytes >= vectors.rows * vectors.dimension * 2 - 4096, "\(halfBytes) \(flatBytes)")
        let loaded = try ApproximateIndex.load(from: halfURL)
        #expect(loaded.parameters == half.parameters)
        #expect(try loaded.search(vectors.slice(0..<200), k: 10) == half.search(vectors.slice(0..<200), k: 10))
    }

    /// Faiss links HNSW nodes on all its threads at once; the index inserts on one, so a rebuilt
    /// index (a resumed run's) is the same graph, byte for byte, and answers the same.
    @Test func hnswBuildsAreIdentical() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let threads = ApproximateIndex.threads
        defer { ApproximateIndex.threads = threads }
        ApproximateIndex.threads = max(2, ProcessInfo.processInfo.activeProcessorCount)
        var saved: [Data] = []
        for build in 0..<3 {
            let index = try ApproximateIndex(vectors: Self.clustered, metric: .cosine, parameters: .hnsw(halfPrecision: true))
            let url = folder.appendingPathComponent("\(build).faiss")
            try index.save(to: url)
            saved.append(try Data(contentsOf: url))
        }
        #expect(saved.allSatisfy { $0 == saved[0] })
    }

    @Test func ivfAgreesWithExactIndexOnClusteredVectors() throws {
        let vectors = Self.clustered
        let parameters = ApproximateIndex.Parameters.ivf(rows: vectors.rows)
        #expect(parameters == .ivf(nlist: 512, nprobe: 16))
        for metric in [DistanceMetric.euclidean, .cosine] {
            let index = try ApproximateIndex(vectors: vectors, metric: metric, parameters: parameters)
            #expect(index.kind == .ivf)
            let (found, truth) = try answers(index, ExactIndex(vectors: vectors, metric: metric), k: 10)
            #expect(recall(found, truth) >= 0.95)
            expectSameDistances(found, truth)
        }
    }

    @Test func excludingSelfNeverReturnsTheQueryRow() throws {
        // Rows 0 and 1 are the same vector: each must find the other first, not itself.
        var values = Array(Self.clustered.slice(0..<2000).withValues { Array($0) })
        for j in 0..<64 { values[64 + j] = values[j] }
        let vectors = FeatureMatrix(rows: 2000, dimension: 64, values: values)
        for parameters in [ApproximateIndex.Parameters.hnsw(), .ivf(rows: 2000)] {
            let index = try ApproximateIndex(vectors: vectors, metric: .cosine, parameters: parameters)
            let all = try index.allNeighbors(k: 5)
            #expect(all.count == 2000)
            #expect(all.enumerated().allSatisfy { row, neighbors in
                neighbors.count == 5 && !neighbors.contains { $0.index == row } })
            #expect(all[0].first?.index == 1 && all[1].first?.index == 0)
            #expect(abs(all[0][0].distance) < 1e-5)
            let searched = try index.search(vectors.slice(0..<100), k: 5, excludingSelf: true)
            #expect(searched.enumerated().allSatisfy { row, neighbors in !neighbors.contains { $0.index == row } })
            // Without it, a row finds itself (or its twin) at distance ~0.
            let plain = try index.search(vectors.slice(2..<3), k: 1)
            #expect(plain[0].first?.index == 2)
            // k larger than the other rows gives all of them.
            let tiny = try ApproximateIndex(vectors: vectors.slice(0..<4), metric: .cosine, parameters: .hnsw())
            #expect(try tiny.allNeighbors(k: 10).map(\.count) == [3, 3, 3, 3])
        }
    }

    @Test func saveAndLoadGiveIdenticalResults() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let vectors = Self.clustered.slice(0..<5000)
        let queries = vectors.slice(0..<200)
        for (name, parameters, metric) in [("hnsw.faiss", ApproximateIndex.Parameters.hnsw(m: 16, efConstruction: 100, efSearch: 64), DistanceMetric.cosine),
                                           ("ivf.faiss", .ivf(nlist: 64, nprobe: 8), .euclidean)] {
            let index = try ApproximateIndex(vectors: vectors, metric: metric, parameters: parameters)
            let url = folder.appendingPathComponent(name)
            try index.save(to: url)
            let loaded = try ApproximateIndex.load(from: url)
            #expect(loaded.metric == metric && loaded.dimension == 64 && loaded.count == 5000)
            #expect(loaded.parameters == parameters)
            #expect(try loaded.search(queries, k: 10, excludingSelf: true) == index.search(queries, k: 10, excludingSelf: true))
            #expect(try loaded.allNeighbors(k: 3) == index.allNeighbors(k: 3))
            let generic = try loadSimilarityIndex(from: url)
            #expect(generic.kind == parameters.kind)
        }
        // The exact index saves a manifest next to atrain_features.dat.
        var exact = ExactIndex(vectors: vectors, metric: .cosine)
        let manifest = folder.appendingPathComponent("index.json")
        try exact.save(to: manifest)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("atrain_features.dat").path))
        let reloaded = try loadSimilarityIndex(from: manifest)
        #expect(reloaded.kind == .flat && reloaded.count == 5000)
        #expect(try reloaded.search(queries, k: 5, excludingSelf: true) == exact.search(queries, k: 5, excludingSelf: true))
        // A features file of another size is not silently adopted.
        try exact.add(vectors.slice(0..<10))
        #expect(exact.count == 5010)
        #expect(throws: IndexError.self) { try exact.save(to: manifest) }
    }

    @Test func errorsAreOneLineIndexErrors() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let index = try ApproximateIndex(vectors: Self.clustered.slice(0..<1000), metric: .cosine, parameters: .hnsw())
        let wrong = FeatureMatrix(rows: 2, dimension: 32, values: [Float](repeating: 1, count: 64))
        #expect(throws: IndexError.dimensionMismatch(expected: 64, actual: 32)) { try index.search(wrong, k: 3) }
        #expect(throws: IndexError.dimensionMismatch(expected: 64, actual: 32)) { try index.add(wrong) }
        #expect(throws: IndexError.unsupportedMetric(.l1)) { try ApproximateIndex(dimension: 8, metric: .l1) }
        #expect(throws: IndexError.self) { try ApproximateIndex(dimension: 8, parameters: .hnsw(m: 1)) }

        // IVF needs at least one training vector per list.
        let tooManyLists = try ApproximateIndex(dimension: 64, metric: .euclidean, parameters: .ivf(nlist: 4096, nprobe: 1))
        let failure = #expect(throws: IndexError.self) { try tooManyLists.add(Self.clustered.slice(0..<100)) }
        #expect(failure.map(oneLine) == true)

        // Garbage and truncated files.
        let garbage = folder.appendingPathComponent("garbage.faiss")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: garbage)
        let saved = folder.appendingPathComponent("saved.faiss")
        try index.save(to: saved)
        let truncated = folder.appendingPathComponent("truncated.faiss")
        let full = try Data(contentsOf: saved)
        try full.prefix(full.count / 2).write(to: truncated)
        for url in [garbage, truncated, folder.appendingPathComponent("missing.faiss")] {
            let error = #expect(throws: IndexError.self) { try ApproximateIndex.load(from: url) }
            #expect(error.map(oneLine) == true)
            if case .unreadable(let path, _)? = error { #expect(path == url.path) } else { Issue.record("\(String(describing: error))") }
        }
        let notManifest = folder.appendingPathComponent("bad.json")
        try Data("{\"format\": 1}".utf8).write(to: notManifest)
        #expect(throws: IndexError.self) { try loadSimilarityIndex(from: notManifest) }
    }

    @Test func kindIsChosenBySizeAndMetric() throws {
        #expect(IndexKind.automatic(rows: 10_000, dimension: 256, metric: .cosine) == .flat)
        #expect(IndexKind.automatic(rows: IndexKind.exactRowLimit, dimension: 64, metric: .euclidean) == .flat)
        #expect(IndexKind.automatic(rows: IndexKind.exactRowLimit + 1, dimension: 256, metric: .cosine) == .hnsw)
        #expect(IndexKind.automatic(rows: IndexKind.exactRowLimit + 1, dimension: 1600, metric: .euclidean) == .hnsw)
        #expect(IndexKind.automatic(rows: 10_000_000, dimension: 1600, metric: .l1) == .flat)
        // Long cosine vectors: exact while rows² × dimension stays within 75,000² × 256, then projected.
        #expect(IndexKind.automatic(rows: 20_000, dimension: 1600, metric: .cosine) == .flat)
        #expect(IndexKind.automatic(rows: 30_000, dimension: 1600, metric: .cosine) == .flat)
        #expect(IndexKind.automatic(rows: 30_001, dimension: 1600, metric: .cosine) == .projected)
        #expect(IndexKind.automatic(rows: 1_000_000, dimension: 576, metric: .cosine) == .projected)
        let small = try buildSimilarityIndex(vectors: Self.clustered.slice(0..<500))
        #expect(small.kind == .flat)
        let forced = try buildSimilarityIndex(vectors: Self.clustered.slice(0..<500), kind: .ivf)
        #expect(forced.kind == .ivf && forced.count == 500)
    }

    @Test func addingInSeveralCallsNumbersRowsOnwards() throws {
        let vectors = Self.clustered.slice(0..<3000)
        let index = try ApproximateIndex(dimension: 64, metric: .euclidean, parameters: .ivf(nlist: 16, nprobe: 16))
        try index.train(vectors)
        try index.add(vectors.slice(0..<1000))
        try index.add(vectors.slice(1000..<3000))
        #expect(index.count == 3000)
        // All lists probed: the IVF answer is exact.
        let queries = vectors.slice(2000..<2050)
        let exact = ExactIndex(vectors: vectors, metric: .euclidean).search(queries, k: 4)
        #expect(try index.search(queries, k: 4).map { $0.map(\.index) } == exact.map { $0.map(\.index) })
        index.searchEffort = 2
        #expect(index.parameters == .ivf(nlist: 16, nprobe: 2))
    }

    /// Room made for every row first, HNSW filled block by block (as `ProjectedIndex` fills it)
    /// numbers the rows onwards and finds what the exact index finds.
    @Test func hnswReservedThenFilledInBlocks() throws {
        let vectors = Self.clustered.slice(0..<6000)
        let index = try ApproximateIndex(dimension: 64, metric: .cosine, parameters: .hnsw(halfPrecision: true))
        try index.reserveCapacity(vectors.rows)
        try index.reserveCapacity(0)
        for start in stride(from: 0, to: vectors.rows, by: 1000) { try index.add(vectors.slice(start..<start + 1000)) }
        #expect(index.count == 6000)
        let queries = vectors.slice(0..<300)
        let exact = ExactIndex(vectors: vectors, metric: .cosine).search(queries, k: 10)
        #expect(recall(try index.search(queries, k: 10), exact) >= 0.95)
        #expect(throws: IndexError.self) { try index.reserveCapacity(Int(Int64.max / 2)) }
    }

    @Test func blasAdviceFollowsTheKernelAndTheCPU() {
        let zen5 = CPUVectorFeatures(cpuinfo: """
            vendor_id\t: AuthenticAMD
            cpu family\t: 26
            model\t\t: 2
            flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16

            vendor_id\t: ignored
            """)
        #expect(zen5.level == .avx512 && zen5.bf16 && zen5.family == 26 && zen5.vendor == "AuthenticAMD")
        let forced = BLASConfiguration.advice(coreName: "Haswell", override: "Haswell", cpu: zen5)
        #expect(forced?.contains("OPENBLAS_CORETYPE=Haswell") == true)
        #expect(forced?.contains("Cooperlake") == true)
        #expect(BLASConfiguration.advice(coreName: "Cooperlake", override: nil, cpu: zen5) == nil)
        #expect(BLASConfiguration.advice(coreName: "Prescott", override: nil, cpu: zen5)?.contains("set OPENBLAS_CORETYPE=Cooperlake") == true)
        let haswell = CPUVectorFeatures(cpuinfo: "vendor_id : GenuineIntel\nflags : sse avx avx2 fma\n")
        #expect(BLASConfiguration.advice(coreName: "Haswell", override: "Haswell", cpu: haswell) == nil)
        // Kernels OpenBLAS fell back to are replaced by the CPU's (the commands start again with
        // them); kernels that fit, or an operator's choice, are kept.
        var fellBack = BLASConfiguration(coreName: "Prescott", buildConfiguration: "", threads: 2, coreTypeOverride: nil, cpu: zen5)
        #expect(fellBack.kernelsForThisCPU == "Cooperlake")
        fellBack.coreTypeOverride = "Prescott"
        #expect(fellBack.kernelsForThisCPU == nil)
        #expect(BLASConfiguration(coreName: "Haswell", buildConfiguration: "", threads: 2, coreTypeOverride: nil, cpu: haswell)
            .kernelsForThisCPU == nil)
        let current = BLASConfiguration.current()
        #expect(!current.coreName.isEmpty && current.threads >= 1)
        #expect(current.buildConfiguration.hasPrefix("OpenBLAS"))
    }

    // MARK: Helpers

    /// Approximate and exact answers for `queryRows` (own row excluded by asking k+1).
    private func answers(_ index: ApproximateIndex, _ exact: ExactIndex, k: Int) throws -> ([[Neighbor]], [[Neighbor]]) {
        let queries = FeatureMatrix(rows: Self.queryRows.count, dimension: exact.dimension,
                                    values: Self.queryRows.flatMap { Array(exact.vectors.row($0)) })
        let found = try index.search(queries, k: k + 1)
        let truth = exact.search(queries, k: k + 1)
        func dropOwn(_ results: [[Neighbor]]) -> [[Neighbor]] {
            zip(results, Self.queryRows).map { neighbors, row in Array(neighbors.filter { $0.index != row }.prefix(k)) }
        }
        return (dropOwn(found), dropOwn(truth))
    }

    private func oneLine(_ error: IndexError) -> Bool {
        !error.description.isEmpty && !error.description.contains("\n") && error.localizedDescription == error.description
    }

    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Share of the exact answers' neighbours that `found` has too.
func recall(_ found: [[Neighbor]], _ truth: [[Neighbor]]) -> Double {
    var hits = 0, total = 0
    for (a, b) in zip(found, truth) {
        let wanted = Set(b.map(\.index))
        hits += a.filter { wanted.contains($0.index) }.count
        total += b.count
    }
    return Double(hits) / Double(max(total, 1))
}

/// Rows both answers found have the same distance (within `tolerance`): an approximate index
/// reports distances in the exact index's units.
func expectSameDistances(_ found: [[Neighbor]], _ truth: [[Neighbor]], tolerance: Float = 1e-3,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    var worst: Float = 0
    for (a, b) in zip(found, truth) {
        let exact = Dictionary(b.map { ($0.index, $0.distance) }, uniquingKeysWith: { first, _ in first })
        for neighbor in a { if let d = exact[neighbor.index] { worst = max(worst, abs(d - neighbor.distance)) } }
    }
    #expect(worst < tolerance, sourceLocation: sourceLocation)
}

/// Row `i` is centre `i mod clusters` (uniform in ±1) plus `spread` × Gaussian noise.
func clusteredMatrix(rows: Int, dimension: Int, clusters: Int, spread: Float, seed: UInt64) -> FeatureMatrix {
    var generator = SplitMix(seed: seed)
    let centres = (0..<(clusters * dimension)).map { _ in Float(generator.nextUnit() * 2 - 1) }
    var values = [Float]()
    values.reserveCapacity(rows * dimension)
    for row in 0..<rows {
        let centre = (row % clusters) * dimension
        for j in 0..<dimension {
            let u = max(generator.nextUnit(), 1e-12), v = generator.nextUnit()
            let gaussian = Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
            values.append(centres[centre + j] + spread * gaussian)
        }
    }
    return FeatureMatrix(rows: rows, dimension: dimension, values: values)
}
