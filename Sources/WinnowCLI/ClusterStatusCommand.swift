import ArgumentParser
import Foundation
import WinnowCluster
import WinnowCommandSupport

struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a cluster run's progress: jobs per stage, workers alive, failed shards, ETA.",
        discussion: """
            The JSON (--json) has "done": true once every job is finished (done or failed), the jobs \
            per stage, each worker's last heartbeat, failed shards with their one-line reasons, and \
            images/s, jobs/s and a rough ETA.

            Examples:
              winnow cluster status --db postgres://winnow@db/run1
              winnow cluster status --db postgres://winnow@db/run1 --json | jq .done

            Exit status: 0, 65 no cluster (or another schema) in the database, 69 unreachable.
            """
    )

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        let status: ClusterStatus
        do {
            status = try await ClusterStatus.read(try database.address)
        } catch {
            throw clusterFailure(error)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(status.text)
        }
    }
}
