import Foundation
import Testing
@testable import WinnowCore

@Suite struct IngestTests {
    /// A folder with photos in a subfolder, a hidden file, a notes file and an extension-less JPEG.
    func makeTree() throws -> URL {
        let root = try TestData.temporaryDirectory()
        let sub = root.appendingPathComponent("sub/deeper")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let photos = try TestData.photoFixtures(in: root, names: ["coffee", "chelsea", "astronaut"])
        try FileManager.default.moveItem(at: photos[1], to: sub.appendingPathComponent("chelsea.jpg"))
        try FileManager.default.copyItem(at: photos[0], to: root.appendingPathComponent("no_extension"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("notes.txt"))
        try Data("x".utf8).write(to: root.appendingPathComponent(".hidden.jpg"))
        return root
    }

    @Test func walksFoldersRecursivelyWithStableRelativeIDs() throws {
        let root = try makeTree()
        let result = try Ingestor().ingest([root.path])
        #expect(result.sources.map(\.id) == ["astronaut.jpg", "coffee.jpg", "no_extension", "sub/deeper/chelsea.jpg"])
        #expect(result.skippedNonImages == 1)
        #expect(result.sources.allSatisfy { $0.byteCount > 0 })
    }

    /// Resume compares sizes and modification times with the catalog's, written by earlier
    /// versions from Foundation's values: ingest's must be the very same numbers.
    @Test func sizesAndModificationTimesAreFoundationsSoOldCatalogsResume() throws {
        let root = try makeTree()
        let sources = try Ingestor().ingest([root.path]).sources
        #expect(sources.count == 4)
        for source in sources {
            guard case .file(let path) = source.location else { continue }
            let values = try URL(fileURLWithPath: path).resourceValues(forKeys: [.fileSizeKey, .contentModificationDateKey])
            #expect(source.byteCount == Int64(values.fileSize ?? -1))
            #expect(source.modificationTime == values.contentModificationDate?.timeIntervalSince1970, "\(source.id)")
        }
    }

    @Test func severalInputsArePrefixedWithTheirFolderName() throws {
        let a = try makeTree(), b = try makeTree()
        let result = try Ingestor().ingest([a.path, b.path])
        #expect(result.sources.count == 8)
        #expect(Set(result.sources.map(\.id)).count == 8)
        #expect(result.sources.contains { $0.id == a.lastPathComponent + "/coffee.jpg" })
    }

    @Test func fileListsResolveRelativePathsAndReportMissingFiles() throws {
        let root = try makeTree()
        let list = root.appendingPathComponent("list.csv")
        try "filename,label\ncoffee.jpg,cup\nsub/deeper/chelsea.jpg,cat\nmissing.jpg,none\n".write(to: list, atomically: false, encoding: .utf8)
        let result = try Ingestor().ingest([list.path])
        #expect(result.sources.map(\.id) == ["coffee.jpg", "sub/deeper/chelsea.jpg"])
        #expect(result.missing.count == 1)
        #expect(result.missing.first?.problem.reason == .unreadable)
        #expect(result.missing.first?.problem.message.contains("missing.jpg") == true)
    }

    @Test(arguments: ["tar", "tar.gz", "zip"])
    func archivesAreListedAndReadWithoutExtracting(kind: String) throws {
        let root = try makeTree()
        let archive = try TestData.temporaryDirectory().appendingPathComponent("tree.\(kind)")
        let made = kind == "zip"
            ? try TestData.shell("sh", ["-c", "cd '\(root.path)' && python3 -m zipfile -c '\(archive.path)' coffee.jpg sub notes.txt"])
            : try TestData.shell("tar", [kind == "tar" ? "-cf" : "-czf", archive.path, "-C", root.path, "coffee.jpg", "sub", "notes.txt"])
        #expect(made.status == 0, "\(made.output)")
        let result = try Ingestor().ingest([archive.path])
        let name = archive.lastPathComponent
        #expect(result.sources.map(\.id) == ["\(name)/coffee.jpg", "\(name)/sub/deeper/chelsea.jpg"])
        #expect(result.skippedNonImages == 1)
        var read: [String: Int] = [:]
        try ArchiveReader(url: archive).readMembers(["coffee.jpg", "sub/deeper/chelsea.jpg"]) { member, bytes in
            read[member] = (try? bytes.get())?.count
            return true
        }
        let original = try Data(contentsOf: root.appendingPathComponent("coffee.jpg"))
        #expect(read["coffee.jpg"] == original.count)
        #expect(read["sub/deeper/chelsea.jpg"] ?? 0 > 1000)
    }

    @Test func aCorruptArchiveIsAClearError() throws {
        let root = try TestData.temporaryDirectory()
        let archive = root.appendingPathComponent("broken.tar.gz")
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03]).write(to: archive)
        #expect {
            try Ingestor().ingest([archive.path])
        } throws: { error in
            guard case .unreadableArchive(let path, _) = error as? IngestError else { return false }
            return path.hasSuffix("broken.tar.gz")
        }
    }

    @Test func optionsSelectLikeFastdup() throws {
        let root = try makeTree()
        let all = try Ingestor().ingest([root.path]).sources.map(\.id)
        let offsets = try Ingestor(options: IngestOptions(minimumOffset: 1, maximumOffset: 3)).ingest([root.path])
        #expect(offsets.sources.map(\.id) == Array(all[1..<3]))
        let regex = try Ingestor(options: IngestOptions(findRegex: "^sub/")).ingest([root.path])
        #expect(regex.sources.map(\.id) == ["sub/deeper/chelsea.jpg"])
        let limited = try Ingestor(options: IngestOptions(maximumCount: 2)).ingest([root.path])
        #expect(limited.sources.map(\.id) == Array(all.prefix(2)))
        let sizes = try Ingestor().ingest([root.path]).sources.map(\.byteCount).sorted()
        let big = try Ingestor(options: IngestOptions(minimumFileSize: sizes[1])).ingest([root.path])
        #expect(big.sources.count == 3)
        #expect(big.skippedSmallFiles == 1)
    }

    @Test func missingInputAndBadRegexAreErrors() throws {
        #expect(throws: IngestError.inputNotFound("/no/such/folder")) { try Ingestor().ingest(["/no/such/folder"]) }
        let root = try makeTree()
        #expect(throws: IngestError.invalidRegex("([")) {
            try Ingestor(options: IngestOptions(findRegex: "([")).ingest([root.path])
        }
    }

    @Test func theWorkDirectoryInsideAnInputIsNotIngested() throws {
        let root = try makeTree()
        let work = root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root.appendingPathComponent("coffee.jpg"), to: work.appendingPathComponent("thumb.jpg"))
        let result = try Ingestor(excludedFolders: [work]).ingest([root.path])
        #expect(!result.sources.contains { $0.id.hasPrefix("work/") })
    }
}
