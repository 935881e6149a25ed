import Foundation
import Testing
@testable import WinnowCore

/// The index stage's results are kept in the work_dir under a key of the vectors and the index's
/// parameters: a run over the same vectors (after a kill, or with other thresholds) reuses them.
@Suite(.serialized) struct IndexCacheTests {
    func cacheFolders(_ work: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.hasPrefix(IndexCache.folderPrefix) }.sorted()
    }

    func inode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? NSNumber)?.intValue ?? -1
    }

    func run(_ images: URL, _ work: URL, _ change: (inout AnalysisOptions) -> Void = { _ in }) throws -> RunSummary {
        var analysis = AnalysisOptions.defaults(for: .copyDescriptor)
        analysis.index = .projected
        change(&analysis)
        return try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                       embedding: .copyDescriptor, analysis: analysis)).execute()
    }

    @Test func aRunOverTheSameVectorsReusesTheIndexAndOnlyThen() throws {
        let images = try TestData.temporaryDirectory().appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path])
        #expect(made.status == 0, "\(made.output)")
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let first = try run(images, work)
        let folders = try cacheFolders(work)
        #expect(folders.count == 1 && first.embedded == 16)
        let cached = work.appendingPathComponent(folders[0])
        for name in [KNNGraph.fileName, SimilaritySearch.indexFileName, SimilaritySearch.indexFileName + ".projection"] {
            // The work_dir's files are the cache's, hard-linked.
            #expect(try inode(cached.appendingPathComponent(name)) == inode(work.appendingPathComponent(name)), "\(name)")
        }
        let graph = try Data(contentsOf: work.appendingPathComponent(KNNGraph.fileName))
        let built = try inode(cached.appendingPathComponent(KNNGraph.fileName))

        // Other thresholds: the same vectors, so the graph is not built again; search still loads the index.
        let second = try run(images, work) { $0.threshold = 0.3 }
        #expect(try cacheFolders(work) == folders)
        #expect(try inode(cached.appendingPathComponent(KNNGraph.fileName)) == built)
        #expect(try Data(contentsOf: work.appendingPathComponent(KNNGraph.fileName)) == graph)
        #expect(second.similarPairs >= first.similarPairs)
        let search = try SimilaritySearch(workDirectory: work)
        let id = try #require(search.ids.first)
        #expect(try search.neighbors(ofSample: id, k: 3).count == 3)

        // Another k is another index: built anew, and the old entry goes.
        _ = try run(images, work) { $0.nearestNeighborsK = 5 }
        let now = try cacheFolders(work)
        #expect(now.count == 1 && now != folders)
        let graphK5 = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.fileName))
        #expect(graphK5.k == 5 && graphK5.rows == 16)
    }

    /// A run killed while it searched the neighbours left the saved index and part of the graph:
    /// the next run loads that index (not built again) and finishes the graph, which equals an
    /// uninterrupted run's.
    @Test func aRunStoppedWhileSearchingNeighboursReusesItsSavedIndex() throws {
        let images = try TestData.temporaryDirectory().appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path])
        #expect(made.status == 0, "\(made.output)")
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        _ = try run(images, work)
        let cached = work.appendingPathComponent(try #require(try cacheFolders(work).first))
        let graph = try Data(contentsOf: work.appendingPathComponent(KNNGraph.fileName))
        let saved = try inode(cached.appendingPathComponent(SimilaritySearch.indexFileName))
        // What a kill during the neighbour search leaves: the index, no finished graph, half of one.
        let original = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.fileName))
        try FileManager.default.removeItem(at: cached.appendingPathComponent(KNNGraph.fileName))
        do {
            let stopped = try KNNGraphWriter(url: cached.appendingPathComponent(KNNGraph.fileName), rows: original.rows,
                                             k: original.k, metric: original.metric, resumable: true)
            try stopped.append((0..<8).map { Array(original.neighbors(of: $0)) })
        }
        _ = try run(images, work)
        #expect(try inode(cached.appendingPathComponent(SimilaritySearch.indexFileName)) == saved)
        #expect(try Data(contentsOf: work.appendingPathComponent(KNNGraph.fileName)) == graph)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cached.path).filter(KNNGraphWriter.isPartial).isEmpty)
    }
}
