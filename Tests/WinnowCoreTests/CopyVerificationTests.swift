import Foundation
import Testing
@testable import WinnowCore

/// Copy verification on real photos: crops, rotations, downscaled and heavily recompressed
/// copies are verified; a stereo pair (two photos of one scene) is not; the shim's failure
/// paths give one-line errors.
@Suite(.serialized) struct CopyVerificationTests {
    let options = CopyVerification.Options()

    func features(_ image: RGBImage, _ name: String) throws -> LocalFeatures {
        try LocalFeatures.extract(from: image, options: options.features, name: name)
    }

    /// `image` through a JPEG at `quality` (the vips CLI), decoded again.
    func recompressed(_ name: String, quality: Int, folder: URL) throws -> RGBImage {
        let source = try TestData.skimageData().appendingPathComponent("\(name).png")
        let out = folder.appendingPathComponent("\(name)-q\(quality).jpg")
        let result = try TestData.shell("vips", ["copy", source.path, out.path + "[Q=\(quality)]"])
        guard result.status == 0 else { throw TestDataMissing("vips failed: \(result.output)") }
        return try ImageDecoder().decode([UInt8](Data(contentsOf: out))).image
    }

    func judged(_ a: LocalFeatures, _ b: LocalFeatures, global: Float) throws -> CopyVerification.Checked {
        let evidence = try PairEvidence.check(a, b, options: options)
        return CopyVerification.judge(CopyVerification.Candidate(a: 0, b: 1, global: global), evidence: evidence, options: options)
    }

    @Test func cropRotationScaleAndRecompressionCopiesAreVerified() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let coffee = try TestData.photo("coffee")
        let original = try features(coffee, "coffee")
        #expect(original.keypointCount > 100)
        // A 45 % crop off-centre, a quarter turn, a 1/4 downscale (upsampled before keypoints),
        // a quality-10 JPEG and a mirrored copy — each checked at a global score the
        // descriptor alone leaves uncertain.
        let crop = coffee.cropped(x: 200, y: 60, width: coffee.width * 45 / 100, height: coffee.height * 55 / 100)
        let copies: [(String, RGBImage)] = [
            ("crop", crop), ("rotation", coffee.turnedClockwise()), ("small", AreaResize.fit(coffee, within: 150)),
            ("jpeg10", try recompressed("coffee", quality: 10, folder: folder)),
        ]
        for (name, image) in copies {
            let checked = try judged(try features(image, name), original, global: 0.3)
            let e = try #require(checked.evidence)
            #expect(checked.verified, "\(name): \(e)")
            #expect(e.ncc > 0.8, "\(name): \(e)")
            #expect(checked.score > 0.9, "\(name)")
            #expect(!e.mirrorTried, "\(name): verified upright, the mirror is not needed")
        }
        // Checking a pair twice gives the same verdict (the mirrored attempt leaves a's image alone).
        let flipped = try features(coffee.mirroredLeftRight(), "flipped")
        let once = try PairEvidence.check(original, flipped, options: options)
        #expect(once.mirrored && once.mirrorTried && once.ncc > 0.8, "\(once)")
        #expect(try PairEvidence.check(original, flipped, options: options) == once)
        #expect(try PairEvidence.check(original, try features(crop, "crop"), options: options).ncc > 0.8)
        let crop2 = try judged(try features(crop, "crop"), original, global: 0.3)
        #expect(try #require(crop2.evidence).coveredA > 0.95)
        #expect(CopyVerification.transformGuess(try #require(crop2.evidence)).contains("crop"))
        let turned = try #require(try judged(try features(coffee.turnedClockwise(), "turned"), original, global: 0.3).evidence)
        #expect(abs(abs(turned.rotation) - 90) < 2)
        #expect(CopyVerification.transformGuess(turned).contains("rotation90"))
        let small = try #require(try judged(try features(AreaResize.fit(coffee, within: 150), "small"), original, global: 0.3).evidence)
        // Scale is the second image's relative to the first: the original is 4× the copy.
        #expect(abs(small.scale - Float(max(coffee.width, coffee.height)) / 150) < 0.1, "\(small)")
    }

    /// Verification's own matchers (AVX-512 L2 for SIFT, popcount Hamming for ORB) find the same
    /// two nearest keypoints, with the same distances and ties, as OpenCV's brute-force matcher,
    /// on related and unrelated photos and on a heavily recompressed copy (repeated descriptors).
    @Test func fastMatchersAgreeWithOpenCVsBruteForceMatcher() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let coffee = try TestData.photo("coffee")
        let images: [(String, RGBImage)] = [
            ("coffee", coffee), ("crop", coffee.cropped(x: 120, y: 40, width: 300, height: 260)),
            ("jpeg10", try recompressed("coffee", quality: 10, folder: folder)),
            ("chelsea", try TestData.photo("chelsea")), ("astronaut", try TestData.photo("astronaut")),
            ("tiles", tiled(coffee.cropped(x: 200, y: 100, width: 48, height: 48), side: 384)),
        ]
        for detector in [LocalFeatures.Options(), LocalFeatures.Options.screening] {
            let described = try images.map { try LocalFeatures.extract(from: $0.1, options: detector, name: $0.0) }
            for a in described {
                #expect(a.keypointCount > 100)
                for b in described {
                    #expect(try a.matcherDisagreements(with: b) == 0, "\(detector.detector) \(a.keypointCount)×\(b.keypointCount)")
                }
            }
        }
    }

    /// `tile` repeated over a `side` × `side` image: keypoints with identical descriptors (ties).
    func tiled(_ tile: RGBImage, side: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            for x in 0..<side {
                let from = ((y % tile.height) * tile.width + x % tile.width) * 3
                for c in 0..<3 { pixels[(y * side + x) * 3 + c] = tile.pixels[from + c] }
            }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    @Test func stereoPairAndOtherPhotosAreNotCopies() throws {
        // skimage's motorcycle_left/right: one scene from two viewpoints. Many features match,
        // but the pixels do not line up under one affine map (parallax).
        let left = try features(try TestData.photo("motorcycle_left"), "left")
        let right = try features(try TestData.photo("motorcycle_right"), "right")
        let stereo = try judged(left, right, global: 0.45)
        #expect(!stereo.verified, "\(String(describing: stereo.evidence))")
        #expect(stereo.score < options.rejectedCeiling)
        let other = try judged(try features(try TestData.photo("chelsea"), "chelsea"), try features(try TestData.photo("coffee"), "coffee"),
                               global: 0.2)
        #expect(!other.verified)
        #expect((other.evidence?.ncc ?? -2) < 0.5)
    }

    /// The mirrored view (derived from the upright keypoints, not detected again) is compared
    /// only when the upright views have no plausible model: two overlapping crops of one photo,
    /// neither inside the other, are related as they are and rejected without it.
    @Test func mirrorIsTriedOnlyWithoutAnUprightModel() throws {
        let coffee = try TestData.photo("coffee")
        let left = coffee.cropped(x: 0, y: 0, width: coffee.width * 60 / 100, height: coffee.height)
        let right = coffee.cropped(x: coffee.width * 40 / 100, y: 0, width: coffee.width * 60 / 100, height: coffee.height)
        let overlapping = try PairEvidence.check(try features(left, "left"), try features(right, "right"), options: options)
        #expect(overlapping.inliers >= options.minimumInliers && !overlapping.mirrorTried, "\(overlapping)")
        #expect(!CopyVerification.judge(.init(a: 0, b: 1, global: 0.5), evidence: overlapping, options: options).verified)
        let unrelated = try PairEvidence.check(try features(try TestData.photo("chelsea"), "chelsea"), try features(coffee, "coffee"),
                                               options: options)
        #expect(unrelated.mirrorTried, "\(unrelated)")
        // A mirrored crop is found through the derived mirror view.
        let flippedCrop = left.mirroredLeftRight()
        let found = try PairEvidence.check(try features(flippedCrop, "flipped left"), try features(coffee, "coffee"), options: options)
        #expect(found.mirrored && found.ncc > 0.8 && found.coveredA > 0.95, "\(found)")
    }

    @Test func failuresAreOneLineErrorsNotCrashes() throws {
        // Tiny: refused with the image's name.
        let tiny = RGBImage(width: 10, height: 10, pixels: [UInt8](repeating: 128, count: 300))
        #expect(throws: LocalFeatureError.self) { try LocalFeatures.extract(from: tiny, name: "tiny.png") }
        do {
            _ = try LocalFeatures.extract(from: tiny, name: "tiny.png")
        } catch {
            #expect(error.message.hasPrefix("tiny.png: "))
            #expect(!error.message.contains("\n"))
        }
        // Featureless: no keypoints, and comparing it gives no model rather than an error.
        let flat = try features(RGBImage(width: 300, height: 200, pixels: [UInt8](repeating: 90, count: 300 * 200 * 3)), "flat")
        #expect(flat.keypointCount == 0)
        let coffee = try features(try TestData.photo("coffee"), "coffee")
        let evidence = try PairEvidence.check(flat, coffee, options: options)
        #expect(evidence.inliers == 0 && evidence.ncc == -2)
        #expect(!CopyVerification.judge(.init(a: 0, b: 1, global: 0.3), evidence: evidence, options: options).verified)
        // Cache bytes: a round trip keeps the features; garbage and truncation are refused.
        let bytes = coffee.serialized()
        let back = try LocalFeatures.deserialize(bytes, name: "coffee.lf")
        #expect(back.keypointCount == coffee.keypointCount)
        #expect(back.serialized() == bytes)
        for bad in [Array(bytes.prefix(bytes.count / 2)), [UInt8](repeating: 7, count: 64), []] {
            do {
                _ = try LocalFeatures.deserialize(bad, name: "bad.lf")
                Issue.record("accepted \(bad.count) bad bytes")
            } catch {
                #expect(error.message.hasPrefix("bad.lf: "))
                #expect(!error.message.contains("\n"))
            }
        }
    }

    /// The ORB screening pass on real photos: it verifies crops, a quarter turn and a mirrored
    /// copy by itself, relates overlapping crops without containment, finds no model for other
    /// photos, and refuses to compare an ORB image with a SIFT one.
    @Test func screeningFeaturesSettleClearPairs() throws {
        let coffee = try TestData.photo("coffee")
        let orb = { (image: RGBImage, name: String) throws -> LocalFeatures in
            try LocalFeatures.extract(from: image, options: .screening, name: name)
        }
        let original = try orb(coffee, "coffee")
        #expect(original.detector == .orb && original.keypointCount > 100)
        let crop = coffee.cropped(x: 200, y: 60, width: coffee.width * 60 / 100, height: coffee.height * 70 / 100)
        let flipped = coffee.mirroredLeftRight()
        for (name, image) in [("crop", crop), ("rotation", coffee.turnedClockwise()), ("mirror", flipped)] {
            let candidate = CopyVerification.Candidate(a: 0, b: 1, global: 0.3)
            let e = try PairEvidence.check(try orb(image, name), original, options: options)
            #expect(e.detector == .orb)
            #expect(CopyVerification.screen(candidate, evidence: e, options: options) == .copy, "\(name): \(e)")
            #expect(e.mirrored == (name == "mirror"), "\(name): \(e)")
        }
        let left = coffee.cropped(x: 0, y: 0, width: coffee.width * 75 / 100, height: coffee.height)
        let right = coffee.cropped(x: coffee.width * 25 / 100, y: 0, width: coffee.width * 75 / 100, height: coffee.height)
        let overlapping = try PairEvidence.check(try orb(left, "left"), try orb(right, "right"), options: options)
        #expect(overlapping.plausible && max(overlapping.coveredA, overlapping.coveredB) < options.minimumContainment,
                "\(overlapping)")
        #expect(CopyVerification.screen(.init(a: 0, b: 1, global: 0.7), evidence: overlapping, options: options) == .notCopy)
        let other = try PairEvidence.check(try orb(try TestData.photo("chelsea"), "chelsea"), original, options: options)
        #expect(!other.plausible, "\(other)")
        #expect(CopyVerification.screen(.init(a: 0, b: 1, global: 0.3), evidence: other, options: options) == .notCopy)
        #expect(CopyVerification.screen(.init(a: 0, b: 1, global: 0.65), evidence: other, options: options) == .confirm)
        // Cache bytes keep the ORB views, mirror included.
        let back = try LocalFeatures.deserialize(original.serialized(), name: "coffee.lf")
        #expect(back.detector == .orb && back.serialized() == original.serialized())
        #expect(try PairEvidence.check(try orb(flipped, "mirror"), back, options: options).mirrored)
        let sift = try features(coffee, "coffee")
        do throws(LocalFeatureError) {
            _ = try PairEvidence.check(original, sift, options: options)
            Issue.record("compared ORB with SIFT features")
        } catch {
            #expect(error.message.contains("different detectors") && !error.message.contains("\n"), "\(error)")
        }
    }

    /// The screening rule: the ORB evidence settles a pair, or leaves it to SIFT.
    @Test func screeningRule() {
        let candidate = CopyVerification.Candidate(a: 0, b: 1, global: 0.4)
        func evidence(inliers: Int = 40, ncc: Float, residual: Float = 0.5, covered: Float = 1, plausible: Bool = true)
            -> PairEvidence {
            PairEvidence(matches: 60, inliers: inliers, ncc: ncc, scale: 1, rotation: 0, mirrored: false, anisotropy: 1,
                         coveredA: covered, coveredB: 0.7, residual: residual, mirrorTried: false, plausible: plausible,
                         detector: .orb)
        }
        #expect(CopyVerification.screen(candidate, evidence: evidence(ncc: 0.97), options: options) == .copy)
        // Lines up, but not well enough for ORB alone (pixels or keypoint residual): SIFT decides.
        #expect(CopyVerification.screen(candidate, evidence: evidence(ncc: 0.85), options: options) == .confirm)
        #expect(CopyVerification.screen(candidate, evidence: evidence(ncc: 0.97, residual: 1.4), options: options) == .confirm)
        // A model that does not line up, or overlapping views: not copies.
        #expect(CopyVerification.screen(candidate, evidence: evidence(ncc: 0.4), options: options) == .notCopy)
        #expect(CopyVerification.screen(candidate, evidence: evidence(ncc: -2, covered: 0.6), options: options) == .notCopy)
        // No model: SIFT only where the global descriptor rates the pair highly.
        let none = evidence(inliers: 3, ncc: -2, covered: 0, plausible: false)
        #expect(CopyVerification.screen(candidate, evidence: none, options: options) == .notCopy)
        #expect(CopyVerification.screen(.init(a: 0, b: 1, global: 0.6), evidence: none, options: options) == .confirm)
        #expect(CopyVerification.screen(candidate, evidence: nil, options: options) == .notCopy)
    }

    /// Only each image's first `candidates` neighbours are checked: a pair further down both
    /// lists is left out, one that ranks high at either end is kept.
    @Test func candidatesComeFromTheFirstNeighbours() {
        var options = options
        options.candidates = 2
        // Row 0 ranks 1, 2, 3 (all uncertain); row 3 ranks 0 first, rows 1 and 2 rank 0 last.
        let neighbors: [[Neighbor]] = [
            [Neighbor(index: 1, distance: 0.5), Neighbor(index: 2, distance: 0.6), Neighbor(index: 3, distance: 0.7)],
            [Neighbor(index: 2, distance: 0.2), Neighbor(index: 3, distance: 0.3), Neighbor(index: 0, distance: 0.5)],
            [Neighbor(index: 1, distance: 0.2), Neighbor(index: 3, distance: 0.3), Neighbor(index: 0, distance: 0.6)],
            [Neighbor(index: 0, distance: 0.7), Neighbor(index: 1, distance: 0.3), Neighbor(index: 2, distance: 0.3)],
        ]
        let pairs = CopyVerification.candidates(graph: KNNGraph(lists: neighbors, metric: .cosine), options: options)
        #expect(Set(pairs.map { [$0.a, $0.b] }) == [[0, 1], [0, 2], [0, 3], [1, 3], [2, 3]])
        options.candidates = 1
        let first = CopyVerification.candidates(graph: KNNGraph(lists: neighbors, metric: .cosine), options: options)
        #expect(Set(first.map { [$0.a, $0.b] }) == [[0, 1], [0, 3]])
    }

    /// Candidates found without a table of the pairs seen equal the definition with one: each
    /// unordered pair once, in the order first found, with the global score of the list that
    /// gives it first — on random graphs whose two lists of a pair disagree and that list a
    /// neighbour twice.
    @Test func candidatesWithoutASeenTableEqualTheDefinitionWithOne() {
        var random = SystemRandomNumberGenerator()
        var options = options
        for _ in 0..<30 {
            options.candidates = Int.random(in: 1...6, using: &random)
            let rows = Int.random(in: 2...50, using: &random)
            let graph = KNNGraph(lists: (0..<rows).map { row in
                let others = (0..<rows).filter { $0 != row }.shuffled(using: &random).prefix(6)
                return (Array(others) + others.prefix(1)).map {   // one neighbour listed twice
                    Neighbor(index: $0, distance: Float.random(in: 0...1, using: &random))
                }.sorted { $0.distance < $1.distance }
            }, metric: .cosine)
            var seen = Set<[Int]>(), expected: [CopyVerification.Candidate] = []
            for row in 0..<rows {
                for n in graph.neighbors(of: row).prefix(options.candidates) {
                    let g = n.similarity(.cosine)
                    guard g >= options.floor, g < options.sure, seen.insert([min(row, n.index), max(row, n.index)]).inserted else { continue }
                    expected.append(CopyVerification.Candidate(a: min(row, n.index), b: max(row, n.index), global: g))
                }
            }
            #expect(CopyVerification.candidates(graph: graph, options: options) == expected)
            #expect(CopyVerification.candidateCount(graph: graph, options: options) == expected.count)
        }
    }

    /// A work_dir's `config.json` written before an option existed still loads (`winnow search`,
    /// later runs), the option at its default; options round-trip, screening off included.
    @Test func optionsWrittenBeforeAnOptionExistedLoadWithItsDefault() throws {
        var changed = CopyVerification.Options()
        (changed.floor, changed.contentMatchFrom, changed.contentMatchSide, changed.screen) = (0.1, 0.7, 96, nil)
        #expect(try JSONDecoder().decode(CopyVerification.Options.self, from: JSONEncoder().encode(changed)) == changed)
        let current = try JSONEncoder().encode(CopyVerification.Options())
        var older = try #require(try JSONSerialization.jsonObject(with: current) as? [String: Any])
        for key in ["contentMatchFrom", "contentMatchSide", "contentMatchLargestScale", "rescaledSideRatio"] {
            #expect(older.removeValue(forKey: key) != nil, "\(key)")
        }
        let loaded = try JSONDecoder().decode(CopyVerification.Options.self, from: JSONSerialization.data(withJSONObject: older))
        #expect(loaded == CopyVerification.Options())
    }

    @Test func candidatesAndRescoring() throws {
        // Row 0's neighbours: 1 sure (0.9), 2 uncertain (0.4), 3 below the floor (0.03).
        let neighbors: [[Neighbor]] = [
            [Neighbor(index: 1, distance: 0.1), Neighbor(index: 2, distance: 0.6), Neighbor(index: 3, distance: 0.97)],
            [Neighbor(index: 0, distance: 0.1)], [Neighbor(index: 0, distance: 0.6)], [Neighbor(index: 0, distance: 0.97)],
        ]
        let candidates = CopyVerification.candidates(graph: KNNGraph(lists: neighbors, metric: .cosine), options: options)
        #expect(candidates.map { [$0.a, $0.b] } == [[0, 2]])
        #expect(abs((candidates.first?.global ?? 0) - 0.4) < 1e-6)
        let checked = CopyVerification.Checked(candidate: candidates[0], evidence: nil, verified: true, score: 0.95)
        let url = try TestData.temporaryDirectory().appendingPathComponent(KNNGraph.verifiedFileName)
        let score = CopyVerification.PairScore(a: checked.candidate.a, b: checked.candidate.b, score: checked.score)
        let rescored = try CopyVerification.rescored(KNNGraph(lists: neighbors, metric: .cosine), scores: [score], to: url)
        // 0–2 now ranks first for row 0 and carries the final score both ways; the graph is on disk.
        #expect(rescored.neighbors(of: 0).map(\.index) == [2, 1, 3])
        #expect(abs(rescored.neighbors(of: 0)[0].similarity(.cosine) - 0.95) < 1e-6)
        #expect(abs(rescored.neighbors(of: 2)[0].similarity(.cosine) - 0.95) < 1e-6)
        #expect(try KNNGraph(contentsOf: url).neighbors(of: 2).map(\.index) == [0])
    }

    /// Too few images to whiten, every neighbour pair is checked but identical vectors: exact
    /// copies of a dark image (no local features) scored 1 − 2.4e-7 by the int8 model and were
    /// checked, rejected and lost from `similarity.csv`.
    @Test func smallCollectionsLeaveIdenticalVectorsUnchecked() {
        let options = AnalysisStage.uncalibrated(CopyVerification.Options(), AnalysisOptions())
        let graph = KNNGraph(lists: [[Neighbor(index: 1, distance: 2.4e-7), Neighbor(index: 2, distance: 0.01)],
                                     [Neighbor(index: 0, distance: 2.4e-7)], [Neighbor(index: 0, distance: 0.01)]], metric: .cosine)
        #expect(CopyVerification.candidates(graph: graph, options: options).map { [$0.a, $0.b] } == [[0, 2]])
    }

    /// Too few images to whiten: the stereo pair's global score is high, yet it is checked and
    /// rejected, while a recompressed copy is verified.
    @Test func smallCollectionsCheckEveryCandidate() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images"), work = folder.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea", "astronaut", "motorcycle_left", "motorcycle_right"])
        let copy = try TestData.shell("vips", ["copy", images.appendingPathComponent("coffee.jpg").path,
                                              images.appendingPathComponent("coffee_q20.jpg").path + "[Q=20]"])
        #expect(copy.status == 0, "\(copy.output)")
        // With the ORB screening pass (default) and with SIFT on every pair: the same answer.
        for screening in [true, false] {
            try? FileManager.default.removeItem(at: work)
            let run = try TestData.shell(TestData.winnowExecutable.path,
                                         ["run", images.path, "-w", work.path, "--quiet"] + (screening ? [] : ["--no-screen"]))
            #expect(run.status == 0, "\(run.output)")
            let pairs = try TestData.readCSV(work.appendingPathComponent("similarity.csv"))
            let names = Dictionary(uniqueKeysWithValues: try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
                .map { ($0["index"] ?? "", URL(fileURLWithPath: $0["filename"] ?? "").deletingPathExtension().lastPathComponent) })
            let reported = Set(pairs.map { [names[$0["from"] ?? ""] ?? "", names[$0["to"] ?? ""] ?? ""].sorted().joined(separator: "+") })
            #expect(reported == ["coffee+coffee_q20"], "screening \(screening): \(reported)")
            let evidence = try TestData.readCSV(work.appendingPathComponent("duplicates.csv"))
            let stereo = evidence.first { [$0["from_filename"], $0["to_filename"]].allSatisfy { $0?.contains("motorcycle") == true } }
            #expect(stereo == nil || (stereo?["checked"] == "1" && stereo?["verified"] == "0"), "\(String(describing: stereo))")
            let copy = evidence.first { $0["verified"] == "1" }
            #expect(copy?["detector"] == (screening ? "orb" : "sift"), "\(String(describing: copy))")
            let report = try String(contentsOf: work.appendingPathComponent("verification.json"), encoding: .utf8)
            #expect(report.contains("\"screen\"") == screening)
        }
    }

    @Test func runVerifiesCandidatePairsWritesEvidenceAndReusesCachedFeatures() throws {
        // Whole groups (original + copies) of corpus set A, ~40 files; every neighbour pair from
        // the floor up is checked (no "sure" level), so true copies are among the candidates.
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (images, group) = try copyGroups(atLeast: 40, into: root)
        let work = root.appendingPathComponent("work")
        var analysis = AnalysisOptions.defaults(for: .copyDescriptor)
        analysis.verification?.sure = 1.01
        let configuration = RunConfiguration(inputs: [images.path], workDirectory: work.path, embedding: .copyDescriptor,
                                             analysis: analysis)
        _ = try Run(configuration: configuration).execute()
        struct Pass: Decodable { var pairs: Int; var imagesDescribed: Int; var imagesFromCache: Int; var imagesFailed: Int }
        struct Report: Decodable {
            var candidatePairs: Int; var verifiedPairs: Int; var screen: Pass; var confirm: Pass
            var screenCopies: Int; var screenNotCopies: Int
        }
        let first = try JSONDecoder().decode(Report.self, from: Data(contentsOf: work.appendingPathComponent("verification.json")))
        #expect(first.candidatePairs > 0 && first.verifiedPairs > 0, "\(first)")
        #expect(first.screen.imagesFailed == 0 && first.confirm.imagesFailed == 0, "\(first)")
        #expect(first.screen.imagesDescribed > 0 && first.screen.imagesFromCache == 0)
        // Every candidate is screened; SIFT gets only the pairs screening left open.
        #expect(first.screen.pairs == first.candidatePairs)
        #expect(first.confirm.pairs == first.candidatePairs - first.screenCopies - first.screenNotCopies, "\(first)")
        #expect(first.screenCopies > 0)

        // duplicates.csv: reported pairs with their evidence; verified ones are true copies
        // and carry a transform guess; similarity.csv holds the same final scores.
        let rows = try TestData.readCSV(work.appendingPathComponent("duplicates.csv"))
        let verified = rows.filter { $0["verified"] == "1" }
        #expect(!verified.isEmpty)
        let name = { (path: String?) in URL(fileURLWithPath: path ?? "").lastPathComponent }
        let wrong = verified.filter { group[name($0["from_filename"])] != group[name($0["to_filename"])] }
        #expect(wrong.count * 50 <= verified.count, "\(wrong)")
        for row in verified {
            #expect(!(row["transform"] ?? "").isEmpty && Int(row["inliers"] ?? "") ?? 0 >= 8)
            #expect(["orb", "sift"].contains(row["detector"] ?? ""))
            #expect(Float(row["ncc"] ?? "") ?? 0 >= 0.8 && Float(row["score"] ?? "") ?? 0 >= 0.75)
        }
        let similarity = try TestData.readCSV(work.appendingPathComponent("similarity.csv"))
        #expect(similarity.count == 2 * rows.count)

        // Without the logged pair checks (which a resumed run would reuse whole), a run reads
        // every image's SIFT features from the cache.
        try FileManager.default.removeItem(at: work.appendingPathComponent("checked_pairs.bin"))
        _ = try Run(configuration: configuration).execute()
        let second = try JSONDecoder().decode(Report.self, from: Data(contentsOf: work.appendingPathComponent("verification.json")))
        // ORB features are made again (cheaper than storing them); SIFT's come from the cache.
        #expect(second.screen.imagesFromCache == 0 && second.screen.imagesDescribed == first.screen.imagesDescribed, "\(second)")
        #expect(second.confirm.imagesDescribed == 0 && second.confirm.imagesFromCache == first.confirm.imagesDescribed, "\(second)")
        // Same verdicts from re-read features (checks never modify shared features).
        #expect(second.verifiedPairs == first.verifiedPairs, "\(first) \(second)")
        #expect(try TestData.readCSV(work.appendingPathComponent("duplicates.csv")).count == rows.count)
    }

    /// Whole groups (original + copies) of corpus set A, at least `count` files, copied into
    /// `root/images`; returns the folder and each file's group.
    private func copyGroups(atLeast count: Int, into root: URL) throws -> (images: URL, group: [String: String]) {
        let corpus = try TestData.corpus("A")
        let truth = try TestData.readCSV(corpus.appendingPathComponent("ground_truth.csv"))
        let groups = Dictionary(grouping: truth, by: { $0["original_id"] ?? "" })
        var chosen: [[String: String]] = []
        for key in groups.keys.sorted() where chosen.count < count { chosen += groups[key] ?? [] }
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for row in chosen {
            let file = row["file"] ?? ""
            try FileManager.default.copyItem(at: corpus.appendingPathComponent("images/" + file), to: images.appendingPathComponent(file))
        }
        return (images, Dictionary(chosen.map { ($0["file"] ?? "", $0["original_id"] ?? "") }, uniquingKeysWith: { a, _ in a }))
    }

    /// Raw copy descriptors computed elsewhere (`--model copy --embeddings`) are whitened, scored
    /// and verified as the model's own: a run on the default run's raw descriptors (its
    /// `features.f32` rows in sorted file order) writes the same pairs, checks and scores. Vectors
    /// of another length, or `--embeddings` with another model, are one-line errors.
    @Test func precomputedCopyDescriptorsRunAsTheModelsOwn() throws {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (images, _) = try copyGroups(atLeast: 30, into: root)
        let winnow = TestData.winnowExecutable.path
        let model = root.appendingPathComponent("model")
        #expect(try TestData.shell(winnow, ["run", images.path, "-w", model.path, "--quiet"]).status == 0)
        let store = try FeatureMatrix(mapping: model.appendingPathComponent("features.f32"), dimension: CopyDescriptor.dimension)
        let rows = try Catalog(url: model.appendingPathComponent(Catalog.fileName))
            .query("SELECT feature_row FROM samples WHERE feature_row IS NOT NULL ORDER BY path")
            .compactMap { $0["feature_row"].flatMap { Int($0) } }
        let raw = root.appendingPathComponent("raw.npy")
        try NumPyFile.float32(rows.map { Array(store.row($0)) }).write(to: raw)

        let precomputed = root.appendingPathComponent("precomputed")
        let run = try TestData.shell(winnow, ["run", images.path, "-w", precomputed.path, "--model", "copy", "--embeddings", raw.path, "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        for file in ["similarity.csv", "duplicates.csv", "connected_components.csv", "scores.csv", "atrain_features.dat"] {
            let a = try Data(contentsOf: model.appendingPathComponent(file)), b = try Data(contentsOf: precomputed.appendingPathComponent(file))
            #expect(a == b && !a.isEmpty, "\(file) differs")
        }
        let report = try Data(contentsOf: precomputed.appendingPathComponent("verification.json"))
        let verified = (try JSONSerialization.jsonObject(with: report) as? [String: Any])?["verifiedPairs"] as? Int
        #expect((verified ?? 0) > 0, "\(String(decoding: report, as: UTF8.self))")

        let short = root.appendingPathComponent("short.npy")
        try NumPyFile.float32(rows.map { Array(store.row($0).prefix(8)) }).write(to: short)
        let wrong = try TestData.shell(winnow, ["run", images.path, "-w", root.appendingPathComponent("w1").path, "--model", "copy",
                                                "--embeddings", short.path, "--quiet"])
        #expect(wrong.status == 65 && wrong.output.hasPrefix("winnow: cannot use embeddings \(short.path): 8 values a row"), "\(wrong.output)")
        let mixed = try TestData.shell(winnow, ["run", images.path, "-w", root.appendingPathComponent("w2").path, "--model", "mobilenet_v2",
                                                "--embeddings", raw.path, "--quiet"])
        #expect(mixed.status == 64 && mixed.output.contains("only --model copy goes with it"), "\(mixed.output)")
    }
}
