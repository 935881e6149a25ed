import Foundation
import Synchronization
import WinnowCore

/// Nearest neighbours of a sample for the app: from the run's index or features
/// (`SimilaritySearch`) when there are any, else from the pairs in `similarity.csv`.
final class NeighbourFinder: Sendable {
    struct Neighbour: Encodable, Equatable {
        var index: Int64
        var filename: String
        var similarity: Float
    }

    struct Answer: Encodable {
        var index: Int64
        var source: String
        var neighbours: [Neighbour]
    }

    private let search: Mutex<SimilaritySearch?>
    private let pairs: [Int64: [(Int64, Float)]]
    private let names: [Int64: String]
    let available: Bool

    init(data: WorkDirData) {
        let search = try? SimilaritySearch(workDirectory: data.directory)
        self.search = Mutex(search)
        names = Dictionary(uniqueKeysWithValues: data.samples.map { ($0.index, $0.filename) })
        var pairs: [Int64: [(Int64, Float)]] = [:]
        if search == nil, let records = try? CSV.records(at: data.directory.appendingPathComponent("similarity.csv")) {
            for r in records {
                guard let a = Int64(r["from"] ?? ""), let b = Int64(r["to"] ?? ""), let s = Float(r["distance"] ?? "") else { continue }
                pairs[a, default: []].append((b, s))
            }
        }
        self.pairs = pairs.mapValues { $0.sorted { $0.1 > $1.1 } }
        available = search != nil || !pairs.isEmpty
    }

    func neighbours(of index: Int64, k: Int) throws -> Answer {
        guard names[index] != nil else { throw NeighbourError.unknown(index) }
        let found: [Neighbour]? = try search.withLock { search in
            guard let search else { return nil }
            do {
                return try search.neighbors(ofSample: index, k: k).map {
                    Neighbour(index: $0.index, filename: $0.filename, similarity: $0.similarity)
                }
            } catch SearchError.unknownSample {
                return []   // decoded but not embedded
            }
        }
        if let found { return Answer(index: index, source: "features", neighbours: found) }
        let listed = (pairs[index] ?? []).prefix(k).map { Neighbour(index: $0.0, filename: names[$0.0] ?? "", similarity: $0.1) }
        return Answer(index: index, source: "similarity.csv", neighbours: listed)
    }

    enum NeighbourError: Error, CustomStringConvertible {
        case unknown(Int64)
        var description: String {
            switch self { case .unknown(let id): "no decoded sample with index \(id)" }
        }
    }
}
