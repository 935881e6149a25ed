import Foundation
import Testing
@testable import WinnowCore

@Suite(.serialized) struct RunTests {
    /// The bundled example dataset, made by the project's own script from real photos.
    func makeExample() throws -> URL {
        let folder = try TestData.temporaryDirectory().appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, folder.path])
        #expect(made.status == 0, "\(made.output)")
        return folder
    }

    func fingerprint(_ folder: URL) throws -> [String: String] {
        var prints: [String: String] = [:]
        for case let url as URL in FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)! {
            guard let data = try? Data(contentsOf: url) else { continue }
            prints[url.path] = data.withUnsafeBytes { ContentHash.hex($0) }
        }
        return prints
    }

    @Test func exampleRunFindsEachPlantedProblem() throws {
        let images = try makeExample()
        let before = try fingerprint(images)
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path)).execute()
        #expect(try fingerprint(images) == before, "inputs must never change")
        #expect(summary.files == 18 && summary.invalid == 2 && summary.valid == 16)
        #expect(summary.skippedNonImages == 1)
        #expect(summary.exactDuplicateGroups == 1 && summary.exactDuplicateFiles == 1)

        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        let codes = Dictionary(uniqueKeysWithValues: bad.map { (URL(fileURLWithPath: $0["filename"]!).lastPathComponent, $0["error_code"]!) })
        #expect(codes == ["motorcycle_truncated.jpg": "ERROR_TRUNCATED_IMAGE", "empty.jpg": "ERROR_ZERO_SIZE_FILE"])
        #expect(bad.allSatisfy { !($0["reason"] ?? "").isEmpty && !($0["reason"] ?? "").contains("\n") })

        let features = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        let stats = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(features.count == 16 && stats.count == 16)
        #expect(features.map { $0["index"] } == stats.map { $0["index"] })
        #expect(features.allSatisfy { $0["filename"]!.hasPrefix(images.path + "/") })
        let header = try String(contentsOf: work.appendingPathComponent("atrain_stats.csv"), encoding: .utf8).prefix { $0 != "\n" }
        #expect(header == "index,width,height,unique,blur,mean,min,max,stdv,file_size,contrast")
        // Indices are global over all files, as fastdup's: valid and invalid never share one.
        #expect(Set(features.map { $0["index"]! }).isDisjoint(with: bad.map { $0["index"]! }))

        let quality = try TestData.readCSV(work.appendingPathComponent("quality.csv"))
        func flagged(_ issue: String) -> Set<String> {
            Set(quality.filter { $0["is_" + issue] == "1" }.map { URL(fileURLWithPath: $0["filename"]!).lastPathComponent })
        }
        #expect(flagged("blurry") == ["coffee_blurry.jpg"])
        #expect(flagged("dark") == ["chelsea_dark.jpg"])
        #expect(flagged("bright") == ["astronaut_bright.jpg"])
        #expect(flagged("grayscale").contains("ihc_gray.jpg"))

        let duplicates = try TestData.readCSV(work.appendingPathComponent("exact_duplicates.csv"))
        #expect(duplicates.count == 1)
        #expect(duplicates.first?["first_filename"]?.hasSuffix("photos/coffee (copy).jpg") == true)
        #expect(duplicates.first?["filename"]?.hasSuffix("photos/coffee.jpg") == true)

        let catalog = try Catalog(url: work.appendingPathComponent(Catalog.fileName))
        #expect(try catalog.stateCounts() == ["valid": 16, "invalid": 2])
        #expect(try catalog.query("SELECT COUNT(*) AS n FROM issues WHERE issue = 'blurry'").first?["n"] == "1")
        #expect(try catalog.runCount(state: "finished") == 1)

        // Same command again: nothing is decoded twice and the outputs are identical.
        let statsBefore = try Data(contentsOf: work.appendingPathComponent("atrain_stats.csv"))
        let again = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path)).execute()
        #expect(again.processedThisRun == 0 && again.reused == 18)
        #expect(try Data(contentsOf: work.appendingPathComponent("atrain_stats.csv")) == statsBefore)
    }

    @Test func aChangedFileIsDecodedAgain() throws {
        let images = try makeExample()
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let configuration = RunConfiguration(inputs: [images.path], workDirectory: work.path)
        _ = try Run(configuration: configuration).execute()
        let target = images.appendingPathComponent("issues/empty.jpg")
        try FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: images.appendingPathComponent("photos/rocket.jpg"), to: target)
        let summary = try Run(configuration: configuration).execute()
        #expect(summary.processedThisRun == 1)
        #expect(summary.invalidByCode == ["TRUNCATED_IMAGE": 1])
        #expect(summary.exactDuplicateGroups == 2)
    }

    /// kill -9 in the middle of a run, then the same command again.
    @Test func aKilledRunResumesWithoutDecodingFinishedImages() throws {
        let corpus = try TestData.corpus("B")
        let images = corpus.appendingPathComponent("images")
        let total = try FileManager.default.contentsOfDirectory(atPath: images.path).filter { !$0.hasPrefix(".") }.count
        let work = try TestData.temporaryDirectory().appendingPathComponent("work")
        let database = work.appendingPathComponent(Catalog.fileName).path
        let arguments = ["run", images.path, "--work-dir", work.path, "--threads", "1", "--quiet", "--json"]

        let child = Process()
        child.executableURL = TestData.winnowExecutable
        child.arguments = arguments
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        var processedAtKill = 0
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && child.isRunning {
            let count = try? TestData.shell("sqlite3", ["-cmd", ".timeout 2000", database,
                                                        "SELECT COUNT(*) FROM samples WHERE state != 'pending'"])
            processedAtKill = Int(count?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            if processedAtKill > 0 { break }
            usleep(20_000)
        }
        #expect(child.isRunning, "the run finished before it could be killed")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let committed = Int(try TestData.shell("sqlite3", [database, "SELECT COUNT(*) FROM samples WHERE state != 'pending'"])
            .output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(committed > 0 && committed < total, "killed with \(committed) of \(total) committed")

        let rerun = try TestData.shell(TestData.winnowExecutable.path, arguments)
        #expect(rerun.status == 0, "\(rerun.output)")
        let summary = try #require(try TestData.runSummary(rerun.output))
        #expect(summary.files == total)
        #expect(summary.processedThisRun == total - committed)
        #expect(summary.reused == committed)

        let features = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(features.count + bad.count == total)
        #expect(try TestData.shell("sqlite3", [database, "PRAGMA integrity_check"]).output.hasPrefix("ok"))
        #expect(try TestData.shell("sqlite3", [database, "SELECT state FROM runs ORDER BY id"]).output
            .split(separator: "\n") == ["interrupted", "finished"])
    }

    /// Corpus set B: every corrupt file is invalid with the right code, every decodable file has
    /// a stats row, and the shared scorer agrees.
    @Test func corpusSetBIsFullyAccounted() throws {
        let corpus = try TestData.corpus("B")
        let work = try TestData.temporaryDirectory().appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [corpus.appendingPathComponent("images").path],
                                                              workDirectory: work.path)).execute()
        let truth = try TestData.readCSV(corpus.appendingPathComponent("ground_truth.csv"))
        #expect(summary.files == truth.count)
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        let codes = Dictionary(uniqueKeysWithValues: bad.map { (URL(fileURLWithPath: $0["filename"]!).lastPathComponent, $0["error_code"]!) })
        let stats = Set(try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
            .map { URL(fileURLWithPath: $0["filename"]!).lastPathComponent })
        let expectedCodes = ["corrupt_truncated_jpeg": "ERROR_TRUNCATED_IMAGE", "corrupt_truncated_png": "ERROR_TRUNCATED_IMAGE",
                             "corrupt_zero_bytes": "ERROR_ZERO_SIZE_FILE", "corrupt_random_bytes": "ERROR_CORRUPT_IMAGE",
                             "corrupt_bad_header": "ERROR_CORRUPT_IMAGE", "tiny": "ERROR_TOO_SMALL",
                             "unsupported_format": "ERROR_UNSUPPORTED_FORMAT"]
        for row in truth {
            let file = row["file"]!, issue = row["issue"]!
            if let expected = expectedCodes[issue] {
                if issue == "unsupported_format" && row["params"]!.contains("JPEG2000") {
                    #expect(stats.contains(file), "JPEG 2000 is decoded: \(file)")
                } else {
                    #expect(codes[file] == expected, "\(file) (\(issue)): \(codes[file] ?? "decoded")")
                }
            } else {
                #expect(stats.contains(file), "\(file) (\(issue) \(row["params"]!)) should decode: \(codes[file] ?? "")")
            }
        }
        let scorer = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/corpus/score_broken_files.py").standardizedFileURL
        if FileManager.default.fileExists(atPath: scorer.path) {
            let score = try TestData.shell("python3", [scorer.path, corpus.path, work.path])
            #expect(score.status == 0, "\(score.output)")
        }
    }

    @Test func aMissingInputIsAOneLineErrorWithExitStatus66() throws {
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", "/no/such/photos", "--work-dir", "/tmp/unused-winnow"])
        #expect(result.status == 66)
        #expect(result.output == "winnow: input not found: /no/such/photos\n")
    }
}
