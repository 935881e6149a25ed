import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

extension KeeperRule: ExpressibleByArgument {}
extension CleanGroups: ExpressibleByArgument {}

struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Choose one image to keep per duplicate group; list or quarantine the rest.",
        discussion: """
            Dry run by default: writes keep.csv and remove.csv into the work_dir and prints the plan.
            With --apply and --quarantine DIR, the images to remove are moved (never deleted) under
            DIR, each move logged first in quarantine_log.jsonl; `winnow undo WORK_DIR` moves them back.
            A file is moved only if it is still the one the run saw (size, time, content) and so is
            its group's kept file; otherwise it stays, with a warning.

            Examples:
              winnow clean work                                   plan only
              winnow clean work --keep-rule sharpness --keep-rule resolution
              winnow clean work --groups exact --quarantine /data/quarantine --apply
              winnow clean work --marks work/review_marks.csv     with the keep/remove marks made in `winnow serve`

            Exit status: 0 done (every planned file moved, with --apply), 65 some files left in place
            because they changed since the run or are inside archives, 66 work_dir or marks file not
            found, 73 work_dir in use or not writable, or some moves failed.
            """
    )

    @Argument(help: "A work_dir written by `winnow run`.")
    var workDir: String

    @Option(name: .customLong("groups"), help: "Groups to clean: exact, components (repeatable; default both).")
    var groups: [CleanGroups] = [.exact, .components]

    @Option(name: .customLong("keep-rule"), help: "Keeper order: resolution, sharpness, size (repeatable; default in that order).")
    var rules: [KeeperRule] = [.resolution, .sharpness, .size]

    @Option(help: "Keep/remove marks (index,mark CSV, as `winnow serve` writes review_marks.csv); they override the keeper rules.")
    var marks: String?

    @Option(help: "Folder to move removed images into (with --apply).")
    var quarantine: String?

    @Flag(help: "Move the files (otherwise only the lists are written).")
    var apply = false

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    func validate() throws {
        if apply && quarantine == nil { throw ValidationError("--apply needs --quarantine DIR (Winnow never deletes files)") }
    }

    func run() throws {
        let work = URL(fileURLWithPath: workDir)
        _ = try catalogURL(ofWorkDirectory: workDir)
        let lock = try lockWorkDirectory(work, wait: wait)
        let plan = try makePlan(work)
        printPlan(plan)
        guard apply, let quarantine else {
            if !plan.removed.isEmpty { print("dry run: nothing moved (add --quarantine DIR --apply)") }
            return
        }
        let report = try Quarantine.move(plan, into: URL(fileURLWithPath: quarantine), holding: lock)
        for (file, reason) in report.skipped + report.failed { standardError("warning: \(file): not moved: \(reason)") }
        let left = report.skipped.count + report.failed.count
        print("moved \(report.moved.count) of \(plan.removed.count) files to \(quarantine)"
              + (left == 0 ? "" : " (\(left) not moved, see the warnings)")
              + (report.moved.isEmpty ? "" : "; undo with: winnow undo \(workDir)"))
        if !report.failed.isEmpty { throw ExitStatus.cannotCreate }
        if !report.skipped.isEmpty { throw ExitStatus.dataError }
    }

    /// The plan from the catalog and the marks, with keep.csv and remove.csv written.
    private func makePlan(_ work: URL) throws -> CleanPlan {
        var reviewMarks: [Int64: ReviewMark] = [:]
        if let marks {
            do {
                let read = try ReviewMark.read(from: URL(fileURLWithPath: marks))
                for warning in read.warnings { standardError("warning: \(warning)") }
                reviewMarks = read.marks
            } catch {
                throw failure(error, ExitStatus.noInput)
            }
        }
        let plan = try CleanPlan.make(workDirectory: work, groups: groups, rules: rules, marks: reviewMarks)
        do {
            try plan.writeLists(to: work)
        } catch {
            throw failure(WorkDirectoryError.notWritable(path: workDir, reason: error.localizedDescription), ExitStatus.cannotCreate)
        }
        return plan
    }

    private func printPlan(_ plan: CleanPlan) {
        print("\(plan.groups.count) duplicate groups: keep \(plan.groups.count), remove \(plan.removed.count) "
              + (plan.reviewed.isEmpty ? "" : "(\(plan.reviewed.count) marked remove outside groups) ")
              + "(keep.csv, remove.csv in \(workDir))")
        for group in plan.groups.prefix(10) {
            print("  keep \(group.keeper.filename)")
            for removed in group.removed { print("    remove \(removed.filename)") }
        }
        if plan.groups.count > 10 { print("  … \(plan.groups.count - 10) more groups in keep.csv / remove.csv") }
    }
}

struct UndoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo",
        abstract: "Move quarantined images back to where they were.",
        discussion: """
            Example:
              winnow undo work

            Exit status: 0 every logged file restored, 66 work_dir not found, 73 work_dir in use or
            not writable, or some files could not be restored (listed as warnings).
            """
    )

    @Argument(help: "The work_dir whose quarantine_log.jsonl lists the moves.")
    var workDir: String

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    func run() throws {
        let work = URL(fileURLWithPath: workDir)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: work.path, isDirectory: &isFolder) else {
            throw failure("\(workDir) does not exist", ExitStatus.noInput)
        }
        guard isFolder.boolValue, [Catalog.fileName, Quarantine.logFileName].contains(where: {
            FileManager.default.fileExists(atPath: work.appendingPathComponent($0).path)
        }) else {
            throw failure("\(workDir) is not a Winnow work_dir (no \(Catalog.fileName))", ExitStatus.noInput)
        }
        let lock = try lockWorkDirectory(work, wait: wait)
        let report: Quarantine.Report
        do {
            report = try Quarantine.undo(holding: lock)
        } catch {
            throw failure(WorkDirectoryError.notWritable(path: workDir, reason: error.localizedDescription), ExitStatus.cannotCreate)
        }
        for (file, reason) in report.failed { standardError("warning: \(file): not restored: \(reason)") }
        print("restored \(report.moved.count) files" + (report.failed.isEmpty ? "" : "; \(report.failed.count) not restored"))
        if !report.failed.isEmpty { throw ExitStatus.cannotCreate }
    }
}
