import Foundation
import PostgresNIO
import WinnowCore

/// `winnow worker`: claims jobs from the cluster's database until every job is finished and no
/// `cluster finish` is running (it plans verify jobs: ``VerifyJob``). A
/// claim is a lease (owner, expiry) taken with `SELECT … FOR UPDATE SKIP LOCKED` and renewed by
/// a heartbeat; a lease that expires (the worker was killed or cut off) makes the job claimable
/// again. Idle workers sleep until `NOTIFY winnow_jobs` or the next lease expiry.
public struct Worker: Sendable {
    public var address: DatabaseAddress
    /// Seconds a claim lasts without a heartbeat (renewed every third of it).
    public var leaseSeconds: Double
    /// Keep waiting for new jobs once every job is finished (otherwise exit).
    public var keepWaiting: Bool
    /// Decode threads (default: the stored configuration's).
    public var threads: Int?
    /// Seconds a lost connection is tried again before the worker stops.
    public var reconnectSeconds: Double
    /// This worker's name in the database (`host:pid`).
    public let name: String
    /// The one stage of jobs this worker takes, leaving once none of them is unfinished
    /// (`cluster finish` works on its own verify jobs); nil: every stage, for as long as there
    /// are jobs or a finish is running.
    var onlyStage: String?

    public init(address: DatabaseAddress, leaseSeconds: Double = 60, keepWaiting: Bool = false, threads: Int? = nil,
                reconnectSeconds: Double = 300) {
        (self.address, self.leaseSeconds, self.keepWaiting, self.threads) = (address, max(0.5, leaseSeconds), keepWaiting, threads)
        self.reconnectSeconds = max(0, reconnectSeconds)
        name = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// What a worker did.
    public struct Summary: Sendable {
        public var jobsDone = 0
        public var jobsFailed = 0
        public var images = 0
        /// Pairs checked in verify jobs.
        public var pairs = 0
        /// Connections opened (more than one after a lost connection).
        public var sessions = 0
    }

    /// Works until every job is finished (see ``onlyStage``); `report` hears each job's end as one line. A
    /// connection lost once working (PostgreSQL restarted, the network cut) is opened again, once
    /// a second, for up to ``reconnectSeconds``; the job it held goes back to the queue.
    public func run(report: @escaping @Sendable (String) -> Void) async throws -> Summary {
        var summary = Summary(), lostAt: Date?
        while true {
            do {
                try await session(into: &summary, report: report) { lostAt = nil }
                return summary
            } catch let error as ClusterError {
                guard case .connectionLost = error, Date().timeIntervalSince(lostAt ?? Date()) < reconnectSeconds else { throw error }
                if lostAt == nil { report("\(error); connecting again") }
                lostAt = lostAt ?? Date()
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// One connection's work: registers, gives back a job an earlier session held, then claims
    /// jobs until every job is finished. `connected` is called once the connections are open.
    private func session(into summary: inout Summary, report: @escaping @Sendable (String) -> Void,
                         connected: () -> Void) async throws {
        let first = summary.sessions == 0
        let control = try await open(id: 1, checkingSchema: true, first: first)
        let side: ClusterDatabase
        do { side = try await open(id: 2, checkingSchema: false, first: first) } catch {
            await control.close()
            throw error
        }
        connected()
        summary.sessions += 1
        let bell = Doorbell()
        var tasks: [Task<Void, Never>] = []
        do {
            var stored = try await StoredConfiguration.load(control)
            guard FileManager.default.fileExists(atPath: stored.storage) else { throw ClusterError.storageMissing(stored.storage) }
            if let threads { stored.configuration.workers = threads }
            let scanner = onlyStage == nil || onlyStage == ScanJob.stage ? try stored.scanner() : nil
            try await control.rows("""
                INSERT INTO winnow_workers (name, host, pid, lease_seconds) VALUES (\(name), \(ProcessInfo.processInfo.hostName),
                \(Int(ProcessInfo.processInfo.processIdentifier)), \(leaseSeconds))
                ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), lease_seconds = excluded.lease_seconds, stopped_at = NULL,
                started_at = CASE WHEN \(first) THEN now() ELSE winnow_workers.started_at END,
                jobs_done = CASE WHEN \(first) THEN 0 ELSE winnow_workers.jobs_done END
                """)
            let queue = JobQueue(database: control, owner: name, leaseSeconds: leaseSeconds, maxAttempts: stored.maxAttempts)
            try await queue.releaseOwn(reason: "its worker lost the connection to PostgreSQL")
            tasks.append(listen(side, bell: bell))
            tasks.append(heartbeat(side))
            try await work(queue, stored: stored, scanner: scanner, bell: bell, into: &summary, report: report)
            tasks.forEach { $0.cancel() }
            try await control.rows("UPDATE winnow_workers SET stopped_at = now() WHERE name = \(name)")
            await control.close()
            await side.close()
        } catch {
            tasks.forEach { $0.cancel() }
            await control.close()
            await side.close()
            throw error
        }
    }

    /// A connection to the database; after the first session, a server that cannot be reached
    /// is a lost connection (tried again) rather than a wrong address.
    private func open(id: Int, checkingSchema: Bool, first: Bool) async throws -> ClusterDatabase {
        do { return try await ClusterDatabase.open(address, id: id, checkingSchema: checkingSchema) } catch ClusterError.unreachable(_, let why) where !first {
            throw ClusterError.connectionLost(why)
        }
    }

    /// The claim loop.
    private func work(_ queue: JobQueue, stored: StoredConfiguration, scanner: SampleScanner?, bell: Doorbell,
                      into summary: inout Summary, report: @Sendable (String) -> Void) async throws {
        let database = queue.database
        while true {
            try await queue.failExpired()
            if let job = try await queue.claim(stage: onlyStage) {
                do {
                    try await perform(job, stored: stored, scanner: scanner, database: database, into: &summary, report: report)
                    summary.jobsDone += 1
                } catch {
                    let reason = ClusterError.describe(error)
                    let failed = try await queue.release(job, reason: reason)
                    if failed { summary.jobsFailed += 1 }
                    report("\(job.stage) \(Self.unit(of: job.stage)) \(job.shard) attempt \(job.attempts) of "
                           + "\(stored.maxAttempts) \(failed ? "failed" : "will be retried"): \(reason)")
                }
                continue
            }
            let (unfinished, nextExpiry) = try await JobQueue.unfinished(database, stage: onlyStage)
            if unfinished == 0 && !keepWaiting {
                if onlyStage != nil { return }
                if try await !FinishLock.isHeld(database) { return }
            }
            await bell.wait(seconds: min(5, max(0.1, nextExpiry ?? 5)))
        }
    }

    /// Runs one claimed job of any stage.
    private func perform(_ job: ClaimedJob, stored: StoredConfiguration, scanner: SampleScanner?, database: ClusterDatabase,
                         into summary: inout Summary, report: @Sendable (String) -> Void) async throws {
        let storage = URL(fileURLWithPath: stored.storage)
        if job.stage != NeighborJob.stage { NeighborJob.releaseIndex() }
        if job.stage != AssignJob.stage { AssignJob.releaseInputs() }
        switch job.stage {
        case VerifyJob.stage:
            let pairs = try await VerifyJob(job: job, storage: storage, workers: stored.configuration.workers).run(database, owner: name)
            summary.pairs += pairs
            report("verify part \(job.shard): \(pairs) pairs")
            return
        case NeighborJob.stage:
            let rows = try await NeighborJob(job: job, storage: storage).run(database, owner: name)
            report("knn block \(job.shard): \(rows) rows")
            return
        case AssignJob.stage:
            let rows = try await AssignJob(job: job, storage: storage).run(database, owner: name)
            report("assign block \(job.shard): \(rows) rows")
            return
        default: break
        }
        guard let scanner else { throw ClusterError.badConfiguration("a \(job.stage) job reached a worker without a scanner") }
        let images = try await ScanJob(job: job, scanner: scanner, storage: storage).run(database, owner: name)
        summary.images += images
        report("scan shard \(job.shard): \(images) images")
    }

    /// What one job of `stage` is called in messages.
    static func unit(of stage: String) -> String {
        switch stage {
        case VerifyJob.stage: VerifyJob.unit
        case NeighborJob.stage: NeighborJob.unit
        case AssignJob.stage: AssignJob.unit
        default: "shard"
        }
    }

    /// Rings `bell` on every `NOTIFY winnow_jobs`.
    private func listen(_ database: ClusterDatabase, bell: Doorbell) -> Task<Void, Never> {
        Task {
            try? await database.connection.listen(on: ClusterSchema.channel) { notifications in
                for try await _ in notifications { await bell.ring() }
            }
        }
    }

    /// Renews this worker's heartbeat and its running job's lease every third of the lease.
    private func heartbeat(_ database: ClusterDatabase) -> Task<Void, Never> {
        let (name, lease) = (name, leaseSeconds)
        return Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(lease / 3))
                _ = try? await database.rows("UPDATE winnow_workers SET heartbeat_at = now() WHERE name = \(name)")
                _ = try? await database.rows("""
                    UPDATE winnow_jobs SET lease_until = now() + make_interval(secs => \(lease))
                    WHERE owner = \(name) AND state = 'running'
                    """)
            }
        }
    }
}
