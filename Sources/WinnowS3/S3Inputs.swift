import Foundation
import Synchronization
import WinnowCore

/// How S3 and MinIO inputs are read.
public struct S3Options: Sendable {
    /// Where objects are copied (`--sync-s3-to-local DIR`, or the work_dir's `s3_objects`).
    public var localFolder: URL
    /// `--s3-endpoint`: the server of `s3://` inputs (MinIO and other S3-compatible stores).
    public var endpoint: String?
    /// Requests in flight at once.
    public var concurrency: Int
    /// Keys per ListObjectsV2 page (S3's maximum is 1000).
    public var pageSize: Int
    /// Objects larger than this are refused without reading (`--max-file-bytes`).
    public var maximumFileBytes: Int64
    /// Where credentials, region and endpoint variables are read from.
    public var environment: [String: String]

    public init(localFolder: URL, endpoint: String? = nil, concurrency: Int = 16, pageSize: Int = 1000,
                maximumFileBytes: Int64 = DecodeLimits.defaultMaximumFileBytes,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        (self.localFolder, self.endpoint, self.concurrency, self.pageSize) = (localFolder, endpoint, max(1, concurrency), pageSize)
        (self.maximumFileBytes, self.environment) = (maximumFileBytes, environment)
    }
}

/// What copying the objects gave: the listing a run ingests (the local copies, named by their
/// `s3://` addresses; the objects that could not be read as invalid rows), and counts.
public struct S3Fetch: Sendable {
    public var found: IngestResult
    /// Objects downloaded, objects whose local copy was already current, objects that failed.
    public var downloaded = 0, reused = 0, failed = 0
    public var downloadedBytes: Int64 = 0
}

/// Lists S3 / MinIO inputs (prefixes, or local file lists of object addresses) and copies the
/// objects to local files, a bounded number of requests at once; the run then reads the copies.
/// Samples are named by their object's address, and keyed by their ETag: a run after an object
/// changed reads it again, one after nothing changed reads nothing.
public struct S3Inputs: Sendable {
    public let options: S3Options

    public init(options: S3Options) { self.options = options }

    /// Whether `inputs` are S3 inputs: addresses, or file lists whose first entry is one.
    public static func areRemote(_ inputs: [String]) -> Bool {
        inputs.contains { S3Address.isRemote($0) || (AddressList.firstEntry(of: $0).map(S3Address.isRemote) ?? false) }
    }

    /// Lists and copies the objects `inputs` name, then selects them with `ingest` as local
    /// inputs are selected (the selection is made before downloading). `progress` hears
    /// (done, total) as objects are copied.
    public func fetch(_ inputs: [String], ingest: IngestOptions,
                      progress: (@Sendable (Int, Int) -> Void)? = nil) async throws(S3Error) -> S3Fetch {
        let clients = ClientPool(options: options)
        do throws(S3Error) {
            let fetched = try await fetch(inputs, ingest: ingest, clients: clients, progress: progress)
            await clients.shutdown()
            return fetched
        } catch {
            await clients.shutdown()
            throw error
        }
    }

    private func fetch(_ inputs: [String], ingest: IngestOptions, clients: ClientPool,
                       progress: (@Sendable (Int, Int) -> Void)?) async throws(S3Error) -> S3Fetch {
        let mirror = ObjectMirror(root: options.localFolder)
        var listing = try await ObjectListing.list(inputs, clients: clients, mirror: mirror, options: options)
        var selected = IngestResult(sources: listing.sources, missing: listing.missing, skippedNonImages: listing.nonImages)
        listing.sources = []
        do { try Ingestor(options: ingest).select(&selected) } catch {
            throw .invalidAddress(ingest.findRegex ?? "", "\(error)")
        }
        let copier = ObjectCopier(clients: clients, mirror: mirror, options: options)
        let result = try await copier.copy(selected.sources, objects: listing.objects, progress: progress)
        selected.sources = result.sources
        selected.missing += result.missing
        Ingestor(options: ingest).replaceVideosByFrames(&selected)
        selected.skippedNonImages += result.nonImages
        return S3Fetch(found: selected, downloaded: result.downloaded, reused: result.reused, failed: result.missing.count,
                       downloadedBytes: result.bytes)
    }

    /// ``fetch(_:ingest:progress:)`` for callers that are not async: blocks until it is done.
    public func fetchWaiting(_ inputs: [String], ingest: IngestOptions,
                             progress: (@Sendable (Int, Int) -> Void)? = nil) throws(S3Error) -> S3Fetch {
        try waitForTask(unfinished: S3Error.local(what: "s3", reason: "fetch ended without a result")) { () async throws(S3Error) in
            try await fetch(inputs, ingest: ingest, progress: progress)
        }
    }
}

/// One ``S3Client`` per endpoint, made on first use, with the credentials found once.
final class ClientPool: Sendable {
    private let options: S3Options
    private let clients = Mutex<[S3Endpoint: S3Client]>([:])
    private let credentials = Mutex<S3Credentials?>(nil)

    init(options: S3Options) { self.options = options }

    func client(for address: S3Address) throws(S3Error) -> S3Client {
        let endpoint = try S3Endpoint.of(address, override: options.endpoint, environment: options.environment)
        let keys = try credentials.withLock { stored throws(S3Error) -> S3Credentials in
            if let stored { return stored }
            let found = try S3Credentials.resolve(environment: options.environment)
            stored = found
            return found
        }
        return clients.withLock { pool in
            if let client = pool[endpoint] { return client }
            let client = S3Client(endpoint: endpoint, credentials: keys, maximumConnections: options.concurrency)
            pool[endpoint] = client
            return client
        }
    }

    func shutdown() async {
        let all = clients.withLock { pool in
            defer { pool = [:] }
            return Array(pool.values)
        }
        for client in all { await client.shutdown() }
    }
}
