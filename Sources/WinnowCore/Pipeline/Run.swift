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

    public init(inputs: [String], workDirectory: String, ingest: IngestOptions = IngestOptions(),
                quality: QualityThresholds = QualityThresholds(), analysisSide: Int = 384,
                workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                embedding: EmbeddingChoice = .none, crop: CropBox? = nil, exportNumPy: Bool = false,
                analysis: AnalysisOptions = AnalysisOptions(), labels: LabelOptions? = nil,
                decodeLimits: DecodeLimits = DecodeLimits()) {
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

    /// Share of all files, in percent.
    public func percent(_ count: Int) -> Double { files == 0 ? 0 : 100 * Double(count) / Double(files) }
}

/// Progress of the decode stage: samples done out of samples to do in this run.
public typealias ProgressHandler = @Sendable (_ done: Int, _ total: Int) -> Void

/// Ingest → Decode → Stats → Analyses → Outputs for one work_dir. Resumable: samples already
/// in the catalog (same size and mtime) are not decoded again.
public struct Run: Sendable {
    public var configuration: RunConfiguration

    public init(configuration: RunConfiguration) {
        self.configuration = configuration
    }

    public var workDirectory: URL { URL(fileURLWithPath: configuration.workDirectory).standardizedFileURL }

    /// Runs the pipeline. `onInvalid` is told about each unusable file as it is found.
    public func execute(progress: ProgressHandler? = nil,
                        onInvalid: (@Sendable (String, InvalidSample) -> Void)? = nil) throws -> RunSummary {
        let started = Date()
        // Annotation files are read first: an unusable one stops the run before any decoding.
        let labels = try configuration.labels.map { options throws(AnnotationError) in try LabelStage.load(options) }
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let ingestor = Ingestor(options: configuration.ingest, excludedFolders: [workDirectory])
        var found = try ingestor.ingest(configuration.inputs)
        var objects: (annotations: [String: Annotation], problems: [AnnotationError])?
        if let labels, let options = configuration.labels, options.dataType == .bbox {
            let expanded = LabelStage.objectSources(found.sources, filenames: found.sources.map(displayName(of:)),
                                                    loaded: labels, options: options)
            found.sources = expanded.sources
            objects = (expanded.annotations, expanded.problems)
        }
        let catalog = try Catalog(url: workDirectory.appendingPathComponent(Catalog.fileName))
        let configurationJSON = try jsonString(configuration)
        let runID = try catalog.beginRun(configurationJSON: configurationJSON)

        var listings = found.sources.map { Catalog.Listing(source: $0, filename: displayName(of: $0)) }
        listings += found.missing.map { Catalog.Listing(source: $0.source, filename: displayName(of: $0.source)) }
        let embedding: EmbeddingStage? = configuration.embedding == .none ? nil
            : try EmbeddingStage(choice: configuration.embedding, workDirectory: workDirectory, catalog: catalog)
        let pending = try catalog.register(listings, run: runID, needingFeatures: embedding != nil)
        let filenames = Dictionary(listings.map { ($0.source.id, $0.filename) }, uniquingKeysWith: { a, _ in a })
        try embedding?.bind(listings.map { (id: $0.source.id, filename: $0.filename) }.sorted { $0.id < $1.id })

        // Listed-but-missing inputs are invalid without reading anything.
        let missing = Dictionary(found.missing.map { ($0.source.id, $0.problem) }, uniquingKeysWith: { a, _ in a })
        let toProcess = pending.filter { missing[$0.value.id] == nil }
        let missingOutcomes = pending.compactMap { id, source in
            missing[source.id].map { SampleOutcome(sampleID: id, contentHash: nil, result: .failure($0)) }
        }
        try catalog.store(missingOutcomes, run: runID)

        var processor = SampleProcessor(decoder: configuration.decoder(minimumSide: configuration.analysisSide),
                                        calculator: StatisticsCalculator(analysisSide: configuration.analysisSide),
                                        workers: configuration.workers)
        processor.crop = configuration.crop
        processor.embedder = embedding?.embedder
        let ids = toProcess.mapValues(\.id)
        var batch: [SampleOutcome] = []
        var done = 0
        var lastCommit = Date()
        let total = toProcess.count
        // A batch is embedded, its vectors flushed to the feature store, then its catalog rows
        // committed: a committed sample always has its vector on disk.
        func commit() throws {
            let rows = try embedding?.append(batch, ids: ids) ?? [:]
            try catalog.store(batch, run: runID, featureRows: rows)
            batch.removeAll(keepingCapacity: true)
            lastCommit = Date()
        }
        progress?(0, total)
        try processor.process(toProcess) { outcome in
            if case .failure(let problem) = outcome.result, let source = toProcess[outcome.sampleID] {
                onInvalid?(filenames[source.id] ?? source.id, problem)
            }
            batch.append(outcome)
            done += 1
            if batch.count >= 256 || Date().timeIntervalSince(lastCommit) > 2 { try commit() }
            progress?(done, total)
        }
        try commit()
        if let embedding, !embedding.missingVectors.isEmpty {
            onInvalid?(embedding.missingVectors[0], InvalidSample(.unreadable,
                "\(embedding.missingVectors.count) decoded images have no vector in the given embeddings (first shown)"))
        }

        var summary = try analyseAndWrite(catalog: catalog, found: found, features: embedding?.store,
                                          newRun: try catalog.hasEarlierFinishedRun(than: runID) ? runID : nil, labels: labels,
                                          objects: objects)
        summary.processedThisRun = total + missingOutcomes.count
        summary.reused = summary.files - summary.processedThisRun
        summary.seconds = Date().timeIntervalSince(started)
        let summaryJSON = try jsonString(summary)
        try AtomicFile.write(summaryJSON + "\n", to: workDirectory.appendingPathComponent("summary.json"))
        try catalog.finishRun(runID, summaryJSON: summaryJSON)
        return summary
    }

    /// The path written to output files: the input as typed, joined with the relative path,
    /// the way fastdup names files (`input_dir/sub/img.jpg`).
    func displayName(of source: SampleSource) -> String {
        switch source.location {
        case .file(let url):
            if let input = configuration.inputs.first(where: { isFolder($0) && source.id.hasPrefix(relativePrefix(for: $0)) }) {
                let relative = String(source.id.dropFirst(relativePrefix(for: input).count))
                return input.hasSuffix("/") ? input + relative : input + "/" + relative
            }
            return url.path
        case .archiveMember(let archive, let member):
            return archive.path + "/" + member
        }
    }

    private func isFolder(_ path: String) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
    }

    private func relativePrefix(for input: String) -> String {
        configuration.inputs.count > 1 ? URL(fileURLWithPath: input).standardizedFileURL.lastPathComponent + "/" : ""
    }

    /// Quality issues and exact duplicates over the whole catalog, then the work_dir files.
    /// `newRun`: on an incremental run, its id (samples it added are "new").
    private func analyseAndWrite(catalog: Catalog, found: IngestResult, features: FeatureStore?,
                                 newRun: Int64?, labels: LabelStage.Loaded?,
                                 objects: (annotations: [String: Annotation], problems: [AnnotationError])?) throws -> RunSummary {
        let valid = try catalog.validSamples()
        let invalid = try catalog.invalidSamples()
        // Copy descriptors are whitened over the collection for the analyses and atrain_features.dat.
        var features = features
        if let store = features, let blocks = configuration.embedding.whitenedBlocks {
            features = try WhiteningStage.whiten(store, rows: valid.compactMap(\.featureRow), blockLengths: blocks,
                                                 directory: workDirectory)
        } else {
            WhiteningStage.removeSaved(directory: workDirectory)
        }
        defer { WhiteningStage.cleanUp(directory: workDirectory) }
        let findings = QualityInspector(thresholds: configuration.quality)
            .findings(for: valid.map { ($0.id, $0.statistics) })
        let everything = valid.map { ($0.id, $0.contentHash, $0.fileSize) } + invalid.map { ($0.id, $0.contentHash, $0.fileSize) }
        let duplicates = ExactDuplicates.groups(everything.map { (id: $0.0, contentHash: $0.1, fileSize: $0.2) })
        try catalog.replaceFindings(issues: findings, exactDuplicates: duplicates)
        let writer = WorkDirectoryWriter(directory: workDirectory)
        try writer.write(valid: valid, invalid: invalid, findings: findings, exactDuplicates: duplicates,
                         configuration: configuration, features: features)
        var analysis = AnalysisFindings()
        if let features {
            var stage = AnalysisStage(options: configuration.analysis, directory: workDirectory, newRun: newRun)
            stage.sources = Dictionary(found.sources.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            stage.crop = configuration.crop
            stage.workers = configuration.workers
            analysis = try stage.run(samples: valid, store: features, catalog: catalog)
        }
        var labelSummary: LabelSummary?
        if let labels, let options = configuration.labels {
            labelSummary = try LabelStage(options: options, directory: workDirectory, metric: configuration.analysis.metric,
                                          componentThreshold: configuration.analysis.componentThreshold,
                                          pairThreshold: configuration.analysis.threshold)
                .run(loaded: labels, samples: valid, invalid: invalid, features: features, objects: objects)
        }
        var issueCounts: [String: Int] = [:]
        for issue in QualityIssue.allCases { issueCounts[issue.rawValue] = 0 }
        for finding in findings { issueCounts[finding.issue.rawValue, default: 0] += 1 }
        var byCode: [String: Int] = [:]
        for record in invalid { byCode[record.problem.reason.rawValue, default: 0] += 1 }
        return RunSummary(
            files: valid.count + invalid.count, valid: valid.count, invalid: invalid.count, invalidByCode: byCode,
            skippedNonImages: found.skippedNonImages, skippedSmallFiles: found.skippedSmallFiles,
            processedThisRun: 0, reused: 0, exactDuplicateGroups: duplicates.count,
            exactDuplicateFiles: duplicates.values.reduce(0) { $0 + $1.count }, issues: issueCounts,
            embedded: features == nil ? 0 : valid.filter { $0.featureRow != nil }.count,
            featureDimension: features?.dimension ?? 0, similarPairs: analysis.similarPairs,
            components: analysis.components, imagesInComponents: analysis.imagesInComponents,
            outliers: analysis.outliers, nearDuplicates: analysis.nearDuplicates, leaks: labelSummary?.leaks ?? analysis.leaks,
            addedImages: newRun.map { run in valid.filter { $0.addedRun == run }.count } ?? 0,
            addedAlreadyKnown: analysis.addedAlreadyKnown, seconds: 0, labels: labelSummary)
    }
}

func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
