import ArgumentParser
import Foundation
import WinnowCluster
import WinnowCommandSupport
import WinnowCore

struct ClusterFinishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finish",
        abstract: "Write a normal work_dir from a finished cluster run (fastdup files, CSVs, catalog).",
        discussion: """
            Once every job is finished (`winnow cluster status`), writes what `winnow run` with the \
            cluster's options writes: the statistics and quality files, exact_duplicates.csv (found by \
            a GROUP BY in the database), and from the workers' vectors the whitening, kNN, verified \
            similarity.csv, components, outliers and scores; and the catalog, so that `winnow \
            gallery`, `serve` and `clean` work on it. Images of a failed shard are listed in \
            atrain_features.bad.csv with the shard's reason.

            The kNN search and copy verification are shared with the workers still running (they \
            wait while a finish runs) and the finishing process itself: the index the finish builds \
            goes on the storage and each block of --rows-per-job rows becomes a knn job; each \
            verification pass's candidate pairs become verify jobs of --pairs-per-job pairs. A block \
            or pair no job did is done here, and the result is the same whoever did what.

            Examples:
              winnow cluster finish --db postgres://winnow@db/run1 --work-dir work
              winnow cluster finish --db postgres://winnow@db/run1 --work-dir work --json
              winnow cluster finish --db postgres://winnow@db/run1 --work-dir work --pairs-per-job 50000

            Exit status: 0 written, 65 no cluster in the database, vectors missing or computed \
            differently on this machine, 69 unreachable, 73 work_dir not writable or in use, 75 jobs \
            still pending or running or another finish running, 70 other failure.
            """
    )

    @OptionGroup var database: DatabaseOption

    @Option(name: .shortAndLong, help: "Where results are written (created if missing).")
    var workDir: String

    @Flag(help: "Print the summary as JSON on standard output.")
    var json = false

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    @Option(help: "Most candidate pairs in one verify job.")
    var pairsPerJob = 10_000

    @Option(help: "Rows of the kNN graph in one knn job.")
    var rowsPerJob = 4096

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        try OptionRange.check("--pairs-per-job", pairsPerJob, in: 1...100_000_000)
        try OptionRange.check("--rows-per-job", rowsPerJob, in: 1...100_000_000)
    }

    func run() async throws {
        var finish = ClusterFinish(address: try database.address, workDirectory: workDir)
        finish.waitsForLock = wait
        finish.pairsPerJob = pairsPerJob
        finish.rowsPerJob = rowsPerJob
        let summary: RunSummary
        let bar = quiet ? nil : ProgressBar()
        var progress: ProgressHandler?
        if let bar { progress = { stage, done, total in bar.update(label: stage, done: done, total: total) } }
        do {
            summary = try await finish.run(progress: progress)
            bar?.finish()
        } catch {
            bar?.finish()
            throw clusterFailure(error)
        }
        if json {
            print(try SummaryReport.json(summary))
        } else {
            print(SummaryReport.text(summary, workDirectory: workDir))
        }
    }
}
