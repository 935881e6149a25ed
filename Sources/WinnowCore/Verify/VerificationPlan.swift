import Foundation

/// A share of one verification pass's pair checks, to be made by another process (a
/// `winnow worker` of a cluster): the pass's options, the images its pairs join (what finding,
/// reading and describing them takes) and the pairs. ``check(scratch:workers:featureBudget:)``
/// makes the checks as the pass would and logs them (``CheckedPairLog``), so the run that
/// shared them reads them back as a resumed run reads its own.
public struct VerificationPlan: Sendable, Codable, Equatable {
    var options: CopyVerification.Options
    var features: LocalFeatures.Options
    var crop: CropBox?
    var samples: [Sample]
    var pairs: [Pair]

    /// What checking a pair needs of one image: its identity (the log's key), where its bytes
    /// are, and its size.
    struct Sample: Sendable, Codable, Equatable {
        var path: String
        var filename: String
        var contentHash: String?
        var width: Int
        var height: Int
        var file: String?
        var archive: String?
        var member: String?
        var video: String?
        var timestamp: Int64?
    }

    /// Rows into `samples`, the global score, and whether no ORB model backs the pair.
    struct Pair: Sendable, Codable, Equatable {
        var a: Int32
        var b: Int32
        var global: Float
        var unbacked: Bool
    }

    public var pairCount: Int { pairs.count }

    /// The plan of `pairs` (rows into `samples`) of a pass checking with `features`.
    init(options: CopyVerification.Options, features: LocalFeatures.Options, crop: CropBox?,
         pairs: [(candidate: CopyVerification.Candidate, unbacked: Bool)], samples: [ValidSample]) {
        (self.options, self.features, self.crop) = (options, features, crop)
        var rows: [Int: Int32] = [:], planned: [Sample] = []
        func row(_ sample: Int) -> Int32 {
            if let row = rows[sample] { return row }
            rows[sample] = Int32(planned.count)
            planned.append(Sample(samples[sample]))
            return Int32(planned.count - 1)
        }
        self.pairs = pairs.map { Pair(a: row($0.candidate.a), b: row($0.candidate.b), global: $0.candidate.global, unbacked: $0.unbacked) }
        self.samples = planned
    }

    /// Makes every pair's check, on `workers` threads, in `scratch` (its `local_features/`),
    /// and returns the log that holds them; pairs an image of which could not be read or
    /// described are not logged (the sharing run checks them itself and reports why).
    public func check(scratch: URL, workers: Int, featureBudget: Int? = nil) -> URL {
        let stage = VerificationStage(options: options, directory: scratch, crop: crop, workers: workers,
                                      featureBudget: featureBudget ?? VerificationStage.defaultFeatureBudget)
        let valid = samples.enumerated().map { $1.valid(id: Int64($0)) }
        let candidates = pairs.map { CopyVerification.Candidate(a: Int($0.a), b: Int($0.b), global: $0.global) }
        let unbacked = Set(pairs.indices.filter { pairs[$0].unbacked }.map(Int32.init))
        var pass = VerificationStage.Report.Pass(), report = VerificationStage.Report()
        LocalFeatures.useSingleThreadedOpenCV()
        stage.compare(candidates.indices.map(Int32.init), of: candidates, features: features, unbacked: unbacked, samples: valid,
                      pass: &pass, report: &report) { _, _ in }
        return stage.logURL
    }

    public func encoded() throws -> Data { try JSONEncoder().encode(self) }

    /// A plan read back; one whose pairs name images it does not hold is refused.
    public init(decoding data: Data) throws {
        self = try JSONDecoder().decode(Self.self, from: data)
        let rows = 0..<Int32(clamping: samples.count)
        guard pairs.allSatisfy({ rows.contains($0.a) && rows.contains($0.b) }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a pair names an image the plan does not hold"))
        }
    }
}

extension VerificationPlan.Sample {
    init(_ sample: ValidSample) {
        (path, filename, contentHash, width, height) = (sample.path, sample.filename, sample.contentHash, sample.width, sample.height)
        switch sample.location {
        case .file(let path)?: file = path
        case .archiveMember(let archive, let member)?: (self.archive, self.member) = (archive.path, member)
        case .videoFrame(let frame)?: (video, timestamp) = (frame.video, frame.timestamp)
        case nil: break
        }
    }

    func valid(id: Int64) -> ValidSample {
        let location: SampleLocation? = if let file { .file(file) }
            else if let archive, let member { .archiveMember(archive: URL(fileURLWithPath: archive), member: member) }
            else if let video, let timestamp { .videoFrame(VideoFrame(video: video, timestamp: timestamp)) }
            else { nil }
        return ValidSample(id: id, path: path, filename: filename, featureRow: nil, addedRun: nil, fileSize: 0,
                           contentHash: contentHash, width: width, height: height, location: location)
    }
}

/// Hands shares of a verification pass to other processes (`cluster finish`: the workers) and
/// waits for their checks. Sharing is an acceleration only: every pair no returned log holds is
/// checked by the run itself.
public protocol PairCheckSharing: Sendable {
    /// Most pairs in one share.
    var pairsPerShare: Int { get }
    /// Has `count` shares checked — `plan(i)` makes the i-th, once, so that no more than one is
    /// held at a time — and returns the logs (``CheckedPairLog`` files) of those that were;
    /// `progress` hears how many of their pairs are checked so far, now and then.
    func check(count: Int, progress: @escaping @Sendable (Int) -> Void, plan: (Int) -> VerificationPlan) throws -> [URL]
    /// Logs of shares checked for an earlier run that stopped (read once, before the first pass).
    func earlierLogs() -> [URL]
}
