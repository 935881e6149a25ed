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

    // MARK: 3. One command at a time

    /// Two `winnow run` processes on one work_dir: the second is refused in one line naming the
    /// work_dir and the first one's pid; the first finishes, and no two images share a vector.
    @Test func secondRunOnABusyWorkDirIsRefused() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        #expect(try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path]).status == 0)
        let work = root.appendingPathComponent("work")
        let arguments = ["run", images.path, "--work-dir", work.path, "--model", "mobilenet_v2", "--quiet"]
        let first = try BackgroundWinnow(arguments, log: root.appendingPathComponent("first.log"))
        let catalog = work.appendingPathComponent(Catalog.fileName)
        while !FileManager.default.fileExists(atPath: catalog.path) && first.isRunning { usleep(20_000) }
        let second = try winnow(arguments)
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
