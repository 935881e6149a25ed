import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow mark`: decisions every later run and `clean` apply, kept in the work_dir's catalog.
struct MarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark",
        abstract: "Record decisions that last: not-a-copy pairs, keep/remove images, protected folders.",
        discussion: """
            Images are named by their index (the `index` column of the work_dir's files). The
            decisions are kept in the catalog and applied by every later `winnow run` (a pair
            marked not a copy leaves similarity.csv, duplicates.csv, the components and near
            duplicates) and by `winnow clean` (keep, remove; nothing under a protected folder is
            ever in remove.csv), through incremental runs and reruns with other thresholds.
            `winnow marks WORK_DIR` lists them; `winnow marks WORK_DIR --undo N` takes one back.

            Examples:
              winnow mark work --not-copy 12,40            these two are not copies
              winnow mark work --keep 12 --remove 40 --remove 41
              winnow mark work --protect /data/canonical   never remove from this folder

            Exit status: 0 recorded, 64 bad usage or an index not in the work_dir, 66 work_dir or
            folder not found, 73 work_dir in use or not writable.
            """
    )

    @Argument(help: "A work_dir written by `winnow run`.")
    var workDir: String

    @Option(name: .customLong("not-copy"), parsing: .unconditionalSingleValue, help: ArgumentHelp(
        "Two image indices that are not copies of each other (repeatable).", valueName: "index,index"))
    var notCopies: [String] = []

    @Option(parsing: .unconditionalSingleValue, help: "An image index `clean` always keeps (repeatable).")
    var keep: [Int64] = []

    @Option(parsing: .unconditionalSingleValue, help: "An image index `clean` removes (repeatable).")
    var remove: [Int64] = []

    @Option(help: "A folder no image of which is ever removed (repeatable).")
    var protect: [String] = []

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    func validate() throws {
        if notCopies.isEmpty && keep.isEmpty && remove.isEmpty && protect.isEmpty {
            throw ValidationError("nothing to record: give --not-copy, --keep, --remove or --protect")
        }
        if let both = Set(keep).intersection(remove).min() { throw ValidationError("index \(both) is both --keep and --remove") }
        _ = try pairs()
    }

    /// `--not-copy` values as index pairs.
    func pairs() throws -> [(Int64, Int64)] {
        try notCopies.map { text in
            let parts = text.split(separator: ",").map { Int64($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let a = parts[0], let b = parts[1], a != b else {
                throw ValidationError("--not-copy takes two different image indices, INDEX,INDEX (got \(String(reflecting: text)))")
            }
            return (min(a, b), max(a, b))
        }
    }

    func run() throws {
        let work = URL(fileURLWithPath: workDir)
        let catalogFile = try catalogURL(ofWorkDirectory: workDir)
        var decisions = try pairs().map { Decision.notCopy($0.0, $0.1) } + keep.map(Decision.keep) + remove.map(Decision.remove)
        for folder in protect {
            var isFolder: ObjCBool = false
            let url = URL(fileURLWithPath: folder).standardizedFileURL
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw failure("\(folder): no such folder", ExitStatus.noInput)
            }
            decisions.append(.protect(folder: url.path))
        }
        let lock = try lockWorkDirectory(work, wait: wait)
        defer { withExtendedLifetime(lock) {} }
        let catalog = try Catalog(url: catalogFile)
        for decision in decisions {
            do {
                let number = try catalog.record(decision)
                print("\(number): \(decision)")
            } catch let error as DecisionError {
                throw failure(error, ExitCode.validationFailure)
            } catch {
                throw failure(error, ExitStatus.cannotCreate)
            }
        }
    }
}
