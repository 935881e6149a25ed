import Foundation

/// Runs ``CopyVerification`` inside `winnow run`: first the ORB screening pass over every
/// candidate pair, then SIFT for the pairs it leaves open. Each pass walks its pairs in blocks
/// (``PairSchedule``): the block's images described, then its pairs compared, both on all cores,
/// with local features kept between blocks within `featureBudget` bytes (``FeatureCache``; an
/// image dropped while still needed is described again). SIFT features are cached in
/// `local_features/` of the work_dir, and every block's checks logged there
/// (``CheckedPairLog``), so a resumed run compares only the pairs left. An image that cannot be
/// read, decoded or described gets a one-line message; its pairs count as checked and not verified.
struct VerificationStage {
    static let cacheFolder = "local_features"
    static let reportName = "verification.json"

    let options: CopyVerification.Options
    /// Where `local_features/` and the checked-pair log live (the work_dir).
    let directory: URL
    let crop: CropBox?
    let workers: Int
    /// Bytes of local features kept between blocks (``FeatureCache``).
    let featureBudget: Int
    /// Most pairs compared per block (the checks are logged for a resumed run after each block).
    let blockPairs: Int
    static let defaultFeatureBudget = 64 << 20
    /// Pairs compared so far in each pass (`verify orb`, `verify sift`), after every block.
    let progress: ProgressHandler?
    /// Checks scored below this keep only their score (for the final graph), not their
    /// evidence: `duplicates.csv` reports pairs at the pair threshold. −∞ keeps every check whole.
    let evidenceKeptFrom: Float
    /// Most bytes of SIFT's features cached per image (earlier runs' included) and of a pass's
    /// ORB spill (nil: half the disk space free when the pass starts, with what is cached).
    let diskLimit: Int?
    /// Pairs whose log keys are looked up together (28 bytes each).
    let logLookupChunk: Int
    /// Other processes that check shares of each pass's pairs (`cluster finish`); nil: none.
    let sharing: (any PairCheckSharing)?

    init(options: CopyVerification.Options, directory: URL, crop: CropBox?, workers: Int,
         featureBudget: Int = Self.defaultFeatureBudget, blockPairs: Int = 256, progress: ProgressHandler? = nil,
         evidenceKeptFrom: Float = -.infinity, diskLimit: Int? = nil, logLookupChunk: Int = 1 << 20,
         sharing: (any PairCheckSharing)? = nil) {
        (self.options, self.directory, self.crop, self.workers) = (options, directory, crop, workers)
        (self.featureBudget, self.blockPairs, self.progress, self.evidenceKeptFrom) = (featureBudget, blockPairs, progress, evidenceKeptFrom)
        (self.diskLimit, self.logLookupChunk, self.sharing) = (diskLimit, max(1, logLookupChunk), sharing)
    }

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
        /// Pairs the screen sent to SIFT for their content match alone (heavy crops).
        var screenContentMatches = 0
        /// Pairs the screen sent to SIFT to verify strictly (no ORB model backs them: two
        /// images of very different sizes), and of them those SIFT verified.
        var strictPairs = 0
        var strictVerified = 0
        /// The second retrieval (nil when off) and the screening of the pairs it proposed.
        var retrieval: Retrieval?
        /// The SIFT pass over the pairs left open (every candidate pair without screening).
        var confirm = Pass()
        var problems: [String] = []

        /// What the second retrieval (``LocalRetrieval``) did.
        struct Retrieval: Codable, Sendable {
            /// Images whose keys were made, and of them those described for their keys alone
            /// (no pair of the screening pass described them: no candidate, or checks logged
            /// by an earlier run or made by other processes).
            var imagesKeyed = 0
            var imagesDescribedForKeys = 0
            /// Keys made.
            var keys = 0
            /// Pairs proposed that the global neighbours had not settled, and of them those verified.
            var pairs = 0
            var verifiedPairs = 0
            var screen = Pass()
            var screenCopies = 0
            var screenNotCopies = 0
            /// Time to describe the images left, write the keys and count the votes.
            var seconds = 0.0
        }

        /// One pass: the images it described and the pairs it compared.
        struct Pass: Codable, Sendable {
            var pairs = 0
            /// Pairs whose check an earlier (killed) run had logged, not compared again.
            var pairsReused = 0
            /// Pairs checked by other processes (``PairCheckSharing``), not compared here.
            var pairsShared = 0
            /// Distinct images described, read from `local_features/`, or that failed.
            var imagesDescribed = 0
            var imagesFromCache = 0
            var imagesFailed = 0
            /// Descriptions of images made (or read) again after the feature cache dropped them.
            var imagesRedescribed = 0
            /// Images the cache dropped while still needed, written to the spill file (once
            /// each), their readings back (in the second retrieval's screening, also those of the
            /// images the first screening kept), and the most bytes the spill file held at once.
            var imagesSpilled = 0
            var imagesReadBack = 0
            var peakSpillBytes = 0
            /// Descriptions not cached per image in `local_features/` (an image described again
            /// counts again): the pass had written its disk limit.
            var descriptionsNotCached = 0
            var blocks = 0
            var peakCacheBytes = 0
            var featureSeconds = 0.0
            var checkSeconds = 0.0
        }
    }

    /// A candidate's result once settled: 8 bytes, where a whole check holds ~100.
    private struct Settled {
        var score: Float
        var verified: Bool
        var mirrorTried: Bool
    }

    /// Every checked pair's final score (candidate order), the copies verified among the pairs
    /// the second retrieval proposed (``LocalRetrieval``: not in the graph's lists, to be put
    /// there), the checks scored at ``evidenceKeptFrom`` or above whole, and the report. Each pair
    /// is judged as its evidence comes (from the log, or from its block), so no pass holds the
    /// evidence of all its pairs.
    func run(samples: [ValidSample], graph: KNNGraph) -> (scores: [CopyVerification.PairScore],
        added: [CopyVerification.PairScore], checked: [CopyVerification.Checked], report: Report) {
        var report = Report()
        var candidates = CopyVerification.candidates(graph: graph, options: options)
        report.candidatePairs = candidates.count
        var everyRank = options
        everyRank.candidates = Int.max
        report.pairsBeyondCandidates = CopyVerification.candidateCount(graph: graph, options: everyRank) - candidates.count
        guard !candidates.isEmpty else { return ([], [], [], report) }
        LocalFeatures.useSingleThreadedOpenCV()
        adoptEarlierLog()
        for earlier in sharing?.earlierLogs() ?? [] {
            do { try log.append(contentsOf: earlier) } catch { report.problems.append(oneLine("\(earlier.path): not reused: \(error)")) }
        }
        var settled = [Settled?](repeating: nil, count: candidates.count)
        var kept: [Int: CopyVerification.Checked] = [:]
        func settle(_ i: Int, _ check: CopyVerification.Checked) {
            settled[i] = Settled(score: check.score, verified: check.verified, mirrorTried: check.evidence?.mirrorTried == true)
            if check.score >= evidenceKeptFrom { kept[i] = check }
        }
        var open = (0..<Int32(candidates.count)).map { $0 }
        var strictly = Set<Int32>()
        let firstRetrieved: Int
        if let screen = options.screen {
            let index = makeRetrievalIndex(rows: samples.count, report: &report)
            let keptFeatures = index == nil ? nil : makeSpill(for: screen, named: "kept", most: Self.keptFeatureBytes, report: &report)
            var screened = self.screen(open, of: candidates, features: screen, samples: samples, index: index,
                                       keepingIn: keptFeatures, settle: settle)
            (report.screen, report.screenCopies, report.screenNotCopies) = (screened.pass, screened.copies, screened.notCopies)
            report.screenContentMatches = screened.contentMatches
            report.problems += screened.problems
            let retrieved = index.map { retrieve($0, graph: graph, samples: samples, keepingIn: keptFeatures, report: &report) } ?? []
            (firstRetrieved, candidates) = (candidates.count, candidates + retrieved)
            settled += [Settled?](repeating: nil, count: retrieved.count)
            if !retrieved.isEmpty {
                let more = self.screen((firstRetrieved..<candidates.count).map(Int32.init), of: candidates, features: screen,
                                       samples: samples, index: nil, readingFrom: keptFeatures, settle: settle)
                report.retrieval?.screen = more.pass
                report.retrieval?.screenCopies = more.copies
                report.retrieval?.screenNotCopies = more.notCopies
                report.problems += more.problems
                (screened.confirm, screened.strictly) = (screened.confirm + more.confirm, screened.strictly.union(more.strictly))
            }
            (open, strictly) = (screened.confirm.sorted(), screened.strictly)
        } else {
            firstRetrieved = candidates.count
        }
        var confirm = Report.Pass()
        compare(open, of: candidates, features: options.features, unbacked: strictly, samples: samples, pass: &confirm,
                report: &report) { [options] i, e in
            settle(i, CopyVerification.judge(candidates[i], evidence: e, options: strictly.contains(Int32(i)) ? options.unbacked : options))
        }
        report.confirm = confirm
        report.strictPairs = strictly.count
        report.strictVerified = strictly.count { settled[Int($0)]?.verified == true }
        return finished(candidates: candidates, settled: settled, firstRetrieved: firstRetrieved, kept: kept, report: report)
    }

    /// ``run(samples:graph:)``'s result from the settled pairs.
    private func finished(candidates: [CopyVerification.Candidate], settled: [Settled?], firstRetrieved: Int,
                          kept: [Int: CopyVerification.Checked], report: Report) -> (scores: [CopyVerification.PairScore],
        added: [CopyVerification.PairScore], checked: [CopyVerification.Checked], report: Report) {
        var report = report
        let scores = candidates.indices.compactMap { i in
            settled[i].map { CopyVerification.PairScore(a: candidates[i].a, b: candidates[i].b, score: $0.score) }
        }
        let added = (firstRetrieved..<candidates.count).compactMap { i in
            settled[i].flatMap { $0.verified ? CopyVerification.PairScore(a: candidates[i].a, b: candidates[i].b, score: $0.score) : nil }
        }
        report.verifiedPairs = settled.count { $0?.verified == true }
        report.retrieval?.verifiedPairs = (firstRetrieved..<candidates.count).count { settled[$0]?.verified == true }
        report.mirrorChecks = settled.count { $0?.mirrorTried == true }
        // A pass after the first repeats its lines about the same image or file: each once.
        var seen = Set<String>()
        report.problems = report.problems.filter { seen.insert($0).inserted }
        return (scores, added, kept.sorted { $0.key < $1.key }.map(\.value), report)
    }

    /// What a screening pass settled, and the pairs it left to SIFT.
    private struct Screened {
        var pass = Report.Pass()
        var copies = 0, notCopies = 0, contentMatches = 0
        var confirm: [Int32] = []
        /// Of `confirm`, those SIFT must verify strictly (no ORB model backs them).
        var strictly = Set<Int32>()
        var problems: [String] = []
    }

    /// The ORB screening pass over `indices` of `candidates`: settles the pairs ORB decides and
    /// leaves the rest to SIFT. Each image it describes adds its keys to `index` and its features
    /// to `keepingIn` (the second retrieval's pairs are screened from there, not described
    /// again); images `readingFrom` holds are read back from it rather than described.
    private func screen(_ indices: [Int32], of candidates: [CopyVerification.Candidate], features: LocalFeatures.Options,
                        samples: [ValidSample], index: LocalRetrieval.Index?, keepingIn keptFeatures: FeatureSpill? = nil,
                        readingFrom spill: FeatureSpill? = nil,
                        settle: (Int, CopyVerification.Checked) -> Void) -> Screened {
        var screened = Screened(), pass = Report.Pass(), report = Report(), keyProblem: String?
        let options = options
        compare(indices, of: candidates, features: features, samples: samples, pass: &pass, report: &report, spill: spill,
                described: { row, made in
                    do throws(LocalFeatureError) {
                        try index?.add(made, row: row)
                        try keptFeatures?.write(made, for: row)
                    } catch {
                        keyProblem = keyProblem ?? error.message
                    }
                }) { i, e in
            switch CopyVerification.screen(candidates[i], evidence: e, sideRatio: Self.sideRatio(candidates[i], samples), options: options) {
            case .copy:
                settle(i, CopyVerification.judge(candidates[i], evidence: e, options: options))
                screened.copies += 1
            case .notCopy:
                settle(i, CopyVerification.judge(candidates[i], evidence: e, options: options).rejected(options))
                screened.notCopies += 1
            case .confirm:
                screened.confirm.append(Int32(i))
            case .confirmStrictly:
                screened.confirm.append(Int32(i))
                screened.strictly.insert(Int32(i))
                if candidates[i].global < options.confirmRescaledFrom { screened.contentMatches += 1 }
            }
        }
        screened.pass = pass
        screened.problems = report.problems + (keyProblem.map { [oneLine("second retrieval: \($0)")] } ?? [])
        return screened
    }

    /// The second retrieval's index for `rows` images (nil when it is off, or with a one-line
    /// problem when its files cannot be made).
    private func makeRetrievalIndex(rows: Int, report: inout Report) -> LocalRetrieval.Index? {
        guard options.retrieval.perImage > 0, rows >= 2 else { return nil }
        let folder = directory.appendingPathComponent(Self.cacheFolder).appendingPathComponent("retrieval")
        try? FileManager.default.removeItem(at: folder)
        do throws(LocalFeatureError) {
            let index = try LocalRetrieval.Index(options: options.retrieval, images: rows, folder: folder)
            report.retrieval = Report.Retrieval()
            return index
        } catch {
            report.problems.append(oneLine("second retrieval not made: \(error.message)"))
            return nil
        }
    }

    /// The pairs `index` proposes that the global neighbours did not settle, with their global
    /// similarity where the graph has it (else 0: only local evidence can verify them), once the
    /// images no screening block described were described for their keys.
    private func retrieve(_ index: LocalRetrieval.Index, graph: KNNGraph, samples: [ValidSample],
                          keepingIn keptFeatures: FeatureSpill?, report: inout Report) -> [CopyVerification.Candidate] {
        let started = Date()
        let rows = index.unkeyedRows
        var found: [CopyVerification.Candidate] = []
        do throws(LocalFeatureError) {
            for start in stride(from: 0, to: rows.count, by: 256) {
                let chunk = Array(rows[start..<min(start + 256, rows.count)])
                let made = describe(rows: chunk, features: options.screen ?? .screening, samples: samples, allowance: nil, report: &report)
                for row in chunk {
                    guard let features = made[row]?.features else { continue }
                    try index.add(features, row: row)
                    try keptFeatures?.write(features, for: row)
                }
            }
            for pair in try index.candidates(workers: workers, known: { CopyVerification.globalStanding($0, $1, graph: graph, options: options).settled }) {
                let global = CopyVerification.globalStanding(pair.a, pair.b, graph: graph, options: options).global
                found.append(CopyVerification.Candidate(a: pair.a, b: pair.b, global: global ?? 0))
            }
        } catch {
            report.problems.append(oneLine("second retrieval stopped: \(error.message)"))
        }
        let unkeyed = index.unkeyedRows.count
        report.retrieval?.imagesKeyed = samples.count - unkeyed
        report.retrieval?.imagesDescribedForKeys = rows.count - unkeyed
        report.retrieval?.pairs = found.count
        report.retrieval?.keys = index.keys
        report.retrieval?.seconds = Date().timeIntervalSince(started)
        return found
    }

    /// Hands `settle` the evidence for each of `indices` of `candidates` (nil where an image had
    /// no features): pairs checked by an earlier run (``CheckedPairLog``) first, as they were
    /// logged; the rest are compared in blocks in ``PairSchedule`` order — the block's missing
    /// images described, then its pairs compared, both on all cores — with features kept between
    /// blocks in a ``FeatureCache`` bounded by `featureBudget`, and each block's checks logged.
    func compare(_ indices: [Int32], of candidates: [CopyVerification.Candidate],
                 features: LocalFeatures.Options, unbacked: Set<Int32> = [], samples: [ValidSample],
                 pass: inout Report.Pass, report: inout Report, spill: FeatureSpill? = nil,
                 described: (Int, LocalFeatures) -> Void = { _, _ in }, settle: (Int, PairEvidence?) -> Void) {
        pass.pairs = indices.count
        guard !indices.isEmpty else { return }
        let tag = checkTag(features)
        func key(_ i: Int) -> CheckedPairLog.Key? {
            CheckedPairLog.key(tag: tag, samples[candidates[i].a], samples[candidates[i].b])
        }
        var open = unlogged(indices, key: key, settle: settle)
        pass.pairsReused = indices.count - open.count
        let stageName = "verify \(features.detector.rawValue)"
        if let sharing, !open.isEmpty {
            let (before, progress, reused, total) = (open.count, progress, pass.pairsReused, indices.count)
            open = share(open, of: candidates, features: features, unbacked: unbacked, samples: samples, with: sharing,
                         report: &report, key: key, settle: settle) { progress?(stageName, reused + $0, total) }
            pass.pairsShared = before - open.count
        }
        let schedule = Self.schedule(open, of: candidates, rowCount: samples.count)
        var describer = BlockDescriber(stage: self, options: features, samples: samples, budget: featureBudget, spill: spill,
                                       report: &report)
        var logProblem: String?
        var lower = 0
        let settledBefore = pass.pairsReused + pass.pairsShared
        progress?(stageName, settledBefore, indices.count)
        while lower < schedule.count {
            let block = schedule.block(from: lower, maximumPairs: blockPairs,
                                       maximumImages: max(2, featureBudget / describer.bytesPerImage))
            let last = block.upperBound - 1
            let found = describer.features(for: block.map(schedule.pair(at:)), report: &report) {
                schedule.nextUse(of: $0, after: last)
            }
            for (row, made) in found.sorted(by: { $0.key < $1.key }) { described(row, made) }
            let ks = block.map { Int(open[schedule.index(at: $0)]) }
            let started = Date()
            let results = check(ks.map { candidates[$0] }, unbacked: ks.map { unbacked.contains(Int32($0)) }, features: found,
                                samples: samples, screening: options.screen == features, report: &report)
            pass.checkSeconds += Date().timeIntervalSince(started)
            for (k, e) in zip(ks, results) { settle(k, e) }
            do {
                try log.append(zip(ks, results).compactMap { k, e in key(k).flatMap { key in e.map { (key, $0) } } })
            } catch {
                logProblem = logProblem ?? "\(log.url.path): pair checks not kept for a resumed run: \(error)"
            }
            pass.blocks += 1
            lower = block.upperBound
            progress?(stageName, settledBefore + lower, indices.count)
        }
        describer.finish(&pass)
        if let logProblem { report.problems.append(oneLine(logProblem)) }
        if pass.descriptionsNotCached > 0 {
            report.problems.append("\(Self.cacheFolder)/: \(pass.descriptionsNotCached) descriptions of \(features.detector.rawValue) features "
                                   + "not cached: the pass reached its disk limit (a resumed run describes them again)")
        }
    }

    /// The `open` pairs left once shares of them (consecutive runs of ``PairSchedule`` order, so
    /// that a share's pairs have images in common) were checked by other processes and their
    /// logs added to this run's; the others are settled with the evidence those logs hold.
    /// `progress` hears the pairs the shares checked so far.
    private func share(_ open: [Int32], of candidates: [CopyVerification.Candidate], features: LocalFeatures.Options,
                       unbacked: Set<Int32>, samples: [ValidSample], with sharing: any PairCheckSharing, report: inout Report,
                       key: (Int) -> CheckedPairLog.Key?, settle: (Int, PairEvidence?) -> Void,
                       progress: @escaping @Sendable (Int) -> Void) -> [Int32] {
        let schedule = Self.schedule(open, of: candidates, rowCount: samples.count)
        let size = max(1, sharing.pairsPerShare)
        do {
            let logs = try sharing.check(count: (schedule.count + size - 1) / size, progress: progress) { share in
                let pairs = (share * size..<min((share + 1) * size, schedule.count)).map { at in
                    let i = open[schedule.index(at: at)]
                    return (candidate: candidates[Int(i)], unbacked: unbacked.contains(i))
                }
                return VerificationPlan(options: options, features: features, crop: crop, pairs: pairs, samples: samples)
            }
            for logged in logs { try log.append(contentsOf: logged) }
        } catch {
            report.problems.append(oneLine("verification shared with other processes: \(error); the rest is checked here"))
        }
        return unlogged(open, key: key, settle: settle)
    }

    /// The order `open` (indices into `candidates`) is compared and shared in.
    private static func schedule(_ open: [Int32], of candidates: [CopyVerification.Candidate], rowCount: Int) -> PairSchedule {
        PairSchedule(count: open.count, rowCount: rowCount) { (candidates[Int(open[$0])].a, candidates[Int(open[$0])].b) }
    }

    /// The `indices` whose check no earlier run logged; the logged ones are settled with their
    /// logged evidence. Keys are made and looked up a bounded chunk of pairs at a time.
    private func unlogged(_ indices: [Int32], key: (Int) -> CheckedPairLog.Key?,
                          settle: (Int, PairEvidence?) -> Void) -> [Int32] {
        guard FileManager.default.fileExists(atPath: log.url.path) else { return indices }
        var open: [Int32] = []
        for start in stride(from: 0, to: indices.count, by: logLookupChunk) {
            let chunk = indices[start..<min(start + logLookupChunk, indices.count)]
            var logged = [Bool](repeating: false, count: chunk.count)
            log.forEachLogged(chunk.map { key(Int($0)) }) { k, evidence in
                logged[k] = true
                settle(Int(chunk[start + k]), evidence)
            }
            open += chunk.indices.lazy.filter { !logged[$0 - start] }.map { chunk[$0] }
        }
        return open
    }

    /// The evidence of `pairs`, compared on all cores (nil where an image has no features), as the
    /// screening pass takes it (with content matches) when `screening`; pairs no ORB model backs
    /// (`unbacked`) with their own fewest inliers.
    private func check(_ pairs: [CopyVerification.Candidate], unbacked: [Bool], features: [Int: LocalFeatures],
                       samples: [ValidSample], screening: Bool, report: inout Report) -> [PairEvidence?] {
        let results = ResultSlots<PairEvidence>(count: pairs.count)
        let (options, unbackedOptions) = (options, options.unbacked)
        let problems = ProblemLog()
        concurrentChunks(pairs.count) { i in
            let c = pairs[i]
            guard let fa = features[c.a], let fb = features[c.b] else { return }
            do throws(LocalFeatureError) {
                results.set(i, screening ? try PairEvidence.screening(fa, fb, candidate: c, sideRatio: Self.sideRatio(c, samples),
                                                                      options: options)
                                          : try PairEvidence.check(fa, fb, options: unbacked[i] ? unbackedOptions : options))
            } catch {
                problems.add("\(samples[c.a].filename) ↔ \(samples[c.b].filename): \(error.message)")
            }
        }
        report.problems += problems.lines
        return results.values
    }

    /// What a feature cache file and a logged pair check are made under: the detector's options
    /// and the crop (and, for checks, the options that shape the evidence).
    private func featureTag(_ features: LocalFeatures.Options) -> String {
        features.cacheTag + (crop.map { "-crop\($0.colX)x\($0.rowY)x\($0.width)x\($0.height)" } ?? "")
    }

    /// The longer of a pair's two long sides over the shorter.
    private static func sideRatio(_ pair: CopyVerification.Candidate, _ samples: [ValidSample]) -> Float {
        let sides = [samples[pair.a], samples[pair.b]].map { Float(max(1, $0.width, $0.height)) }
        return max(sides[0], sides[1]) / min(sides[0], sides[1])
    }

    private func checkTag(_ features: LocalFeatures.Options) -> String {
        let o = options
        return featureTag(features) + "-check5-\(o.ratio)-\(o.ransacThreshold)-\(o.minimumInliers)-\(o.maximumAnisotropy)"
            + "-\(o.maximumScale)-\(o.minimumContainment)-\(o.contentMatchSide)-\(o.contentMatchLargestScale)-\(o.unbackedMinimumInliers)"
    }

    private var log: CheckedPairLog { CheckedPairLog(url: logURL) }

    /// The checked-pair log of this stage's directory: beside the feature cache, not in it, so
    /// that removing the cache (disk space) never throws away the checks a resumed run reuses.
    var logURL: URL { directory.appendingPathComponent(CheckedPairLog.fileName) }

    /// Moves a log that an earlier version kept in the cache folder to ``logURL`` (when none is there).
    private func adoptEarlierLog() {
        let earlier = directory.appendingPathComponent(Self.cacheFolder).appendingPathComponent(CheckedPairLog.fileName)
        guard FileManager.default.fileExists(atPath: earlier.path), !FileManager.default.fileExists(atPath: logURL.path) else { return }
        try? FileManager.default.moveItem(at: earlier, to: logURL)
    }

    /// Features of `rows`, from the cache folder or made now, with whether each came from the
    /// cache; images that failed are left out (one line each in the report's problems).
    fileprivate func describe(rows: [Int], features featureOptions: LocalFeatures.Options, samples: [ValidSample],
                              allowance: DiskAllowance?, report: inout Report)
        -> [Int: (features: LocalFeatures, fromCache: Bool)] {
        let maker = FeatureMaker(cache: directory.appendingPathComponent(Self.cacheFolder), tag: featureTag(featureOptions),
                                 options: featureOptions, crop: crop, allowance: allowance)
        let memberBytes = archiveMembers(of: rows, samples: samples)
        let slots = ResultSlots<(features: LocalFeatures, fromCache: Bool)>(count: rows.count)
        let problems = ProblemLog()
        let runs = Self.readingRuns(rows, samples: samples)
        concurrentChunks(runs.count) { run in
            var video: VideoReader?
            for i in runs[run] {
                let sample = samples[rows[i]]
                let made = maker.features(of: sample) {
                    switch sample.location {
                    case .file(let path)?: SampleProcessor.readFile(path, id: sample.path)
                    case .archiveMember?: memberBytes[rows[i]] ?? .failure(InvalidSample(.unreadable, "not read from its archive"))
                    case .videoFrame(let frame)?: frame.imageBytes(reusing: &video)
                    case nil: .failure(InvalidSample(.unreadable, "its location is not in the catalog"))
                    }
                }
                switch made {
                case .success(let features): slots.set(i, features)
                case .failure(let problem): problems.add(problem.line)
                }
            }
        }
        report.problems += problems.lines
        var result: [Int: (features: LocalFeatures, fromCache: Bool)] = [:]
        for (row, made) in zip(rows, slots.values) { result[row] = made }
        return result
    }

    /// The order ``describe(rows:features:samples:allowance:report:)`` takes `rows` in (indices
    /// into them), as runs each read by one thread: a video's frames in time order, 32 a run at
    /// most (one reader decodes on from frame to frame instead of seeking for each); every other
    /// image a run of its own.
    static func readingRuns(_ rows: [Int], samples: [ValidSample]) -> [[Int]] {
        var runs: [[Int]] = [], frames: [String: [(timestamp: Int64, index: Int)]] = [:]
        for (index, row) in rows.enumerated() {
            if case .videoFrame(let frame)? = samples[row].location {
                frames[frame.video, default: []].append((frame.timestamp, index))
            } else {
                runs.append([index])
            }
        }
        var videoRuns: [[Int]] = []
        for (_, list) in frames.sorted(by: { $0.key < $1.key }) {
            let ordered = list.sorted { $0.timestamp < $1.timestamp }.map(\.index)
            videoRuns += stride(from: 0, to: ordered.count, by: 32).map { Array(ordered[$0..<min($0 + 32, ordered.count)]) }
        }
        return videoRuns + runs
    }

    /// Whether features are cached image by image in `local_features/` (for a resumed run):
    /// SIFT's. ORB's are cheaper to make again than to store file by file (a third of an ORB
    /// image's time on set C): they spill to one file instead.
    private static func cachedPerImage(_ features: LocalFeatures.Options) -> Bool { features.detector == .sift }

    /// The disk a pass may fill with features cached per image (nil when they are not cached):
    /// what keeps every feature file of the folder, earlier runs' included, within `diskLimit` —
    /// by default half of the space those files and the free space add up to, so that a large
    /// run never fills the disk, however often it is resumed (half the free space at each
    /// start would, a half at a time).
    fileprivate func cacheAllowance(for features: LocalFeatures.Options) -> DiskAllowance? {
        guard Self.cachedPerImage(features) else { return nil }
        let folder = directory.appendingPathComponent(Self.cacheFolder)
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let held = Self.cachedBytes(in: folder)
        return DiskAllowance(limit: max(0, DiskAllowance.limit(diskLimit, onDiskOf: folder.path, held: held) - held))
    }

    /// Bytes of the feature files cached per image in `folder`.
    private static func cachedBytes(in folder: URL) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.reduce(0) { total, name in
            var info = stat()
            guard name.hasSuffix(FeatureMaker.fileExtension), stat(folder.appendingPathComponent(name).path, &info) == 0 else { return total }
            return total + Int(info.st_size)
        }
    }

    /// Most bytes of the first screening's features kept for the second retrieval's screening
    /// (~67 KB an image: 64,000 images; the images beyond are described again if proposed).
    static let keptFeatureBytes = 4 << 30

    /// A spill for features not cached per image (nil for SIFT, or with a one-line problem when
    /// its file cannot be made: dropped images are then described again), of at most `most` bytes
    /// within the disk limit.
    fileprivate func makeSpill(for features: LocalFeatures.Options, named name: String = "spill", most: Int = .max,
                               report: inout Report) -> FeatureSpill? {
        guard !Self.cachedPerImage(features) else { return nil }
        let folder = directory.appendingPathComponent(Self.cacheFolder)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            return try FeatureSpill(url: folder.appendingPathComponent("\(name)-\(features.detector.rawValue).tmp"),
                                    limit: min(most, DiskAllowance.limit(diskLimit, onDiskOf: folder.path)))
        } catch {
            report.problems.append(oneLine("\(error); images dropped from the feature cache will be described again"))
            return nil
        }
    }

    /// The bytes of the archive members among `rows`, read in one pass per archive.
    private func archiveMembers(of rows: [Int], samples: [ValidSample]) -> [Int: Result<[UInt8], InvalidSample>] {
        var memberBytes: [Int: Result<[UInt8], InvalidSample>] = [:]
        var byArchive: [URL: [String: Int]] = [:]
        for row in rows {
            if case .archiveMember(let archive, let member)? = samples[row].location {
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
        return memberBytes
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

/// The features of each verification block's images: kept between blocks in a ``FeatureCache``,
/// the missing ones described on all cores; an image that fails is tried once. Features not
/// cached per image (ORB's) that the cache drops while still needed go to a ``FeatureSpill``
/// and are read back from there, not described again (a spill given to it may hold images
/// already: an earlier pass's, read back before any is described).
private struct BlockDescriber {
    let stage: VerificationStage
    let options: LocalFeatures.Options
    let samples: [ValidSample]
    private var cache: FeatureCache
    private let spill: FeatureSpill?
    /// The spill's images written and read back before this pass.
    private let spillBefore: (written: Int, readBack: Int)
    /// The disk the features cached per image (SIFT's) may take in this pass.
    private let allowance: DiskAllowance?
    /// Set after the spill's first failure (one line): dropped images are described again.
    private var spillFailed = false
    private var seen = Set<Int>()
    private var failed = Set<Int>()
    private var describedBytes = 0, descriptions = 0
    private var pass = VerificationStage.Report.Pass()

    init(stage: VerificationStage, options: LocalFeatures.Options, samples: [ValidSample], budget: Int,
         spill: FeatureSpill?, report: inout VerificationStage.Report) {
        self.stage = stage
        self.options = options
        self.samples = samples
        cache = FeatureCache(budget: budget)
        self.spill = spill ?? stage.makeSpill(for: options, report: &report)
        spillBefore = (self.spill?.written ?? 0, self.spill?.readBack ?? 0)
        allowance = stage.cacheAllowance(for: options)
    }

    /// Typical bytes of one image's features: the mean so far (256 KB before the first).
    var bytesPerImage: Int { descriptions == 0 ? 256 << 10 : max(1, describedBytes / descriptions) }

    /// The features of the images of `pairs` that have them. The cache makes room first (furthest
    /// `nextUse` dropped, to the spill when still needed), the block's missing images are read
    /// back or described, and those with no later use (`nextUse` nil) are dropped after.
    mutating func features(for pairs: [(a: Int, b: Int)], report: inout VerificationStage.Report,
                           nextUse: (Int) -> Int?) -> [Int: LocalFeatures] {
        let rows = Set(pairs.flatMap { [$0.a, $0.b] })
        var missing = rows.filter { cache[$0] == nil && !failed.contains($0) }.sorted()
        spillOut(cache.makeRoom(for: missing.count * bytesPerImage, keeping: rows, nextUse: nextUse), report: &report)
        missing = readBack(missing, report: &report)
        let started = Date()
        let made = stage.describe(rows: missing, features: options, samples: samples, allowance: allowance, report: &report)
        pass.featureSeconds += Date().timeIntervalSince(started)
        for row in missing {
            guard let (features, fromCache) = made[row] else { failed.insert(row); continue }
            if !seen.insert(row).inserted {
                pass.imagesRedescribed += 1
            } else if fromCache {
                pass.imagesFromCache += 1
            } else {
                pass.imagesDescribed += 1
            }
            describedBytes += features.residentBytes
            descriptions += 1
            cache.insert(features, for: row)
        }
        var found: [Int: LocalFeatures] = [:]
        for row in rows { found[row] = cache[row] }
        for row in rows where nextUse(row) == nil {
            cache.remove(row)
            spill?.release(row)
        }
        return found
    }

    /// Writes the dropped images to the spill (each once).
    private mutating func spillOut(_ dropped: [(row: Int, features: LocalFeatures)], report: inout VerificationStage.Report) {
        guard let spill, !spillFailed else { return }
        for (row, features) in dropped where !spillFailed {
            do throws(LocalFeatureError) { try spill.write(features, for: row) } catch { stopSpilling(error, report: &report) }
        }
    }

    /// Puts the spilled ones among `rows` back in the cache; returns the rest.
    private mutating func readBack(_ rows: [Int], report: inout VerificationStage.Report) -> [Int] {
        guard let spill, !spillFailed else { return rows }
        var rest: [Int] = []
        for row in rows {
            do throws(LocalFeatureError) {
                if !spillFailed, let features = try spill.read(row, name: samples[row].filename) {
                    cache.insert(features, for: row)
                } else {
                    rest.append(row)
                }
            } catch {
                stopSpilling(error, report: &report)
                rest.append(row)
            }
        }
        return rest
    }

    private mutating func stopSpilling(_ error: LocalFeatureError, report: inout VerificationStage.Report) {
        spillFailed = true
        report.problems.append(oneLine("\(error.message); images dropped from the feature cache will be described again"))
    }

    /// Sets the images' counts, feature seconds and the cache's and spill's peaks in `total`.
    func finish(_ total: inout VerificationStage.Report.Pass) {
        total.imagesDescribed = pass.imagesDescribed
        total.imagesFromCache = pass.imagesFromCache
        total.imagesRedescribed = pass.imagesRedescribed
        total.imagesFailed = failed.count
        total.featureSeconds = pass.featureSeconds
        total.peakCacheBytes = cache.peakBytes
        total.imagesSpilled = (spill?.written ?? 0) - spillBefore.written
        total.imagesReadBack = (spill?.readBack ?? 0) - spillBefore.readBack
        total.peakSpillBytes = spill?.peakBytes ?? 0
        total.descriptionsNotCached = allowance?.refused ?? 0
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
