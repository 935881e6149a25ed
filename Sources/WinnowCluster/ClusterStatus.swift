import Foundation
import PostgresNIO

/// `winnow cluster status`: progress per stage, the workers alive, failed shards with their
/// reasons and a rough ETA. `done` is true once every job is finished (done or failed).
public struct ClusterStatus: Sendable, Codable {
    public var done: Bool
    public var stages: [Stage]
    /// Workers running whose last heartbeat is within their lease.
    public var workersAlive: Int
    public var workers: [WorkerState]
    /// Jobs that used every attempt, with the last one-line reason.
    public var failed: [Problem]
    /// Pending jobs whose last attempt threw (they will be retried).
    public var retrying: [Problem]
    /// Seconds since the first claim (until the last job finished, once done).
    public var elapsedSeconds: Double
    public var imagesPerSecond: Double?
    public var jobsPerSecond: Double?
    /// Rough seconds left at the rate so far (nil before any job is done, 0 once done).
    public var etaSeconds: Double?

    /// One stage's jobs. Its items (``unit``) are images (scan), rows put in a list index's lists
    /// (assign), rows of the kNN graph (knn) or candidate pairs (verify).
    public struct Stage: Sendable, Codable {
        public var stage: String
        public var pending: Int
        public var running: Int
        public var done: Int
        public var failed: Int
        public var unit: String
        public var images: Int
        public var imagesDone: Int
        /// Items of failed jobs (not counted in the ETA).
        public var imagesFailed: Int
        /// Seconds from the stage's first claim to now (to its last job's end, once finished).
        public var seconds: Double?
    }

    public struct WorkerState: Sendable, Codable {
        public var name: String
        public var alive: Bool
        public var secondsSinceHeartbeat: Double
        public var jobsDone: Int
    }

    public struct Problem: Sendable, Codable {
        public var stage: String
        public var shard: Int
        public var attempts: Int
        public var reason: String
    }

    /// Reads the status of the cluster at `address`.
    public static func read(_ address: DatabaseAddress) async throws -> ClusterStatus {
        try await ClusterDatabase.using(address) { database in
            let stages = try await database.rows("""
                SELECT stage, count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'running'),
                       count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'failed'),
                       sum(items)::bigint, coalesce(sum(items) FILTER (WHERE state = 'done'), 0)::bigint,
                       coalesce(sum(items) FILTER (WHERE state = 'failed'), 0)::bigint,
                       EXTRACT(EPOCH FROM (CASE WHEN bool_and(state IN ('done', 'failed')) THEN max(finished_at) ELSE now() END)
                                          - min(started_at))::float8
                FROM winnow_jobs GROUP BY stage ORDER BY min(id)
                """).map { row in
                let (stage, pending, running, done, failed, images, imagesDone, imagesFailed, seconds) =
                    try row.decode((String, Int, Int, Int, Int, Int, Int, Int, Double?).self)
                let unit = switch stage {
                case VerifyJob.stage: "pairs"
                case NeighborJob.stage, AssignJob.stage: "rows"
                default: "images"
                }
                return Stage(stage: stage, pending: pending, running: running, done: done, failed: failed, unit: unit,
                             images: images, imagesDone: imagesDone, imagesFailed: imagesFailed, seconds: seconds)
            }
            let workers = try await database.rows("""
                SELECT name, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8, lease_seconds, jobs_done, stopped_at IS NOT NULL
                FROM winnow_workers ORDER BY name
                """).map { row in
                let (name, since, lease, jobs, stopped) = try row.decode((String, Double, Double, Int, Bool).self)
                return WorkerState(name: name, alive: !stopped && since <= lease, secondsSinceHeartbeat: since, jobsDone: jobs)
            }
            let problems = try await database.rows("""
                SELECT stage, shard, attempts, last_error, state FROM winnow_jobs
                WHERE last_error IS NOT NULL AND state IN ('failed', 'pending') ORDER BY id
                """).map { row in
                let (stage, shard, attempts, reason, state) = try row.decode((String, Int, Int, String, String).self)
                return (Problem(stage: stage, shard: shard, attempts: attempts, reason: reason), state == "failed")
            }
            var status = ClusterStatus(done: stages.allSatisfy { $0.pending + $0.running == 0 }, stages: stages,
                                       workersAlive: workers.filter(\.alive).count, workers: workers,
                                       failed: problems.filter(\.1).map(\.0), retrying: problems.filter { !$0.1 }.map(\.0),
                                       elapsedSeconds: 0)
            try await status.measureRates(database)
            return status
        }
    }

    /// Rates and ETA from the jobs' claim and finish times: images a second of the scan, jobs a
    /// second of every stage, and each unfinished stage's items left at its own rate so far.
    private mutating func measureRates(_ database: ClusterDatabase) async throws {
        let rows = try await database.rows("""
            SELECT EXTRACT(EPOCH FROM (CASE WHEN bool_and(state IN ('done', 'failed')) THEN max(finished_at) ELSE now() END)
                                      - min(started_at))::float8
            FROM winnow_jobs
            """)
        guard let elapsed = try rows.first?.decode(Double?.self), elapsed > 0 else { return }
        elapsedSeconds = elapsed
        guard let scan = stages.first(where: { $0.stage == ScanJob.stage }), scan.imagesDone > 0, let seconds = scan.seconds, seconds > 0
        else { return }
        imagesPerSecond = Double(scan.imagesDone) / seconds
        jobsPerSecond = Double(stages.reduce(0) { $0 + $1.done }) / elapsed
        var left = 0.0
        for stage in stages where stage.pending + stage.running > 0 {
            guard stage.imagesDone > 0, let seconds = stage.seconds, seconds > 0 else { return }
            left += Double(max(0, stage.images - stage.imagesFailed - stage.imagesDone)) / (Double(stage.imagesDone) / seconds)
        }
        etaSeconds = left
    }

    /// The status as lines for a terminal.
    public var text: String {
        var lines = stages.map { stage in
            "\(stage.stage): \(stage.done) done, \(stage.running) running, \(stage.pending) pending, \(stage.failed) failed"
                + " (\(stage.imagesDone) of \(stage.images) \(stage.unit))"
        }
        lines.append("workers alive: \(workersAlive)" + (workers.isEmpty ? "" : " of \(workers.count)"))
        lines += failed.map { "failed: \($0.stage) shard \($0.shard) after \($0.attempts) attempts: \($0.reason)" }
        lines += retrying.map { "retrying: \($0.stage) shard \($0.shard) (attempt \($0.attempts) threw): \($0.reason)" }
        if let rate = imagesPerSecond, let jobs = jobsPerSecond {
            let eta = etaSeconds.map { done ? "done" : "ETA \(Int($0.rounded())) s" } ?? "ETA unknown"
            lines.append("\(eta) (\(String(format: "%.1f", rate)) images/s, \(String(format: "%.2f", jobs)) jobs/s, \(Int(elapsedSeconds)) s so far)")
        }
        lines.append(done ? "all jobs finished: run `winnow cluster finish`" : "not finished")
        return lines.joined(separator: "\n")
    }
}
