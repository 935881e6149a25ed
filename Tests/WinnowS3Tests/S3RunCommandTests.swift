import Foundation
import Testing
import WinnowTestSupport

/// `winnow run` on s3:// and minio:// inputs, as a process against moto's server on 127.0.0.1.
@Suite(.serialized) struct S3RunCommandTests {
    /// Runs the built `winnow` with `arguments` and `environment` (only); returns its exit
    /// status, standard output and standard error.
    func winnow(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = TestFiles.winnowExecutable
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        let output = Pipe(), error = Pipe()
        (process.standardOutput, process.standardError) = (output, error)
        try process.run()
        let errorText = Thread.detachNewThreadReadingToEnd(error)
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), errorText())
    }

    func processedCount(_ json: String) -> Int? {
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        let summary = (object?["summary"] as? [String: Any]) ?? object
        return (summary?["processedThisRun"] ?? summary?["processed_this_run"]) as? Int
    }

    @Test func runReadsABucketAgainOnlyWhereAnObjectChanged() throws {
        let server = try MotoServer.shared()
        let data = try TestFiles.skimageData()
        let photos = ["chelsea.png", "coffee.png", "astronaut.png"].map { data.appendingPathComponent($0) }
        let bucket = "run-\(UInt32.random(in: 0...UInt32.max))"
        try server.makeBucket(bucket, photos.map { (key: "photos/\($0.lastPathComponent)", file: $0) })
        let work = try TestFiles.temporaryDirectory()
        let arguments = ["run", "minio://127.0.0.1:\(server.port)/\(bucket)/photos/", "--work-dir", work.path, "--no-embeddings",
                         "--json", "--quiet"]
        let first = try winnow(arguments, environment: server.environment())
        #expect(first.status == 0, "\(first.error)")
        #expect(processedCount(first.output) == 3)
        let stats = try TestFiles.readCSV(work.appendingPathComponent("quality.csv"))
        #expect(Set(stats.compactMap { $0["filename"] }) == Set(photos.map { "minio://127.0.0.1:\(server.port)/\(bucket)/photos/\($0.lastPathComponent)" }))
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("s3_objects/127.0.0.1_\(server.port)/\(bucket)/photos/coffee.png").path))
        let second = try winnow(arguments, environment: server.environment())
        #expect(second.status == 0 && (processedCount(second.output)) == 0, "\(second.error)")
        try server.python("s3.upload_file(\(MotoServer.literal(photos[0].path)), \(MotoServer.literal(bucket)), 'photos/coffee.png')")
        let third = try winnow(arguments, environment: server.environment())
        #expect(third.status == 0 && (processedCount(third.output)) == 1, "\(third.error)")
    }

    @Test func videoObjectsBecomeFramesNamedByTheirAddress() throws {
        let server = try MotoServer.shared()
        let folder = try TestFiles.temporaryDirectory()
        let pan = try VideoFixtures.pan(in: folder)
        let cut = try VideoFixtures.truncated(pan, fraction: 0.4, as: "cut.mp4", in: folder)
        let bucket = "video-\(UInt32.random(in: 0...UInt32.max))"
        try server.makeBucket(bucket, [(key: "clips/pan.mp4", file: pan), (key: "clips/cut.mp4", file: cut),
                                       (key: "clips/coffee.png", file: try TestFiles.skimageData().appendingPathComponent("coffee.png"))])
        let work = folder.appendingPathComponent("work")
        let prefix = "minio://127.0.0.1:\(server.port)/\(bucket)/clips/"
        let arguments = ["run", prefix, "--work-dir", work.path, "--no-embeddings", "--json", "--quiet"]
        let first = try winnow(arguments, environment: server.environment())
        #expect(first.status == 0, "\(first.error)")
        #expect(processedCount(first.output) == 6 + 1 + 1)
        let names = try TestFiles.readCSV(work.appendingPathComponent("quality.csv")).compactMap { $0["filename"] }
        #expect(names == [prefix + "coffee.png"] + (0..<6).map { prefix + "pan.mp4#t=\($0).000" })
        let videos = try TestFiles.readCSV(work.appendingPathComponent("videos.csv"))
        #expect(videos.map { $0["frames"] } == ["6"], "\(videos)")
        let bad = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.map { $0["filename"] } == [prefix + "cut.mp4"] && bad.first?["error_code"] == "ERROR_CORRUPT_IMAGE", "\(bad)")
        let second = try winnow(arguments, environment: server.environment())
        #expect(second.status == 0 && processedCount(second.output) == 0, "\(second.error)")
    }

    @Test func aBadSecretStopsTheRunWithOneLine() throws {
        let server = try MotoServer.shared()
        let work = try TestFiles.temporaryDirectory()
        let result = try winnow(["run", "s3://any-bucket/x", "--s3-endpoint", server.endpoint, "--work-dir", work.path, "--quiet"],
                                environment: server.environment(secret: "wrong-secret"))
        #expect(result.status == 77)
        #expect(result.error.hasPrefix("winnow: s3://any-bucket/x: HTTP 403 SignatureDoesNotMatch"))
        #expect(result.error.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1, "\(result.error)")
    }

    @Test func aMissingBucketStopsTheRunWithOneLine() throws {
        let server = try MotoServer.shared()
        let work = try TestFiles.temporaryDirectory()
        let result = try winnow(["run", "s3://missing-bucket-\(UInt32.random(in: 0...UInt32.max))/", "--s3-endpoint", server.endpoint,
                                 "--work-dir", work.path, "--quiet"], environment: server.environment())
        #expect(result.status == 66)
        #expect(result.error.contains("HTTP 404 NoSuchBucket"))
        #expect(result.error.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1, "\(result.error)")
    }

    @Test func s3InputsCannotBeMixedWithLocalOnes() throws {
        let server = try MotoServer.shared()
        let work = try TestFiles.temporaryDirectory()
        let result = try winnow(["run", "s3://some-bucket/", try TestFiles.skimageData().path, "--s3-endpoint", server.endpoint,
                                 "--work-dir", work.path, "--quiet"], environment: server.environment())
        #expect(result.status == 64)
        #expect(result.error.contains("cannot be mixed"))
    }
}

extension Thread {
    /// Reads `pipe` to its end on a thread of its own; the returned function waits for the text.
    static func detachNewThreadReadingToEnd(_ pipe: Pipe) -> () -> String {
        let box = TextBox()
        let thread = Thread { box.finish(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) }
        thread.start()
        return { box.wait() }
    }
}

/// Text handed from one thread to another.
private final class TextBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var text: String?

    func finish(_ value: String) {
        condition.withLock {
            text = value
            condition.broadcast()
        }
    }

    func wait() -> String {
        condition.withLock {
            while text == nil { condition.wait() }
            return text ?? ""
        }
    }
}
