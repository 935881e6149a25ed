import Foundation
import Testing
@testable import WinnowCore

@Suite(.serialized) struct CleanTests {
    func analysedExample() throws -> (images: URL, work: URL) {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        #expect(try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path]).status == 0)
        let work = root.appendingPathComponent("work")
        _ = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                    embedding: .mobileNetV2(squash: false))).execute()
        return (images, work)
    }

    @Test func keeperRulesPreferResolutionThenRealSharpnessThenSize() {
        func member(_ id: Int64, pixels: Int, sharpness: Double, size: Int64) -> CleanPlan.Member {
            CleanPlan.Member(id: id, path: "\(id)", filename: "\(id)", location: nil, pixels: pixels, sharpness: sharpness, fileSize: size)
        }
        let rules: [KeeperRule] = [.resolution, .sharpness, .size]
        #expect(CleanPlan.better(member(1, pixels: 200, sharpness: 1, size: 1), member(0, pixels: 100, sharpness: 900, size: 9), rules))
        #expect(CleanPlan.better(member(1, pixels: 100, sharpness: 900, size: 1), member(0, pixels: 100, sharpness: 500, size: 9), rules))
        // Within 10 % sharpness the larger file wins; all equal → lower index.
        #expect(CleanPlan.better(member(1, pixels: 100, sharpness: 800, size: 9), member(0, pixels: 100, sharpness: 806, size: 1), rules))
        #expect(CleanPlan.better(member(0, pixels: 1, sharpness: 1, size: 1), member(1, pixels: 1, sharpness: 1, size: 1), rules))
        #expect(CleanPlan.better(member(1, pixels: 100, sharpness: 1, size: 9), member(0, pixels: 900, sharpness: 1, size: 1), [.size]))
    }

    @Test func dryRunListsOnlyAndApplyMovesAndUndoRestores() throws {
        let (images, work) = try analysedExample()
        let plan = try CleanPlan.make(workDirectory: work)
        let kept = Set(plan.groups.map { URL(fileURLWithPath: $0.keeper.filename).lastPathComponent })
        let removed = Set(plan.removed.map { URL(fileURLWithPath: $0.filename).lastPathComponent })
        #expect(kept == ["astronaut.jpg", "coffee (copy).jpg"] && removed == ["astronaut_q30.jpg", "coffee.jpg"])

        let dry = try TestData.shell(TestData.winnowExecutable.path, ["clean", work.path])
        #expect(dry.status == 0 && dry.output.contains("dry run"))
        #expect(FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/coffee.jpg").path))
        #expect(try TestData.readCSV(work.appendingPathComponent("remove.csv")).count == 2)

        let quarantine = work.deletingLastPathComponent().appendingPathComponent("quarantine")
        let applied = try TestData.shell(TestData.winnowExecutable.path,
                                         ["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(!FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/coffee.jpg").path))
        #expect(FileManager.default.fileExists(atPath: quarantine.appendingPathComponent("photos/coffee.jpg").path))
        #expect(FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/coffee (copy).jpg").path))

        let undone = try TestData.shell(TestData.winnowExecutable.path, ["undo", work.path])
        #expect(undone.status == 0 && undone.output.hasPrefix("restored 2 files"), "\(undone.output)")
        #expect(FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/coffee.jpg").path))
        #expect(FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/astronaut_q30.jpg").path))
        #expect(try String(contentsOf: work.appendingPathComponent(Quarantine.logFileName), encoding: .utf8).isEmpty)
    }

    /// One file vanishes before the move and another's original place is taken before undo:
    /// the rest still move and come back, nothing is overwritten.
    @Test func undoAfterPartialFailureRestoresWhatMoved() throws {
        let (images, work) = try analysedExample()
        let plan = try CleanPlan.make(workDirectory: work)
        let vanished = images.appendingPathComponent("photos/coffee.jpg")
        let stash = work.appendingPathComponent("stash.jpg")
        try FileManager.default.moveItem(at: vanished, to: stash)
        let quarantine = work.deletingLastPathComponent().appendingPathComponent("quarantine")
        // A file already in the quarantine under the same name is not overwritten.
        let occupied = quarantine.appendingPathComponent("photos/astronaut_q30.jpg")
        try FileManager.default.createDirectory(at: occupied.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("someone else's file".utf8).write(to: occupied)

        let lock = try WorkDirectoryLock(workDirectory: work)
        let report = try Quarantine.move(plan, into: quarantine, holding: lock)
        #expect(report.moved.count == 1 && report.failed.isEmpty && report.skipped.count == 1)
        #expect(report.skipped.first?.0 == vanished.path && report.skipped.first?.1 == "no longer exists")
        #expect(report.moved.first?.to == quarantine.appendingPathComponent("photos/astronaut_q30 (2).jpg").path)
        #expect(try String(contentsOf: occupied, encoding: .utf8) == "someone else's file")

        // Undo restores the moved file; the stash returns meanwhile and is left alone.
        try FileManager.default.moveItem(at: stash, to: vanished)
        let undone = try Quarantine.undo(holding: lock)
        #expect(undone.moved.count == 1 && undone.failed.isEmpty)
        #expect(FileManager.default.fileExists(atPath: images.appendingPathComponent("photos/astronaut_q30.jpg").path))
        #expect(try String(contentsOf: occupied, encoding: .utf8) == "someone else's file")

        // A restored path taken again: undo keeps the quarantined copy and says why.
        _ = try Quarantine.move(plan, into: quarantine, holding: lock)
        try Data("new".utf8).write(to: vanished)
        let blocked = try Quarantine.undo(holding: lock)
        #expect(blocked.moved.count == 1 && blocked.failed.count == 1)
        #expect(blocked.failed.first?.1.hasPrefix("a file is at the original path again") == true)
        #expect(try String(contentsOf: vanished, encoding: .utf8) == "new")
    }

    @Test func applyWithoutQuarantineIsRefused() throws {
        let result = try TestData.shell(TestData.winnowExecutable.path, ["clean", "/tmp", "--apply"])
        #expect(result.status == 64 && result.output.contains("--apply needs --quarantine DIR"))
    }
}
