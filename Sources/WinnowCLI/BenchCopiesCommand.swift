import ArgumentParser
import Foundation
import WinnowCore

/// `winnow bench copies`: how well the features find transformed copies on corpus set A,
/// next to fastdup's features and similarity pairs on the same files.
struct BenchCopiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copies",
        abstract: "Copy-detection quality on corpus set A: per transform, Winnow next to fastdup.",
        discussion: """
            Runs `winnow run` on SET/images, then fastdup, and prints for each: per transform the
            fraction of copies whose nearest neighbour is their original, the weakest true pair vs
            the strongest hard-negative pair, and the shared scorer (score_near_duplicates.py) on the
            features and on the reported pairs (--pairs).

            Example:
              winnow bench copies --corpus ~/.cache/winnow/corpus/A
            """
    )

    @Option(help: "A corpus set A folder (images/, ground_truth.csv, pairs.csv).")
    var corpus: String

    @Option(help: "Embedding model (as `winnow run --model`).")
    var model = "mobilenet_v2"

    @Option(help: "The shared scorer.")
    var scorer = "../shared/corpus/score_near_duplicates.py"

    @Flag(help: "Skip fastdup.")
    var skipAnchors = false

    @OptionGroup var places: BenchPlaces

    func run() throws {
        let images = corpus + "/images"
        let truth = try readCSV(corpus + "/ground_truth.csv")
        let hardNegatives = try readCSV(corpus + "/pairs.csv").filter { $0["label"] != "duplicate" }
            .map { ($0["file_a"] ?? "", $0["file_b"] ?? "") }
        let winnowWork = places.scratch + "/copies-winnow"
        try? FileManager.default.removeItem(atPath: winnowWork)
        _ = try BenchSupport.winnowRun([images, "--work-dir", winnowWork, "--model", model])
        var works = [("winnow (\(model))", winnowWork)]
        if !skipAnchors, let (python, script) = places.anchor("fastdup") {
            let work = places.scratch + "/copies-fastdup"
            try? FileManager.default.removeItem(atPath: work)
            _ = try BenchSupport.runChild(python, [script, images, work], stderrLog: places.scratch + "/fastdup-copies.log")
            works.append(("fastdup", work))
        }
        for (name, work) in works {
            print("== \(name)")
            try report(work: work, truth: truth, hardNegatives: hardNegatives)
            for mode in [[], ["--pairs"]] where FileManager.default.fileExists(atPath: scorer) {
                // The scorer exits 1 while recall is under its goal; its figures are what count here.
                let (output, _) = try BenchSupport.runChild("/usr/bin/env", ["python3", scorer, corpus, work] + mode,
                                                            allowFailure: true)
                print("-- score_near_duplicates.py \(mode.first ?? "(features)")")
                print(output.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
            }
        }
    }

    /// Per transform, the share of copies whose nearest neighbour is their original; and the
    /// weakest copy–original similarity against the strongest hard-negative similarity.
    private func report(work: String, truth: [[String: String]], hardNegatives: [(String, String)]) throws {
        let list = try readCSV(work + "/atrain_features.dat.csv")
        let names = list.map { URL(fileURLWithPath: $0["filename"] ?? "").lastPathComponent }
        let size = (try FileManager.default.attributesOfItem(atPath: work + "/atrain_features.dat")[.size] as? NSNumber)?.intValue ?? 0
        let vectors = try FeatureMatrix(mapping: URL(fileURLWithPath: work + "/atrain_features.dat"),
                                        dimension: size / max(names.count * 4, 1))
        let row = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let neighbours = ExactIndex(vectors: vectors, metric: .cosine).allNeighbors(k: 1)
        let original = Dictionary(truth.filter { $0["transform"] == "original" }.map { ($0["original_id"] ?? "", $0["file"] ?? "") },
                                  uniquingKeysWith: { a, _ in a })
        func cosine(_ a: Int, _ b: Int) -> Float {
            let x = vectors.row(a), y = vectors.row(b)
            var dot: Float = 0, nx: Float = 0, ny: Float = 0
            for i in 0..<x.count { dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i] }
            return dot / max((nx * ny).squareRoot(), 1e-12)
        }
        var perTransform: [String: (hits: Int, total: Int)] = [:]
        var weakestTrue: Float = 1
        for r in truth where r["transform"] != "original" {
            guard let copy = row[r["file"] ?? ""], let source = original[r["original_id"] ?? ""], let o = row[source] else { continue }
            let t = r["transform"] ?? "?"
            let hit = neighbours[copy].first?.index == o
            perTransform[t, default: (0, 0)].hits += hit ? 1 : 0
            perTransform[t, default: (0, 0)].total += 1
            weakestTrue = min(weakestTrue, cosine(copy, o))
        }
        let strongestNegative = hardNegatives.compactMap { a, b in row[a].flatMap { x in row[b].map { cosine(x, $0) } } }.max() ?? -1
        print("   transform        copies  nearest is original")
        var hits = 0, total = 0
        for (t, v) in perTransform.sorted(by: { $0.key < $1.key }) {
            print("   " + t.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + String(format: " %6d  %6.3f", v.total, Double(v.hits) / Double(max(v.total, 1))))
            hits += v.hits; total += v.total
        }
        print("   " + "all".padding(toLength: 16, withPad: " ", startingAt: 0)
              + String(format: " %6d  %6.3f", total, Double(hits) / Double(max(total, 1))))
        print(String(format: "   weakest copy–original similarity %.3f, strongest hard negative %.3f, separation %+.3f",
                     weakestTrue, strongestNegative, weakestTrue - strongestNegative))
    }

    private func readCSV(_ path: String) throws -> [[String: String]] {
        CSVReader.records(try String(contentsOfFile: path, encoding: .utf8))
    }
}
