import ArgumentParser
import WinnowCore

/// `winnow-bench`: the benchmarks, kept out of the `winnow` that users run.
@main
struct WinnowBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "winnow-bench",
        abstract: "Winnow's benchmarks, each beside the anchor it is compared with (fastdup, cleanvision, umap-learn).",
        discussion: """
            Benchmarks that time `winnow run` use the `winnow` built beside this one.
            Build both with `swift build -c release` (`swift run` builds only one).

            Examples:
              winnow-bench decode --corpus ~/.cache/winnow/corpus/C/images
              winnow-bench embed --corpus ~/.cache/winnow/corpus/C/images --images 2000
              winnow-bench copies --corpus ~/.cache/winnow/corpus/A
              winnow-bench index --rows 1000000
              winnow-bench maps --corpus ~/.cache/winnow/corpus/C/images --images 10000
              winnow-bench labels --corpus ~/.cache/winnow/corpus/D/photos
              winnow-bench scale --sizes 10000,50000,100000,200000 --fastdup
            """,
        version: Winnow.version,
        subcommands: [BenchDecodeCommand.self, BenchEmbedCommand.self, BenchCopiesCommand.self, BenchIndexCommand.self,
                      BenchLabelsCommand.self, BenchMapsCommand.self, BenchScaleCommand.self, BenchResumeCommand.self]
    )

    /// ArgumentParser's `main`, after making sure OpenBLAS runs this CPU's kernels and freed
    /// scratch blocks go back to the system.
    static func main() {
        BLASConfiguration.startAgainWithTheCPUsKernels()
        FreedMemory.returnLargeBlocks()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
