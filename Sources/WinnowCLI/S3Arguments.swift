import ArgumentParser
import Foundation
import WinnowCommandSupport
import WinnowCore
import WinnowS3

/// `winnow run`'s options for s3:// and minio:// inputs.
struct S3Arguments: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Copy the objects of s3:// and minio:// inputs to DIR (kept; resumable: objects already there with the same ETag and size are not downloaded again). Default: the work_dir's s3_objects folder.",
        valueName: "DIR"))
    var syncS3ToLocal: String?

    @Option(help: ArgumentHelp("Server of s3:// inputs, e.g. http://127.0.0.1:9000 for MinIO or another S3-compatible store (default: AWS_ENDPOINT_URL, else AWS in AWS_REGION).",
                               valueName: "url"))
    var s3Endpoint: String?

    @Option(parsing: .unconditional, help: "S3 requests in flight at once.")
    var s3Concurrency = 16

    @Option(parsing: .unconditional, help: .hidden)
    var s3PageSize = 1000

    func validate() throws {
        try OptionRange.check("--s3-concurrency", s3Concurrency, in: 1...256)
        try OptionRange.check("--s3-page-size", s3PageSize, in: 1...1000)
    }

    /// Lists and copies the objects `configuration`'s inputs name: the listing its run reads.
    /// An input that cannot be listed (no such bucket, access denied, bad credentials) stops
    /// the run with one line; an object that cannot be read is an invalid row.
    func listing(for configuration: RunConfiguration, bar: ProgressBar?) throws -> IngestResult {
        if let local = configuration.inputs.first(where: { !S3Inputs.areRemote([$0]) }) {
            throw failure("\(local): S3 inputs cannot be mixed with local ones in one run (copy them with --sync-s3-to-local first)",
                          ExitCode.validationFailure)
        }
        let folder = syncS3ToLocal.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: configuration.workDirectory).appendingPathComponent("s3_objects")
        let options = S3Options(localFolder: folder.standardizedFileURL, endpoint: s3Endpoint, concurrency: s3Concurrency,
                                pageSize: s3PageSize, maximumFileBytes: (configuration.decodeLimits ?? DecodeLimits()).maximumFileBytes)
        var progress: (@Sendable (Int, Int) -> Void)?
        if let bar { progress = { done, total in bar.update(label: "s3 copy", done: done, total: total) } }
        do {
            let started = Date()
            let fetched = try S3Inputs(options: options).fetchWaiting(configuration.inputs, ingest: configuration.ingest, progress: progress)
            if bar != nil { standardError(Self.report(fetched, seconds: Date().timeIntervalSince(started), folder: folder.path)) }
            return fetched.found
        } catch {
            throw failure(error, Self.exitStatus(error))
        }
    }

    /// One line: what was copied, how fast, what was already current and what failed.
    static func report(_ fetched: S3Fetch, seconds: Double, folder: String) -> String {
        let megabytes = Double(fetched.downloadedBytes) / 1_000_000
        let rate = String(format: "%d objects copied (%.1f MB) in %.1f s (%.0f objects/s, %.1f MB/s)", fetched.downloaded, megabytes,
                          seconds, Double(fetched.downloaded) / max(seconds, 0.001), megabytes / max(seconds, 0.001))
        return "s3: \(rate) to \(folder); \(fetched.reused) already current; \(fetched.failed) failed"
    }

    /// 64 a bad address, 66 no such bucket, 77 access denied or no credentials, 69 server
    /// unreachable, 73 the local folder not writable, 70 anything else.
    static func exitStatus(_ error: S3Error) -> ExitCode {
        switch error {
        case .invalidAddress: ExitCode.validationFailure
        case .noCredentials: ExitCode(77)
        case .http(_, let status, _, _) where status == 401 || status == 403: ExitCode(77)
        case .http(_, 404, _, _): ExitStatus.noInput
        case .transport: ExitStatus.unavailable
        case .local: ExitStatus.cannotCreate
        default: ExitStatus.software
        }
    }
}
