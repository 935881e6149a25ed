import ArgumentParser
import Foundation
import WinnowCore

/// `winnow-bench copies`: how well copies are found on corpus set A folders — per transform,
/// Winnow with verification, Winnow's global descriptor alone and fastdup on the same files,
/// scored by the shared scorer on the reported pairs — and what each stage costs.
struct BenchCopiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copies",
        abstract: "Copy-detection quality on corpus set A: per transform, Winnow next to fastdup, and stage costs.",
        discussion: """
            For each --corpus (a set A folder: images/, ground_truth.csv, pairs.csv) runs
            `winnow run` (default model, with copy verification), again with --no-verify, and
            fastdup, scores each work_dir's similarity.csv with score_near_duplicates.py --pairs
            (copy→original recall at pair precision 0.99) and prints one table per corpus, the
            hard negatives above each threshold, and the cost of each Winnow stage per image.

            Example (set A seed 0, and a second seed made with make_corpus.py --seed 1):
              winnow-bench copies --corpus ~/.cache/winnow/corpus/A --corpus /tmp/corpusA1/A
            """
    )

    @Option(help: "A corpus set A folder (repeat for several seeds).")
    var corpus: [String]

    @Option(help: "Embedding model (as `winnow run --model`).")
    var model = "copy"

    @Option(help: "The shared scorer.")
    var scorer = "../shared/corpus/score_near_duplicates.py"

    @Option(help: "An argument added to the verified Winnow run (repeat for several; e.g. --run-arg=--no-local-retrieval).")
    var runArg: [String] = []

    @Flag(help: "Skip fastdup.")
    var skipAnchors = false

    @Flag(help: "Skip the --no-verify run.")
    var skipGlobal = false

    @OptionGroup var places: BenchPlaces

    struct Verification: Decodable {
        struct Pass: Decodable {
            var pairs: Int
            var imagesDescribed: Int
            var imagesFromCache: Int
            var imagesFailed: Int
            var featureSeconds: Double
            var checkSeconds: Double
            var seconds: Double { featureSeconds + checkSeconds }
        }
        var candidatePairs: Int
        var verifiedPairs: Int
        var mirrorChecks: Int
        var pairsBeyondCandidates: Int
        var screen: Pass?
        var screenCopies: Int
        var screenNotCopies: Int
        var confirm: Pass
        var retrieval: Retrieval?
    }

    struct Retrieval: Decodable {
        var imagesKeyed: Int
        var imagesDescribedForKeys: Int
        var pairs: Int
        var verifiedPairs: Int
        var screen: Verification.Pass
        var seconds: Double
    }

    /// One scorer run: recall per transform, overall, threshold, hard negatives above it.
    struct Score {
        var perTransform: [String: (n: Int, recall: Double)] = [:]
        var overall = 0.0
        var threshold = ""
        var hardNegatives = ""
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: scorer) else {
            throw ValidationError("scorer not found: \(scorer) (pass --scorer)")
        }
        for (number, set) in corpus.enumerated() {
            try measureCorpus(set, number: number)
        }
    }

    /// Runs Winnow (with and without verification) and fastdup on one corpus, prints their
    /// scores per transform and the cost of each Winnow stage.
    private func measureCorpus(_ set: String, number: Int) throws {
        let images = set + "/images"
        var columns: [(String, Score)] = []
        print("== \(set)")
        let work = places.scratch + "/copies-\(number)-winnow"
        try? FileManager.default.removeItem(atPath: work)
        let report = try BenchSupport.winnowRun([images, "--work-dir", work, "--model", model] + runArg)
        columns.append(("winnow", try score(set, work)))
        var globalSeconds: Double?
        if !skipGlobal {
            let globalWork = places.scratch + "/copies-\(number)-global"
            try? FileManager.default.removeItem(atPath: globalWork)
            let global = try BenchSupport.winnowRun([images, "--work-dir", globalWork, "--model", model, "--no-verify"])
            globalSeconds = global.summary.seconds
            columns.append(("global only", try score(set, globalWork)))
        }
        if !skipAnchors, let (python, script) = places.anchor("fastdup") {
            let fastdupWork = places.scratch + "/copies-\(number)-fastdup"
            try? FileManager.default.removeItem(atPath: fastdupWork)
            _ = try BenchSupport.runChild(python, [script, images, fastdupWork],
                                          stderrLog: places.scratch + "/fastdup-copies-\(number).log")
            columns.append(("fastdup", try score(set, fastdupWork)))
        }
        printTable(columns)
        printStageCosts(report, work: work, globalSeconds: globalSeconds)
    }

    /// Prints the Winnow run's time per image, its verification's costs (from the work_dir's
    /// `verification.json`) and the time of the run without verification when there was one.
    private func printStageCosts(_ report: BenchSupport.RunReport, work: String, globalSeconds: Double?) {
        let images_ = max(report.summary.embedded ?? report.summary.valid, 1)
        print(String(format: "   winnow run: %.1f s for %d images (%.1f ms/image wall), peak RSS %.0f MB",
                     report.summary.seconds, images_, 1000 * report.summary.seconds / Double(images_),
                     report.resources.peakRSSMegabytes))
        if let data = FileManager.default.contents(atPath: work + "/verification.json"),
           let v = try? JSONDecoder().decode(Verification.self, from: data) {
            printVerificationCosts(v, report: report, images: images_)
        }
        if let globalSeconds {
            print(String(format: "   run without verification: %.1f s (with: %.2f×)", globalSeconds,
                         report.summary.seconds / max(globalSeconds, 1e-9)))
        }
    }

    /// Prints the candidate and verified pairs, each verification pass's cost, and the
    /// verification's share of the run over `images_` images.
    private func printVerificationCosts(_ v: Verification, report: BenchSupport.RunReport, images images_: Int) {
        func line(_ name: String, _ p: Verification.Pass) {
            print("   \(name): " + String(format: "local features of %d images (%d from cache, %d failed) in %.1f s = %.1f ms/image; "
                         + "%d pairs in %.1f s = %.2f ms/pair", p.imagesDescribed, p.imagesFromCache, p.imagesFailed, p.featureSeconds,
                         1000 * p.featureSeconds / Double(max(p.imagesDescribed, 1)), p.pairs, p.checkSeconds,
                         1000 * p.checkSeconds / Double(max(p.pairs, 1))))
        }
        print(String(format: "   verification: %d candidate pairs (%d uncertain pairs beyond the candidates left out), "
                     + "%d verified, %d compared mirrored too", v.candidatePairs, v.pairsBeyondCandidates,
                     v.verifiedPairs, v.mirrorChecks))
        if let screen = v.screen {
            line("ORB screening", screen)
            print(String(format: "   screening settled %d pairs as copies and %d as not; %d left to SIFT",
                         v.screenCopies, v.screenNotCopies, v.confirm.pairs))
        }
        if let r = v.retrieval {
            print(String(format: "   second retrieval: keys of %d images (%d described for them) in %.1f s; %d pairs proposed, "
                         + "%d verified; their screening %.1f s", r.imagesKeyed, r.imagesDescribedForKeys, r.seconds, r.pairs,
                         r.verifiedPairs, r.screen.seconds))
        }
        line("SIFT", v.confirm)
        let verifySeconds = (v.screen?.seconds ?? 0) + v.confirm.seconds
        let rest = report.summary.seconds - verifySeconds
        print(String(format: "   decode + embed + index + analyses %.1f s = %.1f ms/image; verification %.1f s = %.1f ms/image (%.0f%% of the run)",
                     rest, 1000 * rest / Double(images_), verifySeconds, 1000 * verifySeconds / Double(images_),
                     100 * verifySeconds / max(report.summary.seconds, 1e-9)))
    }

    /// Runs the scorer on a work_dir's reported pairs and parses its table.
    private func score(_ set: String, _ work: String) throws -> Score {
        // The scorer exits 1 while recall is under its goal; its figures are what count here.
        let output = try BenchSupport.runChild("/usr/bin/env", ["python3", scorer, set, work, "--pairs"], allowFailure: true).output
        var result = Score()
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("threshold at pair precision") {
                result.threshold = fields.count > 5 ? String(fields[5].dropLast()) : ""
                if let at = line.range(of: "above it: ") { result.hardNegatives = String(line[at.upperBound...]) }
            } else if line.hasPrefix("copy->original recall") {
                result.overall = fields.count > 6 ? Double(fields[6]) ?? 0 : 0
            } else if fields.count == 3, let n = Int(fields[1]), let r = Double(fields[2]) {
                result.perTransform[String(fields[0])] = (n, r)
            }
        }
        return result
    }

    private func printTable(_ columns: [(String, Score)]) {
        let transforms = Set(columns.flatMap { $0.1.perTransform.keys }).sorted()
        func cell(_ s: String) -> String { s.count >= 13 ? s + " " : s + String(repeating: " ", count: 13 - s.count) }
        print("   recall@P.99     n   " + columns.map { cell($0.0) }.joined())
        for t in transforms {
            let n = columns.compactMap { $0.1.perTransform[t]?.n }.first ?? 0
            print("   " + t.padding(toLength: 15, withPad: " ", startingAt: 0) + String(format: "%4d   ", n)
                  + columns.map { cell($0.1.perTransform[t].map { String(format: "%.3f", $0.recall) } ?? "-") }.joined())
        }
        print("   " + "all".padding(toLength: 15, withPad: " ", startingAt: 0) + "       "
              + columns.map { cell(String(format: "%.3f", $0.1.overall)) }.joined())
        print("   " + "threshold".padding(toLength: 15, withPad: " ", startingAt: 0) + "       "
              + columns.map { cell($0.1.threshold) }.joined())
        print("   " + "hard neg. above".padding(toLength: 15, withPad: " ", startingAt: 0) + "       "
              + columns.map { cell($0.1.hardNegatives) }.joined())
    }
}
