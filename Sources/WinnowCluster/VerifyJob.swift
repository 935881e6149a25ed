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

    /// Each job's scratch folder in the temporary folder starts with this machine's name and the
    /// worker's process id, so that a worker killed during a job (its scratch holds the pairs'
    /// local features, up to gigabytes) has it removed by the next job run on the machine.
    private static var scratchPrefix: String {
        "winnow-verify-\(scratchHost)-\(ProcessInfo.processInfo.processIdentifier)-"
    }

    /// The host name with every character but letters, digits and dots made `_`: it stands in a
    /// file name, and the process id after it starts at the next `-`.
    private static var scratchHost: String {
        String(ProcessInfo.processInfo.hostName.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
    }

    /// Removes the scratch folders this machine's workers left when they were killed: those
    /// named for a process that no longer runs (a shared temporary folder's other machines'
    /// folders are left alone).
    static func removeScratchOfDeadWorkers() {
        let folder = FileManager.default.temporaryDirectory
        let own = "winnow-verify-\(scratchHost)-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix(own) {
            guard let pid = Int32(name.dropFirst(own.count).prefix { $0 != "-" }), pid > 0 else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
        }
    }

    /// Runs the job; returns how many pairs it checked.
    func run(_ database: ClusterDatabase, owner: String) async throws -> Int {
        let planURL = Self.planURL(storage: storage, part: job.shard)
        let plan: VerificationPlan
        do { plan = try VerificationPlan(decoding: try Data(contentsOf: planURL)) } catch {
            throw ClusterError.planUnreadable(job: "\(Self.stage) \(Self.unit) \(job.shard)",
                                              "\(planURL.path): \(ClusterError.oneLine("\(error)"))")
        }
        Self.removeScratchOfDeadWorkers()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(Self.scratchPrefix + UUID().uuidString)
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
