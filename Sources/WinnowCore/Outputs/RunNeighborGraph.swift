import Foundation

extension KNNGraph {
    /// Which scores of a run's graph a reader wants.
    public enum Scores: Sendable {
        /// The index stage's distances in the run's metric (`knn.bin`): for maps.
        case global
        /// Copy verification's final scores (`knn_verified.bin`) when the run has them, else the
        /// global ones: the scores the analyses' CSVs report.
        case final
    }

    /// The graph a run left in `workDirectory`, memory-mapped, over the `rows` samples of its
    /// `atrain_features.dat.csv`: graph row i is that file's i-th sample, as both list the
    /// embedded samples in the order the analyses used. nil when the work_dir has no graph (runs
    /// before the graph file, fastdup work_dirs); throws one line naming the file when it is
    /// unreadable, has another number of rows, or names a row outside them.
    public static func ofRun(in workDirectory: URL, rows: Int, scores: Scores) throws(KNNGraphError) -> KNNGraph? {
        let names = scores == .final ? [verifiedFileName, fileName] : [fileName]
        let candidates = names.map { workDirectory.appendingPathComponent($0) }
        guard let url = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else { return nil }
        let graph = try KNNGraph(contentsOf: url)
        guard graph.rows == rows else {
            throw .unreadable(path: url.path, reason: "\(graph.rows) rows, but atrain_features.dat.csv lists \(rows) samples")
        }
        for row in 0..<rows {
            if let outside = graph.neighbors(of: row).first(where: { $0.index >= rows }) {
                throw .unreadable(path: url.path, reason: "row \(row) names neighbor \(outside.index) of \(rows) rows")
            }
        }
        return graph
    }
}
