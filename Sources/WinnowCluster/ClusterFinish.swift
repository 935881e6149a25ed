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
        let pages = HeldConnection(address)
        do {
            guard try await FinishLock.take(lock) else { throw ClusterError.finishRunning(address.description) }
            let summary = try await finish(readingPagesOn: pages, progress: progress, onInvalid: onInvalid)
            await pages.close()
            await lock.close()
            return summary
        } catch {
            await pages.close()
            await lock.close()
            throw error
        }
    }

    /// Writes the work_dir, the scan rows read a page at a time on `pages`.
    private func finish(readingPagesOn pages: HeldConnection, progress: ProgressHandler?,
                        onInvalid: (@Sendable (String, InvalidSample) -> Void)?) async throws -> RunSummary {
        let (stored, scanned) = try await ClusterDatabase.using(address) { database in
            let unfinished = try await JobQueue.unfinished(database, stage: ScanJob.stage).count
            if unfinished > 0 {
                let running = try await database.rows(
                    "SELECT count(*) FROM winnow_jobs WHERE state = 'running' AND stage = \(ScanJob.stage)").first?.decode(Int.self) ?? 0
                throw ClusterError.notFinished(pending: unfinished - running, running: running)
            }
            let stored = try await StoredConfiguration.load(database)
            let dimension = try stored.scanner().dimension
            var found = try await Self.listing(database)
            (found.skippedNonImages, found.skippedSmallFiles) = (stored.skippedNonImages, stored.skippedSmallFiles)
            let vectors = dimension.map {
                VectorShardReader(storage: URL(fileURLWithPath: stored.storage), shardSize: stored.shardSize, dimension: $0,
                                  count: found.sources.count + found.missing.count)
            }
            let scanned = ScannedListing(found: found, results: { ids in try Self.results(of: ids, on: pages, vectors: vectors) },
                                         exactDuplicates: try await Self.exactDuplicates(database))
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

    /// The stored listing in its order: the listed sources, then those unreadable at listing time.
    private static func listing(_ database: ClusterDatabase) async throws -> IngestResult {
        var found = IngestResult(sources: [])
        for row in try await database.rows("SELECT \(unescaped: StoredSample.columns) FROM winnow_samples ORDER BY position") {
            let stored = try StoredSample(row)
            if let problem = stored.unreadable {
                found.missing.append((stored.source, problem))
            } else {
                found.sources.append(stored.source)
            }
        }
        return found
    }

    /// The scan results of the samples `ids`, by source id, each valid one with its vector; a
    /// failed shard's samples get its reason. One query a page, on `pages` (which connects
    /// again when a page is asked after the server restarted).
    private static func results(of ids: [String], on pages: HeldConnection,
                                vectors: VectorShardReader?) throws -> [String: ScannedListing.Result] {
        let rows = try waitForTask(unfinished: ClusterError.server("reading scan results ended without an outcome")) {
            try await pages.rows("""
                SELECT s.source_id, s.position, c.position IS NOT NULL, c.content_hash, c.format, c.statistics, c.error_code,
                       c.error_message, j.shard, j.last_error
                FROM winnow_samples s JOIN winnow_jobs j ON j.stage = 'scan' AND j.shard = s.shard
                LEFT JOIN winnow_scans c ON c.position = s.position
                WHERE s.source_id = ANY(\(ids))
                """).map { try $0.decode((String, Int, Bool, String?, String?, String?, String?, String?, Int, String?).self) }
        }
        var results: [String: ScannedListing.Result] = [:]
        for (id, position, scanned, hash, format, statistics, code, message, shard, jobError) in rows {
            guard scanned else {
                let why = "scan of shard \(shard) failed: \(jobError ?? "no result")"
                results[id] = .init(contentHash: nil, outcome: .failure(InvalidSample(.unreadable, "\(id): \(why)")))
                continue
            }
            if let statistics, let format = format.flatMap(ImageFormat.init(rawValue:)) {
                let decoded = try ScanRow.decoder.decode(ImageStatistics.self, from: Data(statistics.utf8))
                results[id] = .init(contentHash: hash, outcome: .success(ProcessedImage(format: format, statistics: decoded)),
                                    vector: try vectors?.vector(at: position))
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
