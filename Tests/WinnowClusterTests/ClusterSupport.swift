import Foundation
import Synchronization
import WinnowTestSupport

/// Runs the built `winnow` as real processes against a real PostgreSQL server.
enum Cluster {
    /// `winnow ARGS…`, waited for: exit status and standard output + error.
    @discardableResult
    static func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestFiles.shell(TestFiles.winnowExecutable.path, arguments)
    }

    /// A `winnow worker` started in the background; its output goes to `log`.
    static func startWorker(_ database: String, _ extra: [String] = [], log: URL) throws -> Process {
        try start(["worker", "--db", database] + extra, log: log)
    }

    /// `winnow ARGS…` started in the background with `environment` added; its output goes to `log`.
    static func start(_ arguments: [String], environment: [String: String] = [:], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = TestFiles.winnowExecutable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Waits up to `seconds` for `process` to exit; kills it and returns false when it did not.
    static func waitForExit(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    /// The example dataset (real photos with planted problems: a truncated JPEG, an empty file,
    /// a byte-identical copy, a non-image) made by the project's script, and corpus set A's images.
    static func inputs(in folder: URL, withCorpus: Bool) throws -> [String] {
        let example = folder.appendingPathComponent("example")
        let made = try TestFiles.shell("bash", ["scripts/make-example.sh", try TestFiles.skimageData().path, example.path],
                                       in: TestFiles.repository)
        guard made.status == 0 else { throw TestDataMissing("make-example.sh: \(made.output)") }
        guard withCorpus else { return [example.path] }
        let corpus = URL(fileURLWithPath: ProcessInfo.processInfo.environment["WINNOW_CORPUS"]
                         ?? TestFiles.cache.appendingPathComponent("corpus").path).appendingPathComponent("A/images")
        guard FileManager.default.fileExists(atPath: corpus.path) else {
            throw TestDataMissing("corpus set A not found at \(corpus.path); run scripts/test.sh")
        }
        return [example.path, corpus.path]
    }

    /// The files `winnow run --no-embeddings` and `cluster finish` both write.
    static let comparedFiles = ["atrain_stats.csv", "quality.csv", "exact_duplicates.csv", "atrain_features.bad.csv",
                                "atrain_features.dat.csv"]

    /// The example and set A, and `winnow run --no-embeddings` on them: made once per process.
    static func inputsAndReference() throws -> (inputs: [String], reference: URL) {
        try shared.withLock { shared in
            if let shared { return shared }
            let folder = try TestFiles.temporaryDirectory("reference")
            let inputs = try Cluster.inputs(in: folder, withCorpus: true)
            let work = folder.appendingPathComponent("reference")
            let run = try winnow(["run"] + inputs + ["--no-embeddings", "--work-dir", work.path, "--quiet"])
            guard run.status == 0 else { throw TestDataMissing("winnow run failed: \(run.output)") }
            shared = (inputs, work)
            return (inputs, work)
        }
    }

    private static let shared = Mutex<(inputs: [String], reference: URL)?>(nil)

    /// The files of the embedding analyses a default `winnow run` and `cluster finish` both write.
    static let embeddingFiles = ["atrain_features.dat", "knn.bin", "similarity.csv", "connected_components.csv", "outliers.csv",
                                 "near_duplicates.csv", "scores.csv"]

    /// The differences between two work_dirs' `files` (empty: identical).
    static func differences(_ a: URL, _ b: URL, files: [String] = comparedFiles) throws -> [String] {
        try files.compactMap { name in
            let left = try Data(contentsOf: a.appendingPathComponent(name)), right = try Data(contentsOf: b.appendingPathComponent(name))
            guard left != right else { return nil }
            let l = String(decoding: left, as: UTF8.self).split(separator: "\n"), r = String(decoding: right, as: UTF8.self).split(separator: "\n")
            let first = zip(l, r).first { $0 != $1 }.map { "\($0) ≠ \($1)" } ?? "\(l.count) vs \(r.count) lines"
            return "\(name): \(first)"
        }
    }

    /// `cluster status --json`, decoded.
    static func status(_ database: String) throws -> [String: Any] {
        let result = try winnow(["cluster", "status", "--db", database, "--json"])
        guard result.status == 0, let start = result.output.firstIndex(of: "{"),
              let object = try JSONSerialization.jsonObject(with: Data(result.output[start...].utf8)) as? [String: Any] else {
            throw TestDataMissing("cluster status failed: \(result.output)")
        }
        return object
    }

    /// The lines of `text` that are not empty.
    static func lines(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }
}
