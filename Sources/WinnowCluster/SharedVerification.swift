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
    /// works on them until none is unfinished (``FinishJobs``).
    private func queue(from first: Int, pairs: [Int], progress: @escaping @Sendable (Int) -> Void) async throws {
        try await FinishJobs.queueAndWork(VerifyJob.stage, shards: pairs.enumerated().map { (first + $0.offset, $0.element) },
                                          address: address, leaseSeconds: leaseSeconds, threads: threads, progress: progress)
    }

    /// The logs of the verify jobs an earlier finish (one that stopped) queued, once the ones it
    /// left unfinished are done (worked on here, as a worker that takes only verify jobs).
    static func earlierLogs(address: DatabaseAddress, storage: URL, leaseSeconds: Double, threads: Int) async throws -> [URL] {
        let left = try await ClusterDatabase.using(address) { try await JobQueue.unfinished($0, stage: VerifyJob.stage).count }
        if left > 0 { try await FinishJobs.work(VerifyJob.stage, address: address, leaseSeconds: leaseSeconds, threads: threads) }
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
