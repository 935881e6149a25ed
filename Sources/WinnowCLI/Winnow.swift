import ArgumentParser
import Foundation
import WinnowCore

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
              winnow serve work                           browse the findings at http://127.0.0.1:8765/
              winnow visualize work --method umap         2-D map of the embeddings (work/maps/umap.csv)
              winnow gallery work --kind duplicates       HTML gallery (work/galleries/duplicates.html)
              winnow bench decode --corpus ~/.cache/winnow/corpus/C/images
            """,
        version: Winnow.version,
        subcommands: [RunCommand.self, SearchCommand.self, CleanCommand.self, UndoCommand.self, ModelsCommand.self,
                      VisualizeCommand.self, GalleryCommand.self, ServeCommand.self, BenchCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// Exit codes beyond ArgumentParser's own (0 success, 64 usage): sysexits-style.
/// Prints `winnow: <error>` (one line) on standard error and returns the exit status to throw.
func failure(_ error: Any, _ status: ExitCode) -> ExitCode {
    standardError("winnow: \(error)")
    return status
}

/// The items of a comma-separated option value (`a, b,c` → `["a", "b", "c"]`), trimmed.
func commaSeparated(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
}

enum ExitStatus {
    /// An input path does not exist or cannot be read.
    static let noInput = ExitCode(66)
    /// An input file (e.g. an annotation file) is malformed.
    static let dataError = ExitCode(65)
    /// The work_dir or its files cannot be written.
    static let cannotCreate = ExitCode(73)
    /// Anything else that stopped the run.
    static let software = ExitCode(70)
}
