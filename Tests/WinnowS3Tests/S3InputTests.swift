import Foundation
import Synchronization
import Testing
import WinnowCore
import WinnowTestSupport
@testable import WinnowS3

/// S3 inputs against moto's S3-compatible server on 127.0.0.1 (``MotoServer``): listing with
/// pagination, copies resumed by ETag, hostile keys, and every failure the run reports.
@Suite(.serialized) struct S3InputTests {
    static let photoNames = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]

    /// Real photos (scikit-image's), as local files.
    func photos() throws -> [URL] {
        let data = try TestFiles.skimageData()
        return Self.photoNames.map { data.appendingPathComponent($0) }.filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    func uniqueBucket(_ name: String) -> String { "\(name)-\(UInt32.random(in: 0...UInt32.max))" }

    func options(_ server: MotoServer, folder: URL, pageSize: Int = 1000, concurrency: Int = 4, secret: String? = nil) -> S3Options {
        S3Options(localFolder: folder, endpoint: server.endpoint, concurrency: concurrency, pageSize: pageSize,
                  environment: server.environment(secret: secret))
    }

    @Test func listsEveryPageAndCopiesEveryObject() async throws {
        let server = try MotoServer.shared(), photos = try photos()
        let bucket = uniqueBucket("pages")
        let objects = (0..<23).map { (key: "set/img-\(String(format: "%02d", $0)).\(photos[$0 % photos.count].pathExtension)",
                                      file: photos[$0 % photos.count]) }
        try server.makeBucket(bucket, objects + [(key: "other/outside.png", file: photos[0]), (key: "set/notes.txt", file: photos[0])])
        let folder = try TestFiles.temporaryDirectory()
        let fetched = try await S3Inputs(options: options(server, folder: folder, pageSize: 5))
            .fetch(["s3://\(bucket)/set/"], ingest: IngestOptions())
        #expect(fetched.found.sources.map(\.id) == objects.map { "s3://\(bucket)/\($0.key)" })
        #expect(fetched.found.skippedNonImages == 1)
        #expect(fetched.downloaded == 23 && fetched.reused == 0 && fetched.found.missing.isEmpty)
        for (source, object) in zip(fetched.found.sources, objects) {
            #expect(FileManager.default.contentsEqual(atPath: source.location.path, andPath: object.file.path))
            #expect(source.location.path.hasPrefix(folder.path + "/\(bucket)/set/"))
        }
    }

    @Test func secondSyncDownloadsNothingAndAChangedObjectIsDownloadedAgain() async throws {
        let server = try MotoServer.shared(), photos = try photos()
        let bucket = uniqueBucket("resume")
        try server.makeBucket(bucket, photos.enumerated().map { (key: "p/\($0.offset)-\($0.element.lastPathComponent)", file: $0.element) })
        let folder = try TestFiles.temporaryDirectory()
        let inputs = S3Inputs(options: options(server, folder: folder))
        let first = try await inputs.fetch(["s3://\(bucket)/p"], ingest: IngestOptions())
        let second = try await inputs.fetch(["s3://\(bucket)/p"], ingest: IngestOptions())
        #expect(first.downloaded == photos.count && second.downloaded == 0 && second.reused == photos.count)
        #expect(second.found.sources.map(\.modificationTime) == first.found.sources.map(\.modificationTime))
        let changed = "p/0-\(photos[0].lastPathComponent)"
        try server.python("s3.upload_file(\(MotoServer.literal(photos[1].path)), \(MotoServer.literal(bucket)), \(MotoServer.literal(changed)))")
        let third = try await inputs.fetch(["s3://\(bucket)/p"], ingest: IngestOptions())
        #expect(third.downloaded == 1 && third.reused == photos.count - 1)
        let source = try #require(third.found.sources.first { $0.id == "s3://\(bucket)/\(changed)" })
        #expect(FileManager.default.contentsEqual(atPath: source.location.path, andPath: photos[1].path))
        #expect(source.modificationTime != first.found.sources[0].modificationTime)
    }

    @Test func aBadSecretIsOneLineWithTheStatus() async throws {
        let server = try MotoServer.shared()
        let bucket = uniqueBucket("secret")
        try server.makeBucket(bucket, [(key: "a.png", file: try photos()[0])])
        let inputs = S3Inputs(options: options(server, folder: try TestFiles.temporaryDirectory(), secret: "not-the-secret"))
        let error = await #expect(throws: S3Error.self) { try await inputs.fetch(["s3://\(bucket)/"], ingest: IngestOptions()) }
        #expect(error?.status == 403)
        #expect(error.map { "\($0)".contains("SignatureDoesNotMatch") && !"\($0)".contains("\n") } == true)
    }

    @Test func aMissingBucketIsOneLine() async throws {
        let server = try MotoServer.shared()
        let inputs = S3Inputs(options: options(server, folder: try TestFiles.temporaryDirectory()))
        let error = await #expect(throws: S3Error.self) { try await inputs.fetch(["s3://no-such-bucket-here/x"], ingest: IngestOptions()) }
        #expect(error?.status == 404)
        #expect(error.map { "\($0)".hasPrefix("s3://no-such-bucket-here/x: HTTP 404 NoSuchBucket") } == true)
    }

    @Test func anObjectDeletedAfterListingIsAnInvalidRowWithTheStatus() async throws {
        let server = try MotoServer.shared(), photos = try photos()
        let bucket = uniqueBucket("deleted")
        try server.makeBucket(bucket, photos.enumerated().map { (key: "d/\($0.offset).\($0.element.pathExtension)", file: $0.element) })
        let victim = "d/\(photos.count - 1).\(photos[photos.count - 1].pathExtension)"
        let deleted = Mutex(false)
        let inputs = S3Inputs(options: options(server, folder: try TestFiles.temporaryDirectory(), concurrency: 1))
        let fetched = try await inputs.fetch(["s3://\(bucket)/d/"], ingest: IngestOptions()) { _, _ in
            guard !deleted.withLock({ $0 }) else { return }
            deleted.withLock { $0 = true }
            _ = try? server.python("s3.delete_object(Bucket=\(MotoServer.literal(bucket)), Key=\(MotoServer.literal(victim)))")
        }
        #expect(fetched.found.sources.count == photos.count - 1)
        let (source, problem) = try #require(fetched.found.missing.first)
        #expect(source.id == "s3://\(bucket)/\(victim)")
        #expect(problem.reason == .unreadable && problem.message.contains("HTTP 404 NoSuchKey"))
        // The run goes on, and the object is an invalid row of atrain_features.bad.csv with the status.
        let work = try TestFiles.temporaryDirectory()
        var run = Run(configuration: RunConfiguration(inputs: ["s3://\(bucket)/d/"], workDirectory: work.path, workers: 2))
        run.listing = fetched.found
        let summary = try run.execute()
        #expect(summary.files == photos.count)
        let bad = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 1 && bad[0]["filename"] == "s3://\(bucket)/\(victim)")
        #expect(bad.first?.values.contains { $0.contains("HTTP 404") } == true)
    }

    @Test func hostileKeysAreSignedAndStayInsideTheFolder() async throws {
        let server = try MotoServer.shared(), photo = try photos()[1]
        let bucket = uniqueBucket("hostile")
        let keys = ["h/../../escape.png", "h/a b+c%d?e#f&g=h.png", "h/ünïcödé/фото.png", "h/" + String(repeating: "long", count: 80) + ".png",
                    "h//double.png", "h/./dot.png", "h/x.png" + ObjectFile.partialSuffix]
        try server.makeBucket(bucket, keys.map { (key: $0, file: photo) })
        let folder = try TestFiles.temporaryDirectory().appendingPathComponent("mirror")
        let fetched = try await S3Inputs(options: options(server, folder: folder)).fetch(["s3://\(bucket)/h/"], ingest: IngestOptions())
        #expect(fetched.found.missing.map(\.problem.message) == [])
        #expect(Set(fetched.found.sources.map(\.id)) == Set(keys.map { "s3://\(bucket)/\($0)" }))
        for source in fetched.found.sources {
            let path = URL(fileURLWithPath: source.location.path).standardizedFileURL.path
            #expect(path.hasPrefix(folder.path + "/"))
            #expect(FileManager.default.contentsEqual(atPath: path, andPath: photo.path))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.deletingLastPathComponent().appendingPathComponent("escape.png").path))
    }

    @Test func aFileListOfAddressesReadsEachObjectAndAMissingOneIsAnInvalidRow() async throws {
        let server = try MotoServer.shared(), photos = try photos()
        let bucket = uniqueBucket("list")
        try server.makeBucket(bucket, [(key: "l/one.png", file: photos[0]), (key: "l/two.png", file: photos[1])])
        let folder = try TestFiles.temporaryDirectory()
        let list = folder.appendingPathComponent("objects.txt")
        let host = "127.0.0.1:\(server.port)"
        try "# objects\ns3://\(bucket)/l/one.png\nminio://\(host)/\(bucket)/l/two.png\ns3://\(bucket)/l/gone.png\n"
            .write(to: list, atomically: true, encoding: .utf8)
        #expect(S3Inputs.areRemote([list.path]))
        let fetched = try await S3Inputs(options: options(server, folder: folder.appendingPathComponent("copies")))
            .fetch([list.path], ingest: IngestOptions())
        #expect(fetched.found.sources.map(\.id) == ["minio://\(host)/\(bucket)/l/two.png", "s3://\(bucket)/l/one.png"])
        #expect(fetched.found.missing.map(\.source.id) == ["s3://\(bucket)/l/gone.png"])
        #expect(fetched.found.missing.first?.problem.message.contains("HTTP 404") == true)
    }

    @Test func credentialsComeFromTheProfileOfTheCredentialsFile() async throws {
        let server = try MotoServer.shared()
        let folder = try TestFiles.temporaryDirectory()
        let file = folder.appendingPathComponent("credentials")
        try """
            [default]
            aws_access_key_id = AKIAWRONGWRONGWRONG1
            aws_secret_access_key = wrong

            [profile moto]
            aws_access_key_id = \(server.accessKeyID)
            aws_secret_access_key = \(server.secretAccessKey)
            """.write(to: file, atomically: true, encoding: .utf8)
        let environment = ["AWS_SHARED_CREDENTIALS_FILE": file.path, "AWS_PROFILE": "moto", "HOME": folder.path]
        #expect(try S3Credentials.resolve(environment: environment)
                == S3Credentials(accessKeyID: server.accessKeyID, secretAccessKey: server.secretAccessKey))
        let bucket = uniqueBucket("profile")
        try server.makeBucket(bucket, [(key: "a.png", file: try photos()[0])])
        let options = S3Options(localFolder: folder.appendingPathComponent("c"), endpoint: server.endpoint, environment: environment)
        #expect(try await S3Inputs(options: options).fetch(["s3://\(bucket)"], ingest: IngestOptions()).downloaded == 1)
        let none = ["HOME": folder.path]
        #expect(throws: S3Error.noCredentials("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and \(folder.path)/.aws/credentials cannot be read")) {
            try S3Credentials.resolve(environment: none)
        }
    }

    @Test func anUnreachableServerIsRetriedWithBackoffThenOneLine() async throws {
        let server = try MotoServer.shared()
        // A port nothing listens on: every attempt is refused at once, so the time is the backoff's.
        let port = Loopback.unusedPort()
        var options = options(server, folder: try TestFiles.temporaryDirectory())
        options.endpoint = "http://127.0.0.1:\(port)"
        let started = Date()
        let error = await #expect(throws: S3Error.self) { try await S3Inputs(options: options).fetch(["s3://any-bucket/"], ingest: IngestOptions()) }
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds >= 1.3 && seconds < 30, "4 attempts (a 3 s connect timeout each), 0.25 + 0.5 + 1 s apart (±20 %): \(seconds) s")
        #expect(error.map { "\($0)".hasPrefix("s3://any-bucket/: cannot reach the server") && !"\($0)".contains("\n") } == true)
    }

    @Test func aFileWinnowDidNotCopyIsNeverOverwritten() async throws {
        let server = try MotoServer.shared(), photos = try photos()
        let bucket = uniqueBucket("mine")
        try server.makeBucket(bucket, [(key: "k/a.png", file: photos[0]), (key: "k/b.png", file: photos[1])])
        let folder = try TestFiles.temporaryDirectory()
        let users = folder.appendingPathComponent("\(bucket)/k/a.png")
        try FileManager.default.createDirectory(at: users.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("the user's own file".utf8).write(to: users)
        let fetched = try await S3Inputs(options: options(server, folder: folder)).fetch(["s3://\(bucket)/k/"], ingest: IngestOptions())
        #expect(fetched.found.sources.map(\.id) == ["s3://\(bucket)/k/b.png"])
        #expect(fetched.found.missing.first?.problem.message.contains("not overwritten") == true)
        #expect(try String(contentsOf: users, encoding: .utf8) == "the user's own file")
    }

    @Test func addressesAreParsedStrictly() throws {
        let minio = try S3Address(parsing: "minio://127.0.0.1:9000/photos/2024/")
        #expect(minio.server == "127.0.0.1:9000" && minio.bucket == "photos" && minio.key == "2024/")
        let plain = try S3Address(parsing: "s3://my.bucket-1")
        #expect(plain.bucket == "my.bucket-1" && plain.key == "" && plain.server == nil)
        for bad in ["s3://", "s3://UPPER/x", "s3://ab/x", "s3://../x", "minio:///bucket/x", "minio://host/", "http://x/y"] {
            #expect(throws: S3Error.self) { try S3Address(parsing: bad) }
        }
    }
}
