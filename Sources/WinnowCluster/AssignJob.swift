import Foundation
import PostgresNIO
import Synchronization
import WinnowCore

/// One `assign` job: a block of rows put in their nearest lists of the list index `cluster
/// finish` is building (``ListAssignmentPlan``, in `knn/` beside the kNN plan whose vectors it
/// shares). The worker writes the block's lists to `knn/assign-…-<block>.lists` (temporary name,
/// flushed, renamed) before the job is marked done; a job done twice writes the same part again.
struct AssignJob: Sendable {
    var job: ClaimedJob
    /// The shared storage folder.
    var storage: URL

    static let stage = "assign"
    /// What one job is called in messages.
    static let unit = "block"

    /// Block `block`'s part (``ListAssignmentPlan/partName(block:)``).
    static func partURL(storage: URL, plan: ListAssignmentPlan, block: Int) -> URL {
        NeighborJob.folder(storage: storage).appendingPathComponent(plan.partName(block: block))
    }

    /// Runs the job; returns how many rows it assigned.
    func run(_ database: ClusterDatabase, owner: String) async throws -> Int {
        let folder = NeighborJob.folder(storage: storage), name = "\(Self.stage) \(Self.unit) \(job.shard)"
        let plan: ListAssignmentPlan
        do { plan = try ListAssignmentPlan(folder: folder) } catch {
            throw ClusterError.planUnreadable(job: name, "\(folder.path): \(ClusterError.oneLine("\(error)"))")
        }
        guard job.shard >= 0, job.shard < plan.blocks else {
            throw ClusterError.planUnreadable(job: name, "the plan has \(plan.blocks) blocks")
        }
        let (block, part) = (job.shard, Self.partURL(storage: storage, plan: plan, block: job.shard))
        try await onThread {
            let (vectors, centroids) = try Self.inputs(of: plan, in: folder)
            try plan.assign(block: block, vectors: vectors, centroids: centroids, to: part)
        }
        let jobID = job.id
        try await database.transaction { try await JobQueue.markDone(jobID, owner: owner, on: $0) }
        return plan.rows(ofBlock: block).count
    }

    /// The vectors and centroids last loaded by this process, with their plan: a worker decodes
    /// each plan's centroids once (470 MB of them at 100M images), not once a block.
    private static let loaded = Mutex<(plan: ListAssignmentPlan, vectors: FeatureMatrix, centroids: ListCentroids)?>(nil)

    private static func inputs(of plan: ListAssignmentPlan, in folder: URL) throws -> (FeatureMatrix, ListCentroids) {
        if let loaded = loaded.withLock({ $0 }), loaded.plan == plan { return (loaded.vectors, loaded.centroids) }
        let (vectors, centroids) = try plan.load(folder: folder)
        loaded.withLock { $0 = (plan, vectors, centroids) }
        return (vectors, centroids)
    }

    /// Frees the centroids this process keeps loaded: the worker calls it when a job of another stage comes.
    static func releaseInputs() {
        loaded.withLock { $0 = nil }
    }
}
