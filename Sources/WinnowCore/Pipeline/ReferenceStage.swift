import Foundation

/// `winnow run NEW --reference REF_WORK_DIR`: the images of this run that are copies of a
/// reference work_dir's images — new images against a canonical set, a training set against its
/// evaluation set (decontamination) — without merging the two sets' outputs.
///
/// Each embedded image's vector is put in the reference's space (for copy descriptors, the raw
/// descriptor whitened with the reference's `whitening.bin`, as `winnow search` does) and looked
/// up in the reference's saved index (never rebuilt); the pairs are verified as the run's own
/// (ORB, then SIFT, with the same options and caches), and those scoring at the pair threshold
/// are written to `reference_matches.csv`, most similar first for each image.
struct ReferenceStage {
    let search: SimilaritySearch
    let options: AnalysisOptions
    /// Where the file goes (the run's staging folder).
    let directory: URL
    /// Where verification's caches live (the work_dir).
    let cacheDirectory: URL
    let crop: CropBox?
    let workers: Int
    let verificationFeatureBudget: Int
    let progress: ProgressHandler?

    /// The reference work_dir at `path`, checked before the run changes anything: it must be a
    /// finished work_dir with vectors from the same kind of embedding as this run's.
    static func open(_ path: String, embedding: EmbeddingChoice) throws -> SimilaritySearch {
        let search = try SimilaritySearch(workDirectory: URL(fileURLWithPath: path).standardizedFileURL)
        let theirs = search.configuration.embedding
        guard theirs == embedding || kind(of: theirs) == kind(of: embedding) && kind(of: embedding) != "ONNX model" else {
            throw ReferenceError.otherEmbedding(path: path, reference: kind(of: theirs), run: kind(of: embedding))
        }
        return search
    }

    /// The kind of vectors an embedding makes (vectors of one kind can be compared).
    private static func kind(of embedding: EmbeddingChoice) -> String {
        switch embedding {
        case .copyDescriptor, .precomputedCopyDescriptors: "copy descriptor"
        case .mobileNetV2(let squash, let size): "mobilenet_v2\(squash ? "_squash" : "") (\(size) px)"
        case .mobileNetV2Int8(let size): "mobilenet_v2_int8 (\(size) px)"
        case .onnx: "ONNX model"
        case .precomputed: "precomputed"
        case .none: "no"
        }
    }

    /// Finds, verifies and writes the matches of `embedded` (whose raw vectors are in `store`); returns how many.
    func run(embedded: [ValidSample], store: FeatureStore) throws -> Int {
        let (candidates, referenceSamples) = try candidates(of: embedded, store: store)
        let samples = embedded + referenceSamples
        var lists = candidates
        lists += Array(repeating: [], count: referenceSamples.count)
        let graph = KNNGraph(lists: lists, metric: options.metric)
        let checks = checkedPairs(samples: samples, graph: graph)
        var matches = 0
        try WorkDirFile.referenceMatches.write(in: directory) { append in
            for (row, list) in candidates.enumerated() {
                // A checked pair is a match only when local features verified it; a pair left unchecked
                // (beyond the first `candidates` neighbours of both images, as in the run's own
                // verification) by its global score.
                let scored = list.compactMap { n -> (Neighbor, Float)? in
                    guard let check = checks[Self.key(row, n.index)] else { return (n, n.similarity(options.metric)) }
                    return check.verified ? (n, check.score) : nil
                }
                for (neighbor, score) in scored.sorted(by: { $0.1 > $1.1 }) where score >= options.threshold {
                    let reference = samples[neighbor.index]
                    try append(ReferenceMatchRow(index: embedded[row].id, filename: embedded[row].filename,
                                                 referenceIndex: reference.id, referenceFilename: reference.filename,
                                                 similarity: Double(score), globalSimilarity: Double(neighbor.similarity(options.metric)),
                                                 verified: checks[Self.key(row, neighbor.index)]?.verified == true))
                    matches += 1
                }
            }
        }
        return matches
    }

    /// Each embedded image's nearest reference images (as rows after `embedded`), and those
    /// reference images' samples, in the order they were first found.
    private func candidates(of embedded: [ValidSample], store: FeatureStore) throws -> ([[Neighbor]], [ValidSample]) {
        let vectors = try FeatureMatrix(mapping: store.url, dimension: store.dimension)
        let known = Dictionary(try Catalog(url: search.workDirectory.appendingPathComponent(Catalog.fileName)).validSamples()
            .map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var rowOfReference: [Int64: Int] = [:], referenceSamples: [ValidSample] = []
        let lists = try embedded.map { sample -> [Neighbor] in
            guard let row = sample.featureRow else { return [] }
            let query = try search.storedVector(ofRaw: Array(vectors.row(row)))
            guard isUsableEmbedding(query) else { return [] }
            return try search.neighbors(ofVector: query, k: options.nearestNeighborsK).compactMap { match in
                guard let reference = known[match.index] else { return nil }
                let at = rowOfReference[match.index] ?? {
                    referenceSamples.append(reference)
                    rowOfReference[match.index] = embedded.count + referenceSamples.count - 1
                    return embedded.count + referenceSamples.count - 1
                }()
                return Neighbor(index: at, distance: match.distance)
            }
        }
        return (lists, referenceSamples)
    }

    /// The pairs copy verification checked, by pair key: final score and whether local features
    /// verified the copy (none without verification).
    private func checkedPairs(samples: [ValidSample], graph: KNNGraph) -> [Int64: (score: Float, verified: Bool)] {
        guard var verification = options.verification, options.metric == .cosine, graph.k > 0 else { return [:] }
        if search.ids.count < WhiteningStage.minimumWhiteningRows { verification = AnalysisStage.uncalibrated(verification, options) }
        // Another collection's whitening does not calibrate this one's scores: no pair is a
        // match without local evidence (measured on set A splits: unchecked pairs above
        // `sure` were 29 of 154 matches against an 80-image reference, checked ones none wrong).
        verification.sure = 1
        // The second retrieval proposes pairs within one collection, not between two.
        verification.retrieval.perImage = 0
        let stage = VerificationStage(options: verification, directory: cacheDirectory, crop: crop, workers: workers,
                                      featureBudget: verificationFeatureBudget, progress: progress,
                                      evidenceKeptFrom: options.threshold - 1e-5)
        let outcome = stage.run(samples: samples, graph: graph)
        var checks: [Int64: (score: Float, verified: Bool)] = [:]
        for score in outcome.scores { checks[Self.key(Int(score.a), Int(score.b))] = (score.score, false) }
        for check in outcome.checked where check.verified {
            checks[Self.key(Int(check.candidate.a), Int(check.candidate.b))] = (check.score, true)
        }
        return checks
    }

    private static func key(_ a: Int, _ b: Int) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }
}

/// A reference work_dir that cannot be used; one line.
public enum ReferenceError: Error, Equatable, CustomStringConvertible {
    case otherEmbedding(path: String, reference: String, run: String)

    public var description: String {
        switch self {
        case .otherEmbedding(let path, let reference, let run):
            "reference \(path) was analysed with \(reference) vectors, this run makes \(run) vectors: give the same --model"
        }
    }
}
