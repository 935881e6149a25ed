import Foundation

/// Runs ``CopyVerification`` inside `winnow run`: local features for the images in candidate
/// pairs (each image once per detector; SIFT's cached in `local_features/` of the work_dir so a
/// resumed run reuses them), then the pair checks, both on all cores — first the ORB screening pass over
/// every candidate pair, then SIFT for the pairs it leaves open. An image that cannot be read,
/// decoded or described gets a one-line message; its pairs count as checked and not verified.
struct VerificationStage {
    static let cacheFolder = "local_features"
    static let reportName = "verification.json"

    var options: CopyVerification.Options
    var directory: URL
    /// Sample sources by stable id (where to read the bytes again).
    var sources: [String: SampleSource]
    var crop: CropBox?
    var workers: Int

    /// Cost and outcome of one verification, written to `verification.json`.
    struct Report: Codable, Sendable {
        var candidatePairs = 0
        var verifiedPairs = 0
        /// Checked pairs whose mirrored view was compared too (the others had a plausible
        /// upright model or were verified upright).
        var mirrorChecks = 0
        /// Uncertain neighbour pairs left unchecked because neither image ranks the other among
        /// its first `candidates` neighbours.
        var pairsBeyondCandidates = 0
        /// The ORB screening pass (nil when screening is off), and the pairs it settled.
        var screen: Pass?
        var screenCopies = 0
        var screenNotCopies = 0
        /// The SIFT pass over the pairs left open (every candidate pair without screening).
        var confirm = Pass()
        var problems: [String] = []

        /// One pass: the images it described and the pairs it compared.
        struct Pass: Codable, Sendable {
            var pairs = 0
            var imagesDescribed = 0
            var imagesFromCache = 0
            var imagesFailed = 0
            var featureSeconds = 0.0
            var checkSeconds = 0.0
        }
    }

    func run(samples: [ValidSample], graph: KNNGraph)
        -> (checked: [CopyVerification.Checked], report: Report) {
        var report = Report()
        let candidates = CopyVerification.candidates(graph: graph, options: options)
        report.candidatePairs = candidates.count
        var everyRank = options
        everyRank.candidates = Int.max
        report.pairsBeyondCandidates = CopyVerification.candidates(graph: graph, options: everyRank).count - candidates.count
        guard !candidates.isEmpty else { return ([], report) }
        LocalFeatures.useSingleThreadedOpenCV()
        var checked: [CopyVerification.Checked?] = Array(repeating: nil, count: candidates.count)
        var open = Array(candidates.indices)
        if let screen = options.screen {
            var pass = Report.Pass()
            let evidence = compare(open, of: candidates, features: screen, samples: samples, pass: &pass, report: &report)
            open = []
            for (i, e) in zip(candidates.indices, evidence) {
                switch CopyVerification.screen(candidates[i], evidence: e, options: options) {
                case .copy:
                    checked[i] = CopyVerification.judge(candidates[i], evidence: e, options: options)
                    report.screenCopies += 1
                case .notCopy:
                    checked[i] = CopyVerification.judge(candidates[i], evidence: e, options: options).rejected(options)
                    report.screenNotCopies += 1
                case .confirm:
                    open.append(i)
                }
            }
            report.screen = pass
        }
        var confirm = Report.Pass()
        let evidence = compare(open, of: candidates, features: options.features, samples: samples,
                               pass: &confirm, report: &report)
        report.confirm = confirm
        for (i, e) in zip(open, evidence) {
            checked[i] = CopyVerification.judge(candidates[i], evidence: e, options: options)
        }
        let results = checked.compactMap { $0 }
        report.verifiedPairs = results.filter(\.verified).count
        report.mirrorChecks = results.filter { $0.evidence?.mirrorTried == true }.count
        return (results, report)
    }

    /// The evidence for `indices` of `candidates` (nil where an image had no features): the
    /// images' features made with `features`, then the pairs compared, both on all cores.
    private func compare(_ indices: [Int], of candidates: [CopyVerification.Candidate],
                         features: LocalFeatures.Options, samples: [ValidSample],
                         pass: inout Report.Pass, report: inout Report) -> [PairEvidence?] {
        pass.pairs = indices.count
        guard !indices.isEmpty else { return [] }
        let rows = Array(Set(indices.flatMap { [candidates[$0].a, candidates[$0].b] })).sorted()
        let started = Date()
        let described = describe(rows: rows, features: features, samples: samples, pass: &pass, report: &report)
        pass.featureSeconds = Date().timeIntervalSince(started)
        let checkStarted = Date()
        let results = ResultSlots<PairEvidence>(count: indices.count)
        let options = options
        let problems = ProblemLog()
        concurrentChunks(indices.count) { k in
            let c = candidates[indices[k]]
            guard let fa = described[c.a], let fb = described[c.b] else { return }
            do throws(LocalFeatureError) {
                results.set(k, try PairEvidence.check(fa, fb, options: options))
            } catch {
                problems.add("\(samples[c.a].filename) ↔ \(samples[c.b].filename): \(error.message)")
            }
        }
        pass.checkSeconds = Date().timeIntervalSince(checkStarted)
        report.problems += problems.lines
        return results.values
    }

    /// Features of `rows`, from the cache or made now; nil for images that failed (logged).
    private func describe(rows: [Int], features featureOptions: LocalFeatures.Options, samples: [ValidSample],
                          pass: inout Report.Pass, report: inout Report) -> [Int: LocalFeatures] {
        // SIFT features are cached for a resumed run; ORB's are cheaper to make again than to
        // store (writing a cache file cost about a third of an ORB image's time on set C).
        let cached = featureOptions.detector == .sift
        let cache = directory.appendingPathComponent(Self.cacheFolder)
        if cached { try? FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true) }
        let tag = featureOptions.cacheTag + (crop.map { "-crop\($0.colX)x\($0.rowY)x\($0.width)x\($0.height)" } ?? "")
        // Archive members are read in one pass per archive first; plain files by each worker.
        var memberBytes: [Int: Result<[UInt8], InvalidSample>] = [:]
        var byArchive: [URL: [String: Int]] = [:]
        for row in rows {
            if case .archiveMember(let archive, let member)? = sources[samples[row].path]?.location {
                byArchive[archive, default: [:]][member] = row
            }
        }
        for (archive, members) in byArchive {
            do {
                try ArchiveReader(url: archive).readMembers(Set(members.keys)) { member, bytes in
                    if let row = members[member] { memberBytes[row] = bytes }
                    return true
                }
            } catch {
                for row in members.values { memberBytes[row] = .failure(InvalidSample(.unreadable, "\(archive.path): \(error)")) }
            }
        }
        let memberSnapshot = memberBytes
        let slots = ResultSlots<LocalFeatures?>(count: rows.count)
        let fromCache = ResultSlots<Bool>(count: rows.count)
        let problems = ProblemLog()
        let decoder = ImageDecoder(minimumSide: featureOptions.maximumSide)
        let sources = sources, crop = crop
        concurrentChunks(rows.count) { i in
            let sample = samples[rows[i]]
            let key = (sample.contentHash ?? Array(sample.path.utf8).withUnsafeBytes { ContentHash.hex($0) }) + "-" + tag
            let file = cache.appendingPathComponent(key + ".lf")
            if cached, let data = FileManager.default.contents(atPath: file.path),
               let cached = try? LocalFeatures.deserialize([UInt8](data), name: sample.filename) {
                slots.set(i, cached)
                fromCache.set(i, true)
                return
            }
            let bytes: Result<[UInt8], InvalidSample>
            switch sources[sample.path]?.location {
            case .file(let url)?: bytes = SampleProcessor.readFile(url, id: sample.path)
            case .archiveMember?: bytes = memberSnapshot[rows[i]] ?? .failure(InvalidSample(.unreadable, "not read from its archive"))
            case nil: bytes = .failure(InvalidSample(.unreadable, "no longer listed in the inputs"))
            }
            do {
                let decoded = try decoder.decode(try bytes.get())
                var image = decoded.image
                if let crop {
                    guard let cropped = crop.crop(decoded.image, originalWidth: decoded.originalWidth,
                                                  originalHeight: decoded.originalHeight) else {
                        throw LocalFeatureError("the bounding box lies outside the image")
                    }
                    image = cropped
                }
                let made = try LocalFeatures.extract(from: image, options: featureOptions, name: sample.filename)
                slots.set(i, made)
                // A cache (reads are checked, a bad file is made again): no flush to disk per image.
                if cached { try? AtomicFile.write(Data(made.serialized()), to: file, durable: false) }
            } catch let error as InvalidSample {
                problems.add("\(sample.filename): local features: \(error.message)")
            } catch let error as LocalFeatureError {
                problems.add("local features: \(error.message)")
            } catch {
                problems.add("\(sample.filename): local features: \(error)")
            }
        }
        var result: [Int: LocalFeatures] = [:]
        for (i, row) in rows.enumerated() {
            if let f = slots.values[i] { result[row] = f }
        }
        pass.imagesFromCache = fromCache.values.filter { $0 == true }.count
        pass.imagesDescribed = result.count - pass.imagesFromCache
        pass.imagesFailed = rows.count - result.count
        report.problems += problems.lines
        return result
    }

    /// Runs `body(i)` for `0..<count` on `workers` threads pulling indices in order.
    private func concurrentChunks(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while true {
                let i = next.take()
                if i >= count { return }
                body(i)
            }
        }
    }
}

/// A shared next-index counter.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}

/// One slot per index, each written by one worker.
private final class ResultSlots<Value>: @unchecked Sendable {
    let lock = NSLock()
    var storage: [Value?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Value) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [Value?] { lock.lock(); defer { lock.unlock() }; return storage }
}


/// One-line problems gathered from workers.
private final class ProblemLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func add(_ line: String) { lock.lock(); storage.append(oneLine(line)); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
