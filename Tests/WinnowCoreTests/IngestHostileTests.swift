import Foundation
import Testing
@testable import WinnowCore

/// Hostile inputs for ingest: one file reached by several paths, symbolic links, input folders
/// with the same name, FIFOs and devices named as images, the work_dir as input, folders that
/// cannot be listed and file names that are not UTF-8. Every CLI run is time-bounded.
@Suite struct IngestHostileTests {
    // MARK: - One physical file is one sample

    @Test func aFolderAndItsSubfolderGiveEachFileOnce() throws {
        let root = try TestData.temporaryDirectory()
        let sub = root.appendingPathComponent("ov/sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let photo = try TestData.photoFixtures(in: sub, names: ["coffee"])[0]
        #expect(link(photo.path, sub.appendingPathComponent("hard.jpg").path) == 0)
        let result = try Ingestor().ingest([root.appendingPathComponent("ov").path, sub.path])
        // A hard link is another name, so another file (as in fastdup); moving it loses nothing.
        #expect(result.sources.map(\.id) == ["ov/sub/coffee.jpg", "ov/sub/hard.jpg"])
    }

    @Test func aFileListNamingOneFileTwoWaysGivesOneSample() throws {
        let root = try TestData.temporaryDirectory()
        let same = root.appendingPathComponent("same")
        try FileManager.default.createDirectory(at: same, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: same, names: ["coffee"])
        let list = root.appendingPathComponent("list.txt")
        try "same/coffee.jpg\n./same/coffee.jpg\n\(same.path)/coffee.jpg\n".write(to: list, atomically: false, encoding: .utf8)
        let result = try Ingestor().ingest([list.path])
        #expect(result.sources.map(\.id) == ["same/coffee.jpg"])
    }

    @Test func anArchiveReachedTwiceGivesItsMembersOnce() throws {
        let root = try TestData.temporaryDirectory()
        let folder = root.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: root, names: ["coffee"])
        let archive = folder.appendingPathComponent("x.tar")
        let made = try TestData.shell("tar", ["-cf", archive.path, "-C", root.path, "coffee.jpg"])
        #expect(made.status == 0, "\(made.output)")
        let result = try Ingestor().ingest([folder.path, archive.path])
        #expect(result.sources.map(\.id) == ["d/x.tar/coffee.jpg"])
    }

    @Test func cleanKeepsTheOnlyCopyOfAFileGivenTwice() throws {
        let root = try TestData.temporaryDirectory()
        let sub = root.appendingPathComponent("ov/sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let photo = try TestData.photoFixtures(in: sub, names: ["coffee"])[0]
        let work = root.appendingPathComponent("wov").path
        let run = try Self.winnow(["run", root.appendingPathComponent("ov").path, sub.path, "-w", work, "--no-embeddings", "--json"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(try TestData.runSummary(run.output)?.files == 1)
        let clean = try Self.winnow(["clean", work, "--groups", "exact", "--quarantine", root.appendingPathComponent("q").path, "--apply"])
        #expect(clean.status == 0, "\(clean.errors)")
        #expect(FileManager.default.fileExists(atPath: photo.path), "the only copy was moved away")
    }

    // MARK: - Symbolic links

    @Test func symlinkedInputsAndFoldersInsideThemAreFollowed() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos"), other = root.appendingPathComponent("other")
        for folder in [photos, other] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        _ = try TestData.photoFixtures(in: photos, names: ["coffee", "chelsea"])
        let outside = try TestData.photoFixtures(in: other, names: ["astronaut", "motorcycle_left"])
        try Self.symlink(photos.appendingPathComponent("more"), to: "../other")
        try Self.symlink(photos.appendingPathComponent("linked.jpg"), to: outside[0].path)
        let folderLink = root.appendingPathComponent("L"), fileLink = root.appendingPathComponent("one.jpg")
        try Self.symlink(folderLink, to: "photos")
        try Self.symlink(fileLink, to: outside[1].path)
        let result = try Ingestor().ingest([folderLink.path])
        #expect(result.sources.map(\.id) == ["chelsea.jpg", "coffee.jpg", "linked.jpg", "more/motorcycle_left.jpg"])
        #expect(try Ingestor().ingest([fileLink.path]).sources.map(\.id) == ["one.jpg"])
    }

    @Test func symlinkLoopsAndBrokenLinksAreReported() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos.appendingPathComponent("sub"), withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: photos, names: ["coffee"])
        try Self.symlink(photos.appendingPathComponent("sub/loop"), to: "..")
        try Self.symlink(photos.appendingPathComponent("broken.jpg"), to: "nowhere.jpg")
        let run = try Self.winnow(["run", photos.path, "-w", root.appendingPathComponent("work").path, "--no-embeddings", "--json"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(try TestData.runSummary(run.output)?.files == 1)
        #expect(run.errors.contains { $0.contains("sub/loop") && $0.contains("loop") }, "\(run.errors)")
        #expect(run.errors.contains { $0.contains("broken.jpg") && $0.contains("broken symbolic link") }, "\(run.errors)")
    }

    // MARK: - Unique ids

    @Test func inputFoldersWithTheSameLastNameKeepEveryFile() throws {
        let root = try TestData.temporaryDirectory()
        let a = root.appendingPathComponent("coll/a/photos"), b = root.appendingPathComponent("coll/b/photos")
        for folder in [a, b] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        _ = try TestData.photoFixtures(in: a, names: ["coffee"])
        let inB = try TestData.photoFixtures(in: b, names: ["astronaut", "chelsea"])
        try FileManager.default.moveItem(at: inB[0], to: b.appendingPathComponent("coffee.jpg"))
        let work = root.appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [a.path, b.path], workDirectory: work.path)).execute()
        #expect(summary.files == 3)
        try Self.expectFilenamesNameTheirOwnFiles(work, count: 3)
        let ids = try Ingestor().ingest([a.path, b.path]).sources.map(\.id)
        #expect(ids == ["a/photos/coffee.jpg", "b/photos/chelsea.jpg", "b/photos/coffee.jpg"])
    }

    /// A folder `photos` and three lists in other folders: two name `photos/coffee.jpg` beside
    /// them, one `../../two/photos/coffee.jpg`: four different files with alike ids.
    @Test func fileListsNamingDifferentFilesAlikeKeepEveryFile() throws {
        let root = try TestData.temporaryDirectory()
        let photos = [("one/photos", "coffee"), ("two/photos", "astronaut"), ("lists/one/photos", "chelsea"),
                      ("lists/two/photos", "motorcycle_left")]
        for (path, name) in photos {
            let folder = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let photo = try TestData.photoFixtures(in: folder, names: [name])[0]
            if name != "coffee" { try FileManager.default.moveItem(at: photo, to: folder.appendingPathComponent("coffee.jpg")) }
        }
        var inputs = [root.appendingPathComponent("one/photos").path]
        for (name, line) in [("one", "photos/coffee.jpg"), ("two", "photos/coffee.jpg"), ("three", "../../two/photos/coffee.jpg")] {
            let folder = root.appendingPathComponent("lists/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "\(line)\n".write(to: folder.appendingPathComponent("list.txt"), atomically: false, encoding: .utf8)
            inputs.append(folder.appendingPathComponent("list.txt").path)
        }
        let work = root.appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: inputs, workDirectory: work.path)).execute()
        #expect(summary.files == 4)
        try Self.expectFilenamesNameTheirOwnFiles(work, count: 4)
    }

    /// Inputs `x/a` (holding `b/coffee.jpg`), `y/a/b` (holding another `coffee.jpg`) and `z/b`:
    /// the prefixes `a/` and `a/b/` give both coffees the id `a/b/coffee.jpg`.
    @Test func idsStayUniqueWhenAPrefixedPathMeetsALongerPrefix() throws {
        let root = try TestData.temporaryDirectory()
        let folders = ["x/a/b", "y/a/b", "z/b"].map { root.appendingPathComponent($0) }
        for folder in folders { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        _ = try TestData.photoFixtures(in: folders[0], names: ["coffee"])
        let other = try TestData.photoFixtures(in: folders[1], names: ["astronaut"])[0]
        try FileManager.default.moveItem(at: other, to: folders[1].appendingPathComponent("coffee.jpg"))
        _ = try TestData.photoFixtures(in: folders[2], names: ["chelsea"])
        let inputs = [root.appendingPathComponent("x/a").path, folders[1].path, folders[2].path]
        let ids = try Ingestor().ingest(inputs).sources.map(\.id)
        #expect(ids == [folders[1].appendingPathComponent("coffee.jpg").path, "a/b/coffee.jpg", "z/b/chelsea.jpg"])
        let work = root.appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: inputs, workDirectory: work.path)).execute()
        #expect(summary.files == 3)
        try Self.expectFilenamesNameTheirOwnFiles(work, count: 3)
    }

    // MARK: - FIFOs and devices

    @Test func aFIFOGivenDirectlyOrListedIsAnInvalidRowAndTheRunGoesOn() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: photos, names: ["coffee"])
        for name in ["pipe.jpg", "rawpipe", "pipes.txt", "pipes.tar", "pipe.mp4"] {
            #expect(mkfifo(root.appendingPathComponent(name).path, 0o644) == 0)
        }
        let list = root.appendingPathComponent("list.txt")
        try "pipe.jpg\nrawpipe\n".write(to: list, atomically: false, encoding: .utf8)
        let work = root.appendingPathComponent("work")
        let direct = ["pipe.jpg", "rawpipe", "pipes.txt", "pipes.tar", "pipe.mp4"].map { root.appendingPathComponent($0).path }
        let run = try Self.winnow(["run", photos.path] + direct + [list.path, "-w", work.path, "--no-embeddings", "--json"],
                                  seconds: 60)
        #expect(run.status == 0, "\(run.errors)")
        for name in ["pipes.txt", "pipes.tar"] {
            #expect(run.errors.contains { $0.contains(name) && $0.contains("not a regular file (a FIFO)") }, "\(run.errors)")
        }
        #expect(try TestData.runSummary(run.output)?.valid == 1)
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 3, "\(bad)")
        for row in bad {
            #expect(row["error_code"] == "ERROR_UNREADABLE")
            #expect(row["reason"]?.contains("FIFO") == true, "\(row)")
        }
    }

    @Test func aDeviceNamedAsAnImageIsNotReadEndlessly() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: photos, names: ["coffee"])
        let zero = root.appendingPathComponent("zero.jpg")
        try Self.symlink(zero, to: "/dev/zero")
        let list = root.appendingPathComponent("list.txt")
        try "/dev/urandom\n".write(to: list, atomically: false, encoding: .utf8)
        let work = root.appendingPathComponent("work")
        // At most 4 GB of address space, so today's unbounded read fails fast instead of filling memory.
        let run = try Self.winnow(["run", photos.path, zero.path, list.path, "-w", work.path, "--no-embeddings", "--json"],
                                  seconds: 60, addressSpaceKB: 4 << 20)
        #expect(run.status == 0, "\(run.errors)")
        #expect(try TestData.runSummary(run.output)?.valid == 1)
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 2, "\(bad)")
        #expect(bad.allSatisfy { $0["error_code"] == "ERROR_UNREADABLE" && $0["reason"]?.contains("character device") == true }, "\(bad)")
    }

    // MARK: - The work_dir as input

    @Test func theWorkDirOrAFolderInsideItAsInputIsRefused() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos"), work = root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        let photo = try TestData.photoFixtures(in: photos, names: ["coffee"])[0]
        let first = try Self.winnow(["run", photos.path, "-w", work.path, "--no-embeddings", "--quiet"])
        #expect(first.status == 0, "\(first.errors)")
        let thumbnails = work.appendingPathComponent("thumbnails")
        try FileManager.default.createDirectory(at: thumbnails, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: photo, to: thumbnails.appendingPathComponent("0.jpg"))
        for input in [work.path, work.path + "/", thumbnails.path] {
            let run = try Self.winnow(["run", input, "-w", work.path, "--no-embeddings", "--quiet"])
            #expect(run.status == 64, "\(input): \(run.errors)")
            #expect(run.errors.count == 1 && run.errors[0].contains("work_dir"), "\(run.errors)")
        }
    }

    @Test func aSymlinkIntoTheWorkDirIsNotFollowed() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos"), work = root.appendingPathComponent("work")
        for folder in [photos, work] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let photo = try TestData.photoFixtures(in: photos, names: ["coffee"])[0]
        try FileManager.default.copyItem(at: photo, to: work.appendingPathComponent("thumb.jpg"))
        try Self.symlink(photos.appendingPathComponent("w"), to: "../work")
        let result = try Ingestor(excludedFolders: [work]).ingest([photos.path])
        #expect(result.sources.map(\.id) == ["coffee.jpg"])
    }

    // MARK: - Folders that cannot be listed, names that are not UTF-8

    /// Root reads `chmod 000` folders, so the run is made as `nobody` (setpriv).
    @Test func aFolderThatCannotBeListedIsReported() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos"), locked = root.appendingPathComponent("photos/locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: photos, names: ["coffee"])
        _ = try TestData.photoFixtures(in: locked, names: ["chelsea"])
        #expect(chmod(locked.path, 0) == 0 && chmod(root.path, 0o777) == 0)
        let run = try Self.winnow(["run", photos.path, "-w", root.appendingPathComponent("work").path, "--no-embeddings", "--json"],
                                  asNobody: true)
        #expect(run.status == 0, "\(run.errors)")
        #expect(try TestData.runSummary(run.output)?.files == 1)
        #expect(run.errors.contains { $0.contains("photos/locked") && $0.contains("Permission denied") }, "\(run.errors)")
    }

    @Test func aFileNameThatIsNotUTF8IsReported() throws {
        let root = try TestData.temporaryDirectory()
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        let photo = try TestData.photoFixtures(in: photos, names: ["coffee"])[0]
        // "café.jpg" in Latin-1: the byte 0xE9 alone is not UTF-8.
        let latin1 = Array((photos.path + "/caf").utf8) + [0xE9] + Array(".jpg".utf8)
        #expect(Self.copy(photo, toRawPath: latin1), "could not make the Latin-1 file name")
        let run = try Self.winnow(["run", photos.path, "-w", root.appendingPathComponent("work").path, "--no-embeddings", "--json"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(try TestData.runSummary(run.output)?.files == 1)
        #expect(run.errors.contains { $0.contains("photos/caf") && $0.contains("UTF-8") }, "\(run.errors)")
    }
}

// MARK: - Helpers

extension IngestHostileTests {
    struct Finished {
        var status: Int32
        var output: String
        /// Standard error, one entry per line.
        var errors: [String]
    }

    struct StillRunning: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs the built `winnow` and waits at most `seconds`; killed and failed after that.
    /// `addressSpaceKB` caps its memory (ulimit -v); `asNobody` runs it as user nobody.
    static func winnow(_ arguments: [String], seconds: Double = 120, addressSpaceKB: Int? = nil,
                       asNobody: Bool = false) throws -> Finished {
        var command = [TestData.winnowExecutable.path] + arguments
        if asNobody { command = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + command }
        if let addressSpaceKB { command = ["/bin/sh", "-c", "ulimit -v \(addressSpaceKB) && exec \"$@\"", "sh"] + command }
        let folder = try TestData.temporaryDirectory("winnow-output")
        let out = folder.appendingPathComponent("stdout"), err = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if asNobody { process.environment = ProcessInfo.processInfo.environment.merging(["HOME": folder.path]) { _, new in new } }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw StillRunning(description: "winnow \(arguments.joined(separator: " ")) still running after \(seconds) s")
        }
        let errors = try String(contentsOf: err, encoding: .utf8).split(separator: "\n").map(String.init)
        return Finished(status: process.terminationStatus, output: try String(contentsOf: out, encoding: .utf8), errors: errors)
    }

    static func symlink(_ link: URL, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: destination)
    }

    /// Copies `file` to a path given as raw bytes (which need not be UTF-8).
    static func copy(_ file: URL, toRawPath bytes: [UInt8]) -> Bool {
        guard let data = FileManager.default.contents(atPath: file.path) else { return false }
        let descriptor = (bytes.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { path in
            path.baseAddress.map { open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644) } ?? -1
        }
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == data.count
    }

    /// Every catalogued file name names a distinct file of the size catalogued for it.
    static func expectFilenamesNameTheirOwnFiles(_ work: URL, count: Int) throws {
        let database = work.appendingPathComponent(Catalog.fileName).path
        let rows = try TestData.shell("sqlite3", ["-separator", "\t", database, "SELECT filename, file_size FROM samples"])
            .output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.count == count)
        #expect(Set(rows.map { $0.first ?? "" }).count == count, "\(rows)")
        for row in rows where row.count == 2 {
            let size = (try? FileManager.default.attributesOfItem(atPath: row[0]))?[.size] as? NSNumber
            #expect(size?.int64Value == Int64(row[1]), "\(row[0]) is not the file catalogued with \(row[1]) bytes")
        }
    }
}
