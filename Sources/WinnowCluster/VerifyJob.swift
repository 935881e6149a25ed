import Foundation
import PostgresNIO
import WinnowCore

/// One `verify` job: a share of a verification pass that `cluster finish` planned
/// (``VerificationPlan``, `verify/part-<n>.plan` on the shared storage). The worker checks its
/// pairs in a scratch folder of its own and puts their log beside the plan
/// (`verify/part-<n>.log`: written to a temporary name, flushed and renamed) before the job is
/// marked done; a job done twice writes the same log again whole.
struct VerifyJob: Sendable {
    var job: ClaimedJob
    /// The shared storage folder.
    var storage: URL
    /// Threads the checks run on.
    var workers: Int

    static let stage = "verify"
    /// What one job is called in messages.
    static let unit = "part"

    /// The folder of the plans and logs on the shared storage.
    static func folder(storage: URL) -> URL {
        storage.appendingPathComponent("verify")
    }

    static func planURL(storage: URL, part: Int) -> URL {
        folder(storage: storage).appendingPathComponent("part-\(part).plan")
    }

    static func logURL(storage: URL, part: Int) -> URL {
        folder(storage: storage).appendingPathComponent("part-\(part).log")
    }

    /// Runs the job; returns how many pairs it checked.
    func run(_ database: ClusterDatabase, owner: String) async throws -> Int {
        let planURL = Self.planURL(storage: storage, part: job.shard)
        let plan: VerificationPlan
        do { plan = try VerificationPlan(decoding: try Data(contentsOf: planURL)) } catch {
            throw ClusterError.planUnreadable(job: "\(Self.stage) \(Self.unit) \(job.shard)",
                                              "\(planURL.path): \(ClusterError.oneLine("\(error)"))")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-verify-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let workers = self.workers
        let checked = try await onThread { plan.check(scratch: scratch, workers: workers) }
        // The log is whole or absent under its name (none: no pair could be checked).
        try AtomicFile.write((try? Data(contentsOf: checked)) ?? Data(), to: Self.logURL(storage: storage, part: job.shard))
        let jobID = job.id
        try await database.transaction { try await JobQueue.markDone(jobID, owner: owner, on: $0) }
        return plan.pairCount
    }
}
