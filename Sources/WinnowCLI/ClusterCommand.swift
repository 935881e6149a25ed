import ArgumentParser
import Foundation
import WinnowCluster
import WinnowCommandSupport
import WinnowCore

/// `winnow cluster`: one analysis on many machines, coordinated by a PostgreSQL database.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Analyse one collection with many `winnow worker`s, coordinated by PostgreSQL.",
        discussion: """
            PostgreSQL holds the plan (the listing split into shards, one job per shard), the workers' \
            leases and the results; start any number of `winnow worker --db URL` on machines that see \
            the inputs and the storage folder. See docs/cluster.md.

            Examples:
              winnow cluster init --db postgres://winnow@db/run1 --storage /shared/run1 photos/
              winnow worker --db postgres://winnow@db/run1              (on each machine)
              winnow cluster status --db postgres://winnow@db/run1 --json
              winnow cluster finish --db postgres://winnow@db/run1 --work-dir work
            """,
        subcommands: [ClusterInitCommand.self, ClusterStatusCommand.self, ClusterFinishCommand.self]
    )
}

/// `--db`: the cluster's database.
struct DatabaseOption: ParsableArguments {
    @Option(help: ArgumentHelp("The cluster's database: postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require].",
                               valueName: "url"))
    var db: String

    func validate() throws {
        do { _ = try DatabaseAddress(db) } catch { throw ValidationError(error.description) }
    }

    var address: DatabaseAddress {
        get throws { try DatabaseAddress(db) }
    }
}

/// Prints `error` as one line and returns the exit status it stands for.
func clusterFailure(_ error: any Error) -> ExitCode {
    switch error {
    case let error as ClusterError:
        switch error {
        case .unreachable, .connectionLost: return failure(error, ExitStatus.unavailable)
        case .wrongSchema, .notInitialised, .alreadyInitialised, .badConfiguration, .embeddingMismatch, .vectorsUnreadable,
             .planUnreadable:
            return failure(error, ExitStatus.dataError)
        case .notFinished, .finishRunning: return failure(error, ExitStatus.tryAgain)
        case .badAddress: return failure(error, ExitCode.validationFailure)
        case .storageMissing: return failure(error, ExitStatus.noInput)
        default: return failure(error, ExitStatus.software)
        }
    case let error as EmbeddingError:
        return failure(error, error.exitStatus)
    case let error as IngestError:
        if case .inputNotFound = error { return failure(error, ExitStatus.noInput) }
        return failure(error, ExitStatus.software)
    case let error as WorkDirectoryError:
        return failure(error.message, ExitStatus.cannotCreate)
    case let error as CocoaError where error.code.rawValue >= 512 && error.code.rawValue < 1024:
        return failure("cannot write: \(error.localizedDescription)", ExitStatus.cannotCreate)
    default:
        return failure(ClusterError.describe(error), ExitStatus.software)
    }
}
