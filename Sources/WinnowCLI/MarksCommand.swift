import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow marks`: the decisions recorded with `winnow mark`, listed or taken back.
struct MarksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "marks",
        abstract: "List the decisions recorded with `winnow mark`, or undo some.",
        discussion: """
            Each line is a decision's number, when it was made and what it says. The next run (and
            `clean`) no longer applies an undone decision.

            Examples:
              winnow marks work                 list
              winnow marks work --json          as JSON
              winnow marks work --undo 3        take decision 3 back

            Exit status: 0 done, 64 a number that is not a recorded decision, 66 work_dir not
            found, 73 work_dir in use or not writable.
            """
    )

    @Argument(help: "A work_dir written by `winnow run`.")
    var workDir: String

    @Option(parsing: .unconditionalSingleValue, help: "The number of a decision to take back (repeatable).")
    var undo: [Int64] = []

    @Flag(help: "Print the decisions as JSON.")
    var json = false

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    func run() throws {
        let work = URL(fileURLWithPath: workDir)
        let catalogFile = try catalogURL(ofWorkDirectory: workDir)
        if !undo.isEmpty {
            let lock = try lockWorkDirectory(work, wait: wait)
            defer { withExtendedLifetime(lock) {} }
            let missing = try Catalog(url: catalogFile).undoDecisions(undo)
            guard missing.isEmpty else {
                throw failure("no decision numbered \(missing.map(String.init).joined(separator: ", ")) (see `winnow marks \(workDir)`)",
                              ExitCode.validationFailure)
            }
        }
        let recorded = try Catalog(url: catalogFile).decisions()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(recorded), as: UTF8.self))
        } else {
            let formatter = ISO8601DateFormatter()
            for entry in recorded { print("\(entry.number)  \(formatter.string(from: entry.created))  \(entry.decision)") }
            if recorded.isEmpty { print("no decisions (record some with `winnow mark`)") }
        }
    }
}
