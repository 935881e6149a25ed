import Foundation
import Testing
@testable import WinnowCore

/// The analyses' CSVs, written row by row, are byte for byte the whole-table rendering
/// (``CSVTable``) of the analyses recomputed from the run's graph files.
@Suite struct AnalysisOutputsTests {
    @Test func graphAnalysesFilesMatchTheirTableRendering() throws {
        let (_, work) = try PhotoPairs.shared.get()
        let options = try JSONDecoder().decode(RunConfiguration.self,
                                               from: Data(contentsOf: work.appendingPathComponent("config.json"))).analysis
        let ids = try WorkDirFeatures.samples(in: work).ids
        let global = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.fileName))
        let final = try #require(try KNNGraph.ofRun(in: work, rows: ids.count, scores: .final))
        func text(_ name: String) throws -> String { try String(contentsOf: work.appendingPathComponent(name), encoding: .utf8) }
        func pairs(_ rows: [SimilarPair]) -> String {
            var table = CSVTable(header: ["from", "to", "distance"])
            for p in rows { table.append([String(ids[p.from]), String(ids[p.to]), decimal(Double(p.similarity), 6)]) }
            return table.contents
        }
        let similar = SimilarityPairs.pairs(graph: final, threshold: options.threshold)
        let similarity = try text("similarity.csv"), outlierText = try text("outliers.csv"), infoText = try text("component_info.csv")
        #expect(!similar.isEmpty && similarity == pairs(similar))
        let outliers = Outliers.find(graph: global, percentile: options.outlierPercentile, rule: options.outlierRule)
        #expect(!outliers.rows.isEmpty && outlierText == pairs(outliers.rows))

        let components = ConnectedComponents.find(graph: final, threshold: options.componentThreshold)
        var info = CSVTable(header: ["component_id", "count", "mean", "min", "max"])
        for c in components.components {
            info.append([String(ids[c.id]), String(c.members.count), decimal(Double(c.meanSimilarity), 6),
                         decimal(Double(c.minimumSimilarity), 6), decimal(Double(c.maximumSimilarity), 6)])
        }
        #expect(!components.components.isEmpty && infoText == info.contents)
        let members = try text("connected_components.csv").split(separator: "\n")
        #expect(members.count == ids.count + 1
                && zip(members.dropFirst(), components.componentOf).allSatisfy { $0.split(separator: ",")[1] == String(ids[$1]) })
    }
}
