import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow-bench index`: builds a similarity index over synthetic clustered vectors and reports
/// build time, peak memory, query speed and recall against the exact index.
struct BenchIndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Measure the similarity index: build time, peak RSS, queries/s, recall@k vs exact.",
        discussion: """
            Generates ROWS random vectors around CLUSTERS Gaussian centres (deterministic for a
            seed), builds the index (kind chosen by size unless --kind), then searches QUERIES
            sampled rows (each query's own row excluded) and compares with the exact answer
            (ExactIndex over all rows, for those queries only). With --all-neighbors it also times
            every row's k neighbours, the workload of duplicate detection.

            Examples:
              winnow-bench index                                 1,000,000 × 256, automatic kind
              winnow-bench index --rows 100000 --kind flat --all-neighbors
              winnow-bench index --kind ivf --nprobe 64
              winnow-bench index --vectors WORK_DIR/atrain_features.dat --dimension 1600 --rows 20000 --kind projected
            """
    )

    @Option(parsing: .unconditional, help: "Vectors to index.")
    var rows = 1_000_000

    @Option(parsing: .unconditional, help: "Dimension of the vectors.")
    var dimension = 256

    @Option(parsing: .unconditional, help: "Gaussian clusters the vectors are drawn around.")
    var clusters = 1000

    @Option(parsing: .unconditional, help: "Standard deviation of a vector around its cluster centre (centres are standard normal).")
    var spread: Float = 0.35

    @Option(name: .customLong("metric"), help: "cosine or euclidean.")
    var metricName = "cosine"

    @Option(help: "Index these float32 vectors (a work_dir's atrain_features.dat, --dimension values a row; the first --rows of them) instead of generated ones.")
    var vectors: String?

    @Option(help: "auto, flat, hnsw, ivf, projected or lists.")
    var kind = "auto"

    @Option(help: "The projected index's search over its projected rows: flat or hnsw (default: by size).")
    var coarse: String?

    @Flag(help: "HNSW stores the vectors in half precision (as the projected index's coarse HNSW does).")
    var halfPrecision = false

    @Option(parsing: .unconditional, help: "HNSW links per node (M).")
    var m: Int?

    @Option(parsing: .unconditional, help: "HNSW build candidates (efConstruction).")
    var efConstruction: Int?

    @Option(help: "HNSW search candidates (efSearch) to measure, comma-separated (default: the index's).")
    var efSearch: String?

    @Option(parsing: .unconditional, help: "The list index's average members a list.")
    var listRows = ListIndex.defaultListRows

    @Option(parsing: .unconditional, help: "The list index fits its centroids in two levels above this many lists.")
    var twoLevelAbove = ListCentroids.twoLevelLists

    @Option(parsing: .unconditional, help: "IVF lists.")
    var nlist: Int?

    @Option(help: "IVF lists probed per query to measure, comma-separated (default: the index's).")
    var nprobe: String?

    @Option(parsing: .unconditional, help: "Sampled queries for queries/s and recall.")
    var queries = 1000

    @Option(parsing: .unconditional, help: "Neighbours per query.")
    var k = 10

    @Option(parsing: .unconditional, help: "Faiss (OpenMP) threads; 0 keeps OpenMP's default.")
    var threads = 0

    @Option(parsing: .unconditional, help: "Seed of the synthetic data.")
    var seed: UInt64 = 1

    @Flag(help: "Also time every row's k neighbours (allNeighbors, with the index's default effort).")
    var allNeighbors = false

    @Option(help: "Save the index here and time writing and loading it.")
    var save: String?

    func validate() throws {
        try OptionRange.check("--rows", rows, in: 2...50_000_000)
        try OptionRange.check("--dimension", dimension, in: 1...4096)
        try OptionRange.check("--rows × --dimension", rows * dimension, in: 2...2_000_000_000)
        try OptionRange.check("--clusters", clusters, in: 1...rows)
        try OptionRange.check("--spread", spread, in: 0...100)
        try OptionRange.check("--m", m, in: 2...256)
        try OptionRange.check("--ef-construction", efConstruction, in: 1...100_000)
        try OptionRange.check("--nlist", nlist, in: 1...rows)
        try OptionRange.check("--queries", queries, in: 1...rows)
        try OptionRange.check("--k", k, in: 1...1000)
        try OptionRange.check("--threads", threads, in: 0...1024)
    }

    func run() throws {
        let (metric, chosen) = try metricAndKind()
        let efSearches = try numbers(efSearch, "--ef-search")
        let nprobes = try numbers(nprobe, "--nprobe")
        if threads > 0 { ApproximateIndex.threads = threads }
        printSetup(metric)
        let vectors = try loadVectors()

        // Build.
        let clock = Date()
        let cpuClock = ResourceUsage.current().cpuSeconds
        let (index, approximate) = try buildIndex(chosen, over: vectors, metric: metric, clock: clock)
        let buildSeconds = Date().timeIntervalSince(clock)
        print(String(format: "  build: %.1f s wall, %.1f s CPU (%@), peak RSS %.0f MB", buildSeconds,
                     ResourceUsage.current().cpuSeconds - cpuClock, chosen.rawValue, ResourceUsage.current().peakRSSMegabytes))

        let efforts: [Int?]
        switch chosen {
        case .flat, .projected, .lists: efforts = [nil]
        case .hnsw: efforts = efSearches.isEmpty ? [nil] : efSearches
        case .ivf: efforts = nprobes.isEmpty ? [nil] : nprobes
        }
        try measureSearches(index, approximate: approximate, kind: chosen, vectors: vectors, metric: metric, efforts: efforts)
        if allNeighbors { try measureAllNeighbors(index, vectors: vectors, metric: metric, buildSeconds: buildSeconds) }
        if let save { try measureSaving(index, to: save) }
        print(String(format: "  peak RSS %.0f MB", ResourceUsage.current().peakRSSMegabytes))
    }

    /// The `--metric` (cosine or euclidean) and the index kind (`--kind`, or chosen by size for `auto`).
    private func metricAndKind() throws -> (DistanceMetric, IndexKind) {
        guard let metric = DistanceMetric(rawValue: metricName), metric == .cosine || metric == .euclidean else {
            throw ValidationError("--metric must be cosine or euclidean")
        }
        let chosen: IndexKind
        if kind == "auto" {
            chosen = IndexKind.automatic(rows: rows, dimension: dimension, metric: metric)
        } else if let parsed = IndexKind(rawValue: kind) {
            chosen = parsed
        } else {
            throw ValidationError("--kind must be auto, flat, hnsw, ivf or projected")
        }
        return (metric, chosen)
    }

    /// Prints the benchmark's size, the cores, the BLAS in use and Faiss's threads and kernels.
    private func printSetup(_ metric: DistanceMetric) {
        print("winnow-bench index: \(rows) × \(dimension) \(metric.rawValue), \(clusters) clusters (spread \(spread)), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
        let blas = BLASConfiguration.current()
        print("  \(blas)")
        if let advice = blas.advice { print("  note: \(advice)") }
        print("  Faiss: \(ApproximateIndex.threads) OpenMP threads, \(ApproximateIndex.distanceKernels) distance kernels")
    }

    /// The first `--rows` vectors of `--vectors`, or generated clustered vectors when none are given.
    private func loadVectors() throws -> FeatureMatrix {
        let clock = Date()
        if let path = vectors {
            let mapped = try FeatureMatrix(mapping: URL(fileURLWithPath: path), dimension: dimension)
            guard mapped.rows >= rows else { throw ValidationError("\(path) holds \(mapped.rows) rows of \(dimension), fewer than --rows") }
            let first = mapped.view(0..<rows)
            print("  the first \(rows) rows of \(path)")
            return first
        }
        let generated = Self.clusteredVectors(rows: rows, dimension: dimension, clusters: clusters, spread: spread, seed: seed)
        print(String(format: "  data generated in %.1f s (%.0f MB)", Date().timeIntervalSince(clock),
                     Double(rows * dimension * 4) / 1e6))
        return generated
    }

    /// Builds the index of kind `chosen` over `vectors`; `approximate` is the index again when it is a Faiss one.
    private func buildIndex(_ chosen: IndexKind, over vectors: FeatureMatrix, metric: DistanceMetric,
                            clock: Date) throws -> (index: any SimilarityIndex, approximate: ApproximateIndex?) {
        switch chosen {
        case .flat:
            return (ExactIndex(vectors: vectors, metric: metric), nil)
        case .projected:
            guard coarse == nil || coarse == "flat" || coarse == "hnsw" else { throw ValidationError("--coarse must be flat or hnsw") }
            let exactCoarseRows = coarse.map { $0 == "flat" ? rows : 0 } ?? IndexKind.exactRowLimit
            let projected = try ProjectedIndex(vectors: vectors, metric: metric, exactCoarseRows: exactCoarseRows)
            return (projected, nil)
        case .lists:
            let cpu = ResourceUsage.current().cpuSeconds
            let centroids = try ListIndex.fittedCentroids(of: vectors, metric: metric, listRows: listRows, twoLevelAbove: twoLevelAbove)
            let fitted = ResourceUsage.current().cpuSeconds
            let index = ListIndex(vectors: vectors, metric: metric, centroids: centroids)
            let assigned = ResourceUsage.current().cpuSeconds - fitted
            let largest = (0..<index.lists).map { index.members(of: $0).count }.max() ?? 0
            print(String(format: "  lists: %d (%d cells; the largest list %d members, the mean %.0f), fit %.1f CPU s, "
                         + "assignment %.1f CPU s (%.2f ms a row)", index.lists, centroids.cellCount, largest,
                         Double(rows * ListIndex.listsPerRow) / Double(max(1, index.lists)), fitted - cpu,
                         assigned, assigned * 1000 / Double(max(1, rows))))
            return (index, nil)
        case .hnsw, .ivf:
            let built = try buildApproximateIndex(chosen, over: vectors, metric: metric, clock: clock)
            return (built, built)
        }
    }

    /// Builds an HNSW or IVF index with the given (or default) parameters, printing progress
    /// every 200,000 rows with the seconds since `clock`.
    private func buildApproximateIndex(_ chosen: IndexKind, over vectors: FeatureMatrix, metric: DistanceMetric,
                                       clock: Date) throws -> ApproximateIndex {
        let parameters: ApproximateIndex.Parameters
        if chosen == .hnsw {
            guard case let .hnsw(defaultM, defaultEfConstruction, defaultEfSearch, _) = ApproximateIndex.Parameters.hnsw() else {
                fatalError("unreachable")
            }
            parameters = .hnsw(m: m ?? defaultM, efConstruction: efConstruction ?? defaultEfConstruction,
                               efSearch: defaultEfSearch, halfPrecision: halfPrecision)
        } else {
            guard case let .ivf(defaultNlist, defaultNprobe) = ApproximateIndex.Parameters.ivf(rows: rows) else {
                fatalError("unreachable")
            }
            parameters = .ivf(nlist: nlist ?? defaultNlist, nprobe: defaultNprobe)
        }
        print("  building \(parameters)")
        let built = try ApproximateIndex(dimension: dimension, metric: metric, parameters: parameters)
        var reported = 0
        try built.add(vectors) { done in
            if done - reported >= 200_000 || done == rows {
                reported = done
                print(String(format: "    %d rows added, %.1f s", done, Date().timeIntervalSince(clock)))
            }
        }
        return built
    }

    /// Searches `--queries` evenly spread rows at each effort (each query's own row excluded from
    /// both answers) and prints queries/s and recall@k against the exact answer.
    private func measureSearches(_ index: any SimilarityIndex, approximate: ApproximateIndex?, kind chosen: IndexKind,
                                 vectors: FeatureMatrix, metric: DistanceMetric, efforts: [Int?]) throws {
        let queryRows = (0..<min(queries, rows)).map { $0 * rows / min(queries, rows) }
        let queryMatrix = FeatureMatrix(rows: queryRows.count, dimension: dimension,
                                        values: queryRows.flatMap { Array(vectors.row($0)) })
        var clock = Date()
        let truth = Self.droppingOwnRows(ExactIndex(vectors: vectors, metric: metric).search(queryMatrix, k: k + 1),
                                         queryRows, k: k)
        print(String(format: "  exact answer for %d queries: %.1f s", queryRows.count, Date().timeIntervalSince(clock)))
        for effort in efforts {
            clock = Date()
            let cpuClock = ResourceUsage.current().cpuSeconds
            let found: [[Neighbor]]
            if let approximate {
                found = try approximate.search(queryMatrix, k: k + 1, effort: effort)
            } else {
                found = try index.search(queryMatrix, k: k + 1, excludingSelf: false)
            }
            let seconds = Date().timeIntervalSince(clock)
            let recall = Self.recall(Self.droppingOwnRows(found, queryRows, k: k), truth, k: k)
            let label = effort.map { chosen == .hnsw ? "efSearch \($0)" : "nprobe \($0)" }
                ?? approximate.map { "effort \($0.searchEffort)" } ?? chosen.rawValue
            print(String(format: "  search (%@): %.0f queries/s (%.0f per CPU second), recall@%d %.4f", label,
                         Double(queryRows.count) / seconds, Double(queryRows.count) / (ResourceUsage.current().cpuSeconds - cpuClock), k, recall))
        }
    }

    /// Times every row's k neighbours and prints it, alone and added to the build time.
    /// and their recall@k on the `--queries` sampled rows against the exact answer.
    private func measureAllNeighbors(_ index: any SimilarityIndex, vectors: FeatureMatrix, metric: DistanceMetric,
                                     buildSeconds: Double) throws {
        let clock = Date()
        let cpuClock = ResourceUsage.current().cpuSeconds
        let neighbors = try index.allNeighbors(k: k)
        let seconds = Date().timeIntervalSince(clock)
        let cpu = ResourceUsage.current().cpuSeconds - cpuClock
        let queryRows = (0..<min(queries, rows)).map { $0 * rows / min(queries, rows) }
        let exact = ExactIndex(vectors: vectors, metric: metric)
        let truth = queryRows.map { exact.neighbors(ofStoredRows: $0..<($0 + 1), k: k)[0] }
        let recall = Self.recall(queryRows.map { neighbors[$0] }, truth, k: k)
        print(String(format: "  allNeighbors(k: %d): %.1f s wall, %.1f s CPU, %.0f rows/s; build + allNeighbors %.1f s; recall@%d %.4f",
                     k, seconds, cpu, Double(neighbors.count) / seconds, buildSeconds + seconds, k, recall))
        guard metric == .cosine else { return }
        // The neighbours duplicate detection keeps: similar pairs.
        let close = [0.5, 0.7].map { least in
            Self.recall(queryRows.map { neighbors[$0] }, truth.map { $0.filter { $0.similarity(.cosine) >= least } }, k: k)
        }
        print(String(format: "  recall of the neighbours with cosine ≥ 0.5: %.4f, ≥ 0.7: %.4f", close[0], close[1]))
    }

    /// Saves the index to `path`, loads it back and prints the file's size and both times.
    private func measureSaving(_ index: any SimilarityIndex, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        var clock = Date()
        try index.save(to: url)
        let written = Date().timeIntervalSince(clock)
        clock = Date()
        let loaded = try loadSimilarityIndex(from: url)
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        print(String(format: "  saved %.0f MB in %.1f s, loaded %d rows in %.1f s", Double(size) / 1e6, written,
                     loaded.count, Date().timeIntervalSince(clock)))
    }

    private func numbers(_ text: String?, _ name: String) throws -> [Int] {
        guard let text else { return [] }
        let values = commaSeparated(text).compactMap { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { throw ValidationError("\(name) needs positive numbers") }
        return values
    }

    /// Row `i` is centre `i mod clusters` (standard normal) plus `spread` × standard normal noise.
    /// Every row has its own generator, so rows are generated in parallel and deterministically.
    static func clusteredVectors(rows: Int, dimension: Int, clusters: Int, spread: Float, seed: UInt64) -> FeatureMatrix {
        var centres = [Float](repeating: 0, count: clusters * dimension)
        var generator = Gaussian(seed: seed)
        for i in centres.indices { centres[i] = generator.next() }
        let values = [Float](unsafeUninitializedCapacity: rows * dimension) { buffer, initialized in
            let base = Pointer(base: buffer.baseAddress!)
            let centres = centres
            DispatchQueue.concurrentPerform(iterations: ProcessInfo.processInfo.activeProcessorCount) { worker in
                let workers = ProcessInfo.processInfo.activeProcessorCount
                for row in (rows * worker / workers)..<(rows * (worker + 1) / workers) {
                    var noise = Gaussian(seed: seed &* 0x9E37_79B9 &+ UInt64(row) &+ 1)
                    let centre = (row % clusters) * dimension
                    for j in 0..<dimension {
                        (base.base + row * dimension + j).initialize(to: centres[centre + j] + spread * noise.next())
                    }
                }
            }
            initialized = rows * dimension
        }
        return FeatureMatrix(rows: rows, dimension: dimension, values: values)
    }

    /// Drops each query's own row (or the farthest result when it is absent) and keeps k.
    static func droppingOwnRows(_ results: [[Neighbor]], _ own: [Int], k: Int) -> [[Neighbor]] {
        zip(results, own).map { neighbors, row in
            var kept = neighbors
            if let position = kept.firstIndex(where: { $0.index == row }) { kept.remove(at: position) }
            return Array(kept.prefix(k))
        }
    }

    static func recall(_ found: [[Neighbor]], _ truth: [[Neighbor]], k: Int) -> Double {
        var hits = 0, total = 0
        for (a, b) in zip(found, truth) {
            let wanted = Set(b.map(\.index))
            hits += a.filter { wanted.contains($0.index) }.count
            total += b.count
        }
        return total == 0 ? 1 : Double(hits) / Double(total)
    }

    private struct Pointer: @unchecked Sendable {   // rows are written by one worker each
        let base: UnsafeMutablePointer<Float>
    }

    /// SplitMix64 + Box–Muller.
    private struct Gaussian {
        var random: SplitMix64
        var spare: Float?
        init(seed: UInt64) { random = SplitMix64(seed: seed) }
        mutating func next() -> Float {
            if let spare {
                self.spare = nil
                return spare
            }
            let u = (Double(random.next() >> 11) + 0.5) / Double(1 << 53)
            let v = random.nextUnit()
            let radius = (-2 * log(u)).squareRoot()
            spare = Float(radius * sin(2 * .pi * v))
            return Float(radius * cos(2 * .pi * v))
        }
    }
}
