import Foundation
import PostgresNIO
import WinnowCore

/// `winnow cluster finish`: once every job is finished, writes a normal work_dir from what the
/// workers stored, with Winnow's own catalog and writers (``Run`` given a ``ScannedListing``):
/// the listing in its stored order, each image's scan row, and the exact duplicates found by a
/// `GROUP BY` on content hash and size. Images of a failed shard are recorded invalid with the
/// shard's reason.
public struct ClusterFinish: Sendable {
    public var address: DatabaseAddress
    public var workDirectory: String
    /// Wait for another winnow using the work_dir (otherwise fail at once).
    public var waitsForLock = false
    /// Most candidate pairs in one verify job (a share of a verification pass for the workers).
    public var pairsPerJob = 10_000
    /// Rows of the kNN graph in one knn job (a block of the search for the workers).
    public var rowsPerJob = 4096
    /// Seconds a claim of a verify job by the finishing process lasts without a heartbeat.
    public var leaseSeconds = 60.0

    public init(address: DatabaseAddress, workDirectory: String) {
        (self.address, self.workDirectory) = (address, workDirectory)
    }

    /// Writes the work_dir and returns the run's summary.
    /// Holds ``FinishLock`` throughout (one finish at a time; workers stay for its verify jobs).
    public func run(progress: ProgressHandler? = nil,
                    onInvalid: (@Sendable (String, InvalidSample) -> Void)? = nil) async throws -> RunSummary {
        let lock = try await ClusterDatabase.open(address)
        do {
            guard try await FinishLock.take(lock) else { throw ClusterError.finishRunning(address.description) }
            let summary = try await finish(progress: progress, onInvalid: onInvalid)
            await lock.close()
            return summary
        } catch {
            await lock.close()
            throw error
        }
    }

    private func finish(progress: ProgressHandler?, onInvalid: (@Sendable (String, InvalidSample) -> Void)?) async throws -> RunSummary {
        let (stored, scanned) = try await ClusterDatabase.using(address) { database in
            let unfinished = try await JobQueue.unfinished(database, stage: ScanJob.stage).count
            if unfinished > 0 {
                let running = try await database.rows(
                    "SELECT count(*) FROM winnow_jobs WHERE state = 'running' AND stage = \(ScanJob.stage)").first?.decode(Int.self) ?? 0
                throw ClusterError.notFinished(pending: unfinished - running, running: running)
            }
            let stored = try await StoredConfiguration.load(database)
            let dimension = try stored.scanner().dimension
            let listed = try await Self.listing(database)
            var found = listed.found
            (found.skippedNonImages, found.skippedSmallFiles) = (stored.skippedNonImages, stored.skippedSmallFiles)
            var scanned = ScannedListing(found: found, results: try await Self.results(database),
                                         exactDuplicates: try await Self.exactDuplicates(database))
            if let dimension {
                let reader = VectorShardReader(storage: URL(fileURLWithPath: stored.storage), shardSize: stored.shardSize,
                                               dimension: dimension, positions: listed.positions)
                scanned.vectors = { try reader.vector(for: $0) }
            }
            return (stored, scanned)
        }
        var configuration = stored.configuration
        configuration.workDirectory = workDirectory
        var run = Run(configuration: configuration)
        run.scanned = scanned
        run.waitsForLock = waitsForLock
        // The verify jobs an earlier finish left (it stopped) are finished first; their checks are reused.
        let storage = URL(fileURLWithPath: stored.storage)
        let earlier = try await SharedVerification.earlierLogs(address: address, storage: storage, leaseSeconds: leaseSeconds,
                                                               threads: configuration.workers)
        run.verificationSharing = SharedVerification(address: address, storage: storage, pairsPerShare: pairsPerJob,
                                                     threads: configuration.workers, leaseSeconds: leaseSeconds, earlier: earlier)
        run.neighborSharing = SharedNeighbors(address: address, storage: storage, rowsPerShare: rowsPerJob,
                                              threads: configuration.workers, leaseSeconds: leaseSeconds)
        let finishing = run
        let summary = try await onThread { try finishing.execute(progress: progress, onInvalid: onInvalid) }
        SharedVerification.removeFiles(storage: storage)
        return summary
    }

    /// The stored listing in its order: the listed sources, then those unreadable at listing
    /// time; and each source's position.
    private static func listing(_ database: ClusterDatabase) async throws -> (found: IngestResult, positions: [String: Int]) {
        var found = IngestResult(sources: [])
        var positions: [String: Int] = [:]
        for row in try await database.rows("SELECT \(unescaped: StoredSample.columns) FROM winnow_samples ORDER BY position") {
            let stored = try StoredSample(row)
            positions[stored.source.id] = positions.count
            if let problem = stored.unreadable {
                found.missing.append((stored.source, problem))
            } else {
                found.sources.append(stored.source)
            }
        }
        return (found, positions)
    }

    /// Each sample's scan result by source id; a failed shard's samples get its reason.
    private static func results(_ database: ClusterDatabase) async throws -> [String: ScannedListing.Result] {
        var results: [String: ScannedListing.Result] = [:]
        for row in try await database.rows("""
            SELECT s.source_id, c.position IS NOT NULL, c.content_hash, c.format, c.statistics, c.error_code, c.error_message,
                   j.shard, j.last_error
            FROM winnow_samples s JOIN winnow_jobs j ON j.stage = 'scan' AND j.shard = s.shard
            LEFT JOIN winnow_scans c ON c.position = s.position
            """) {
            let (id, scanned, hash, format, statistics, code, message, shard, jobError) =
                try row.decode((String, Bool, String?, String?, String?, String?, String?, Int, String?).self)
            guard scanned else {
                let why = "scan of shard \(shard) failed: \(jobError ?? "no result")"
                results[id] = .init(contentHash: nil, outcome: .failure(InvalidSample(.unreadable, "\(id): \(why)")))
                continue
            }
            if let statistics, let format = format.flatMap(ImageFormat.init(rawValue:)) {
                let decoded = try ScanRow.decoder.decode(ImageStatistics.self, from: Data(statistics.utf8))
                results[id] = .init(contentHash: hash, outcome: .success(ProcessedImage(format: format, statistics: decoded)))
            } else {
                let problem = InvalidSample(InvalidReason(rawValue: code ?? "") ?? .unreadable, message ?? "")
                results[id] = .init(contentHash: hash, outcome: .failure(problem))
            }
        }
        return results
    }

    /// Byte-identical samples: same content hash and size, by a `GROUP BY` in the database.
    private static func exactDuplicates(_ database: ClusterDatabase) async throws -> [[String]] {
        try await database.rows("""
            SELECT array_agg(s.source_id ORDER BY s.position) FROM winnow_samples s JOIN winnow_scans c ON c.position = s.position
            WHERE c.content_hash IS NOT NULL AND s.byte_count > 0
            GROUP BY c.content_hash, s.byte_count HAVING count(*) > 1
            """).map { try $0.decode([String].self) }
    }
}
