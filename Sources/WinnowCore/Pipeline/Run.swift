import Foundation

/// Everything a `winnow run` needs; stored in the work_dir's `config.json` and the catalog.
public struct RunConfiguration: Sendable, Codable, Equatable {
    /// Folders, file lists, archives or image files, as the user gave them.
    public var inputs: [String]
    /// Where results go; created if missing. Never inside the user's files' own names.
    public var workDirectory: String
    public var ingest: IngestOptions
    public var quality: QualityThresholds
    /// Longer side of the image the statistics are measured on.
    public var analysisSide: Int
    /// Worker threads, each decoding, measuring and embedding images (default: the number of cores).
    public var workers: Int
    /// The embeddings to compute or read (`atrain_features.dat`).
    public var embedding: EmbeddingChoice
    /// A region cropped from every image first (fastdup `bounding_box`).
    public var crop: CropBox?
    /// Also write the features as `features.npy`.
    public var exportNumPy: Bool
    /// kNN index and embedding-based analyses.
    public var analysis: AnalysisOptions
    /// Annotations / predictions and the label analyses (nil: none).
    public var labels: LabelOptions?
    /// Decompression-bomb limits (pixels per image, bytes per archive member). Optional only
    /// so that `config.json` files written before it existed still load; nil means defaults.
    public var decodeLimits: DecodeLimits?
    /// `--max-memory`; nil (and in `config.json` files written before it existed) means
    /// ``MemoryBudget/machineDefault``.
    public var memoryBudget: MemoryBudget?
    /// `--reference`: a finished work_dir whose images this run's images are matched against
    /// (``ReferenceStage``); nil: none.
    public var reference: String?
    /// `--bounding-box face|ocr`: every detected face or text line is a sample (nil: none).
    public var detector: DetectorOptions?

    public init(inputs: [String], workDirectory: String, ingest: IngestOptions = IngestOptions(),
                quality: QualityThresholds = QualityThresholds(), analysisSide: Int = 384,
                workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                embedding: EmbeddingChoice = .none, crop: CropBox? = nil, exportNumPy: Bool = false,
                analysis: AnalysisOptions = AnalysisOptions(), labels: LabelOptions? = nil,
                decodeLimits: DecodeLimits = DecodeLimits(), memoryBudget: MemoryBudget? = nil, reference: String? = nil,
                detector: DetectorOptions? = nil) {
        self.inputs = inputs
        self.workDirectory = workDirectory
        self.ingest = ingest
        self.quality = quality
        self.analysisSide = analysisSide
        self.workers = max(1, workers)
        self.embedding = embedding
        self.crop = crop
        self.exportNumPy = exportNumPy
        self.analysis = analysis
        self.labels = labels
        self.decodeLimits = decodeLimits
        self.memoryBudget = memoryBudget
        self.reference = reference
        self.detector = detector
    }

    /// Bytes of local features copy verification keeps between blocks: its default, or what the
    /// memory budget leaves when that is less (never below the estimate's minimum).
    func verificationFeatureBudget(images: Int, dimension: Int) -> Int {
        let runsModel: Bool = switch embedding {
        case .none, .precomputed, .precomputedCopyDescriptors: false
        default: true
        }
        let estimate = memoryEstimate(images: images, dimension: dimension, embeds: runsModel)
        let left = (memoryBudget ?? .machineDefault).remaining(after: estimate)
        return Int(max(MemoryEstimate.minimumVerificationCache,
                       min(Int64(VerificationStage.defaultFeatureBudget), left + MemoryEstimate.minimumVerificationCache)))
    }

    /// What this run needs at least for `images` images with `dimension`-d vectors.
    func memoryEstimate(images: Int, dimension: Int, embeds: Bool) -> MemoryEstimate {
        MemoryEstimate.run(images: images, dimension: dimension, workers: workers,
                           limits: decodeLimits ?? DecodeLimits(),
                           index: analysis.index ?? IndexKind.automatic(rows: images, dimension: dimension, metric: analysis.metric),
                           embeds: embeds, verifies: dimension > 0 && analysis.verification != nil)
    }

    /// The decoder for this run's images at `minimumSide`, with its limits.
    func decoder(minimumSide: Int) -> ImageDecoder {
        ImageDecoder(minimumSide: minimumSide, limits: decodeLimits ?? DecodeLimits())
    }
}

/// What a run found, as printed at its end and written to `summary.json`.
public struct RunSummary: Sendable, Codable, Equatable {
    public var files: Int
    public var valid: Int
    public var invalid: Int
    public var invalidByCode: [String: Int]
    public var skippedNonImages: Int
    public var skippedSmallFiles: Int
    /// Entries of the input folders passed over with a reason (unlistable folders, broken links,
    /// link loops, names that are not UTF-8, FIFOs and devices); each is reported as it is found.
    public var skippedEntries: Int = 0
    /// Samples decoded by this run; the rest were reused from the catalog (resume).
    public var processedThisRun: Int
    public var reused: Int
    public var exactDuplicateGroups: Int
    /// Files that are byte-identical to an earlier file (group members beyond the first).
    public var exactDuplicateFiles: Int
    public var issues: [String: Int]
    /// Images with a feature vector, and the vectors' length (0 without embeddings).
    public var embedded: Int = 0
    public var featureDimension: Int = 0
    /// Embedding-based findings (0 without embeddings): similar pairs (≥ threshold, each pair
    /// once), components and the images in them, outliers, fiftyone near duplicates, split leaks.
    public var similarPairs: Int = 0
    public var components: Int = 0
    public var imagesInComponents: Int = 0
    public var outliers: Int = 0
    public var nearDuplicates: Int = 0
    public var leaks: Int = 0
    /// On a run that adds images to an existing work_dir: the added images, and those of them
    /// that are near copies (≥ threshold) of images already there (`new_vs_known.csv`).
    public var addedImages: Int = 0
    public var addedAlreadyKnown: Int = 0
    public var seconds: Double
    /// The label analyses (`--annotations`), nil without annotations.
    public var labels: LabelSummary? = nil
    /// `--bounding-box face|ocr`: images that gave no crop (`images_without_crops.csv`; nil without a detector).
    public var imagesWithoutCrops: Int? = nil
    /// Images of this run that are copies of the reference's (`--reference`; nil without one).
    public var referenceMatches: Int? = nil
    /// What each stage cost (``StageMeter``); nil in summaries written before it was measured.
    public var stages: [StageFigures]? = nil
    /// One line per video whose frames were sampled (`videos.csv`); nil without videos.
    public var videos: [VideoSummary]? = nil

    /// Share of all files, in percent.
    public func percent(_ count: Int) -> Double { files == 0 ? 0 : 100 * Double(count) / Double(files) }
}

/// Progress of the long stages: `decode` (samples done out of those this run reads), then
/// `verify orb` and `verify sift` (candidate pairs compared out of those the pass checks).
public typealias ProgressHandler = @Sendable (_ stage: String, _ done: Int, _ total: Int) -> Void

/// Ingest → Decode → Stats → Analyses → Outputs for one work_dir. Resumable: samples already
/// in the catalog (same size and mtime) are not decoded again. A run holds the work_dir's
/// ``WorkDirectoryLock`` throughout, and its results take effect only when complete: the files
/// are staged (``StagedOutputs``) and the catalog's findings committed with them, so a run that
/// fails leaves the last finished run's results in force (the samples it decoded stay in the
/// catalog, to be reused).
public struct Run: Sendable {
    public var configuration: RunConfiguration
    /// Whether to wait for another process using the work_dir to finish (otherwise
    /// ``WorkDirectoryError/busy(path:pid:)`` at once).
    public var waitsForLock = false
    /// A listing decoded elsewhere (`winnow cluster finish`): the run neither lists the inputs
    /// nor decodes them, but registers and stores these (nil: a normal run).
    public var scanned: ScannedListing?
    /// Inputs listed elsewhere (S3 objects copied to local files): the run does not list its
    /// inputs but reads these (nil: it lists them).
    public var listing: IngestResult?
    /// Other processes that check shares of copy verification's pairs (`cluster finish`: the
    /// workers); nil: the run checks every pair itself.
    public var verificationSharing: (any PairCheckSharing)?
    /// Other processes that search blocks of the kNN graph (`cluster finish`: the workers); nil:
    /// the run searches every block itself.
    public var neighborSharing: (any NeighborSearchSharing)?
    /// Told each stage's figures as it ends (``StageMeter``), so that a long run shows them
    /// before it finishes (or is killed).
    public var onStageEnd: (@Sendable (StageFigures) -> Void)?

    public init(configuration: RunConfiguration) {
        self.configuration = configuration
    }

    public var workDirectory: URL { URL(fileURLWithPath: configuration.workDirectory).standardizedFileURL }

    /// Runs the pipeline. `onInvalid` is told about each unusable file as it is found, and
    /// `onSkipped` about each entry of the inputs passed over.
    public func execute(progress: ProgressHandler? = nil,
                        onInvalid: (@Sendable (String, InvalidSample) -> Void)? = nil,
                        onSkipped: (@Sendable (SkippedEntry) -> Void)? = nil) throws -> RunSummary {
        let started = Date()
        let meter = StageMeter(onStageEnd: onStageEnd)
        meter.enter("ingest")
        let inputs = try prepare(onSkipped: onSkipped, meter: meter, progress: progress)
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let lock = try WorkDirectoryLock(workDirectory: workDirectory, wait: waitsForLock)
        defer { withExtendedLifetime(lock) {} }
        return try execute(consume inputs, started: started, meter: meter, progress: progress, onInvalid: onInvalid)
    }

    /// What a run reads and checks before it creates or changes the work_dir: an unusable
    /// annotation file, model or vectors file stops it there.
    private struct Inputs {
        var labels: LabelStage.Loaded?
        var embedding: EmbeddingSource?
        /// What ingest found; its `sources` are every listed input (the unreadable ones last).
        var found: IngestResult
        var objects: (annotations: [String: Annotation], problems: [AnnotationError])?
        /// `--bounding-box face|ocr`: what the detector found (its `sources` already moved to `found`).
        var detected: DetectionStage.Detected?
        /// The row of the user's vectors (`--embeddings`) of each of `found.sources`, if any.
        var vectorRows: [Int?]
        var pending: PendingSamples.Options
        /// The reference work_dir (`--reference`), opened and checked.
        var reference: SimilaritySearch?
    }

    private func prepare(onSkipped: (@Sendable (SkippedEntry) -> Void)?, meter: StageMeter,
                         progress: ProgressHandler?) throws -> Inputs {
        let labels = try configuration.labels.map { options throws(AnnotationError) in try LabelStage.load(options) }
        let embedding = configuration.embedding == .none ? nil : try EmbeddingSource(configuration.embedding)
        let reference = try configuration.reference.map { try ReferenceStage.open($0, embedding: configuration.embedding) }
        let archiveVideos = ArchiveVideoFolder(workDirectory: workDirectory,
                                               maximumFileBytes: (configuration.decodeLimits ?? DecodeLimits()).maximumFileBytes)
        let ingestor = Ingestor(options: configuration.ingest, excludedFolders: [workDirectory], archiveVideos: archiveVideos)
        var found = try scanned?.found ?? listing ?? ingestor.ingest(configuration.inputs)
        found.skipped.forEach { onSkipped?($0) }
        var objects: (annotations: [String: Annotation], problems: [AnnotationError])?
        var pending = PendingSamples.Options()
        if let labels, let options = configuration.labels, options.dataType == .bbox {
            let expanded = LabelStage.objectSources(found.sources, filenames: found.sources.map(\.displayName),
                                                    loaded: labels, options: options)
            found.sources = expanded.sources
            objects = (expanded.annotations, expanded.problems)
            for source in found.sources { pending.objects[source.id] = source.object }
        }
        let detected = try detect(&found, pending: &pending, meter: meter, progress: progress)
        pending.unreadable = Dictionary(found.missing.map { ($0.source.id, $0.problem) }, uniquingKeysWith: { a, _ in a })
        found.sources += found.missing.map(\.source)
        found.missing = []
        // The user's vectors follow the sorted file list (or name their files).
        var vectorRows: [Int?] = []
        let sources = found.sources
        let sorted = sources.indices.sorted { SampleSource.areInOrder(sources[$0], sources[$1]) }
        if let rows = try embedding?.rows(for: sorted.map { (id: sources[$0].id, filename: sources[$0].displayName) }) {
            vectorRows = Array(repeating: nil, count: sources.count)
            for (index, row) in zip(sorted, rows) { vectorRows[index] = row }
        }
        try (configuration.memoryBudget ?? .machineDefault).check(
            configuration.memoryEstimate(images: sources.count, dimension: embedding?.dimension ?? 0,
                                         embeds: embedding?.embedder != nil))
        return Inputs(labels: labels, embedding: embedding, found: found, objects: objects, detected: detected,
                      vectorRows: vectorRows, pending: pending, reference: reference)
    }

    /// `--bounding-box face|ocr`: replaces the found images by their detected regions (``DetectionStage``).
    private func detect(_ found: inout IngestResult, pending: inout PendingSamples.Options, meter: StageMeter,
                        progress: ProgressHandler?) throws -> DetectionStage.Detected? {
        guard let detector = configuration.detector else { return nil }
        guard configuration.labels == nil else { throw DetectorError("\(detector.kind.rawValue) crops do not go with --annotations") }
        meter.enter("detect")
        defer { meter.enter("ingest") }
        var detected = try DetectionStage(options: detector, limits: configuration.decodeLimits ?? DecodeLimits(),
                                          workers: configuration.workers).run(found.sources, progress: progress)
        found.sources = detected.sources
        detected.sources = []
        for source in found.sources { pending.objects[source.id] = source.object }
        return detected
    }

    /// The run, once the work_dir is locked. The sources are dropped once the catalog has them
    /// (decoding reads them back a page at a time), and the model once decoding ends, so the
    /// stages after it do not carry them.
    private func execute(_ inputs: consuming Inputs, started: Date, meter: StageMeter, progress: ProgressHandler?,
                         onInvalid: (@Sendable (String, InvalidSample) -> Void)?) throws -> RunSummary {
        var found = inputs.found
        inputs.found.sources = []
        inputs.found.missing = []
        let catalog = try Catalog(url: workDirectory.appendingPathComponent(Catalog.fileName))
        try StagedOutputs.finishInterrupted(in: workDirectory, catalog: catalog)
        let runID = try catalog.beginRun(configurationJSON: try jsonString(configuration))
        var embedding = try inputs.embedding.map {
            try EmbeddingStage(source: $0, workDirectory: workDirectory, catalog: catalog)
        }
        inputs.embedding = nil
        let pendingCount = try catalog.register(found.sources, vectorRows: inputs.vectorRows, run: runID,
                                                needingFeatures: embedding != nil)
        // The decode stage reads the samples (and where they are) from the catalog, a page at a time.
        let pending = PendingSamples(catalog: catalog, needingFeatures: embedding != nil, options: inputs.pending)
        found.sources = []
        inputs.vectorRows = []
        inputs.pending = PendingSamples.Options()
        meter.enter("decode")
        try decode(pending, count: pendingCount, run: runID, catalog: catalog, embedding: embedding, progress: progress,
                   onInvalid: onInvalid)
        for warning in embedding?.warnings ?? [] { onInvalid?(warning.name, warning.problem) }
        // The model (or the user's vectors) is not needed after the decode stage: only its store is.
        let features = embedding?.store
        embedding = nil
        let newRun = try catalog.hasEarlierFinishedRun(than: runID) ? runID : nil
        let labels = inputs.labels, objects = inputs.objects, reference = inputs.reference, detected = inputs.detected
        return try publish(run: runID, catalog: catalog) { staging in
            var (summary, findings) = try analyseAndWrite(catalog: catalog, found: found, features: features,
                                                          newRun: newRun, labels: labels, objects: objects, reference: reference,
                                                          meter: meter, progress: progress, into: staging)
            if let detected {
                try LabelStage.writeCrops(detected.objects, samples: try catalog.validSamples(), in: staging)
                try WorkDirFile.imagesWithoutCrops.write(detected.withoutCrops, in: staging)
                summary.imagesWithoutCrops = detected.withoutCrops.count
            }
            summary.processedThisRun = pendingCount
            summary.skippedEntries = found.skipped.count
            summary.reused = summary.files - summary.processedThisRun
            summary.seconds = Date().timeIntervalSince(started)
            summary.stages = meter.finish()
            return (summary, findings)
        }
    }

    /// Decodes, measures and embeds the `count` pending samples (inputs that cannot be read are
    /// recorded invalid without reading), committing in batches: each batch's vectors are
    /// flushed to the feature store, then its catalog rows committed, so a committed sample
    /// always has its vector on disk.
    private func decode(_ pending: PendingSamples, count: Int, run: Int64, catalog: Catalog, embedding: EmbeddingStage?,
                        progress: ProgressHandler?, onInvalid: (@Sendable (String, InvalidSample) -> Void)?) throws {
        let processor = SampleProcessor(configuration: configuration, embedder: embedding?.embedder)
        var batch: [SampleOutcome] = []
        var done = 0
        var lastCommit = Date()
        func commit() throws {
            let rows = try embedding?.append(batch) ?? [:]
            try catalog.store(batch, run: run, featureRows: rows)
            batch.removeAll(keepingCapacity: true)
            lastCommit = Date()
        }
        progress?("decode", 0, count)
        func receive(_ outcome: SampleOutcome) throws {
            if case .failure(let problem) = outcome.result { onInvalid?(outcome.name, problem) }
            batch.append(outcome)
            done += 1
            if batch.count >= 256 || Date().timeIntervalSince(lastCommit) > 2 { try commit() }
            progress?("decode", done, max(count, done))
        }
        if let scanned { try scanned.replay(pending, receive: receive) } else { try processor.process(pending, receive: receive) }
        try commit()
    }

    /// Makes the run's results take effect together: `write` writes every output file into a
    /// staging folder and returns the summary and findings; then the catalog commits the
    /// findings (and `summary.json` is staged), and the files are moved into place. If anything
    /// fails before the commit, the staging folder is removed and nothing changed.
    private func publish(run: Int64, catalog: Catalog,
                         write: (URL) throws -> (RunSummary, Catalog.Findings)) throws -> RunSummary {
        let outputs = try StagedOutputs(workDirectory: workDirectory, run: run)
        let summary: RunSummary
        do {
            let findings: Catalog.Findings
            (summary, findings) = try write(outputs.folder)
            let summaryJSON = try jsonString(summary)
            try AtomicFile.write(summaryJSON + "\n", to: outputs.folder.appendingPathComponent("summary.json"))
            try outputs.seal()
            try catalog.commit(findings, finishing: run, summaryJSON: summaryJSON, publishing: outputs.folder.lastPathComponent)
        } catch {
            outputs.discard()
            throw error
        }
        try outputs.publish()
        try catalog.clearPublishing()
        return summary
    }

    /// Quality issues and exact duplicates over the whole catalog, and the embedding and label
    /// analyses; their files are written into `directory` (the staging folder), their findings
    /// returned for the catalog. `newRun`: on an incremental run, its id (samples it added are "new").
    private func analyseAndWrite(catalog: Catalog, found: IngestResult, features: FeatureStore?,
                                 newRun: Int64?, labels: LabelStage.Loaded?,
                                 objects: (annotations: [String: Annotation], problems: [AnnotationError])?,
                                 reference: SimilaritySearch?, meter: StageMeter, progress: ProgressHandler?,
                                 into directory: URL) throws -> (RunSummary, Catalog.Findings) {
        meter.enter("analyses")
        let valid = try catalog.validSamples()
        let invalid = try catalog.invalidSamples()
        // Copy descriptors are whitened over the collection for the analyses and atrain_features.dat.
        let rawFeatures = features
        var features = features
        meter.enter("whiten")
        if let store = features, let blocks = configuration.embedding.whitenedBlocks {
            features = try WhiteningStage.whiten(store, rows: valid.compactMap(\.featureRow), blockLengths: blocks,
                                                 directory: directory, workDirectory: workDirectory)
        }
        defer { WhiteningStage.cleanUp(workDirectory: workDirectory) }
        meter.enter("analyses")
        // The statistics are read one sample at a time, once, as the writer writes their rows;
        // only the sizes are held, for the odd-size range.
        let inspector = QualityInspector(thresholds: configuration.quality)
        let oddSize = inspector.oddSizeRange(sizes: valid.map { QualityInspector.size(width: $0.width, height: $0.height) })
        let duplicates = try scanned?.duplicateGroups(ids: catalog.sampleIDs())
            ?? ExactDuplicates.groups(valid.map { (id: $0.id, contentHash: $0.contentHash, fileSize: $0.fileSize) }
                                                + invalid.map { (id: $0.id, contentHash: $0.contentHash, fileSize: $0.fileSize) })
        meter.enter("outputs")
        let issues = try WorkDirectoryWriter(directory: directory).write(
            valid: valid, invalid: invalid, statistics: catalog.forEachValidStatistics,
            inspect: { inspector.findings(id: $0.id, statistics: $0.statistics, oddSize: oddSize) },
            exactDuplicates: duplicates, configuration: configuration, features: features)
        var analysis = AnalysisFindings()
        if let features {
            let budget = configuration.verificationFeatureBudget(images: valid.count, dimension: features.dimension)
            let stage = AnalysisStage(options: configuration.analysis, directory: directory, cacheDirectory: workDirectory,
                                      newRun: newRun, crop: configuration.crop, workers: configuration.workers,
                                      verificationFeatureBudget: budget, meter: meter, progress: progress,
                                      notCopies: Decisions(try catalog.decisions()).notCopies,
                                      verificationSharing: verificationSharing, neighborSharing: neighborSharing)
            analysis = try stage.run(samples: valid, store: features)
            meter.enter("reference")
            if let reference, let rawFeatures {
                analysis.referenceMatches = try referenceStage(reference, budget: budget, progress: progress, into: directory)
                    .run(embedded: valid.filter { $0.featureRow != nil }, store: rawFeatures)
            }
        }
        meter.enter("labels")
        var labelSummary: LabelSummary?
        if let labels, let options = configuration.labels {
            labelSummary = try LabelStage(options: options, directory: directory, metric: configuration.analysis.metric,
                                          componentThreshold: configuration.analysis.componentThreshold,
                                          pairThreshold: configuration.analysis.threshold)
                .run(loaded: labels, samples: valid, invalid: invalid, features: features, objects: objects)
        }
        meter.enter("outputs")
        let findings = Catalog.Findings(issues: issues, exactDuplicates: duplicates, scores: analysis.scores)
        var summary = summary(valid: valid, invalid: invalid, found: found, findings: findings, features: features,
                              analysis: analysis, labels: labelSummary, newRun: newRun)
        summary.videos = try writeVideos(valid: valid, findings: findings, into: directory)
        return (summary, findings)
    }

    /// The summary of each video (``VideoSummary``), written to `videos.csv`; nil without videos.
    private func writeVideos(valid: [ValidSample], findings: Catalog.Findings, into directory: URL) throws -> [VideoSummary]? {
        let videos = VideoSummary.summaries(of: valid, exactDuplicates: findings.exactDuplicates, pairs: findings.scores?.pairs ?? [])
        guard !videos.isEmpty else { return nil }
        try WorkDirFile.videos.write(videos.map(\.row), in: directory)
        return videos
    }

    /// The reference stage (`--reference`) with this run's options, writing into `directory`.
    private func referenceStage(_ reference: SimilaritySearch, budget: Int, progress: ProgressHandler?,
                                into directory: URL) -> ReferenceStage {
        ReferenceStage(search: reference, options: configuration.analysis, directory: directory, cacheDirectory: workDirectory,
                       crop: configuration.crop, workers: configuration.workers, verificationFeatureBudget: budget, progress: progress)
    }

    private func summary(valid: [ValidSample], invalid: [InvalidRecord], found: IngestResult, findings: Catalog.Findings,
                         features: FeatureStore?, analysis: AnalysisFindings, labels: LabelSummary?,
                         newRun: Int64?) -> RunSummary {
        var issueCounts: [String: Int] = [:]
        for issue in QualityIssue.allCases { issueCounts[issue.rawValue] = 0 }
        for finding in findings.issues { issueCounts[finding.issue.rawValue, default: 0] += 1 }
        var byCode: [String: Int] = [:]
        for record in invalid { byCode[record.problem.reason.rawValue, default: 0] += 1 }
        let duplicates = findings.exactDuplicates
        return RunSummary(
            files: valid.count + invalid.count, valid: valid.count, invalid: invalid.count, invalidByCode: byCode,
            skippedNonImages: found.skippedNonImages, skippedSmallFiles: found.skippedSmallFiles,
            processedThisRun: 0, reused: 0, exactDuplicateGroups: duplicates.count,
            exactDuplicateFiles: duplicates.values.reduce(0) { $0 + $1.count }, issues: issueCounts,
            embedded: features == nil ? 0 : valid.filter { $0.featureRow != nil }.count,
            featureDimension: features?.dimension ?? 0, similarPairs: analysis.similarPairs,
            components: analysis.components, imagesInComponents: analysis.imagesInComponents,
            outliers: analysis.outliers, nearDuplicates: analysis.nearDuplicates, leaks: labels?.leaks ?? analysis.leaks,
            addedImages: newRun.map { run in valid.filter { $0.addedRun == run }.count } ?? 0,
            addedAlreadyKnown: analysis.addedAlreadyKnown, seconds: 0, labels: labels, referenceMatches: analysis.referenceMatches)
    }
}

func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
