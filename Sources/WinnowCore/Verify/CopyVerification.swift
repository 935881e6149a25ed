import Foundation

/// Copy verification: re-scores the neighbour pairs whose global (whitened copy-descriptor)
/// similarity is uncertain with local evidence, so that crops, rotations, rescaled and heavily
/// recompressed copies are found and other photos of the same scene are not.
///
/// For a pair (a, b) of neighbours (each in the other's or its own top `candidates`) with
/// global cosine similarity `g` in [`floor`, `sure`):
/// 1. RootSIFT matches with Lowe's ratio test (`ratio`), one per keypoint of b;
/// 2. an affine model by RANSAC (`ransacThreshold` px) with sanity checks: ≥ `minimumInliers`
///    distinct inliers, no reflection (a's mirror is tried instead), singular-value ratio ≤
///    `maximumAnisotropy`, scale within 1/`maximumScale`…`maximumScale`, and one image lying
///    ≥ `minimumContainment` inside the other (a copy is a part of, or all of, the other) — or,
///    for a model turned by 5° or more, all one image shows outside the other's frame being one
///    uniform colour (a photo rotated inside a frame whose corners were filled; issue 19);
/// 3. the pixel check: NCC of the two grey images (σ = 1 smoothed) over their overlap after
///    warping into the frame of the more covered one.
///
/// The pair is a verified copy when a model passed, one image lies ≥ `minimumContainment`
/// inside the other, NCC ≥ `minimumNCC` and the inliers' median residual (pixels of the smaller
/// view) ≤ `maximumResidual`: copies line up to a fraction of a pixel; other photos of a scene
/// do not (parallax), and overlapping frames of one scene contain neither the other. Final
/// score, the `similarity.csv` value:
/// - verified: `sure + (1 − sure) · c`, c = ½·(NCC − minimumNCC)/(1 − minimumNCC) +
///   ½·(1 − residual/maximumResidual) — above every unchecked pair below `sure`;
/// - checked, not verified: `rejectedFloor + (rejectedCeiling − rejectedFloor) · g / sure`
///   (0.3…0.7): below every verified pair, still ranked by `g` — the strongest are reported
///   (≥ the pair threshold 0.45) as likely but unproven copies;
/// - not checked: `g` (at or above `sure`: copies without checking; below `floor`: not).
/// Thresholds chosen on corpus set A seed 0 and kept unchanged for seed 1 (measured figures:
/// README, "Copy verification").
/// This is the prototype's recipe (issue 7: global top candidates → RootSIFT → affine RANSAC
/// with sanity checks → NCC after the warp), run only where it changes the answer.
///
/// Screening (`screen`, on by default): every candidate pair is first compared with ORB
/// features, about 20× cheaper to make than SIFT. A pair is settled by ORB when
/// - ORB verifies it by the rule above with NCC ≥ `screenMinimumNCC` (ORB keypoints lie less
///   precisely, so the pixels must agree more): a copy;
/// - ORB finds a plausible model without containment (two overlapping crops of one photo): not
///   a copy;
/// - ORB finds no model that lines up (NCC < `confirmModelNCC`) and `g` < `confirmUnmatchedFrom`
///   (`confirmRescaledFrom` for two images of very different sizes without a plausible model,
///   which SIFT then verifies only with NCC ≥ `screenMinimumNCC`, from `unbackedMinimumInliers`
///   inliers; below it, such a pair whose smaller image lines up inside the larger one — a
///   content match ≥ `contentMatchFrom` — goes to SIFT the same way): not a copy.
/// The rest — an ORB model that lines up but was not accepted, or no ORB model for a pair the
/// global descriptor rates highly (blurred, small or heavily recompressed copies) — goes to
/// SIFT, whose evidence decides. Measured (docs/benchmarks.md, "Copy detection"): set A recall
/// at pair precision 0.99 as with SIFT on every pair (0.985 / 0.984 / 0.981 on seeds 0–2 with
/// SIFT at 512 px; 0.987 / 0.986 / 0.991 with the session-15 sides); on set C
/// ORB settles 69,870 of 70,760 pairs and SIFT describes 949 of the 19,931 candidate images.
public enum CopyVerification {
    /// Where verification runs and what it accepts.
    public struct Options: Sendable, Codable, Equatable {
        /// Global similarity range checked: [floor, sure). A floor of 0.05, not 0.1: quarter turns
        /// and rotations in a padded frame often score 0.05–0.1 against their original although
        /// it is among their first neighbours (own hard-copy set, seed 10: quarter turns 0.88 →
        /// 0.93, for 57 % more pairs, which ORB settles at ~0.15 ms each).
        public var floor: Float = 0.05
        public var sure: Float = 0.75
        /// Nearest neighbours per image that may be checked: a copy's original ranks among its
        /// first neighbours even when the global score is low (corpus set A seed 0: 1 of 769
        /// uncertain copy→original pairs ranks 7th or later at both ends, against 1,048 of the
        /// 3,540 uncertain pairs of other images; seed 1: 1 of 780, 1,225 of 3,894).
        public var candidates = 6
        public var ratio: Float = 0.8
        public var ransacThreshold: Float = 3
        public var minimumInliers = 8
        public var maximumAnisotropy: Float = 2.5
        public var maximumScale: Float = 8
        public var minimumContainment: Float = 0.95
        public var minimumNCC: Float = 0.8
        public var maximumResidual: Float = 1.0
        /// Checked pairs that fail are mapped into [rejectedFloor, rejectedCeiling) by `g`.
        public var rejectedFloor: Float = 0.3
        public var rejectedCeiling: Float = 0.7
        /// Features of the confirming pass (RootSIFT by default).
        public var features = LocalFeatures.Options()
        /// Features of the screening pass; nil: every candidate pair goes to `features`.
        public var screen: LocalFeatures.Options? = .screening
        /// Least NCC for a pair the screening pass verifies.
        public var screenMinimumNCC: Float = 0.9
        /// A screening model with containment and at least this NCC, not accepted, is confirmed.
        public var confirmModelNCC: Float = 0.7
        /// Pairs the screening pass found no model for are confirmed from this global similarity…
        public var confirmUnmatchedFrom: Float = 0.6
        /// …or from this one when one image's long side is over `rescaledSideRatio` times the
        /// other's: ORB's fixed budget of corners covers a heavy crop or a small thumbnail poorly
        /// (own hard-copy set, seed 10: crop to 55 % recall 0.75 → 0.84, thumbnails to 25 % 0.87
        /// → 0.93, hard negatives unchanged, verification ~1.3× its pairs' cost).
        public var confirmRescaledFrom: Float = 0.2
        public var rescaledSideRatio: Float = 1.4
        /// Below `confirmRescaledFrom`, such a pair is confirmed when the smaller image lines up
        /// inside the larger with at least this correlation (``PairEvidence/contentMatch(_:_:options:)``,
        /// the larger image at `contentMatchSide` px, the smaller at up to `contentMatchLargestScale`
        /// times its size): heavy crops score 0.08–0.2 globally and leave ORB silent, and so do
        /// hundreds of other pairs of different sizes, which this separates (own hard-copy set,
        /// seed 10: 160 of 3,673 such pairs reach 0.85, holding 44 of their 58 copies).
        public var contentMatchFrom: Float = 0.85
        public var contentMatchSide = 128
        public var contentMatchLargestScale: Float = 3.5
        /// Fewest distinct inliers SIFT needs for a pair no ORB model backs (``unbacked``): such
        /// copies are small or heavily cropped, with few keypoints, and the stricter pixel check
        /// holds the precision (own hard sets, seeds 10–12: crop, then 30–45 % at JPEG quality
        /// 25–45, 0.708 / 0.747 / 0.782 → 0.742 / 0.747 / 0.800 with 6 instead of 8; hard
        /// negatives unchanged).
        public var unbackedMinimumInliers = 6
        /// The second retrieval of candidates on the screening pass's ORB descriptors
        /// (``LocalRetrieval``; `perImage` 0 turns it off; it needs the screening pass).
        public var retrieval = LocalRetrieval.Options()
        public init() {}

        /// The same with the pixel check at `screenMinimumNCC`: what a pair needs to be a copy
        /// on ORB's evidence.
        var screenStrict: Options {
            var strict = self
            strict.minimumNCC = max(minimumNCC, screenMinimumNCC)
            return strict
        }

        /// What a pair needs to be a copy on SIFT's evidence when no ORB model backs it: the
        /// pixel check at `screenMinimumNCC` and `unbackedMinimumInliers` inliers.
        var unbacked: Options {
            var strict = screenStrict
            strict.minimumInliers = unbackedMinimumInliers
            return strict
        }
    }

    /// What the screening pass decided for a pair.
    public enum ScreenOutcome: Sendable, Equatable {
        case copy
        case notCopy
        /// Left to the confirming pass.
        case confirm
        /// Left to the confirming pass, whose pixel check must then reach `screenMinimumNCC`:
        /// no ORB model backs the pair at all (two images of very different sizes).
        case confirmStrictly
    }

    /// A pair to check: rows a < b and their global similarity (12 bytes: a run may have millions).
    public struct Candidate: Sendable, Equatable {
        private var rowA: Int32
        private var rowB: Int32
        public var global: Float

        public var a: Int { Int(rowA) }
        public var b: Int { Int(rowB) }

        public init(a: Int, b: Int, global: Float) {
            (rowA, rowB, self.global) = (Int32(a), Int32(b), global)
        }
    }

    /// One checked pair: its evidence (nil when an image had no features) and final score.
    /// A checked pair's final score, rows as the graph stores them (12 bytes).
    public struct PairScore: Sendable, Equatable {
        public var a: Int32
        public var b: Int32
        public var score: Float

        public init(a: Int, b: Int, score: Float) {
            (self.a, self.b, self.score) = (Int32(a), Int32(b), score)
        }
    }

    public struct Checked: Sendable {
        public var candidate: Candidate
        public var evidence: PairEvidence?
        public var verified: Bool
        public var score: Float

        /// The same pair judged not a copy (the score of a checked pair that failed).
        func rejected(_ options: Options) -> Checked {
            guard verified else { return self }
            var rejected = judge(candidate, evidence: nil, options: options)
            rejected.evidence = evidence
            return rejected
        }
    }

    /// Unordered neighbour pairs with `floor ≤ g < sure`, each once, from each row's first
    /// `candidates` neighbours.
    public static func candidates(graph: KNNGraph, options: Options) -> [Candidate] {
        var result: [Candidate] = []
        result.reserveCapacity(candidateCount(graph: graph, options: options))
        forEachCandidate(graph, options) { result.append($0) }
        return result
    }

    /// How many ``candidates(graph:options:)`` there are, counted without listing them.
    public static func candidateCount(graph: KNNGraph, options: Options) -> Int {
        var count = 0
        forEachCandidate(graph, options) { _ in count += 1 }
        return count
    }

    /// Each candidate pair once, in the order first found, with the global score of the list
    /// that gives it first: a neighbour is passed over when it came first and its own list gives
    /// the pair, or when this list gave it higher up (no table of the pairs seen, as
    /// ``SimilarityPairs`` does).
    private static func forEachCandidate(_ graph: KNNGraph, _ options: Options, _ body: (Candidate) -> Void) {
        func qualifies(_ n: Neighbor) -> Bool {
            let g = n.similarity(graph.metric)
            return g >= options.floor && g < options.sure
        }
        for row in 0..<graph.rows {
            let list = graph.neighbors(of: row).prefix(options.candidates)
            for rank in list.indices where list[rank].index != row && qualifies(list[rank]) {
                let n = list[rank]
                let givenBefore = list[..<rank].contains { $0.index == n.index && qualifies($0) }
                    || n.index < row && graph.neighbors(of: n.index).prefix(options.candidates).contains {
                        $0.index == row && qualifies($0)
                    }
                if !givenBefore {
                    body(Candidate(a: min(row, n.index), b: max(row, n.index), global: n.similarity(graph.metric)))
                }
            }
        }
    }

    /// Whether the global neighbours settled the pair of rows `a` and `b` already — a candidate
    /// pair, or one scored at or above `sure` — and its global similarity where a row lists the other.
    static func globalStanding(_ a: Int, _ b: Int, graph: KNNGraph, options: Options) -> (settled: Bool, global: Float?) {
        var (settled, global): (Bool, Float?) = (false, nil)
        for (row, other) in [(a, b), (b, a)] {
            for (rank, n) in graph.neighbors(of: row).enumerated() where n.index == other {
                let g = n.similarity(graph.metric)
                global = g
                settled = settled || g >= options.sure || (rank < options.candidates && g >= options.floor)
            }
        }
        return (settled, global)
    }

    /// The verdict and final score of a checked pair (see the type's documentation).
    public static func judge(_ candidate: Candidate, evidence: PairEvidence?, options: Options) -> Checked {
        guard let e = evidence, e.ncc > -1.5, e.inliers >= options.minimumInliers,
              max(e.coveredA, e.coveredB) >= options.minimumContainment, e.ncc >= options.minimumNCC,
              e.residual <= options.maximumResidual else {
            let g = min(max(candidate.global / max(options.sure, 1e-6), 0), 1)
            return Checked(candidate: candidate, evidence: evidence, verified: false,
                           score: options.rejectedFloor + (options.rejectedCeiling - options.rejectedFloor) * g)
        }
        let pixels = (e.ncc - options.minimumNCC) / max(1 - options.minimumNCC, 1e-6)
        let alignment = 1 - e.residual / max(options.maximumResidual, 1e-6)
        let confidence = min(1, max(0, 0.5 * pixels + 0.5 * alignment))
        return Checked(candidate: candidate, evidence: e, verified: true, score: options.sure + (1 - options.sure) * confidence)
    }

    /// The screening pass's decision for `candidate` from its (ORB) evidence; see the type's
    /// documentation. `sideRatio`: the longer of the two images' long sides over the shorter.
    /// No evidence (an image could not be described): not a copy.
    public static func screen(_ candidate: Candidate, evidence: PairEvidence?, sideRatio: Float = 1,
                              options: Options) -> ScreenOutcome {
        guard let e = evidence else { return .notCopy }
        if judge(candidate, evidence: e, options: options.screenStrict).verified { return .copy }
        let contained = e.inliers >= options.minimumInliers && max(e.coveredA, e.coveredB) >= options.minimumContainment
        if e.plausible && !contained { return .notCopy }
        if contained && e.ncc >= options.confirmModelNCC { return .confirm }
        if candidate.global >= options.confirmUnmatchedFrom { return .confirm }
        guard !e.plausible && sideRatio > options.rescaledSideRatio else { return .notCopy }
        return candidate.global >= options.confirmRescaledFrom || e.contentMatch >= options.contentMatchFrom
            ? .confirmStrictly : .notCopy
    }

    /// Whether the screen's verdict on `candidate` waits for a content match: ORB found no model
    /// for two images of very different sizes whose global similarity is under `confirmRescaledFrom`.
    public static func wantsContentMatch(_ candidate: Candidate, evidence e: PairEvidence, sideRatio: Float,
                                         options: Options) -> Bool {
        !e.plausible && sideRatio > options.rescaledSideRatio && candidate.global < options.confirmRescaledFrom
            && screen(candidate, evidence: e, sideRatio: sideRatio, options: options) == .notCopy
    }

    /// The graph with checked pairs' similarities replaced by their final scores (cosine
    /// distances `1 − score`) and the `added` pairs (copies found beyond the graph) put into
    /// both rows' lists in place of the farthest neighbour when nearer than it, each row
    /// re-sorted, nearest first, written to `url` block by block. Nothing checked, or not cosine:
    /// `graph` itself (no file is written).
    public static func rescored(_ graph: KNNGraph, scores: [PairScore], added: [PairScore] = [], to url: URL,
                                blockRows: Int = 4096) throws(KNNGraphError) -> KNNGraph {
        guard graph.metric == .cosine, !scores.isEmpty else { return graph }
        func key(_ a: Int, _ b: Int) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }
        var score: [Int64: Float] = [:]
        score.reserveCapacity(scores.count)
        for s in scores { score[key(Int(s.a), Int(s.b))] = s.score }
        var partners: [Int32: [Int32]] = [:]
        for pair in added { partners[pair.a, default: []].append(pair.b); partners[pair.b, default: []].append(pair.a) }
        let writer = try KNNGraphWriter(url: url, rows: graph.rows, k: graph.k, metric: graph.metric)
        for start in stride(from: 0, to: graph.rows, by: blockRows) {
            try writer.append((start..<min(graph.rows, start + blockRows)).map { row in
                var list = graph.neighbors(of: row).map { n in
                    score[key(row, n.index)].map { Neighbor(index: n.index, distance: 1 - $0) } ?? n
                }
                for partner in partners[Int32(row)] ?? [] where !list.contains(where: { $0.index == Int(partner) }) {
                    if let s = score[key(row, Int(partner))] { list.append(Neighbor(index: Int(partner), distance: 1 - s)) }
                }
                return Array(list.sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }.prefix(graph.k))
            })
        }
        return try writer.finish()
    }

    /// What the geometry says the copy is: `flip`, `rotation`, `crop`, `scale`, joined by `+`,
    /// or `recompression` when the two line up as they are (pixel edits: quality, blur,
    /// colour, watermark).
    public static func transformGuess(_ e: PairEvidence) -> String {
        var parts: [String] = []
        if e.mirrored { parts.append("flip") }
        if abs(e.rotation) > 1.5 { parts.append(abs(abs(e.rotation) - 90) < 3 || abs(abs(e.rotation) - 180) < 3 ? "rotation90" : "rotation") }
        if min(e.coveredA, e.coveredB) < 0.9 { parts.append("crop") }
        if e.scale < 0.9 || e.scale > 1.1 { parts.append("scale") }
        return parts.isEmpty ? "recompression" : parts.joined(separator: "+")
    }
}

extension CopyVerification.Options {
    /// Reads the options of any version's `config.json`: a key written before its option existed
    /// takes the option's default (`winnow search` and later runs read the work_dir's
    /// configuration). `screen` absent means no screening, as it is written.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let stored = try c.decodeIfPresent(T.self, forKey: key) { value = stored }
        }
        try read(.floor, &floor); try read(.sure, &sure); try read(.candidates, &candidates)
        try read(.ratio, &ratio); try read(.ransacThreshold, &ransacThreshold); try read(.minimumInliers, &minimumInliers)
        try read(.maximumAnisotropy, &maximumAnisotropy); try read(.maximumScale, &maximumScale)
        try read(.minimumContainment, &minimumContainment); try read(.minimumNCC, &minimumNCC)
        try read(.maximumResidual, &maximumResidual); try read(.rejectedFloor, &rejectedFloor)
        try read(.rejectedCeiling, &rejectedCeiling); try read(.features, &features)
        screen = try c.decodeIfPresent(LocalFeatures.Options.self, forKey: .screen)
        try read(.screenMinimumNCC, &screenMinimumNCC); try read(.confirmModelNCC, &confirmModelNCC)
        try read(.confirmUnmatchedFrom, &confirmUnmatchedFrom); try read(.confirmRescaledFrom, &confirmRescaledFrom)
        try read(.rescaledSideRatio, &rescaledSideRatio); try read(.contentMatchFrom, &contentMatchFrom)
        try read(.contentMatchSide, &contentMatchSide); try read(.contentMatchLargestScale, &contentMatchLargestScale)
        try read(.unbackedMinimumInliers, &unbackedMinimumInliers); try read(.retrieval, &retrieval)
    }
}
