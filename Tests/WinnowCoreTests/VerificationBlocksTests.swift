import Foundation
import Synchronization
import Testing
@testable import WinnowCore

/// Copy verification in blocks: the pair order, a feature cache far smaller than the images
/// (every evidence value as with an unbounded one), and pair checks logged for a resumed run
/// (reused exactly; a torn, corrupt or changed-image record is checked again).
@Suite(.serialized) struct VerificationBlocksTests {
    /// Whole groups (original + copies) of corpus set A, about 30 images, as catalog samples;
    /// each image's neighbors are the rest of its group and the next few images by name, with
    /// global similarities across the checked range, so pairs are copies, non-copies and both passes run.
    func groups() throws -> (samples: [ValidSample], neighbors: [[Neighbor]]) {
        let corpus = try TestData.corpus("A")
        let truth = try TestData.readCSV(corpus.appendingPathComponent("ground_truth.csv"))
        let byGroup = Dictionary(grouping: truth, by: { $0["original_id"] ?? "" })
        var files: [(file: String, group: String)] = []
        for group in byGroup.keys.sorted() where files.count < 30 {
            files += (byGroup[group] ?? []).compactMap { row in row["file"].map { ($0, group) } }.sorted { $0.file < $1.file }
        }
        var samples: [ValidSample] = []
        for (row, entry) in files.enumerated() {
            let url = corpus.appendingPathComponent("images/" + entry.file)
            let bytes = try [UInt8](Data(contentsOf: url))
            samples.append(ValidSample(id: Int64(row + 1), path: entry.file, filename: url.path, featureRow: row, addedRun: nil,
                                       fileSize: Int64(bytes.count), contentHash: bytes.withUnsafeBytes { ContentHash.hex($0) },
                                       width: 1, height: 1, location: .file(url.path)))
        }
        let neighbors = files.indices.map { row in
            let partners = files.indices.filter { $0 != row && files[$0].group == files[row].group }
                + (1...3).map { (row + $0) % files.count }
            return partners.enumerated().map { rank, other in
                Neighbor(index: other, distance: 1 - (0.7 - 0.05 * Float(rank)))
            }
        }
        return (samples, neighbors)
    }

    func stage(_ directory: URL, budget: Int, blockPairs: Int, evidenceKeptFrom: Float = -.infinity,
               diskLimit: Int? = nil, logLookupChunk: Int = 1 << 20) -> VerificationStage {
        VerificationStage(options: CopyVerification.Options(), directory: directory, crop: nil, workers: 2,
                          featureBudget: budget, blockPairs: blockPairs, evidenceKeptFrom: evidenceKeptFrom, diskLimit: diskLimit,
                          logLookupChunk: logLookupChunk)
    }

    func expectSameChecks(_ a: [CopyVerification.Checked], _ b: [CopyVerification.Checked]) {
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x.candidate == y.candidate && x.evidence == y.evidence && x.verified == y.verified && x.score == y.score,
                    "\(x) vs \(y)")
        }
    }

    @Test func scheduleVisitsEveryPairOnceAndKnowsEachImagesNextUse() {
        // Two components: a chain 0–1–2–3 and a triangle 5–6–7; row 4 has no pair.
        let pairs = [(a: 2, b: 3), (a: 5, b: 7), (a: 0, b: 1), (a: 6, b: 7), (a: 1, b: 2), (a: 5, b: 6)]
        let schedule = PairSchedule(count: pairs.count, rowCount: 8) { pairs[$0] }
        let order = (0..<schedule.count).map(schedule.index(at:))
        #expect(order.sorted() == Array(pairs.indices))
        #expect((0..<schedule.count).allSatisfy { schedule.pair(at: $0) == pairs[order[$0]] })
        // The chain's pairs come in chain order, before the triangle's.
        #expect(order.map { pairs[$0].a } == [0, 1, 2, 5, 5, 6])
        for (position, i) in order.enumerated() {
            for row in [pairs[i].a, pairs[i].b] {
                let later = order.indices.filter { $0 > position && [pairs[order[$0]].a, pairs[order[$0]].b].contains(row) }
                #expect(schedule.nextUse(of: row, after: position) == later.first)
            }
        }
        #expect(schedule.nextUse(of: 4, after: 0) == nil)
        var lower = 0, blocks: [Range<Int>] = []
        while lower < pairs.count {
            let block = schedule.block(from: lower, maximumPairs: 2, maximumImages: 3)
            blocks.append(block)
            lower = block.upperBound
        }
        #expect(blocks == [0..<2, 2..<3, 3..<5, 5..<6])
        // A limit below one pair's images still makes progress, one pair at a time.
        #expect(schedule.block(from: 0, maximumPairs: 10, maximumImages: 1) == 0..<1)
    }

    @Test func tinyFeatureBudgetGivesEveryCheckOfAnUnboundedOne() throws {
        let (samples, neighbors) = try groups()
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let unbounded = stage(root.appendingPathComponent("unbounded"), budget: .max, blockPairs: 1 << 20)
            .run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        let tiny = stage(root.appendingPathComponent("tiny"), budget: 1, blockPairs: 5)
            .run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        let (u, t) = (unbounded.report, tiny.report)
        #expect(u.verifiedPairs > 0 && u.screenNotCopies > 0 && u.confirm.pairs > 0, "\(u)")
        expectSameChecks(unbounded.checked, tiny.checked)
        #expect(u.candidatePairs == t.candidatePairs && u.verifiedPairs == t.verifiedPairs && u.mirrorChecks == t.mirrorChecks)
        #expect(u.screenCopies == t.screenCopies && u.screenNotCopies == t.screenNotCopies && u.problems == t.problems)
        for (a, b) in [(u.screen!, t.screen!), (u.confirm, t.confirm)] {
            #expect(a.pairs == b.pairs && a.imagesDescribed == b.imagesDescribed && a.imagesFailed == b.imagesFailed)
            #expect(a.blocks == 1 && a.imagesRedescribed == 0 && b.blocks > 1, "\(a) \(b)")
            #expect(b.peakCacheBytes <= a.peakCacheBytes, "\(a) \(b)")
        }
        #expect(t.screen!.peakCacheBytes < u.screen!.peakCacheBytes / 4, "\(t) \(u)")
        // The tiny cache drops images still needed: ORB ones go to the spill file once each and
        // are read back from it, SIFT ones are read back from their cache files.
        #expect(t.screen!.imagesRedescribed == 0 && t.screen!.imagesSpilled > 0, "\(t)")
        #expect(t.screen!.imagesReadBack >= t.screen!.imagesSpilled && t.screen!.peakSpillBytes > 0, "\(t)")
        #expect(u.screen!.imagesSpilled == 0 && u.screen!.peakSpillBytes == 0, "\(u)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tiny/local_features").path)
        #expect(!leftovers.contains { $0.hasPrefix("spill") }, "\(leftovers)")

        // Every check's score comes back; whole checks only from `evidenceKeptFrom` up.
        #expect(u.candidatePairs + (u.retrieval?.pairs ?? 0) == unbounded.scores.count)
        #expect(unbounded.scores == unbounded.checked.map {
            CopyVerification.PairScore(a: $0.candidate.a, b: $0.candidate.b, score: $0.score)
        })
        let middle = unbounded.checked.map(\.score).sorted()[unbounded.checked.count / 2]
        let keeping = stage(root.appendingPathComponent("unbounded"), budget: .max, blockPairs: 1 << 20, evidenceKeptFrom: middle)
        let kept = keeping.run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        #expect(kept.scores == unbounded.scores)
        expectSameChecks(unbounded.checked.filter { $0.score >= middle }, kept.checked)
        #expect(kept.checked.count < unbounded.checked.count && !kept.checked.isEmpty)
    }

    @Test func spillKeepsEachImageOnceFreesItsBytesAndHoldsItsLimit() throws {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let images = try ["astronaut", "coffee", "chelsea"].map { name in
            let bytes = try [UInt8](Data(contentsOf: TestData.skimageData().appendingPathComponent("\(name).png")))
            return try LocalFeatures.extract(from: ImageDecoder().decode(bytes).image, options: .screening, name: name)
        }
        let url = root.appendingPathComponent("spill.tmp")
        let spill = try FeatureSpill(url: url, limit: images[0].serialized().count + images[1].serialized().count)
        // Unlinked at once: nothing is left behind, even by a killed process.
        #expect(!FileManager.default.fileExists(atPath: url.path) && spill.limit > 0)
        for (row, features) in images.enumerated() { try spill.write(features, for: row) }
        try spill.write(images[0], for: 0)
        // The third image would pass the limit: not written (it will be described again).
        #expect(spill.contains(0) && spill.contains(1) && !spill.contains(2) && spill.written == 2)
        #expect(spill.bytes == spill.limit && spill.peakBytes == spill.limit)
        for row in 0..<2 { #expect(try spill.read(row, name: "row \(row)")?.serialized() == images[row].serialized()) }
        #expect(try spill.read(2, name: "row 2") == nil && spill.readBack == 2)
        let disk = spill.diskBytes
        #expect(disk >= spill.bytes, "\(disk)")
        spill.release(0)
        // Its bytes are freed on disk (all but the file system blocks it shares with its neighbours).
        #expect(disk - spill.diskBytes >= images[0].serialized().count - 8192, "\(disk) → \(spill.diskBytes)")
        #expect(!spill.contains(0) && spill.bytes == images[1].serialized().count && spill.peakBytes == spill.limit)
        try spill.write(images[2], for: 2)
        #expect(try spill.read(2, name: "row 2")?.serialized() == images[2].serialized())
        // The default limit is half the free space of the disk it is on.
        let free = try FileManager.default.attributesOfFileSystem(forPath: root.path)[.systemFreeSize] as? Int ?? 0
        let unlimited = try FeatureSpill(url: url)
        #expect(abs(unlimited.limit - free / 2) < free / 20, "\(unlimited.limit) vs \(free)")
    }

    @Test func featuresCachedPerImageStayWithinTheDiskLimit() throws {
        let (samples, neighbors) = try groups()
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let unbounded = stage(root.appendingPathComponent("unbounded"), budget: .max, blockPairs: 1 << 20)
            .run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        let limit = 150_000
        let limited = stage(root.appendingPathComponent("limited"), budget: 1, blockPairs: 5, diskLimit: limit)
            .run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        expectSameChecks(unbounded.checked, limited.checked)
        let folder = root.appendingPathComponent("limited/local_features")
        func cachedFiles() throws -> (names: [String], bytes: Int) {
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".lf") }
            return (names, try names.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($1).path)[.size] as? Int ?? 0) })
        }
        let (cached, bytes) = try cachedFiles()
        let (u, l) = (unbounded.report.confirm, limited.report.confirm)
        #expect(!cached.isEmpty && bytes <= limit && l.descriptionsNotCached > 0 && u.descriptionsNotCached == 0, "\(bytes) \(l)")
        #expect(cached.count < l.imagesDescribed && cached.count + l.descriptionsNotCached >= l.imagesDescribed, "\(cached.count) \(l)")
        // The images not cached are described again when the tiny feature cache drops them.
        #expect(l.imagesRedescribed > 0 && u.imagesRedescribed == 0, "\(l)")
        let lines = limited.report.problems.filter { $0.contains("not cached") }
        #expect(lines.count == 1 && lines[0].contains("\(l.descriptionsNotCached) descriptions"), "\(limited.report.problems)")
        #expect(limited.report.screen!.peakSpillBytes <= limit, "\(limited.report)")
        // Another run in the same work_dir, every image changed (new cache files): the folder
        // as a whole stays within the limit, the first run's files counted.
        let changed = samples.map { sample in
            var other = sample
            other.contentHash = String(format: "%016llx", (sample.id + 1) * 7919)
            return other
        }
        let again = stage(root.appendingPathComponent("limited"), budget: 1, blockPairs: 5, diskLimit: limit)
            .run(samples: changed, graph: KNNGraph(lists: neighbors, metric: .cosine))
        let after = try cachedFiles()
        #expect(after.bytes <= limit && after.names.count >= cached.count, "\(after.bytes) of \(limit)")
        #expect(again.report.confirm.descriptionsNotCached > l.descriptionsNotCached, "\(again.report)")
    }

    @Test func spillThatCannotBeMadeFallsBackToDescribingAgain() throws {
        let (samples, neighbors) = try groups()
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let unbounded = stage(root.appendingPathComponent("unbounded"), budget: .max, blockPairs: 1 << 20)
            .run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        // A folder where the spill file would be made: the file cannot be opened.
        let blocked = root.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("local_features/spill-orb.tmp"),
                                                withIntermediateDirectories: true)
        let tiny = stage(blocked, budget: 1, blockPairs: 5).run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        expectSameChecks(unbounded.checked, tiny.checked)
        let lines = tiny.report.problems.filter { $0.contains("spill-orb.tmp") }
        #expect(lines.count == 1 && lines[0].contains("described again") && !lines[0].contains("\n"), "\(tiny.report.problems)")
        #expect(tiny.report.screen!.imagesRedescribed > 0 && tiny.report.screen!.imagesSpilled == 0, "\(tiny.report)")
    }

    @Test func loggedChecksAreReusedAndBadRecordsCheckedAgain() throws {
        let (samples, neighbors) = try groups()
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // Keys looked up 5 pairs at a time: lookups cross chunk boundaries.
        let verify = stage(root, budget: 1 << 20, blockPairs: 8, logLookupChunk: 5)
        let first = verify.run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        #expect(first.report.screen?.pairsReused == 0 && first.report.confirm.pairsReused == 0)
        let log = root.appendingPathComponent("checked_pairs.bin")
        let logged = try Data(contentsOf: log)
        let record = CheckedPairLog.recordLength
        let retrieved = first.report.retrieval?.screen.pairs ?? 0
        #expect(logged.count == record * (first.report.screen!.pairs + retrieved + first.report.confirm.pairs), "\(logged.count)")

        // The feature cache removed (disk space), and the log where an earlier version kept it,
        // inside the cache folder: every check is still reused, and the log moves beside it.
        try FileManager.default.removeItem(at: root.appendingPathComponent("local_features"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("local_features"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: log, to: root.appendingPathComponent("local_features/checked_pairs.bin"))
        let again = verify.run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        #expect(try Data(contentsOf: log) == logged)
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("local_features/checked_pairs.bin").path))
        expectSameChecks(first.checked, again.checked)
        #expect(again.report.screen?.pairsReused == first.report.screen?.pairs)
        #expect(again.report.confirm.pairsReused == first.report.confirm.pairs)
        #expect(again.report.screen?.imagesDescribed == 0 && again.report.confirm.imagesFromCache == 0, "\(again.report)")

        // A flipped bit in the first record (a screening check) and a torn last one (a SIFT
        // check): those two pairs are compared again, the rest reused, the results unchanged.
        var damaged = logged
        damaged[20] ^= 1
        try damaged.prefix(damaged.count - 10).write(to: log)
        let repaired = verify.run(samples: samples, graph: KNNGraph(lists: neighbors, metric: .cosine))
        expectSameChecks(first.checked, repaired.checked)
        #expect(repaired.report.screen?.pairsReused == first.report.screen!.pairs - 1, "\(repaired.report)")
        #expect(repaired.report.confirm.pairsReused == first.report.confirm.pairs - 1, "\(repaired.report)")
        #expect(try Data(contentsOf: log).count == logged.count - record + 2 * record)

        // A changed image (another content hash) has its pairs checked again.
        var changed = samples
        changed[0].contentHash = "0000000000000000"
        let rechecked = verify.run(samples: changed, graph: KNNGraph(lists: neighbors, metric: .cosine))
        let pairsOfFirst = first.checked.filter { $0.candidate.a == 0 }.count
        #expect(pairsOfFirst > 0 && rechecked.report.screen!.pairsReused == first.report.screen!.pairs - pairsOfFirst,
                "\(rechecked.report)")
        expectSameChecks(first.checked, rechecked.checked)
    }

    /// Each pass's pairs shared in plans of 2 and checked as a worker checks them (the plan
    /// encoded and decoded, checked in a scratch folder of its own); of the logs that come back
    /// one share's is lost and one has a damaged record: every check equals an unshared run's,
    /// and only the pairs no intact record holds are compared by the sharing run. A plan whose
    /// pair names an image it does not hold is refused when read.
    @Test func sharedChecksGiveEveryCheckOfAnUnsharedRun() throws {
        let (samples, neighbors) = try groups()
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let graph = KNNGraph(lists: neighbors, metric: .cosine)
        let alone = stage(root.appendingPathComponent("alone"), budget: .max, blockPairs: 1 << 20).run(samples: samples, graph: graph)
        let elsewhere = PlanChecker(scratch: root.appendingPathComponent("elsewhere"))
        let shared = VerificationStage(options: CopyVerification.Options(), directory: root.appendingPathComponent("shared"), crop: nil,
                                       workers: 2, sharing: elsewhere).run(samples: samples, graph: graph)
        expectSameChecks(alone.checked, shared.checked)
        #expect(shared.scores == alone.scores && shared.report.problems == [], "\(shared.report.problems)")
        let passes = [shared.report.screen!] + [shared.report.retrieval?.screen].compactMap { $0 }.filter { $0.pairs > 0 }
            + [shared.report.confirm]
        let returned = elsewhere.returnedPairs.withLock { $0 }
        #expect(returned.count == passes.count && passes.map(\.pairsShared) == returned, "\(returned) \(passes)")
        for pass in passes {
            #expect(pass.pairsShared > 0 && pass.pairsShared < pass.pairs && pass.pairsReused == 0, "\(pass)")
        }
    }

    /// Every value of a check's evidence comes back from the log as it went in, the content
    /// match included (a resumed run's screen decides on it).
    @Test func loggedEvidenceComesBackWhole() throws {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CheckedPairLog(url: root.appendingPathComponent("log.bin"))
        let evidence = PairEvidence(matches: 14, inliers: 7, ncc: -2, scale: 1.5, rotation: -3.25, mirrored: true, anisotropy: 1.1,
                                    coveredA: 0.25, coveredB: 0.75, residual: 0.36, mirrorTried: true, plausible: false,
                                    detector: .orb, contentMatch: 0.9632)
        let keys = [CheckedPairLog.Key(high: 1, low: 2), CheckedPairLog.Key(high: 3, low: 4)]
        var sift = evidence
        (sift.detector, sift.contentMatch, sift.mirrored) = (.sift, -2, false)
        try log.append([(keys[0], evidence), (keys[1], sift)])
        var found: [Int: PairEvidence] = [:]
        log.forEachLogged(keys + [CheckedPairLog.Key(high: 5, low: 6)]) { found[$0] = $1 }
        #expect(found == [0: evidence, 1: sift])
    }

    @Test func runKilledWhileVerifyingResumesWithTheCheckedPairsAndTheSameOutputs() throws {
        let images = try TestData.corpus("A").appendingPathComponent("images")
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let work = root.appendingPathComponent("killed"), fresh = root.appendingPathComponent("fresh")
        let arguments = { (directory: URL) in ["run", images.path, "-w", directory.path, "--quiet"] }

        // SIGKILL once the first block of checks is logged (verification still running).
        let process = Process()
        process.executableURL = TestData.winnowExecutable
        process.arguments = arguments(work)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let log = work.appendingPathComponent("checked_pairs.bin")
        let deadline = Date().addingTimeInterval(600)
        while process.isRunning, Date() < deadline,
              ((try? FileManager.default.attributesOfItem(atPath: log.path)[.size] as? Int) ?? 0) == 0 {
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run ended before it was killed")
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("verification.json").path))

        // The same state without the logged checks and cached features (embeddings vary in their
        // last bits from run to run, so both resume from one set): verification from scratch.
        try FileManager.default.copyItem(at: work, to: fresh)
        try FileManager.default.removeItem(at: fresh.appendingPathComponent("local_features"))
        try FileManager.default.removeItem(at: fresh.appendingPathComponent("checked_pairs.bin"))
        var progress = ""
        for directory in [work, fresh] {
            // The resumed run shows its progress (plain lines: not a terminal).
            let run = try TestData.shell(TestData.winnowExecutable.path, arguments(directory).filter { directory == fresh || $0 != "--quiet" })
            #expect(run.status == 0, "\(run.output)")
            if directory == work { progress = run.output }
        }
        struct Pass: Decodable { var pairs: Int; var pairsReused: Int }
        struct Report: Decodable { var screen: Pass; var confirm: Pass }
        let report = { (directory: URL) in
            try JSONDecoder().decode(Report.self, from: Data(contentsOf: directory.appendingPathComponent("verification.json")))
        }
        let (resumed, scratch) = (try report(work), try report(fresh))
        #expect(resumed.screen.pairsReused > 0 && resumed.screen.pairsReused + resumed.confirm.pairsReused
                < resumed.screen.pairs + resumed.confirm.pairs, "\(resumed)")
        #expect(scratch.screen.pairsReused == 0 && scratch.screen.pairs == resumed.screen.pairs, "\(scratch)")
        // Each verification pass reports its pairs compared, to the last.
        #expect(progress.contains("verify orb: \(resumed.screen.pairs)/\(resumed.screen.pairs) "), "\(progress)")
        #expect(resumed.confirm.pairs == 0 || progress.contains("verify sift: \(resumed.confirm.pairs)/\(resumed.confirm.pairs) "),
                "\(progress)")
        for file in ["similarity.csv", "duplicates.csv", "connected_components.csv", "component_info.csv",
                     "near_duplicates.csv", "outliers.csv", "scores.csv"] {
            let (a, b) = (try Data(contentsOf: fresh.appendingPathComponent(file)), try Data(contentsOf: work.appendingPathComponent(file)))
            #expect(a == b, "\(file) differs from the one verified from scratch")
        }
    }
}

/// Checks shares as a worker does; of each call's logs it loses the second and damages the
/// first record of the third, and records the pairs whose intact records it returned.
final class PlanChecker: PairCheckSharing {
    let scratch: URL
    let pairsPerShare = 2
    let returnedPairs = Mutex<[Int]>([])

    init(scratch: URL) { self.scratch = scratch }

    func check(count: Int, progress: @escaping @Sendable (Int) -> Void, plan make: (Int) -> VerificationPlan) throws -> [URL] {
        #expect(count >= 3)
        let call = returnedPairs.withLock { $0.count }
        var logs: [URL] = [], intact = 0
        for part in 0..<count {
            let plan = make(part)
            #expect(plan.pairCount <= pairsPerShare)
            if part == 1 { continue }
            let received = try VerificationPlan(decoding: try plan.encoded())
            #expect(received == plan)
            var hostile = plan
            hostile.pairs[0].b = Int32(plan.samples.count)
            #expect(throws: DecodingError.self) { try VerificationPlan(decoding: try hostile.encoded()) }
            let log = received.check(scratch: scratch.appendingPathComponent("\(call)-\(part)"), workers: 1)
            var records = try Data(contentsOf: log)
            #expect(records.count == plan.pairCount * CheckedPairLog.recordLength)
            if part == 2 { records[20] ^= 1 }
            let kept = scratch.appendingPathComponent("\(call)-\(part).log")
            try records.write(to: kept)
            logs.append(kept)
            intact += plan.pairCount - (part == 2 ? 1 : 0)
        }
        returnedPairs.withLock { $0.append(intact) }
        return logs
    }

    func earlierLogs() -> [URL] { [] }
}
