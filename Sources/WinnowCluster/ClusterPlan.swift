import Foundation
import PostgresNIO
import WinnowCore

/// `winnow cluster init`: lists the inputs with Winnow's ingest, splits the listing into shards
/// and stores the plan (the run's configuration, the listing, one `scan` job per shard) in an
/// empty database, in one transaction. Nothing is created when the database is unreachable or
/// not empty.
public struct ClusterPlan: Sendable {
    public var address: DatabaseAddress
    /// The folder every worker sees (created if missing).
    public var storage: String
    /// Inputs, ingest options, quality thresholds, decode limits, the embedding the workers compute.
    public var configuration: RunConfiguration
    /// Images per shard (one `scan` job each).
    public var shardSize: Int
    /// Attempts a job gets before it is marked failed.
    public var maxAttempts: Int

    public init(address: DatabaseAddress, storage: String, configuration: RunConfiguration, shardSize: Int = 4096,
                maxAttempts: Int = 3) {
        (self.address, self.storage, self.configuration) = (address, storage, configuration)
        (self.shardSize, self.maxAttempts) = (max(1, shardSize), max(1, maxAttempts))
    }

    /// What `create` stored.
    public struct Created: Sendable {
        public var files: Int
        public var unreadable: Int
        public var shards: Int
    }

    /// Checks the database and the model, lists the inputs, creates the storage folder and
    /// stores the plan, with the identity of the vectors this machine computes: workers that
    /// compute others refuse to start.
    public func create(onSkipped: (@Sendable (SkippedEntry) -> Void)? = nil) async throws -> Created {
        try await ClusterDatabase.using(address, checkingSchema: false) { database in
            try await ClusterSchema.requireEmpty(database)
            let embedding = try SampleScanner(configuration: configuration).embeddingIdentity
            let found = try Ingestor(options: configuration.ingest).ingest(configuration.inputs)
            found.skipped.forEach { onSkipped?($0) }
            let listing = Listing(found)
            let storageURL = URL(fileURLWithPath: storage).standardizedFileURL
            try FileManager.default.createDirectory(at: storageURL, withIntermediateDirectories: true)
            let configurationJSON = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
            let (shardSize, maxAttempts) = (self.shardSize, self.maxAttempts)
            let shards = (listing.count + shardSize - 1) / shardSize
            try await database.transaction { connection in
                try await ClusterSchema.create(on: connection)
                try await connection.run("""
                    INSERT INTO winnow_config (id, configuration, storage, shard_size, max_attempts, skipped_non_images,
                                               skipped_small_files, embedding)
                    VALUES (1, \(configurationJSON), \(storageURL.path), \(shardSize), \(maxAttempts),
                            \(found.skippedNonImages), \(found.skippedSmallFiles), \(embedding))
                    """)
                try await listing.store(on: connection, shardSize: shardSize)
                try await BatchInsert(table: "winnow_jobs", columns: ["stage", "shard", "items"])
                    .run(count: shards, on: connection) { shard, binds in
                        binds.append(ScanJob.stage)
                        binds.append(shard)
                        binds.append(min(shardSize, listing.count - shard * shardSize))
                    }
                try await connection.run("NOTIFY winnow_jobs")
            }
            return Created(files: listing.count, unreadable: found.missing.count, shards: shards)
        }
    }
}

/// The listing as stored: the sources in `winnow run`'s order (found, then the unreadable
/// ones), each with its position; relative paths made absolute so workers elsewhere find them.
struct Listing {
    var sources: [SampleSource]
    var problems: [InvalidSample?]

    init(_ found: IngestResult) {
        let directory = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory)).standardizedFileURL.path
        }
        sources = (found.sources + found.missing.map(\.source)).map { source in
            var source = source
            switch source.location {
            case .file(let path): source.location = .file(absolute(path))
            case .videoFrame(let frame): source.location = .videoFrame(VideoFrame(video: absolute(frame.video), timestamp: frame.timestamp))
            case .archiveMember: break
            }
            return source
        }
        problems = found.sources.map { _ in nil } + found.missing.map(\.problem)
    }

    var count: Int { sources.count }

    func store(on connection: PostgresConnection, shardSize: Int) async throws {
        let columns = ["position", "shard", "source_id", "display_name", "path", "archive", "member", "frame", "byte_count", "mtime",
                       "unreadable_code", "unreadable_message"]
        try await BatchInsert(table: "winnow_samples", columns: columns).run(count: count, on: connection) { index, binds in
            let source = sources[index]
            var path: String?, archive: String?, member: String?, frame: Int64?
            switch source.location {
            case .file(let file): path = file
            case .archiveMember(let url, let name): (archive, member) = (url.path, name)
            case .videoFrame(let video): (path, frame) = (video.video, video.timestamp)
            }
            binds.append(Int64(index))
            binds.append(index / shardSize)
            binds.append(source.id)
            binds.append(source.displayName)
            binds.append(path)
            binds.append(archive)
            binds.append(member)
            binds.append(frame)
            binds.append(source.byteCount)
            binds.append(source.modificationTime)
            binds.append(problems[index]?.reason.rawValue)
            binds.append(problems[index]?.message)
        }
    }
}

/// A row of `winnow_samples` as ``Listing/store(on:shardSize:)`` wrote it: the sample's place
/// in the listing, its source, and why it could not be read at listing time (if so).
struct StoredSample {
    /// The columns ``init(_:)`` reads, in its order.
    static let columns = "position, source_id, display_name, path, archive, member, frame, byte_count, mtime, "
        + "unreadable_code, unreadable_message"

    let position: Int64
    let source: SampleSource
    let unreadable: InvalidSample?

    init(_ row: PostgresRow) throws {
        let (position, id, name, path, archive, member, frame, size, mtime, code, message) =
            try row.decode((Int64, String, String, String?, String?, String?, Int64?, Int64, Double, String?, String?).self)
        // An archive member, a video's frame (`frame`: its timestamp), or a file (`path`, else the id).
        let location: SampleLocation = if let archive {
            .archiveMember(archive: URL(fileURLWithPath: archive), member: member ?? "")
        } else if let frame {
            .videoFrame(VideoFrame(video: path ?? id, timestamp: frame))
        } else {
            .file(path ?? id)
        }
        self.position = position
        source = SampleSource(id: id, location: location, byteCount: size, modificationTime: mtime, displayName: name)
        unreadable = code.map { InvalidSample(InvalidReason(rawValue: $0) ?? .unreadable, message ?? "") }
    }
}
