import Foundation
import PostgresNIO
import Synchronization
import WinnowCore

/// One `knn` job: a block of the kNN graph's rows, searched with the index `cluster finish`
/// put on the shared storage (``NeighborPlan``, `knn/`). The worker writes the block's lists to
/// `knn/part-…-<block>.knn` (a graph file of the block's rows: temporary name, flushed, renamed)
/// before the job is marked done; a job done twice writes the same part again whole.
struct NeighborJob: Sendable {
    var job: ClaimedJob
    /// The shared storage folder.
    var storage: URL

    static let stage = "knn"
    /// What one job is called in messages.
    static let unit = "block"

    /// The folder of the plan, its index and the parts on the shared storage.
    static func folder(storage: URL) -> URL {
        storage.appendingPathComponent("knn")
    }

    /// Block `block`'s part (``NeighborPlan/partName(block:)``).
    static func partURL(storage: URL, plan: NeighborPlan, block: Int) -> URL {
        folder(storage: storage).appendingPathComponent(plan.partName(block: block))
    }

    /// The index last loaded by this process, with its plan: a worker loads each plan's once.
    private static let loaded = Mutex<(plan: NeighborPlan, index: any SimilarityIndex)?>(nil)

    /// Runs the job; returns how many rows it searched.
    func run(_ database: ClusterDatabase, owner: String) async throws -> Int {
        let folder = Self.folder(storage: storage)
        let plan: NeighborPlan
        do { plan = try NeighborPlan(folder: folder) } catch {
            throw ClusterError.planUnreadable(job: "\(Self.stage) \(Self.unit) \(job.shard)",
                                              "\(folder.path): \(ClusterError.oneLine("\(error)"))")
        }
        guard job.shard >= 0, job.shard < plan.blocks else {
            throw ClusterError.planUnreadable(job: "\(Self.stage) \(Self.unit) \(job.shard)", "the plan has \(plan.blocks) blocks")
        }
        let (block, part) = (job.shard, Self.partURL(storage: storage, plan: plan, block: job.shard))
        try await onThread {
            let index = try Self.index(of: plan, in: folder)
            try plan.search(block: block, with: index, to: part)
        }
        let jobID = job.id
        try await database.transaction { try await JobQueue.markDone(jobID, owner: owner, on: $0) }
        return plan.items(ofBlock: block)
    }

    /// Frees the index this process keeps loaded (the HNSW of a million images holds ~1.3 GB):
    /// the worker calls it when a job of another stage follows the knn jobs.
    static func releaseIndex() {
        loaded.withLock { $0 = nil }
    }

    private static func index(of plan: NeighborPlan, in folder: URL) throws -> any SimilarityIndex {
        if let loaded = loaded.withLock({ $0 }), loaded.plan == plan { return loaded.index }
        let index = try plan.loadIndex(folder: folder)
        loaded.withLock { $0 = (plan, index) }
        return index
    }
}

/// How `cluster finish` shares the kNN graph's search — and a list index's assignment — with the
/// workers (``NeighborSearchSharing``): one `knn` (`assign`) job per block of rows, worked on by
/// the finishing process too until none is unfinished. Jobs an earlier finish queued are
/// replaced (its plan may differ).
struct SharedNeighbors: NeighborSearchSharing {
    let address: DatabaseAddress
    let storage: URL
    let rowsPerShare: Int
    /// Threads the finishing process searches its own blocks on.
    let threads: Int
    /// Seconds a claim of the finishing process lasts without a heartbeat.
    let leaseSeconds: Double

    var folder: URL { NeighborJob.folder(storage: storage) }

    private static let noOutcome: any Error = ClusterError.server("a kNN step ended without an outcome")

    func search(_ plan: NeighborPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL] {
        try share(NeighborJob.stage, blocks: (0..<plan.blocks).map { plan.items(ofBlock: $0) }, progress: progress) {
            NeighborJob.partURL(storage: storage, plan: plan, block: $0)
        }
    }

    func assign(_ plan: ListAssignmentPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL] {
        try share(AssignJob.stage, blocks: (0..<plan.blocks).map { plan.rows(ofBlock: $0).count }, progress: progress) {
            AssignJob.partURL(storage: storage, plan: plan, block: $0)
        }
    }

    /// Queues one `stage` job per block (its items) that has no part yet (an earlier finish
    /// stopped part-way left the others), works on them until none is unfinished, and returns
    /// the part of each block that has one (`part`: where a block's part is written).
    private func share(_ stage: String, blocks: [Int], progress: @escaping @Sendable (Int) -> Void,
                       part: (Int) -> URL) throws -> [Int: URL] {
        let (address, leaseSeconds, threads) = (address, leaseSeconds, threads)
        let shards = blocks.enumerated().filter { !FileManager.default.fileExists(atPath: part($0.offset).path) }
            .map { (shard: $0.offset, items: $0.element) }
        try waitForTask(unfinished: Self.noOutcome) {
            try await ClusterDatabase.using(address) { try await $0.rows("DELETE FROM winnow_jobs WHERE stage = \(stage)") }
            try await FinishJobs.queueAndWork(stage, shards: shards, address: address, leaseSeconds: leaseSeconds,
                                              threads: threads, progress: progress)
        }
        var parts: [Int: URL] = [:]
        for block in blocks.indices where FileManager.default.fileExists(atPath: part(block).path) { parts[block] = part(block) }
        return parts
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: folder)
    }
}
