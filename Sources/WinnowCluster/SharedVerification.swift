import Foundation
import PostgresNIO
import WinnowCore

/// How `cluster finish` shares copy verification with the workers (``PairCheckSharing``): each
/// pass's open pairs become verify jobs (``VerifyJob``), their plans on the shared storage; the
/// finishing process works on them too, as a worker that takes only verify jobs, until none is
/// unfinished. The logs of the parts that were checked go back to the run, which checks any
/// pair they lack itself (a part that failed, an image a worker could not read).
struct SharedVerification: PairCheckSharing {
    let address: DatabaseAddress
    let storage: URL
    let pairsPerShare: Int
    /// Threads the finishing process checks its own parts on.
    let threads: Int
    /// Seconds a claim of the finishing process lasts without a heartbeat.
    let leaseSeconds: Double
    /// Logs of the verify jobs an earlier finish had done (``ClusterFinish`` finishes its
    /// leftover jobs first).
    let earlier: [URL]

    func earlierLogs() -> [URL] { earlier }

    private static let noOutcome: any Error = ClusterError.server("a verify step ended without an outcome")

    func check(count: Int, progress: @escaping @Sendable (Int) -> Void, plan: (Int) -> VerificationPlan) throws -> [URL] {
        let (address, storage) = (address, storage)
        let first = try waitForTask(unfinished: Self.noOutcome) {
            try await ClusterDatabase.using(address) { database in
                try await database.rows("SELECT coalesce(max(shard) + 1, 0) FROM winnow_jobs WHERE stage = \(VerifyJob.stage)")
                    .first?.decode(Int.self) ?? 0
            }
        }
        try FileManager.default.createDirectory(at: VerifyJob.folder(storage: storage), withIntermediateDirectories: true)
        var pairs: [Int] = []
        for share in 0..<count {
            let made = plan(share)
            try AtomicFile.write(try made.encoded(), to: VerifyJob.planURL(storage: storage, part: first + share))
            pairs.append(made.pairCount)
        }
        let queued = pairs
        try waitForTask(unfinished: Self.noOutcome) { try await queue(from: first, pairs: queued, progress: progress) }
        return (first..<first + count).map { VerifyJob.logURL(storage: storage, part: $0) }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Queues one verify job per planned part (parts `first`, `first + 1`, … of `pairs` pairs) and
    /// works on them, as a worker that takes only verify jobs, until none is unfinished; every
    /// two seconds meanwhile `progress` hears the pairs of the parts done.
    private func queue(from first: Int, pairs: [Int], progress: @escaping @Sendable (Int) -> Void) async throws {
        try await ClusterDatabase.using(address) { database in
            try await database.transaction { connection in
                try await BatchInsert(table: "winnow_jobs", columns: ["stage", "shard", "items"])
                    .run(count: pairs.count, on: connection) { index, binds in
                        binds.append(VerifyJob.stage)
                        binds.append(first + index)
                        binds.append(pairs[index])
                    }
                try await connection.run("NOTIFY winnow_jobs")
            }
        }
        let address = address
        let watcher = Task {
            guard let database = try? await ClusterDatabase.open(address) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                let done = try? await database.rows("""
                    SELECT coalesce(sum(items), 0)::bigint FROM winnow_jobs WHERE stage = \(VerifyJob.stage) AND state = 'done'
                    AND shard >= \(first) AND shard < \(first + pairs.count)
                    """).first?.decode(Int.self)
                if let done, !Task.isCancelled { progress(done) }
            }
            await database.close()
        }
        defer { watcher.cancel() }
        try await Self.work(address: address, leaseSeconds: leaseSeconds, threads: threads)
    }

    /// Works on the queued verify jobs, as a worker that takes only those, until none is unfinished.
    private static func work(address: DatabaseAddress, leaseSeconds: Double, threads: Int) async throws {
        var worker = Worker(address: address, leaseSeconds: leaseSeconds, threads: threads)
        worker.onlyStage = VerifyJob.stage
        _ = try await worker.run { _ in }
    }

    /// The logs of the verify jobs an earlier finish (one that stopped) queued, once the ones it
    /// left unfinished are done (worked on here, as a worker that takes only verify jobs).
    static func earlierLogs(address: DatabaseAddress, storage: URL, leaseSeconds: Double, threads: Int) async throws -> [URL] {
        let left = try await ClusterDatabase.using(address) { try await JobQueue.unfinished($0, stage: VerifyJob.stage).count }
        if left > 0 { try await work(address: address, leaseSeconds: leaseSeconds, threads: threads) }
        return try await ClusterDatabase.using(address) { database in
            try await database.rows("SELECT shard FROM winnow_jobs WHERE stage = \(VerifyJob.stage) AND state = 'done' ORDER BY shard")
                .map { VerifyJob.logURL(storage: storage, part: try $0.decode(Int.self)) }
                .filter { FileManager.default.fileExists(atPath: $0.path) }
        }
    }

    /// Removes the verify jobs' plans and logs (the finished work_dir's log holds every check).
    static func removeFiles(storage: URL) {
        let folder = VerifyJob.folder(storage: storage)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }
}
