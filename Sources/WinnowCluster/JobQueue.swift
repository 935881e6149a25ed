import Foundation
import PostgresNIO

/// A job as claimed.
struct ClaimedJob: Sendable {
    var id: Int64
    var stage: String
    var shard: Int
    var items: Int
    /// This claim's number (1 for the first).
    var attempts: Int
}

/// The jobs table as one worker uses it: claims (leases), releases, expiry.
struct JobQueue: Sendable {
    let database: ClusterDatabase
    let owner: String
    let leaseSeconds: Double
    let maxAttempts: Int

    /// Takes the first pending job of `stage` (nil: any), or a running one whose lease expired, as this worker's.
    func claim(stage: String? = nil) async throws -> ClaimedJob? {
        let rows = try await database.rows("""
            UPDATE winnow_jobs SET state = 'running', owner = \(owner), attempts = attempts + 1,
                   lease_until = now() + make_interval(secs => \(leaseSeconds)), started_at = coalesce(started_at, now())
            WHERE id = (SELECT id FROM winnow_jobs
                        WHERE (state = 'pending' OR (state = 'running' AND lease_until < now() AND attempts < \(maxAttempts)))
                              AND (\(stage)::text IS NULL OR stage = \(stage))
                        ORDER BY state = 'running', id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, stage, shard, items, attempts
            """)
        guard let row = rows.first else { return nil }
        let (id, stage, shard, items, attempts) = try row.decode((Int64, String, Int, Int, Int).self)
        return ClaimedJob(id: id, stage: stage, shard: shard, items: items, attempts: attempts)
    }

    /// Gives `job` back after it threw: pending again, or failed once it had every attempt.
    /// Returns whether it failed for good.
    func release(_ job: ClaimedJob, reason: String) async throws -> Bool {
        let failed = job.attempts >= maxAttempts
        try await database.rows("""
            UPDATE winnow_jobs SET state = \(failed ? "failed" : "pending"), last_error = \(reason), owner = NULL,
                   lease_until = NULL, finished_at = \(failed ? Date() : nil)
            WHERE id = \(job.id) AND state = 'running' AND owner = \(owner)
            """)
        try await database.rows("NOTIFY winnow_jobs")
        return failed
    }

    /// Gives back the jobs this worker still holds from a connection it lost (it is running none
    /// of them now): pending again, or failed once they had every attempt.
    func releaseOwn(reason: String) async throws {
        try await database.rows("""
            UPDATE winnow_jobs SET state = CASE WHEN attempts >= \(maxAttempts) THEN 'failed' ELSE 'pending' END,
                   last_error = \(reason), owner = NULL, lease_until = NULL,
                   finished_at = CASE WHEN attempts >= \(maxAttempts) THEN now() END
            WHERE state = 'running' AND owner = \(owner)
            """)
    }

    /// Marks failed the jobs whose lease expired on their last attempt.
    func failExpired() async throws {
        try await database.rows("""
            UPDATE winnow_jobs SET state = 'failed', owner = NULL, finished_at = now(),
                   last_error = coalesce(last_error || '; ', '') || 'its worker stopped renewing the lease (killed or cut off) on attempt '
                                || attempts || ' of ' || \(maxAttempts)
            WHERE state = 'running' AND lease_until < now() AND attempts >= \(maxAttempts)
            """)
    }

    /// In `connection`'s transaction: the job `id` done, its worker's count up, idle workers woken.
    static func markDone(_ id: Int64, owner: String, on connection: PostgresConnection) async throws {
        try await connection.run("""
            UPDATE winnow_jobs SET state = 'done', finished_at = now(), owner = NULL, lease_until = NULL, last_error = NULL
            WHERE id = \(id) AND state <> 'done'
            """)
        try await connection.run("UPDATE winnow_workers SET jobs_done = jobs_done + 1, heartbeat_at = now() WHERE name = \(owner)")
        try await connection.run("NOTIFY winnow_jobs")
    }

    /// Jobs of `stage` (nil: any) not finished (pending or running), and seconds until the
    /// first running lease expires.
    static func unfinished(_ database: ClusterDatabase, stage: String? = nil) async throws -> (count: Int, nextExpiry: Double?) {
        let rows = try await database.rows("""
            SELECT count(*) FILTER (WHERE state IN ('pending', 'running')),
                   EXTRACT(EPOCH FROM min(lease_until) FILTER (WHERE state = 'running') - now())::float8
            FROM winnow_jobs WHERE \(stage)::text IS NULL OR stage = \(stage)
            """)
        guard let row = rows.first else { return (0, nil) }
        return try row.decode((Int, Double?).self)
    }
}
