import Foundation

/// A listing and its decode results computed elsewhere (`winnow worker`s, coordinated by
/// `winnow cluster`): a ``Run`` given one lists no inputs and decodes nothing; it registers
/// these samples in this order, stores these results and writes the work_dir as usual.
public struct ScannedListing: Sendable {
    /// What the listing found; `missing` holds the inputs named but unreadable.
    public var found: IngestResult
    /// The results of a page of samples, by source id (a sample without one is recorded
    /// invalid): asked page by page as the run replays the decode, so no more than a page of
    /// them is held at once.
    public var results: @Sendable (_ ids: [String]) throws -> [String: Result]
    /// Groups of byte-identical samples (same hash and size) by source id, when found
    /// elsewhere (nil: the run groups them itself, ``ExactDuplicates``).
    public var exactDuplicates: [[String]]?

    /// What decoding one sample gave.
    public struct Result: Sendable {
        /// XXH64 of its bytes (hex), nil when they could not be read.
        public var contentHash: String?
        public var outcome: Swift.Result<ProcessedImage, InvalidSample>
        /// Its embedding computed elsewhere (nil: none; the run embeds nothing), used as the run stores vectors.
        public var vector: [Float]?

        public init(contentHash: String?, outcome: Swift.Result<ProcessedImage, InvalidSample>, vector: [Float]? = nil) {
            (self.contentHash, self.outcome, self.vector) = (contentHash, outcome, vector)
        }
    }

    public init(found: IngestResult, results: @escaping @Sendable (_ ids: [String]) throws -> [String: Result],
                exactDuplicates: [[String]]? = nil) {
        (self.found, self.results, self.exactDuplicates) = (found, results, exactDuplicates)
    }

    /// Hands `receive` the outcome of each of `pending`'s samples, in the order a decode would,
    /// asking ``results`` for at most ``PendingSamples/pageSize`` samples at a time.
    func replay(_ pending: PendingSamples, receive: (SampleOutcome) throws -> Void) throws {
        var failure: (any Error)?
        func send(_ samples: [Catalog.PendingSample]) {
            for start in stride(from: 0, to: samples.count, by: PendingSamples.pageSize) where failure == nil {
                let page = samples[start..<min(samples.count, start + PendingSamples.pageSize)]
                do {
                    let found = try results(page.map(\.source.id))
                    for sample in page {
                        let result = found[sample.source.id]
                            ?? Result(contentHash: nil, outcome: .failure(InvalidSample(.unreadable, "\(sample.source.id): no scan result")))
                        var embedding: Swift.Result<[Float], EmbeddingError>?
                        if case .success = result.outcome, let vector = result.vector { embedding = .success(vector) }
                        try receive(SampleOutcome(sample, contentHash: result.contentHash, result: result.outcome, embedding: embedding))
                    }
                } catch { failure = error }
            }
        }
        try pending.forEachFilePage(send)
        try pending.forEachArchive { _, members in send(members) }
        try pending.forEachVideo { _, frames in send(frames) }
        if let failure { throw failure }
    }

    /// ``exactDuplicates`` keyed by catalog id as ``ExactDuplicates/groups(_:)`` gives them.
    func duplicateGroups(ids: [String: Int64]) -> [Int64: [Int64]]? {
        exactDuplicates.map { groups in
            var byFirst: [Int64: [Int64]] = [:]
            for group in groups {
                let members = group.compactMap { ids[$0] }.sorted()
                if members.count > 1 { byFirst[members[0]] = Array(members.dropFirst()) }
            }
            return byFirst
        }
    }
}

/// Decodes, measures and embeds a given list of samples as a run's decode stage does (hash,
/// decode, statistics, the configuration's embedding): what a `winnow worker` does with one
/// shard of a listing.
public struct SampleScanner: Sendable {
    let processor: SampleProcessor
    /// The vectors' identity as the catalog records it (model, precision, dimension); nil
    /// without embeddings. Machines that compute differently (int8 with VNNI, float32 without)
    /// have different identities.
    public let embeddingIdentity: String?
    /// Values per vector (nil without embeddings).
    public let dimension: Int?

    /// A scanner with `configuration`'s decoder, analysis side, crop, worker threads and model
    /// (loaded now: an unusable one throws before anything is read). Vectors computed elsewhere
    /// (`--embeddings`) are refused: a scanner computes its own.
    public init(configuration: RunConfiguration) throws(EmbeddingError) {
        var source: EmbeddingSource?
        switch configuration.embedding {
        case .none: source = nil
        case .precomputed(let path), .precomputedCopyDescriptors(let path):
            throw .invalidEmbeddings(path: path, reason: "vectors computed elsewhere are for `winnow run`; a scanner computes its own")
        default: source = try EmbeddingSource(configuration.embedding)
        }
        processor = SampleProcessor(configuration: configuration, embedder: source?.embedder)
        (embeddingIdentity, dimension) = (source?.identity, source?.dimension)
    }

    /// Reads `samples` (plain files, then each archive's members in one pass; those in
    /// `unreadable` are recorded invalid without reading) and hands `receive` each outcome.
    public func scan(_ samples: [Catalog.PendingSample], unreadable: [String: InvalidSample],
                     receive: (SampleOutcome) throws -> Void) throws {
        var options = PendingSamples.Options()
        options.unreadable = unreadable
        let pending = PendingSamples(catalog: nil, listed: samples, needingFeatures: false, options: options)
        try processor.process(pending, receive: receive)
    }
}
