import Foundation
import PostgresNIO
import WinnowCore

/// One `scan` job: decodes its shard's images with Winnow's decode stage (hash, decode,
/// statistics, embedding) and writes one row per image (valid with its statistics, or invalid
/// with its error code and reason) in the transaction that marks the job done, after the
/// shard's vectors are on the shared storage (``VectorShard``). Rows already there are kept
/// (`ON CONFLICT DO NOTHING`) and the vectors file is written whole again, so a job done twice
/// changes nothing. A model failure fails the job (it is not about one image).
struct ScanJob: Sendable {
    static let stage = "scan"

    var job: ClaimedJob
    var scanner: SampleScanner
    /// The shared storage folder.
    var storage: URL

    /// Runs the job; returns how many images it scanned.
    func run(_ database: ClusterDatabase, owner: String) async throws -> Int {
        let (samples, unreadable) = try await listing(database)
        guard samples.count == job.items else {
            throw ClusterError.shardIncomplete(shard: job.shard, listed: samples.count, expected: job.items)
        }
        let scanner = self.scanner
        // Each outcome becomes its row and its vector's place in the shard file as it comes.
        let (rows, vectors) = try await onThread {
            var rows: [ScanRow] = [], vectors = scanner.dimension.map { ShardVectors(samples, dimension: $0) }
            rows.reserveCapacity(samples.count)
            try scanner.scan(samples, unreadable: unreadable) { outcome in
                try vectors?.add(outcome)
                rows.append(try ScanRow(outcome))
            }
            return (rows, vectors)
        }
        if let vectors { try VectorShard(storage: storage, shard: job.shard).write(vectors.values) }
        let jobID = job.id
        try await database.transaction { connection in
            let columns = ["position", "content_hash", "format", "width", "height", "statistics", "error_code", "error_message"]
            try await BatchInsert(table: "winnow_scans", columns: columns, suffix: "ON CONFLICT (position) DO NOTHING")
                .run(count: rows.count, on: connection) { index, binds in rows[index].bind(&binds) }
            try await JobQueue.markDone(jobID, owner: owner, on: connection)
        }
        return samples.count
    }

    /// The shard's samples as stored, and those that could not be read at listing time.
    private func listing(_ database: ClusterDatabase) async throws -> ([Catalog.PendingSample], [String: InvalidSample]) {
        let rows = try await database.rows(
            "SELECT \(unescaped: StoredSample.columns) FROM winnow_samples WHERE shard = \(job.shard) ORDER BY position")
        var samples: [Catalog.PendingSample] = []
        var unreadable: [String: InvalidSample] = [:]
        for row in rows {
            let stored = try StoredSample(row)
            samples.append(Catalog.PendingSample(id: stored.position, source: stored.source))
            unreadable[stored.source.id] = stored.unreadable
        }
        return (samples, unreadable)
    }
}

/// One row of `winnow_scans`: the statistics as JSON (exact: every number round-trips).
struct ScanRow: Sendable {
    var position: Int64
    var contentHash: String?
    var format: String?
    var width: Int?
    var height: Int?
    var statistics: String?
    var errorCode: String?
    var errorMessage: String?

    init(_ outcome: SampleOutcome) throws {
        (position, contentHash) = (outcome.sampleID, outcome.contentHash)
        switch outcome.result {
        case .success(let image):
            (format, width, height) = (image.format.rawValue, image.statistics.width, image.statistics.height)
            statistics = String(decoding: try Self.encoder.encode(image.statistics), as: UTF8.self)
        case .failure(let problem):
            (errorCode, errorMessage) = (problem.reason.rawValue, problem.message)
        }
    }

    func bind(_ binds: inout PostgresBindings) {
        binds.append(position)
        binds.append(contentHash)
        binds.append(format)
        binds.append(width)
        binds.append(height)
        binds.append(statistics)
        binds.append(errorCode)
        binds.append(errorMessage)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}

/// Runs blocking `work` on a thread of its own (decoding must not hold a cooperative thread).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.stackSize = 4 << 20
        thread.start()
    }
}
