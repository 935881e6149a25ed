import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the images of a work_dir most similar to an image, a sample or a vector.",
        discussion: """
            Examples:
              winnow search work --image query.jpg            is this image (or a copy) in my dataset?
              winnow search work --id 42 -k 5                 neighbours of sample 42
              winnow search work --vector 0.1,0.3,... --threshold 0.9
              winnow search work --image q.jpg --json
            """
    )

    @Argument(help: "A work_dir written by `winnow run` with embeddings.")
    var workDir: String

    @Option(help: "An image file to embed with the run's model.")
    var image: String?

    @Option(parsing: .unconditional, help: "The index of a sample in the work_dir (atrain_features.dat.csv).")
    var id: Int64?

    @Option(parsing: .unconditional, help: "A query vector: comma-separated numbers.")
    var vector: String?

    @Option(name: .short, parsing: .unconditional, help: "How many neighbours.")
    var k = 10

    @Option(parsing: .unconditional, help: "Only neighbours at least this similar.")
    var threshold: Float?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if [image != nil, id != nil, vector != nil].filter({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --image, --id or --vector")
        }
        try OptionRange.check("-k", k, in: 1...10_000)
        try OptionRange.check("--threshold", threshold, atMost: 1)
        _ = try queryVector
    }

    /// `--vector` as numbers; each must be finite (a NaN would be "similar" to everything).
    private var queryVector: [Float]? {
        get throws {
            guard let vector else { return nil }
            let values = commaSeparated(vector).map { Float($0) }
            guard !values.isEmpty, values.allSatisfy({ $0?.isFinite == true }) else {
                let bad = commaSeparated(vector).first { Float($0)?.isFinite != true } ?? ""
                throw ValidationError("--vector must be comma-separated finite numbers (got '\(bad)')")
            }
            return values.compactMap { $0 }
        }
    }

    func run() throws {
        let matches: [SimilaritySearch.Match]
        do {
            let search = try SimilaritySearch(workDirectory: URL(fileURLWithPath: workDir))
            if let image {
                matches = try search.neighbors(ofImageAt: image, k: k, minimumSimilarity: threshold)
            } else if let id {
                matches = try search.neighbors(ofSample: id, k: k, minimumSimilarity: threshold)
            } else {
                matches = try search.neighbors(ofVector: try queryVector ?? [], k: k, minimumSimilarity: threshold)
            }
        } catch let error as SearchError {
            if case .unreadableFile = error { throw failure(error, ExitStatus.dataError) }
            throw failure(error, ExitStatus.noInput)
        } catch let error as EmbeddingError {
            throw failure(error, ExitStatus.software)
        } catch let error as IndexError {
            throw failure(error, ExitStatus.software)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(matches), as: UTF8.self))
        } else {
            print("rank  similarity   index  filename")
            for (rank, match) in matches.enumerated() {
                print(String(format: "%4d  %10.4f  %6lld  ", rank + 1, match.similarity, match.index) + match.filename)
            }
            if matches.isEmpty { print("(no neighbours\(threshold.map { " at similarity ≥ \($0)" } ?? ""))") }
        }
    }
}
