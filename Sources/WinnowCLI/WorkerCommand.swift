import ArgumentParser
import Foundation
import WinnowCluster
import WinnowCommandSupport

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Work on a cluster run's jobs (any number of workers, on any machines) until all are finished.",
        discussion: """
            Claims one job at a time as a lease renewed by a heartbeat; if the worker is killed or \
            cut off, its lease expires and another worker takes the job. Idle workers wait for \
            PostgreSQL's NOTIFY. A job that fails is retried (see `cluster init --max-attempts`). \
            A connection lost mid-run (PostgreSQL restarted, the network cut) is opened again \
            every second for up to --reconnect seconds; the job the worker held is queued again. \
            A scan job hashes, decodes, measures and embeds its shard's images (video frames too) \
            and writes their vectors under the cluster's --storage; a machine that computes other \
            vectors than `cluster init`'s (int8 copy descriptors with VNNI, float32 without) refuses. \
            A verify job checks a share of the candidate pairs `cluster finish` plans: while a finish \
            runs, workers out of jobs wait for its verify jobs, and exit once it ends.

            Examples:
              winnow worker --db postgres://winnow@db/run1
              winnow worker --db postgres://winnow@db/run1 --threads 8 --lease 120
              winnow worker --db postgres://winnow@db/run1 --keep-waiting --reconnect 3600

            Exit status: 0 every job finished, 65 no cluster in the database or other vectors, 66 storage not visible, \
            69 database unreachable or lost for longer than --reconnect, 70 other failure.
            """
    )

    @OptionGroup var database: DatabaseOption

    @Option(parsing: .unconditional, help: "Seconds a claimed job stays this worker's without a heartbeat (renewed every third).")
    var lease = 60.0

    @Option(parsing: .unconditional, help: "Decode threads (default: as `cluster init` set, else all cores).")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Seconds to keep trying a lost connection before stopping (0: stop at once).")
    var reconnect = 300.0

    @Flag(help: "Keep waiting for jobs once every job is finished (otherwise exit).")
    var keepWaiting = false

    @Flag(help: "No line per job.")
    var quiet = false

    func validate() throws {
        try OptionRange.check("--lease", lease, in: 1...86_400)
        try OptionRange.check("--threads", threads, in: 1...1024)
        try OptionRange.check("--reconnect", reconnect, in: 0...604_800)
    }

    func run() async throws {
        let worker = Worker(address: try database.address, leaseSeconds: lease, keepWaiting: keepWaiting, threads: threads,
                            reconnectSeconds: reconnect)
        let quiet = self.quiet
        do {
            let summary = try await worker.run { line in if !quiet { standardError("winnow worker: \(line)") } }
            print("winnow worker \(worker.name): \(summary.jobsDone) jobs done, \(summary.jobsFailed) failed, "
                  + "\(summary.images) images, \(summary.pairs) pairs")
        } catch {
            throw clusterFailure(error)
        }
    }
}
