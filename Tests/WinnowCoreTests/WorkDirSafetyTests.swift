import Foundation
import Testing
@testable import WinnowCore

/// What protects a work_dir and the user's files: one command at a time on a work_dir, a
/// quarantine that acts only on what the last run saw, and a failed run that leaves the last
/// good results in force. Real photos, real `winnow` processes and real (small or read-only)
/// file systems; the mounts need root, as the tests run.
@Suite(.serialized) struct WorkDirSafetyTests {
    // MARK: Fixtures

    /// coffee, chelsea, astronaut and a byte-identical `coffee_copy.jpg` in `root/images`,
    /// analysed without embeddings into `root/work`: one exact group, kept coffee.jpg, removed
    /// coffee_copy.jpg.
    func analysedCopies(_ name: String = #function) throws -> (root: URL, images: URL, work: URL) {
        let root = try TestData.temporaryDirectory(name)
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea", "astronaut"])
        try FileManager.default.copyItem(at: images.appendingPathComponent("coffee.jpg"),
                                         to: images.appendingPathComponent("coffee_copy.jpg"))
        let work = root.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "--work-dir", work.path, "--no-embeddings", "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        return (root, images, work)
    }

    func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }

    /// The lines of `output` that are not empty.
    func lines(_ output: String) -> [String] {
        output.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// A catalog left with two images sharing a feature row (by runs that overlapped before the
    /// lock) is repaired by the next run: both are embedded again, each with its own row.
    @Test func rerunRepairsImagesSharingAFeatureRow() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea", "astronaut"])
        let work = root.appendingPathComponent("work")
        let arguments = ["run", images.path, "--work-dir", work.path, "--model", "mobilenet_v2", "--quiet"]
        #expect(try winnow(arguments).status == 0)
        let catalog = work.appendingPathComponent(Catalog.fileName).path
        let corrupt = try TestData.shell("sqlite3", [catalog, "UPDATE samples SET feature_row = (SELECT feature_row FROM samples WHERE id = 0) WHERE id = 1"])
        #expect(corrupt.status == 0, "\(corrupt.output)")
        let rerun = try winnow(arguments)
        #expect(rerun.status == 0, "\(rerun.output)")
        let rows = try Catalog(url: URL(fileURLWithPath: catalog)).query("SELECT feature_row FROM samples ORDER BY id").map { $0["feature_row"] ?? "" }
        #expect(rows.count == 3 && Set(rows).count == 3 && !rows.contains(""), "\(rows)")
        let vectors = try TestData.features(work)
        #expect(vectors["coffee.jpg"] != nil && vectors["coffee.jpg"] != vectors["chelsea.jpg"])
    }

    // MARK: 14. Missing inputs and a read-only work_dir

    @Test func undoOfAMissingWorkDirSaysSoInOneLine() throws {
        let missing = try TestData.temporaryDirectory().appendingPathComponent("nonexistent")
        let result = try winnow(["undo", missing.path])
        #expect(result.status == 66, "\(result.output)")
        #expect(lines(result.output) == ["winnow: \(missing.path) does not exist"], "\(result.output)")
    }

    @Test func marksFileThatDoesNotExistIsNamedAsMissing() throws {
        let (root, _, work) = try analysedCopies()
        let marks = root.appendingPathComponent("nonexist.csv")
        let result = try winnow(["clean", work.path, "--marks", marks.path])
        #expect(result.status == 66, "\(result.output)")
        #expect(lines(result.output) == ["winnow: \(marks.path): does not exist"], "\(result.output)")
    }

    /// A finished work_dir seen through a read-only bind mount: `run` and `clean` say in one
    /// line that the work_dir cannot be written, exit 73.
    @Test func readOnlyWorkDirIsNamedInOneLineWithExit73() throws {
        let (root, images, work) = try analysedCopies()
        let readOnly = root.appendingPathComponent("read-only")
        let mount = try TestMount.readOnly(work, at: readOnly)
        defer { mount.unmount() }
        let run = try winnow(["run", images.path, "--work-dir", readOnly.path, "--no-embeddings", "--quiet"])
        #expect(run.status == 73 && lines(run.output).count == 1, "\(run.output)")
        #expect(run.output.hasPrefix("winnow: cannot write to work_dir \(readOnly.path)"), "\(run.output)")
        let clean = try winnow(["clean", readOnly.path])
        #expect(clean.status == 73 && lines(clean.output).count == 1, "\(clean.output)")
        #expect(clean.output.hasPrefix("winnow: cannot write to work_dir \(readOnly.path)"), "\(clean.output)")
    }

    // MARK: 7. Quarantine paths

    /// Inputs listed as `../../imgs/x.jpg` in `L/deep/list.txt`: the removed copy lands inside
    /// the quarantine, and nothing appears beside `imgs/`.
    @Test func quarantineStaysInsideForListEntriesWithDotDot() throws {
        let root = try TestData.temporaryDirectory()
        let imgs = root.appendingPathComponent("imgs")
        try FileManager.default.createDirectory(at: imgs, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: imgs, names: ["coffee", "chelsea"])
        try FileManager.default.copyItem(at: imgs.appendingPathComponent("coffee.jpg"), to: imgs.appendingPathComponent("coffee_copy.jpg"))
        let list = root.appendingPathComponent("L/deep/list.txt")
        try FileManager.default.createDirectory(at: list.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "../../imgs/coffee.jpg\n../../imgs/coffee_copy.jpg\n../../imgs/chelsea.jpg\n".write(to: list, atomically: true, encoding: .utf8)
        let work = root.appendingPathComponent("work")
        let run = try winnow(["run", list.path, "--work-dir", work.path, "--no-embeddings", "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: root.path))

        let quarantine = root.appendingPathComponent("Q")
        let clean = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(clean.status == 0, "\(clean.output)")
        let moved = try String(contentsOf: work.appendingPathComponent(Quarantine.logFileName), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map { try JSONDecoder().decode(Quarantine.Move.self, from: Data($0.utf8)) }
        #expect(moved.count == 1 && moved.map { URL(fileURLWithPath: $0.from).standardizedFileURL.path } == [imgs.appendingPathComponent("coffee_copy.jpg").path])
        for move in moved {
            #expect(move.to.hasPrefix(quarantine.path + "/"), "\(move.to)")
            #expect(FileManager.default.fileExists(atPath: move.to))
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: root.path)) == before.union(["Q"]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: imgs.path).sorted() == ["chelsea.jpg", "coffee.jpg"])
    }

    @Test func quarantineTargetIsBuiltInsideTheFolderWhateverTheID() throws {
        let folder = URL(fileURLWithPath: "/q")
        #expect(Quarantine.relativeTarget(for: "../../imgs/x.jpg", filename: "x.jpg") == "imgs/x.jpg")
        #expect(Quarantine.relativeTarget(for: "/data/imgs/x.jpg", filename: "x.jpg") == "data/imgs/x.jpg")
        #expect(Quarantine.relativeTarget(for: "a//./b/../c.jpg", filename: "c.jpg") == "a/b/c.jpg")
        #expect(Quarantine.relativeTarget(for: "", filename: "/data/y.jpg") == "y.jpg")
        #expect(Quarantine.relativeTarget(for: "..", filename: "..") == "unnamed")
        for id in ["../../x.jpg", "/etc/passwd", "", "..", "a/../../.."] {
            let target = folder.appendingPathComponent(Quarantine.relativeTarget(for: id, filename: id)).standardizedFileURL
            #expect(target.path.hasPrefix("/q/"), "\(id) → \(target.path)")
        }
    }

    // MARK: 6. An out-of-date plan

    /// The removed file replaced by another photo, and (separately) rewritten with the same size
    /// and mtime: neither is moved, each is named in one line, and the exit status says so.
    @Test func applySkipsFilesChangedSinceTheRun() throws {
        let (root, images, work) = try analysedCopies()
        let removed = images.appendingPathComponent("coffee_copy.jpg")
        try FileManager.default.removeItem(at: removed)
        try FileManager.default.copyItem(at: images.appendingPathComponent("chelsea.jpg"), to: removed)
        let quarantine = root.appendingPathComponent("Q")
        let replaced = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(replaced.status == 65, "\(replaced.output)")
        #expect(replaced.output.contains("\(removed.path): not moved: changed since the run"), "\(replaced.output)")
        #expect(FileManager.default.fileExists(atPath: removed.path))
        #expect(!FileManager.default.fileExists(atPath: quarantine.appendingPathComponent("coffee_copy.jpg").path))

        // Same size, same mtime, other bytes: only the content hash tells.
        let (root2, images2, work2) = try analysedCopies("applySkipsFilesChangedSinceTheRun-sameSize")
        let copy = images2.appendingPathComponent("coffee_copy.jpg")
        let attributes = try FileManager.default.attributesOfItem(atPath: copy.path)
        var bytes = try Data(contentsOf: copy)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: copy)
        try FileManager.default.setAttributes([.modificationDate: attributes[.modificationDate] as Any], ofItemAtPath: copy.path)
        let quarantine2 = root2.appendingPathComponent("Q")
        let edited = try winnow(["clean", work2.path, "--quarantine", quarantine2.path, "--apply"])
        #expect(edited.status == 65 && edited.output.contains("\(copy.path): not moved: changed since the run"), "\(edited.output)")
        #expect(try Data(contentsOf: copy) == bytes)
    }

    /// The kept file of a group deleted after the run: its copies stay where they are.
    @Test func applyLeavesAGroupWhoseKeptFileIsGone() throws {
        let (root, images, work) = try analysedCopies()
        try FileManager.default.removeItem(at: images.appendingPathComponent("coffee.jpg"))
        let quarantine = root.appendingPathComponent("Q")
        let result = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(result.status == 65, "\(result.output)")
        let copy = images.appendingPathComponent("coffee_copy.jpg").path
        #expect(result.output.contains("\(copy): not moved: its kept file \(images.path)/coffee.jpg no longer exists"),
                "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: copy))
    }

    // MARK: 12. Cross-file-system moves

    /// A quarantine on a tmpfs too small for the file: the move fails, nothing is left that
    /// blocks the next `--apply`, and moving 0 of 1 files exits 73; with room, it moves.
    @Test func failedCrossFileSystemMoveDoesNotBlockTheNextApply() throws {
        let (root, images, work) = try analysedCopies()
        let quarantine = root.appendingPathComponent("Q")
        try FileManager.default.createDirectory(at: quarantine, withIntermediateDirectories: true)
        let mount = try TestMount.tmpfs(at: quarantine, bytes: 16 * 1024)
        defer { mount.unmount() }
        let full = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(full.status == 73, "\(full.output)")
        #expect(full.output.contains("moved 0 of 1 files"), "\(full.output)")
        let copy = images.appendingPathComponent("coffee_copy.jpg")
        #expect(FileManager.default.fileExists(atPath: copy.path))

        try mount.resize(bytes: 4 << 20)
        let roomy = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
        #expect(roomy.status == 0 && roomy.output.contains("moved 1 of 1 files"), "\(roomy.output)")
        #expect(!FileManager.default.fileExists(atPath: copy.path))
        #expect(FileManager.default.fileExists(atPath: quarantine.appendingPathComponent("coffee_copy.jpg").path))
        let undo = try winnow(["undo", work.path])
        #expect(undo.status == 0 && FileManager.default.fileExists(atPath: copy.path), "\(undo.output)")
    }

    /// What a move killed during its copy leaves — the logged move and a partial copy under
    /// Winnow's hidden name — is replaced by the next `--apply`. A file at that name that no
    /// logged move explains is someone else's: left alone, the move takes the next free name.
    @Test func staleOwnPartialIsReplacedAndAnUnexplainedOneIsLeftAlone() throws {
        for logged in [true, false] {
            let (root, images, work) = try analysedCopies("staleOwnPartial-\(logged)")
            let quarantine = root.appendingPathComponent("Q")
            try FileManager.default.createDirectory(at: quarantine, withIntermediateDirectories: true)
            let mount = try TestMount.tmpfs(at: quarantine, bytes: 4 << 20)
            defer { mount.unmount() }
            let copy = images.appendingPathComponent("coffee_copy.jpg")
            let target = quarantine.appendingPathComponent("coffee_copy.jpg").path
            let partial = Quarantine.partialPath(for: target)
            let stale = try Data(contentsOf: copy).prefix(1000)
            try stale.write(to: URL(fileURLWithPath: partial))
            if logged {
                try Quarantine.append(Quarantine.Move(from: copy.path, to: target, bytes: Int64(stale.count), batch: "killed"),
                                      to: work.appendingPathComponent(Quarantine.logFileName))
            }
            let result = try winnow(["clean", work.path, "--quarantine", quarantine.path, "--apply"])
            #expect(result.status == 0 && result.output.contains("moved 1 of 1 files"), "\(result.output)")
            let landed = logged ? target : quarantine.appendingPathComponent("coffee_copy (2).jpg").path
            #expect(try Data(contentsOf: URL(fileURLWithPath: landed)) == Data(contentsOf: images.appendingPathComponent("coffee.jpg")))
            #expect(logged ? !FileManager.default.fileExists(atPath: partial) : try Data(contentsOf: URL(fileURLWithPath: partial)) == stale)
        }
    }

    // MARK: 3. One command at a time

    /// Two `winnow run` processes on one work_dir: the second is refused in one line naming the
    /// work_dir and the first one's pid; the first finishes, and no two images share a vector.
    /// The first is stopped (SIGSTOP) while the second runs, so that it cannot finish first.
    @Test func secondRunOnABusyWorkDirIsRefused() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        #expect(try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path]).status == 0)
        let work = root.appendingPathComponent("work")
        let arguments = ["run", images.path, "--work-dir", work.path, "--model", "mobilenet_v2", "--quiet"]
        let first = try BackgroundWinnow(arguments, log: root.appendingPathComponent("first.log"))
        let catalog = work.appendingPathComponent(Catalog.fileName)
        while !FileManager.default.fileExists(atPath: catalog.path) && first.isRunning { usleep(20_000) }
        kill(first.pid, SIGSTOP)
        let second = try winnow(arguments)
        kill(first.pid, SIGCONT)
        let firstStatus = first.wait()
        #expect(firstStatus == 0, "\(first.output)")
        #expect(second.status == 73, "\(second.output)")
        #expect(lines(second.output) == ["winnow: \(work.path) is in use by another winnow (pid \(first.pid)); "
                                         + "try again when it is done, or add --wait"], "\(second.output)")
        let shared = try Catalog(url: catalog).query(
            "SELECT feature_row FROM samples WHERE feature_row IS NOT NULL GROUP BY feature_row HAVING COUNT(*) > 1")
        #expect(shared.isEmpty)
    }

    // MARK: 3 (continued). The lock as a library user and a waiting command meet it

    /// While another process (this test) holds the lock, `clean`, `undo` and `run` refuse in
    /// one line naming it; with `--wait` a command waits and then runs.
    @Test func commandsRefuseWhileTheWorkDirIsLockedAndWaitWaits() throws {
        let (root, images, work) = try analysedCopies()
        var holder: WorkDirectoryLock? = try WorkDirectoryLock(workDirectory: work)
        let busy = "winnow: \(work.path) is in use by another winnow (pid \(getpid())); try again when it is done, or add --wait"
        for arguments in [["clean", work.path], ["undo", work.path],
                          ["run", images.path, "--work-dir", work.path, "--no-embeddings", "--quiet"]] {
            let result = try winnow(arguments)
            #expect(result.status == 73 && lines(result.output) == [busy], "\(arguments[0]): \(result.output)")
        }
        #expect(throws: WorkDirectoryError.busy(path: work.path, pid: getpid())) {
            _ = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path)).execute()
        }
        let waiting = try BackgroundWinnow(["clean", work.path, "--wait"], log: root.appendingPathComponent("wait.log"))
        usleep(700_000)
        #expect(waiting.isRunning && holder != nil)
        holder = nil
        #expect(waiting.wait() == 0, "\(waiting.output)")
    }

    // MARK: 8. A run that fails for lack of space

    /// A work_dir on a small tmpfs: a second run over a subset fails for lack of space while
    /// writing its results. The catalog's findings and the CSVs are still the first run's, so
    /// `clean` plans from them; with room again, the second run replaces both.
    @Test func runFailingForLackOfSpaceKeepsTheLastGoodResults() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        for folder in ["a", "b"] {
            try FileManager.default.createDirectory(at: images.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        _ = try TestData.photoFixtures(in: images.appendingPathComponent("a"), names: ["coffee"])
        try FileManager.default.copyItem(at: images.appendingPathComponent("a/coffee.jpg"),
                                         to: images.appendingPathComponent("a/coffee_copy.jpg"))
        _ = try TestData.photoFixtures(in: images.appendingPathComponent("b"), names: ["chelsea", "astronaut", "camera", "coins"])
        // Large precomputed vectors (128 KiB each) make the results big next to the catalog.
        let vectors = root.appendingPathComponent("vectors.csv")
        var random = SplitMix(seed: 8)
        var text = ""
        for name in ["a/coffee.jpg", "a/coffee_copy.jpg", "b/chelsea.jpg", "b/astronaut.jpg", "b/camera.jpg", "b/coins.jpg"] {
            if name == "a/coffee_copy.jpg", let last = text.split(separator: "\n").last {
                text += name + last.drop { $0 != "," } + "\n"
                continue
            }
            text += name + "," + (0..<32768).map { _ in String(Float.random(in: -1...1, using: &random)) }.joined(separator: ",") + "\n"
        }
        try text.write(to: vectors, atomically: true, encoding: .utf8)
        let disk = root.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let mount = try TestMount.tmpfs(at: disk, bytes: 6 << 20)
        defer { mount.unmount() }
        let work = disk.appendingPathComponent("work")
        let first = try winnow(["run", images.path, "--work-dir", work.path, "--embeddings", vectors.path, "--quiet"])
        #expect(first.status == 0, "\(first.output)")
        let planned = try winnow(["clean", work.path])
        #expect(planned.output.hasPrefix("1 duplicate groups"), "\(planned.output)")
        let csvBefore = try String(contentsOf: work.appendingPathComponent("exact_duplicates.csv"), encoding: .utf8)

        // Leave 256 KiB: room for the catalog's changes, not for 4 vectors of 128 KiB.
        let filler = disk.appendingPathComponent("filler")
        let free = try mount.freeBytes()
        #expect(try TestData.shell("fallocate", ["-l", String(free - 256 * 1024), filler.path]).status == 0)
        let subset = ["run", images.path, "--work-dir", work.path, "--embeddings", vectors.path, "--find-regex", "^b/", "--quiet"]
        let failed = try winnow(subset)
        #expect(failed.status == 73 && lines(failed.output).count == 1, "\(failed.output)")
        #expect(failed.output.hasPrefix("winnow: cannot write to work_dir \(work.path)"), "\(failed.output)")
        try FileManager.default.removeItem(at: filler)

        let after = try winnow(["clean", work.path])
        #expect(after.output.hasPrefix("1 duplicate groups"), "\(after.output)")
        #expect(try String(contentsOf: work.appendingPathComponent("exact_duplicates.csv"), encoding: .utf8) == csvBefore)
        #expect(try Catalog(url: work.appendingPathComponent(Catalog.fileName)).query("SELECT * FROM exact_duplicates").count == 1)
        // No staging folder or temporary file is left; the index cache (hidden, by design) may be.
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).allSatisfy {
            !$0.hasPrefix(".") || $0 == ".winnow.lock" || $0.hasPrefix(IndexCache.folderPrefix)
        })

        let retried = try winnow(subset)
        #expect(retried.status == 0, "\(retried.output)")
        #expect(try winnow(["clean", work.path]).output.hasPrefix("0 duplicate groups"))
        #expect(try TestData.readCSV(work.appendingPathComponent("exact_duplicates.csv")).isEmpty)
        #expect(try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).count == 4)
    }

    /// A run stopped after its findings were committed but before all its files moved in (as
    /// the catalog records it) is finished by the next run; a staging folder of a run that
    /// never committed is dropped unread.
    @Test func interruptedPublicationIsFinishedByTheNextRun() throws {
        let (_, images, work) = try analysedCopies()
        let committed = work.appendingPathComponent(StagedOutputs.prefix + "98")
        let abandoned = work.appendingPathComponent(StagedOutputs.prefix + "99")
        for folder in [committed, abandoned] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("slice"), withIntermediateDirectories: true)
            try "index\n".write(to: folder.appendingPathComponent("slice/\(folder.lastPathComponent).csv"), atomically: true, encoding: .utf8)
        }
        try Catalog(url: work.appendingPathComponent(Catalog.fileName)).setSetting(Catalog.publishingKey, committed.lastPathComponent)
        let run = try winnow(["run", images.path, "--work-dir", work.path, "--no-embeddings", "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("slice/\(committed.lastPathComponent).csv").path))
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("slice/\(abandoned.lastPathComponent).csv").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.hasPrefix(StagedOutputs.prefix) }.isEmpty)
        #expect(try Catalog(url: work.appendingPathComponent(Catalog.fileName)).setting(Catalog.publishingKey) == nil)
    }
}

/// A `winnow` process running in the background, its output going to `log`.
final class BackgroundWinnow {
    let process = Process()
    let log: URL

    init(_ arguments: [String], log: URL) throws {
        self.log = log
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw TestDataMissing("cannot create \(log.path)") }
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = TestData.winnowExecutable
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits for the process to end and returns its exit status.
    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// A real file system mounted for one test (the tests run as root): a small tmpfs, or a
/// read-only view of a folder.
struct TestMount {
    let point: URL

    static func tmpfs(at point: URL, bytes: Int) throws -> TestMount {
        try mount(["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", point.path], at: point)
    }

    static func readOnly(_ folder: URL, at point: URL) throws -> TestMount {
        try FileManager.default.createDirectory(at: point, withIntermediateDirectories: true)
        let mounted = try mount(["--bind", folder.path, point.path], at: point)
        do { try mounted.run(["-o", "remount,bind,ro", point.path]) } catch {
            mounted.unmount()
            throw error
        }
        return mounted
    }

    private static func mount(_ arguments: [String], at point: URL) throws -> TestMount {
        let mounted = TestMount(point: point)
        try mounted.run(arguments)
        return mounted
    }

    private func run(_ arguments: [String]) throws {
        let result = try TestData.shell("mount", arguments)
        guard result.status == 0 else {
            throw TestDataMissing("mount \(arguments.joined(separator: " ")) failed (the tests need root): \(result.output)")
        }
    }

    func resize(bytes: Int) throws {
        try run(["-o", "remount,size=\(bytes)", point.path])
    }

    func freeBytes() throws -> Int {
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: point.path)
        return (attributes[.systemFreeSize] as? NSNumber)?.intValue ?? 0
    }

    func unmount() {
        _ = try? TestData.shell("umount", [point.path])
    }
}
