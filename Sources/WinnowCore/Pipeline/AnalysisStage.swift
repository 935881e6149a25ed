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
    /// The list index's average members a list (nil: ``ListIndex/defaultListRows``).
    public var listRows: Int? = nil
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
    /// Matches with the reference work_dir (`--reference`), nil without one.
    var referenceMatches: Int?
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
    let options: AnalysisOptions
    /// Where the files go (the run's staging folder).
    let directory: URL
    /// Where caches kept between runs go (the work_dir).
    let cacheDirectory: URL
    /// On an incremental run, its id: images it added are compared with the known ones.
    let newRun: Int64?
    let crop: CropBox?
    let workers: Int
    /// Bytes of local features copy verification keeps between blocks.
    let verificationFeatureBudget: Int
    /// Times the index, verification and analyses (nil: not measured).
    let meter: StageMeter?
    /// Verification's progress (see ``VerificationStage/progress``).
    let progress: ProgressHandler?
    /// Pairs a person marked not a copy (``Decision/notCopy(_:_:)``): scored below every threshold.
    let notCopies: Set<Decisions.SamplePair>
    /// Other processes that check shares of verification's pairs (`cluster finish`); nil: none.
    var verificationSharing: (any PairCheckSharing)? = nil
    /// Other processes that search blocks of the kNN graph (`cluster finish`); nil: none.
    var neighborSharing: (any NeighborSearchSharing)? = nil

    func run(samples: [ValidSample], store: FeatureStore) throws -> AnalysisFindings {
        // Usually every sample has a vector: then the samples are shared, not copied.
        let embedded = samples.allSatisfy { $0.featureRow != nil } ? samples : samples.filter { $0.featureRow != nil }
        guard embedded.count >= 2 else { return AnalysisFindings() }
        meter?.enter("index")
        let vectors = try Self.vectors(rows: embedded.compactMap(\.featureRow), store: store, directory: directory)
        let (global, graph, checked, report) = try neighborGraphs(embedded: embedded, vectors: vectors)
        meter?.enter("analyses")
        let found = analyse(embedded: embedded, vectors: vectors, global: global, graph: graph, checked: checked)
        try writePairs(found.pairs, to: WorkDirFile.similarity, found)
        try writeDuplicates(found)
        try writePairs(found.outliers.rows, to: WorkDirFile.outliers, found)
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
            return (global, try CopyVerification.rescored(global, scores: notCopyScores(embedded), to: verifiedURL), [], nil)
        }
        if embedded.count < WhiteningStage.minimumWhiteningRows { verification = Self.uncalibrated(verification, options) }
        // Only checks scored at or above the pair threshold can be reported (`duplicates.csv`);
        // the margin covers the score's round trip through the graph's distance.
        let stage = VerificationStage(options: verification, directory: cacheDirectory, crop: crop, workers: workers,
                                      featureBudget: verificationFeatureBudget, progress: progress,
                                      evidenceKeptFrom: options.threshold - 1e-5, sharing: verificationSharing)
        let outcome = stage.run(samples: embedded, graph: global)
        try AtomicFile.write(try jsonString(outcome.report) + "\n", to: reportURL)
        let final = try CopyVerification.rescored(global, scores: outcome.scores + notCopyScores(embedded), added: outcome.added,
                                                  to: verifiedURL)
        return (global, final, outcome.checked, outcome.report)
    }

    /// Verification over vectors too few to whiten: the global scores are not calibrated (a
    /// stereo pair can score 0.9), so every neighbour pair is checked — all but identical
    /// vectors (up to rounding: exact copies of a dark or blank image have no local features to
    /// check) — and a rejected pair stays below the pair and component thresholds.
    static func uncalibrated(_ verification: CopyVerification.Options, _ options: AnalysisOptions) -> CopyVerification.Options {
        var verification = verification
        verification.sure = 1 - 1e-5
        verification.candidates = options.nearestNeighborsK
        verification.rejectedFloor = 0
        verification.rejectedCeiling = min(0.5, options.threshold - 0.05)
        return verification
    }

    /// The pairs marked not a copy, by graph row, with the lowest score there is (they come
    /// after verification's scores, so they replace them).
    private func notCopyScores(_ embedded: [ValidSample]) -> [CopyVerification.PairScore] {
        guard !notCopies.isEmpty else { return [] }
        let marked = Set(notCopies.flatMap { [$0.first, $0.second] })
        var row: [Int64: Int] = [:]
        for (index, sample) in embedded.enumerated() where marked.contains(sample.id) { row[sample.id] = index }
        return notCopies.sorted { ($0.first, $0.second) < ($1.first, $1.second) }.compactMap { pair in
            guard let a = row[pair.first], let b = row[pair.second] else { return nil }
            return CopyVerification.PairScore(a: a, b: b, score: -1)
        }
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
        // The passes over the vectors first: representativeness's k-means sample (up to 128 MB)
        // is gone before the pairs, components and the other per-image results are held.
        let representativeness = Representativeness.compute(vectors)
        let uniqueness = Uniqueness.compute(vectors, graph: global)
        let splits = embedded.map { LeakySplits.split(fromPath: $0.path) }
        return AnalysisResults(
            id: embedded.map(\.id), name: embedded.map(\.filename), global: global, graph: graph, checked: checked,
            pairs: SimilarityPairs.pairs(graph: graph, threshold: options.threshold),
            outliers: Outliers.find(graph: global, percentile: options.outlierPercentile, rule: options.outlierRule),
            components: ConnectedComponents.find(graph: graph, threshold: options.componentThreshold),
            near: NearDuplicates.find(graph: graph, threshold: options.nearDuplicateDistance),
            uniqueness: uniqueness, representativeness: representativeness, splits: splits,
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
    func writePairs(_ pairs: [SimilarPair], to file: WorkDirCSV<PairRow>, _ found: AnalysisResults) throws {
        try file.write(pairs.lazy.map { PairRow(from: found.id[$0.from], to: found.id[$0.to], distance: Double($0.similarity)) },
                       in: directory)
    }

    /// The kNN graph of `vectors` (`knn.bin`) and the saved index (for `winnow search`; none for
    /// the exact index) in `directory`: built, or found in the work_dir's ``IndexCache`` when an
    /// earlier run indexed the same vectors the same way (a run stopped while it searched the
    /// neighbours left its index and the graph's finished blocks there).
    private func indexedGraph(_ vectors: FeatureMatrix) throws -> KNNGraph {
        let k = max(0, min(options.nearestNeighborsK, vectors.rows - 1))
        let kind = options.index ?? IndexKind.automatic(rows: vectors.rows, dimension: vectors.dimension, metric: options.metric)
        let cache = IndexCache(workDirectory: cacheDirectory, vectors: vectors, metric: options.metric,
                               k: options.nearestNeighborsK, kind: kind, listRows: options.listRows)
        if cache.finishedGraph(rows: vectors.rows, k: k) == nil {
            try cache.prepare()
            let progress = progress
            let index = try cache.savedIndex(vectors: vectors, kind: kind) ?? {
                progress?("index \(kind.rawValue)", 0, vectors.rows)
                let built = try builtIndex(vectors, kind: kind, key: cache.key)
                if built.kind != .flat { try built.save(to: cache.indexURL) }
                progress?("index \(kind.rawValue)", vectors.rows, vectors.rows)
                return built
            }()
            if let neighborSharing {
                _ = try index.writeSharedNeighborGraph(k: options.nearestNeighborsK, to: cache.graphURL, vectors: vectors,
                                                       key: cache.key, sharing: neighborSharing) {
                    progress?("knn", $0, vectors.rows)
                }
            } else {
                _ = try index.writeNeighborGraph(k: options.nearestNeighborsK, to: cache.graphURL, resumable: true) {
                    progress?("knn", $0, vectors.rows)
                }
            }
        }
        try cache.link(into: directory)
        return try KNNGraph(contentsOf: directory.appendingPathComponent(KNNGraph.fileName))
    }

    /// The index `kind` of `vectors`; a list index's assignment of rows to lists is shared like
    /// its search when the run shares that.
    private func builtIndex(_ vectors: FeatureMatrix, kind: IndexKind, key: String) throws -> any SimilarityIndex {
        guard kind == .lists, let neighborSharing else {
            return try buildSimilarityIndex(vectors: vectors, metric: options.metric, kind: kind, listRows: options.listRows)
        }
        let progress = progress
        return try ListIndex(vectors: vectors, metric: options.metric, listRows: options.listRows ?? ListIndex.defaultListRows, key: key,
                             sharing: neighborSharing) { progress?("assign", $0, vectors.rows) }
    }

    /// `duplicates.csv`: each reported pair once, with the evidence behind its score — the
    /// global similarity, and for checked pairs the local matches, inliers, NCC, residual,
    /// model, the transform it suggests and the detector (ORB or SIFT) whose evidence decided.
    func writeDuplicates(_ found: AnalysisResults) throws {
        let checked = CheckedLookup(found.checked)
        try WorkDirFile.duplicates.write(in: directory) { append in
            for p in found.pairs where p.from < p.to {
                try append(duplicateRow(p, checked: checked[p.from, p.to], found))
            }
        }
    }

    private func duplicateRow(_ p: SimilarPair, checked c: CopyVerification.Checked?, _ found: AnalysisResults) -> DuplicateRow {
        let global = found.global, metric = options.metric
        let g = c?.candidate.global ?? global.neighbors(of: p.from).first { $0.index == p.to }.map { $0.similarity(metric) }
            ?? global.neighbors(of: p.to).first { $0.index == p.from }.map { $0.similarity(metric) } ?? p.similarity
        let e = c?.evidence, verified = c?.verified == true
        return DuplicateRow(from: found.id[p.from], to: found.id[p.to], fromFilename: found.name[p.from], toFilename: found.name[p.to],
                            score: Double(p.similarity), globalSimilarity: Double(g), checked: c != nil, verified: verified,
                            matches: e?.matches, inliers: e?.inliers, ncc: e.map { Double($0.ncc) },
                            residual: e.map { Double($0.residual) }, scale: e.map { Double($0.scale) },
                            rotation: e.map { Double($0.rotation) }, mirrored: e?.mirrored, coveredFrom: e.map { Double($0.coveredA) },
                            coveredTo: e.map { Double($0.coveredB) },
                            transform: e.flatMap { verified ? CopyVerification.transformGuess($0) : nil }, detector: e?.detector)
    }

    /// `connected_components.csv` (every image with its component's size and similarities) and
    /// `component_info.csv` (one row per component of two or more images).
    func writeComponents(_ found: AnalysisResults) throws {
        let id = found.id, components = found.components.components
        var byID: [Int: ConnectedComponents.Component] = [:]
        for c in components { byID[c.id] = c }
        try WorkDirFile.connectedComponents.write(found.components.componentOf.enumerated().lazy.map { row, c in
            let component = byID[c]
            return ComponentMemberRow(index: id[row], componentID: id[c], count: component?.members.count ?? 1,
                                      meanDistance: Double(component?.meanSimilarity ?? 0),
                                      minimumDistance: Double(component?.minimumSimilarity ?? 0),
                                      maximumDistance: Double(component?.maximumSimilarity ?? 0))
        }, in: directory)
        try WorkDirFile.componentInfo.write(components.lazy.map {
            ComponentRow(componentID: id[$0.id], count: $0.members.count, mean: Double($0.meanSimilarity),
                         minimum: Double($0.minimumSimilarity), maximum: Double($0.maximumSimilarity))
        }, in: directory)
    }

    /// `near_duplicates.csv` (fiftyone `compute_near_duplicates`): each removed image, the one
    /// kept in its place and their distance in the final graph.
    func writeNearDuplicates(_ found: AnalysisResults) throws {
        let id = found.id, name = found.name, graph = found.graph
        try WorkDirFile.nearDuplicates.write(found.near.duplicateOf.sorted { $0.key < $1.key }.lazy.map { removed, kept in
            let distance = graph.neighbors(of: removed).first { $0.index == kept }?.distance
                ?? graph.neighbors(of: kept).first { $0.index == removed }?.distance ?? 0
            return NearDuplicateRow(index: id[removed], filename: name[removed], duplicateOfIndex: id[kept],
                                    duplicateOfFilename: name[kept], distance: Double(distance))
        }, in: directory)
    }

    /// `scores.csv`: every embedded image's per-image scores.
    func writeScores(_ found: AnalysisResults) throws {
        let id = found.id, outlierSet = Set(found.outliers.outliers), representativeness = found.representativeness
        try WorkDirFile.scores.write(id.indices.lazy.map { row in
            ScoresRow(index: id[row], filename: found.name[row], uniqueness: Double(found.uniqueness[row]),
                      representativeness: Double(representativeness.representativeness[row]),
                      representativenessFiftyone: Double(representativeness.fiftyone[row]),
                      kmeansCluster: representativeness.cluster[row], nearestSimilarity: Double(found.outliers.scores[row]),
                      componentID: id[found.components.componentOf[row]],
                      isOutlier: outlierSet.contains(row), split: found.splits[row])
        }, in: directory)
    }

    /// `leaks.csv`: similar pairs across splits.
    func writeLeaks(_ found: AnalysisResults) throws {
        let id = found.id, name = found.name
        try WorkDirFile.leaks.write(found.leaks.lazy.map { LeakRow($0, from: (id[$0.pair.from], name[$0.pair.from]),
                                                                   to: (id[$0.pair.to], name[$0.pair.to])) }, in: directory)
    }

    /// `new_vs_known.csv` ("is this incoming image already in my dataset?"): each image the run
    /// `newRun` added with its best match among the known ones, when at least the pair threshold.
    /// Returns how many such images there are.
    func writeNewVsKnown(_ found: AnalysisResults, embedded: [ValidSample], newRun: Int64) throws -> Int {
        let id = found.id, name = found.name, metric = options.metric
        var matched = 0
        try WorkDirFile.newVsKnown.write(in: directory) { append in
            for row in embedded.indices where embedded[row].addedRun == newRun {
                guard let match = found.graph.neighbors(of: row).first(where: { embedded[$0.index].addedRun != newRun }),
                      match.similarity(metric) >= options.threshold else { continue }
                matched += 1
                try append(NewVsKnownRow(newIndex: id[row], newFilename: name[row], knownIndex: id[match.index],
                                         knownFilename: name[match.index], similarity: Double(match.similarity(metric))))
            }
        }
        return matched
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
