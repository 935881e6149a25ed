import Foundation

/// Parameters of the embedding-based analyses, with the anchors' defaults.
public struct AnalysisOptions: Sendable, Codable, Equatable {
    /// Neighbours kept per image (fastdup `nearest_neighbors_k`; fastdup defaults to 2, Winnow to
    /// 10 so that groups of more than three copies are listed whole).
    public var nearestNeighborsK: Int = 10
    /// Pairs at or above this similarity go to `similarity.csv` (fastdup `threshold`).
    public var threshold: Float = 0.9
    /// Components join pairs at or above this similarity (fastdup `cc_threshold`).
    public var componentThreshold: Float = 0.96
    /// Lowest fraction of nearest-neighbour similarities reported as outliers (fastdup).
    public var outlierPercentile: Double = 0.05
    public var outlierRule: Outliers.Rule = .one
    /// fiftyone `compute_near_duplicates` threshold (cosine distance).
    public var nearDuplicateDistance: Float = 0.2
    public var metric: DistanceMetric = .cosine
    /// Index kind; nil chooses by size.
    public var index: IndexKind? = nil
    /// Copy verification of uncertain pairs (``CopyVerification``); nil: global scores only.
    public var verification: CopyVerification.Options? = nil

    public init() {}

    /// The defaults for `embedding`. Whitened copy descriptors (``EmbeddingChoice/copyDescriptor``)
    /// have their own similarity scale — unrelated images near 0, copies mostly 0.3–0.9 — so
    /// their thresholds differ: pairs from 0.45 (pair precision 0.990–0.994 and copy→original
    /// recall 0.82–0.90 on corpus set A seeds 0–2 and extra transforms), components from 0.6
    /// (precision ≥ 0.996, as components chain pairs), fiftyone near duplicates within cosine
    /// distance 0.55. With `verify` (the default) uncertain pairs are checked and the final
    /// scores put checked-but-rejected pairs in 0.3–0.7, so pairs start at 0.55 (pair precision
    /// 0.991 / 0.990 on set A seeds 0 / 1, against 0.954 / 0.951 at 0.45) and near duplicates
    /// within distance 0.45.
    public static func defaults(for embedding: EmbeddingChoice, verify: Bool = true) -> AnalysisOptions {
        var options = AnalysisOptions()
        if embedding.isCopyDescriptor {
            options.threshold = verify ? 0.55 : 0.45
            options.componentThreshold = 0.6
            options.nearDuplicateDistance = verify ? 0.45 : 0.55
            options.verification = verify ? CopyVerification.Options() : nil
        }
        return options
    }
}

/// What the analyses found, for the summary.
struct AnalysisFindings {
    var similarPairs = 0
    var components = 0
    var imagesInComponents = 0
    var outliers = 0
    var nearDuplicates = 0
    var leaks = 0
    var addedAlreadyKnown = 0
    var verification: VerificationStage.Report?
    /// The scores and similar pairs (each once, lower id first) for the catalog.
    var scores: (scores: [SampleScores], pairs: [(Int64, Int64, Float)])?
}

/// Runs the kNN index (its graph written block by block to `knn.bin`, copy verification's
/// rescored one to `knn_verified.bin`) and every embedding-based analysis over the graph and the
/// memory-mapped vectors of the decoded, embedded samples, and writes their files row by row:
/// `similarity.csv`, `duplicates.csv`, `outliers.csv`, `connected_components.csv`,
/// `component_info.csv`, `near_duplicates.csv`, `scores.csv`, (when splits are known)
/// `leaks.csv` and (on an incremental run) `new_vs_known.csv`.
struct AnalysisStage {
    var options: AnalysisOptions
    var directory: URL
    /// Where caches kept between runs go (the work_dir; `directory` may be a staging folder).
    var cacheDirectory: URL?
    /// On an incremental run, its id: images it added are compared with the known ones.
    var newRun: Int64?
    var crop: CropBox? = nil
    var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Bytes of local features copy verification keeps between blocks.
    var verificationFeatureBudget = VerificationStage.defaultFeatureBudget
    /// Times the index, verification and analyses (nil: not measured).
    var meter: StageMeter?
    /// Verification's progress (see ``VerificationStage/progress``).
    var progress: ProgressHandler?

    func run(samples: [ValidSample], store: FeatureStore) throws -> AnalysisFindings {
        // Usually every sample has a vector: then the samples are shared, not copied.
        let embedded = samples.allSatisfy { $0.featureRow != nil } ? samples : samples.filter { $0.featureRow != nil }
        guard embedded.count >= 2 else { return AnalysisFindings() }
        meter?.enter("index")
        let vectors = try Self.vectors(rows: embedded.compactMap(\.featureRow), store: store, directory: directory)
        let (global, graph, checked, report) = try neighborGraphs(embedded: embedded, vectors: vectors)
        meter?.enter("analyses")
        let found = analyse(embedded: embedded, vectors: vectors, global: global, graph: graph, checked: checked)
        try writePairs(found.pairs, to: "similarity.csv", found)
        try writeDuplicates(found)
        try writePairs(found.outliers.rows, to: "outliers.csv", found)
        try writeComponents(found)
        try writeNearDuplicates(found)
        try writeScores(found)
        if !found.leaks.isEmpty { try writeLeaks(found) }
        let addedAlreadyKnown = try newRun.map { try writeNewVsKnown(found, embedded: embedded, newRun: $0) } ?? 0
        return findings(found, addedAlreadyKnown: addedAlreadyKnown, report: report)
    }

    /// The embedded samples' vectors (feature rows `rows`) as one matrix, never copied into
    /// memory: a view of the mapped feature file when `rows` is 0..<n in order, else a compact
    /// copy written to `directory` block by block, then mapped (and unlinked: the map keeps it).
    static func vectors(rows: [Int], store: FeatureStore, directory: URL, blockRows: Int = 4096) throws -> FeatureMatrix {
        let mapped = try FeatureMatrix(mapping: store.url, dimension: store.dimension)
        if rows.elementsEqual(0..<rows.count) { return mapped.view(0..<rows.count) }
        let url = directory.appendingPathComponent(".features.compact.f32")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot create \(url.path)"])
        }
        defer { try? FileManager.default.removeItem(at: url) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        for start in stride(from: 0, to: rows.count, by: blockRows) {
            var block = Data(capacity: min(blockRows, rows.count - start) * store.dimension * 4)
            mapped.forEachRow(rows[start..<min(rows.count, start + blockRows)]) { _, values in block.append(Data(buffer: values)) }
            try handle.write(contentsOf: block)
        }
        return try FeatureMatrix(mapping: url, dimension: store.dimension)
    }

    /// The index stage's graph (`knn.bin`, global scores) and, with copy verification, the graph
    /// with the checked pairs' final scores (`knn_verified.bin`; else the global one again).
    private func neighborGraphs(embedded: [ValidSample], vectors: FeatureMatrix) throws
        -> (global: KNNGraph, final: KNNGraph, checked: [CopyVerification.Checked], report: VerificationStage.Report?) {
        let global = try indexedGraph(vectors)
        meter?.enter("verify")
        let reportURL = directory.appendingPathComponent(VerificationStage.reportName)
        let verifiedURL = directory.appendingPathComponent(KNNGraph.verifiedFileName)
        try? FileManager.default.removeItem(at: verifiedURL)
        // Copy verification re-scores uncertain pairs; pairs, components, near duplicates, leaks
        // and clean then use the final scores (outliers keep the global ones).
        guard var verification = options.verification, options.metric == .cosine else {
            try? FileManager.default.removeItem(at: reportURL)
            return (global, global, [], nil)
        }
        if embedded.count < WhiteningStage.minimumWhiteningRows {
            // Too few images to whiten: the global scores are not calibrated (a stereo pair
            // can score 0.9), so every neighbour pair is checked and a rejected pair stays
            // below the pair and component thresholds.
            verification.sure = 1
            verification.candidates = options.nearestNeighborsK
            verification.rejectedFloor = 0
            verification.rejectedCeiling = min(0.5, options.threshold - 0.05)
        }
        var stage = VerificationStage(options: verification, directory: cacheDirectory ?? directory, crop: crop,
                                      workers: workers)
        stage.featureBudget = verificationFeatureBudget
        stage.progress = progress
        // Only checks scored at or above the pair threshold can be reported (`duplicates.csv`);
        // the margin covers the score's round trip through the graph's distance.
        stage.evidenceKeptFrom = options.threshold - 1e-5
        let outcome = stage.run(samples: embedded, graph: global)
        try AtomicFile.write(try jsonString(outcome.report) + "\n", to: reportURL)
        let final = try CopyVerification.rescored(global, scores: outcome.scores, to: verifiedURL)
        return (global, final, outcome.checked, outcome.report)
    }
}

/// What the embedding-based analyses found, each per-image array indexed by graph row (the
/// embedded samples in order): the input of the analyses' output files.
struct AnalysisResults {
    var id: [Int64]
    var name: [String]
    var global: KNNGraph
    /// The graph with the final scores (copy verification's, else the global ones).
    var graph: KNNGraph
    var checked: [CopyVerification.Checked]
    var pairs: [SimilarPair]
    var outliers: Outliers.Result
    var components: ConnectedComponents.Result
    var near: NearDuplicates.Result
    var uniqueness: [Float]
    var representativeness: Representativeness.Result
    var splits: [String?]
    var leaks: [LeakySplits.Leak]
}

/// The analyses, then their files, each written row by row (``CSVFileWriter``) so that no table
/// over every image is held whole.
extension AnalysisStage {
    func analyse(embedded: [ValidSample], vectors: FeatureMatrix, global: KNNGraph, graph: KNNGraph,
                 checked: [CopyVerification.Checked]) -> AnalysisResults {
        let splits = embedded.map { LeakySplits.split(fromPath: $0.path) }
        return AnalysisResults(
            id: embedded.map(\.id), name: embedded.map(\.filename), global: global, graph: graph, checked: checked,
            pairs: SimilarityPairs.pairs(graph: graph, threshold: options.threshold),
            outliers: Outliers.find(graph: global, percentile: options.outlierPercentile, rule: options.outlierRule),
            components: ConnectedComponents.find(graph: graph, threshold: options.componentThreshold),
            near: NearDuplicates.find(graph: graph, threshold: options.nearDuplicateDistance),
            uniqueness: Uniqueness.compute(vectors, graph: global), representativeness: Representativeness.compute(vectors),
            splits: splits,
            leaks: splits.contains { $0 != nil } ? LeakySplits.find(graph: graph, splits: splits, threshold: options.threshold) : [])
    }

    /// The summary's counts and the catalog's scores and pairs (each pair once, lower row first).
    func findings(_ found: AnalysisResults, addedAlreadyKnown: Int, report: VerificationStage.Report?) -> AnalysisFindings {
        let id = found.id, outlierSet = Set(found.outliers.outliers)
        let scoreRows = id.indices.map { row in
            SampleScores(sampleID: id[row], uniqueness: found.uniqueness[row],
                         representativeness: found.representativeness.representativeness[row],
                         nearestSimilarity: found.outliers.scores[row], componentID: id[found.components.componentOf[row]],
                         isOutlier: outlierSet.contains(row))
        }
        let pairRows = found.pairs.filter { $0.from < $0.to }.map { (id[$0.from], id[$0.to], $0.similarity) }
        let components = found.components.components
        return AnalysisFindings(similarPairs: found.pairs.count / 2, components: components.count,
                                imagesInComponents: components.reduce(0) { $0 + $1.members.count },
                                outliers: found.outliers.outliers.count, nearDuplicates: found.near.removedCount,
                                leaks: found.leaks.count, addedAlreadyKnown: addedAlreadyKnown, verification: report,
                                scores: (scoreRows, pairRows))
    }

    /// `from,to,distance` (a similarity, as fastdup writes it): `similarity.csv`, `outliers.csv`.
    func writePairs(_ pairs: [SimilarPair], to name: String, _ found: AnalysisResults) throws {
        try write(name, header: ["from", "to", "distance"]) { append in
            for p in pairs { try append([String(found.id[p.from]), String(found.id[p.to]), decimal(Double(p.similarity), 6)]) }
        }
    }

    /// The kNN graph of `vectors` (`knn.bin`) and the saved index (for `winnow search`; none for
    /// the exact index) in `directory`: built, or found in the work_dir's ``IndexCache`` when an
    /// earlier run indexed the same vectors the same way (a run stopped while it searched the
    /// neighbours left its index and the graph's finished blocks there).
    private func indexedGraph(_ vectors: FeatureMatrix) throws -> KNNGraph {
        let k = max(0, min(options.nearestNeighborsK, vectors.rows - 1))
        let kind = options.index ?? IndexKind.automatic(rows: vectors.rows, dimension: vectors.dimension, metric: options.metric)
        let cache = IndexCache(workDirectory: cacheDirectory ?? directory, vectors: vectors, metric: options.metric,
                               k: options.nearestNeighborsK, kind: kind)
        if cache.finishedGraph(rows: vectors.rows, k: k) == nil {
            try cache.prepare()
            let index = try cache.savedIndex(vectors: vectors, kind: kind) ?? {
                let built = try buildSimilarityIndex(vectors: vectors, metric: options.metric, kind: kind)
                if built.kind != .flat { try built.save(to: cache.indexURL) }
                return built
            }()
            _ = try index.writeNeighborGraph(k: options.nearestNeighborsK, to: cache.graphURL, resumable: true)
        }
        try cache.link(into: directory)
        return try KNNGraph(contentsOf: directory.appendingPathComponent(KNNGraph.fileName))
    }

    /// `duplicates.csv`: each reported pair once, with the evidence behind its score — the
    /// global similarity, and for checked pairs the local matches, inliers, NCC, residual,
    /// model, the transform it suggests and the detector (ORB or SIFT) whose evidence decided.
    func writeDuplicates(_ found: AnalysisResults) throws {
        let checked = CheckedLookup(found.checked)
        try write("duplicates.csv", header: ["from", "to", "from_filename", "to_filename", "score", "global_similarity", "checked",
                                             "verified", "matches", "inliers", "ncc", "residual_px", "scale", "rotation_deg",
                                             "mirrored", "covered_from", "covered_to", "transform", "detector"]) { append in
            for p in found.pairs where p.from < p.to {
                try append(duplicateRow(p, checked: checked[p.from, p.to], found))
            }
        }
    }

    private func duplicateRow(_ p: SimilarPair, checked c: CopyVerification.Checked?, _ found: AnalysisResults) -> [String] {
        let global = found.global, metric = options.metric
        let g = c?.candidate.global ?? global.neighbors(of: p.from).first { $0.index == p.to }.map { $0.similarity(metric) }
            ?? global.neighbors(of: p.to).first { $0.index == p.from }.map { $0.similarity(metric) } ?? p.similarity
        let row = [String(found.id[p.from]), String(found.id[p.to]), found.name[p.from], found.name[p.to],
                   decimal(Double(p.similarity), 6), decimal(Double(g), 6), c == nil ? "0" : "1", c?.verified == true ? "1" : "0"]
        guard let e = c?.evidence else { return row + Array(repeating: "", count: 11) }
        return row + [String(e.matches), String(e.inliers), decimal(Double(e.ncc), 4), decimal(Double(e.residual), 3),
                      decimal(Double(e.scale), 3), decimal(Double(e.rotation), 2), e.mirrored ? "1" : "0",
                      decimal(Double(e.coveredA), 3), decimal(Double(e.coveredB), 3),
                      c?.verified == true ? CopyVerification.transformGuess(e) : "", e.detector.rawValue]
    }

    /// `connected_components.csv` (every image with its component's size and similarities) and
    /// `component_info.csv` (one row per component of two or more images).
    func writeComponents(_ found: AnalysisResults) throws {
        let id = found.id, components = found.components.components
        var byID: [Int: ConnectedComponents.Component] = [:]
        for c in components { byID[c.id] = c }
        try write("connected_components.csv",
                  header: ["__id", "component_id", "count", "mean_distance", "min_distance", "max_distance"]) { append in
            for (row, c) in found.components.componentOf.enumerated() {
                let component = byID[c]
                try append([String(id[row]), String(id[c]), String(component?.members.count ?? 1),
                            decimal(Double(component?.meanSimilarity ?? 0), 6),
                            decimal(Double(component?.minimumSimilarity ?? 0), 6),
                            decimal(Double(component?.maximumSimilarity ?? 0), 6)])
            }
        }
        try write("component_info.csv", header: ["component_id", "count", "mean", "min", "max"]) { append in
            for c in components {
                try append([String(id[c.id]), String(c.members.count), decimal(Double(c.meanSimilarity), 6),
                            decimal(Double(c.minimumSimilarity), 6), decimal(Double(c.maximumSimilarity), 6)])
            }
        }
    }

    /// `near_duplicates.csv` (fiftyone `compute_near_duplicates`): each removed image, the one
    /// kept in its place and their distance in the final graph.
    func writeNearDuplicates(_ found: AnalysisResults) throws {
        let id = found.id, name = found.name, graph = found.graph
        try write("near_duplicates.csv",
                  header: ["index", "filename", "duplicate_of_index", "duplicate_of_filename", "distance"]) { append in
            for (removed, kept) in found.near.duplicateOf.sorted(by: { $0.key < $1.key }) {
                let distance = graph.neighbors(of: removed).first { $0.index == kept }?.distance
                    ?? graph.neighbors(of: kept).first { $0.index == removed }?.distance ?? 0
                try append([String(id[removed]), name[removed], String(id[kept]), name[kept], decimal(Double(distance), 6)])
            }
        }
    }

    /// `scores.csv`: every embedded image's per-image scores.
    func writeScores(_ found: AnalysisResults) throws {
        let id = found.id, outlierSet = Set(found.outliers.outliers), representativeness = found.representativeness
        try write("scores.csv", header: ["index", "filename", "uniqueness", "representativeness", "representativeness_fiftyone",
                                         "kmeans_cluster", "nn_similarity", "component_id", "is_outlier", "split"]) { append in
            for row in id.indices {
                try append([String(id[row]), found.name[row], decimal(Double(found.uniqueness[row]), 6),
                            decimal(Double(representativeness.representativeness[row]), 6),
                            decimal(Double(representativeness.fiftyone[row]), 6), String(representativeness.cluster[row]),
                            decimal(Double(found.outliers.scores[row]), 6), String(id[found.components.componentOf[row]]),
                            outlierSet.contains(row) ? "1" : "0", found.splits[row] ?? ""])
            }
        }
    }

    /// `leaks.csv`: similar pairs across splits.
    func writeLeaks(_ found: AnalysisResults) throws {
        let id = found.id, name = found.name
        try write("leaks.csv", header: ["from", "to", "distance", "from_split", "to_split", "from_filename", "to_filename"]) { append in
            for leak in found.leaks {
                try append([String(id[leak.pair.from]), String(id[leak.pair.to]), decimal(Double(leak.pair.similarity), 6),
                            leak.fromSplit, leak.toSplit, name[leak.pair.from], name[leak.pair.to]])
            }
        }
    }

    /// `new_vs_known.csv` ("is this incoming image already in my dataset?"): each image the run
    /// `newRun` added with its best match among the known ones, when at least the pair threshold.
    /// Returns how many such images there are.
    func writeNewVsKnown(_ found: AnalysisResults, embedded: [ValidSample], newRun: Int64) throws -> Int {
        let id = found.id, name = found.name, metric = options.metric
        var matched = 0
        try write("new_vs_known.csv", header: ["new_index", "new_filename", "known_index", "known_filename", "similarity"]) { append in
            for row in embedded.indices where embedded[row].addedRun == newRun {
                guard let match = found.graph.neighbors(of: row).first(where: { embedded[$0.index].addedRun != newRun }),
                      match.similarity(metric) >= options.threshold else { continue }
                matched += 1
                try append([String(id[row]), name[row], String(id[match.index]), name[match.index],
                            decimal(Double(match.similarity(metric)), 6)])
            }
        }
        return matched
    }

    private func write(_ name: String, header: [String], rows: (_ append: ([String]) throws -> Void) throws -> Void) throws {
        try CSVFileWriter.write(directory.appendingPathComponent(name), header: header, rows: rows)
    }
}

/// The checked pair of two rows, found by binary search over the checks' keys (16 bytes a check,
/// where a dictionary of the checks would copy each one); of a pair checked twice, the last check.
private struct CheckedLookup {
    private let checked: [CopyVerification.Checked]
    private let order: [(key: Int64, index: Int32)]

    init(_ checked: [CopyVerification.Checked]) {
        self.checked = checked
        var order = checked.indices.map { (key: Self.key(checked[$0].candidate.a, checked[$0].candidate.b), index: Int32($0)) }
        order.sort { ($0.key, $0.index) < ($1.key, $1.index) }
        self.order = order
    }

    private static func key(_ a: Int, _ b: Int) -> Int64 { Int64(a) << 32 | Int64(b) }

    subscript(a: Int, b: Int) -> CopyVerification.Checked? {
        let key = Self.key(a, b), end = order.partitionPoint { $0.key <= key }
        return end > 0 && order[end - 1].key == key ? checked[Int(order[end - 1].index)] : nil
    }
}
