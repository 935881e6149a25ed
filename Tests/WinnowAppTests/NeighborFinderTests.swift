import Foundation
import Testing
@testable import WinnowApp
@testable import WinnowCore

/// `/api/neighbors` answers from the run's kNN graph, read per request from the mapped file.
@Suite(.serialized) struct NeighborFinderTests {
    static func copyOfWork() throws -> URL {
        let copy = try AppTestData.temporaryDirectory().appendingPathComponent("work")
        try FileManager.default.copyItem(at: try AppFixture.work(), to: copy)
        return copy
    }

    /// With copy verification's graph: its rows, as sample indices with their final scores,
    /// nearest first, cut at `k`.
    @Test func answersAreTheVerifiedGraphsRows() throws {
        let work = try AppFixture.work()
        let finder = NeighborFinder(data: try WorkDirData(directory: work))
        #expect(finder.available && finder.warning == nil)
        let ids = try WorkDirFeatures.samples(in: work).ids
        let graph = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.verifiedFileName))
        for (row, id) in ids.enumerated() {
            let answer = try finder.neighbors(of: id, k: 100)
            #expect(answer.source == "kNN graph")
            #expect(answer.neighbors.map(\.index) == graph.neighbors(of: row).map { ids[$0.index] })
            #expect(answer.neighbors.map(\.similarity) == graph.neighbors(of: row).map { $0.similarity(graph.metric) })
            #expect(try finder.neighbors(of: id, k: 2).neighbors == Array(answer.neighbors.prefix(2)))
        }
    }

    /// Without it, `knn.bin`: the same neighbours in the same order as the search over the
    /// features the app used before.
    @Test func globalGraphAnswersAsTheFeatureSearchDid() throws {
        let work = try Self.copyOfWork()
        try FileManager.default.removeItem(at: work.appendingPathComponent(KNNGraph.verifiedFileName))
        let finder = NeighborFinder(data: try WorkDirData(directory: work))
        let search = try SimilaritySearch(workDirectory: work)
        let k = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.fileName)).k
        for id in search.ids {
            let answer = try finder.neighbors(of: id, k: k)
            let searched = try search.neighbors(ofSample: id, k: k)
            #expect(answer.source == "kNN graph" && answer.neighbors.map(\.index) == searched.map(\.index), "sample \(id)")
            #expect(zip(answer.neighbors, searched).allSatisfy { abs($0.similarity - $1.similarity) < 1e-5 }, "sample \(id)")
        }
    }

    /// A graph that does not fit the features: one warning line naming it, and the app answers
    /// from the features instead.
    @Test func mismatchedGraphIsNamedAndSkipped() throws {
        let work = try Self.copyOfWork()
        let verified = work.appendingPathComponent(KNNGraph.verifiedFileName)
        _ = try KNNGraph(lists: [[Neighbor(index: 1, distance: 0.1)], [Neighbor(index: 0, distance: 0.1)]], metric: .cosine)
            .write(to: verified)
        let finder = NeighborFinder(data: try WorkDirData(directory: work))
        let warning = try #require(finder.warning)
        #expect(!warning.contains("\n") && warning.contains("\(verified.path): 2 rows, but atrain_features.dat.csv lists"), "\(warning)")
        let id = try WorkDirFeatures.samples(in: work).ids[0]
        #expect(try finder.neighbors(of: id, k: 3).source == "features")
    }
}
