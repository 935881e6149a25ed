import Foundation
import Synchronization
import WinnowCore

/// Nearest neighbours of a sample for the app: from the run's kNN graph (`knn_verified.bin`,
/// else `knn.bin`), memory-mapped and read per request; for work_dirs without one, from the
/// run's index or features (`SimilaritySearch`), else from the pairs in `similarity.csv`.
final class NeighborFinder: Sendable {
    struct Match: Encodable, Equatable {
        var index: Int64
        var filename: String
        var similarity: Float
    }

    struct Answer: Encodable {
        var index: Int64
        var source: String
        var neighbors: [Match]
    }

    /// The run's graph with the sample index of each of its rows (`atrain_features.dat.csv`).
    struct RunGraph: Sendable {
        let graph: KNNGraph
        let ids: [Int64]
        let rowOfID: [Int64: Int]

        /// nil when the work_dir has no graph (or no feature list to name its rows).
        static func load(_ directory: URL) throws(KNNGraphError) -> RunGraph? {
            guard let ids = try? WorkDirFeatures.samples(in: directory).ids,
                  let graph = try KNNGraph.ofRun(in: directory, rows: ids.count, scores: .final) else { return nil }
            return RunGraph(graph: graph, ids: ids,
                            rowOfID: Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first }))
        }
    }

    private let graph: RunGraph?
    private let search: Mutex<SimilaritySearch?>
    private let pairs: [Int64: [(Int64, Float)]]
    private let names: [Int64: String]
    let available: Bool
    /// Why the run's graph is not used, when it is there but unusable (one line).
    let warning: String?

    init(data: WorkDirData) {
        var warning: String?
        do { graph = try RunGraph.load(data.directory) } catch {
            graph = nil
            warning = "\(error.description); neighbours are searched in the features instead"
        }
        self.warning = warning
        let search = graph == nil ? try? SimilaritySearch(workDirectory: data.directory) : nil
        self.search = Mutex(search)
        names = Dictionary(uniqueKeysWithValues: data.samples.map { ($0.index, $0.filename) })
        var pairs: [Int64: [(Int64, Float)]] = [:]
        if graph == nil, search == nil, let rows = try? WorkDirFile.similarity.read(in: data.directory) {
            for r in rows { pairs[r.from, default: []].append((r.to, Float(r.distance))) }
        }
        self.pairs = pairs.mapValues { $0.sorted { $0.1 > $1.1 } }
        available = graph != nil || search != nil || !pairs.isEmpty
    }

    func neighbors(of index: Int64, k: Int) throws -> Answer {
        guard names[index] != nil else { throw NeighborError.unknown(index) }
        if let graph {
            // Decoded but not embedded: no row, no neighbours.
            let listed = graph.rowOfID[index].map { row in
                graph.graph.neighbors(of: row).prefix(k).map {
                    Match(index: graph.ids[$0.index], filename: names[graph.ids[$0.index]] ?? "",
                              similarity: $0.similarity(graph.graph.metric))
                }
            } ?? []
            return Answer(index: index, source: "kNN graph", neighbors: listed)
        }
        let found: [Match]? = try search.withLock { search in
            guard let search else { return nil }
            do {
                return try search.neighbors(ofSample: index, k: k).map {
                    Match(index: $0.index, filename: $0.filename, similarity: $0.similarity)
                }
            } catch SearchError.unknownSample {
                return []   // decoded but not embedded
            }
        }
        if let found { return Answer(index: index, source: "features", neighbors: found) }
        let listed = (pairs[index] ?? []).prefix(k).map { Match(index: $0.0, filename: names[$0.0] ?? "", similarity: $0.1) }
        return Answer(index: index, source: WorkDirFile.similarity.name, neighbors: listed)
    }

    enum NeighborError: Error, CustomStringConvertible {
        case unknown(Int64)
        var description: String {
            switch self { case .unknown(let id): "no decoded sample with index \(id)" }
        }
    }
}
