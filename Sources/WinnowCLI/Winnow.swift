import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

@main
struct WinnowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "winnow",
        abstract: "Find what is wrong with an image dataset: broken files, duplicates, quality issues.",
        discussion: """
            Examples:
              winnow run photos/ --work-dir work          analyse a folder (recursive)
              winnow run a/ b/ list.txt shots.tar.gz      several folders, a file list, an archive
              winnow run photos/ --json                   print the summary as JSON
              winnow search work --image query.jpg         images like this one
              winnow clean work --quarantine q --apply    keep the best of each duplicate group
              winnow mark work --not-copy 12,40           a decision every later run applies (winnow marks)
              winnow serve work                           browse the findings at http://127.0.0.1:8765/
              winnow visualize work --method umap         2-D map of the embeddings (work/maps/umap.csv)
              winnow gallery work --kind duplicates       HTML gallery (work/galleries/duplicates.html)
              winnow cluster init --db URL --storage DIR photos/   many machines: then `winnow worker --db URL`
            """,
        version: Winnow.version,
        subcommands: [RunCommand.self, SearchCommand.self, CleanCommand.self, UndoCommand.self, ModelsCommand.self,
                      VisualizeCommand.self, GalleryCommand.self, ServeCommand.self, MarkCommand.self, MarksCommand.self,
                      ClusterCommand.self, WorkerCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// ArgumentParser's `main`, after making sure OpenBLAS runs this CPU's kernels and freed
    /// scratch blocks go back to the system.
    static func main() async {
        BLASConfiguration.startAgainWithTheCPUsKernels()
        FreedMemory.returnLargeBlocks()
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints `winnow: <error>` (one line) on standard error and returns the exit status to throw.
func failure(_ error: Any, _ status: ExitCode) -> ExitCode {
    standardError("winnow: \(error)")
    return status
}
