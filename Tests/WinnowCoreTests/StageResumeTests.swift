import Foundation
import Testing
@testable import WinnowCore
import WinnowTestSupport

/// `kill -9` at the start of every stage (every entry of it) of a run, then the same command: the work already
/// finished is not redone and the outputs equal an uninterrupted run's, byte for byte.
@Suite(.serialized) struct StageResumeTests {
    /// The files a run's user reads: the fastdup files and Winnow's own CSVs.
    static let outputs = ["atrain_features.dat", "atrain_features.dat.csv", "atrain_features.bad.csv", "atrain_stats.csv",
                          "quality.csv", "exact_duplicates.csv", "similarity.csv", "duplicates.csv", "outliers.csv",
                          "connected_components.csv", "component_info.csv", "near_duplicates.csv", "scores.csv"]

    /// Set A with its vectors given (`--model copy --embeddings`: the network's last bits vary
    /// between runs, given vectors do not), so every stage is deterministic; each run is stopped
    /// by `WINNOW_STOP_AT_STAGE` when it enters the stage (or its nth entry: `analyses#3`) and killed there.
    @Test func aRunKilledAtTheStartOfAnyStageResumesToTheSameOutputs() throws {
        let images = try TestData.corpus("A").appendingPathComponent("images")
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let embedded = root.appendingPathComponent("embedded")
        let embedding = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", embedded.path, "--quiet"])
        try #require(embedding.status == 0, "\(embedding.output)")
        let vectors = try Self.rawDescriptors(of: embedded, to: root.appendingPathComponent("descriptors.csv")).path
        let arguments = { (work: URL) in
            ["run", images.path, "-w", work.path, "--model", "copy", "--embeddings", vectors, "--quiet", "--json"]
        }
        let reference = root.appendingPathComponent("uninterrupted")
        let uninterrupted = try TestData.shell(TestData.winnowExecutable.path, arguments(reference))
        try #require(uninterrupted.status == 0, "\(uninterrupted.output)")
        let files = try #require(try TestData.runSummary(uninterrupted.output)).files

        // Every stage entry in run order (the analyses are entered again after whitening and
        // after verification, the outputs after the labels).
        for stage in ["ingest", "decode", "analyses", "whiten", "analyses#2", "outputs", "index", "verify", "analyses#3",
                      "reference", "labels", "outputs#2"] {
            let work = root.appendingPathComponent("killed-at-\(stage)")
            try Self.kill(arguments(work), atTheStartOf: stage)
            let resumed = try TestData.shell(TestData.winnowExecutable.path, arguments(work))
            #expect(resumed.status == 0, "\(stage): \(resumed.output)")
            let summary = try #require(try TestData.runSummary(resumed.output))
            // Killed before the decode stage finished, every image is decoded by the second run; after, none.
            let decodedBefore = !["ingest", "decode"].contains(stage)
            #expect(summary.files == files && summary.processedThisRun == (decodedBefore ? 0 : files), "\(stage): \(summary)")
            for file in Self.outputs {
                let (expected, found) = (try? Data(contentsOf: reference.appendingPathComponent(file)),
                                         try? Data(contentsOf: work.appendingPathComponent(file)))
                #expect(expected != nil && found == expected, "killed at \(stage): \(file) differs")
            }
        }
    }

    /// The raw copy descriptors of a run's samples (its feature store, before whitening) as an
    /// `--embeddings` CSV: `path,v0,v1,…`.
    static func rawDescriptors(of work: URL, to url: URL) throws -> URL {
        let rows = try TestData.shell("sqlite3", [work.appendingPathComponent(Catalog.fileName).path,
                                                  "SELECT feature_row, path FROM samples WHERE feature_row IS NOT NULL"])
        let store = try FeatureMatrix(mapping: work.appendingPathComponent("features.f32"), dimension: CopyDescriptor.dimension)
        var text = ""
        for line in rows.output.split(separator: "\n") {
            let fields = line.split(separator: "|", maxSplits: 1)
            guard fields.count == 2, let row = Int(fields[0]) else { continue }
            text += "\(fields[1])," + store.row(row).map { "\($0)" }.joined(separator: ",") + "\n"
        }
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Starts `winnow` with `arguments`, waits until it stops itself at `stage`, kills it (SIGKILL).
    static func kill(_ arguments: [String], atTheStartOf stage: String) throws {
        let process = Process()
        process.executableURL = TestData.winnowExecutable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["WINNOW_STOP_AT_STAGE": stage]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning, Date() < deadline, !TestFiles.isStopped(process.processIdentifier) { usleep(10_000) }
        #expect(TestFiles.isStopped(process.processIdentifier), "the run did not stop at \(stage)")
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run ended before it was killed at \(stage)")
    }
}
