import Foundation
import Testing
@testable import WinnowCore

/// The kNN graph searched in blocks by other processes (`cluster finish`'s kNN jobs) is the
/// graph the index writes alone, whatever index kind, and whatever parts come back damaged.
@Suite struct NeighborPlanTests {
    /// Searches each block as a worker does — the plan read and the index loaded from the plan's
    /// folder — except that block 1 comes back missing, block 2 not a graph, and block 3 naming
    /// rows outside the collection.
    struct Workers: NeighborSearchSharing {
        let folder: URL
        var rowsPerShare = 512

        func search(_ plan: NeighborPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL] {
            #expect(try NeighborPlan(folder: folder) == plan)
            let index = try plan.loadIndex(folder: folder)
            var parts: [Int: URL] = [:]
            for block in 0..<plan.blocks where block != 1 {
                let url = folder.appendingPathComponent("part-\(block)")
                switch block {
                case 2: try Data("not a graph".utf8).write(to: url)
                case 3:
                    let (rows, k) = (plan.items(ofBlock: block), min(plan.k, plan.rows - 1))
                    let writer = try KNNGraphWriter(url: url, rows: rows, k: k, metric: plan.metric)
                    try writer.append((0..<rows).map { _ in (0..<k).map { Neighbor(index: plan.rows + $0, distance: 0.1) } })
                    _ = try writer.finish()
                default: try plan.search(block: block, with: index, to: url)
                }
                parts[block] = url
            }
            return parts
        }

        /// Assigns each block as a worker does, except that block 1 comes back missing, block 2
        /// not a part, and block 3 giving a row one list twice.
        func assign(_ plan: ListAssignmentPlan, progress: @escaping @Sendable (Int) -> Void) throws -> [Int: URL] {
            #expect(try ListAssignmentPlan(folder: folder) == plan)
            let (vectors, centroids) = try plan.load(folder: folder)
            var parts: [Int: URL] = [:]
            for block in 0..<plan.blocks where block != 1 {
                let url = folder.appendingPathComponent("assign-\(block)")
                try plan.assign(block: block, vectors: vectors, centroids: centroids, to: url)
                switch block {
                case 2: try Data("not a part".utf8).write(to: url)
                case 3:
                    var data = try Data(contentsOf: url)
                    data.replaceSubrange((data.count - 4)..<data.count, with: data[(data.count - 8)..<(data.count - 4)])
                    try data.write(to: url)
                default: #expect(plan.assignment(ofBlock: block, in: url) != nil)
                }
                parts[block] = url
            }
            #expect(plan.blocks < 4 || parts[3].flatMap { plan.assignment(ofBlock: 3, in: $0) } == nil)
            return parts
        }

        func removeFiles() { try? FileManager.default.removeItem(at: folder) }
    }

    /// A list index whose rows were assigned to their lists in blocks elsewhere (blocks of 100
    /// rows asked: whole 512-row tiles) is the index built alone: the same centroids and lists,
    /// and its search plan keeps the vectors the assignment plan wrote.
    /// One level of centroids, and two (here above 8 lists).
    @Test(arguments: [ListCentroids.twoLevelLists, 8])
    func rowsAssignedElsewhereGiveTheListIndexBuiltAlone(twoLevelAbove: Int) throws {
        let vectors = clusteredMatrix(rows: 2600, dimension: 48, clusters: 40, spread: 0.3, seed: 11)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let workers = Workers(folder: root.appendingPathComponent("knn"), rowsPerShare: 100)
        let alone = try ListIndex(vectors: vectors, listRows: 600, twoLevelAbove: twoLevelAbove)
        let shared = try ListIndex(vectors: vectors, metric: .cosine, listRows: 600, twoLevelAbove: twoLevelAbove, key: "test",
                                   sharing: workers) { _ in }
        let plan = try ListAssignmentPlan(folder: workers.folder)
        #expect(plan.blockRows == 512 && plan.blocks == 6 && plan.take == 4 && plan.cells == (twoLevelAbove == 8 ? 5 : 0))
        let (aloneURL, sharedURL) = (root.appendingPathComponent("alone"), root.appendingPathComponent("shared"))
        try alone.save(to: aloneURL)
        try shared.save(to: sharedURL)
        #expect(try Data(contentsOf: ListIndex.partitionFile(of: aloneURL)) == Data(contentsOf: ListIndex.partitionFile(of: sharedURL)))
        let vectorsFile = workers.folder.appendingPathComponent(NeighborPlan.vectorsName)
        let written = try FileManager.default.attributesOfItem(atPath: vectorsFile.path)[.systemFileNumber] as? Int
        #expect(written != nil)
        _ = try NeighborPlan.write(index: shared, vectors: vectors, key: "test", k: 10, blockRows: 512, to: workers.folder)
        #expect(try FileManager.default.attributesOfItem(atPath: vectorsFile.path)[.systemFileNumber] as? Int == written)
        _ = try NeighborPlan.write(index: shared, vectors: vectors.view(0..<2599), key: "test", k: 10, blockRows: 512, to: workers.folder)
        #expect(try FeatureMatrix(mapping: vectorsFile, dimension: 48).rows == 2599)
    }

    /// Blocks of 512 rows and of 100 (the exact index's 512-query tiles cut short: the same
    /// products still); for the list index, its lists' chunks of as many rows.
    @Test(arguments: [IndexKind.flat, .projected, .hnsw, .lists], [512, 100])
    func blocksSearchedElsewhereGiveTheGraphTheIndexWrites(kind: IndexKind, blockRows: Int) throws {
        let vectors = clusteredMatrix(rows: 2600, dimension: 48, clusters: 40, spread: 0.3, seed: 11)
        let index: any SimilarityIndex = switch kind {
        case .projected: try ProjectedIndex(vectors: vectors, projectedDimension: 16, exactCoarseRows: 100)
        case .lists: try ListIndex(vectors: vectors, listRows: 600)
        default: try buildSimilarityIndex(vectors: vectors, metric: .cosine, kind: kind)
        }
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let alone = root.appendingPathComponent("alone.bin"), shared = root.appendingPathComponent("shared.bin")
        _ = try index.writeNeighborGraph(k: 10, to: alone)
        let workers = Workers(folder: root.appendingPathComponent("knn"), rowsPerShare: blockRows)
        let graph = try index.writeSharedNeighborGraph(k: 10, to: shared, vectors: vectors, key: "test", sharing: workers) { _ in }
        #expect(graph.rows == 2600 && graph.k == 10)
        #expect(try Data(contentsOf: alone) == Data(contentsOf: shared), "\(kind)")
        #expect(!FileManager.default.fileExists(atPath: workers.folder.path))
    }

    /// A plan written again over the same vectors keeps them and the parts of the same plan (a
    /// finish stopped part-way left them), drops other plans' parts of its kind and leaves the
    /// assignment's; other vectors empty the folder.
    @Test func aPlanWrittenAgainKeepsItsVectorsAndItsParts() throws {
        let vectors = clusteredMatrix(rows: 600, dimension: 16, clusters: 10, spread: 0.3, seed: 3)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let index = ExactIndex(vectors: vectors)
        let plan = try NeighborPlan.write(index: index, vectors: vectors, key: "k", k: 5, blockRows: 512, to: root)
        let ours = root.appendingPathComponent(plan.partName(block: 1)), theirs = root.appendingPathComponent("part-k-1024-0.knn")
        let assigned = root.appendingPathComponent("assign-k-512-0.lists"), vectorsFile = root.appendingPathComponent(NeighborPlan.vectorsName)
        for url in [ours, theirs, assigned] { try Data("a part".utf8).write(to: url) }
        func inode() throws -> Int? { try FileManager.default.attributesOfItem(atPath: vectorsFile.path)[.systemFileNumber] as? Int }
        let written = try inode()
        _ = try NeighborPlan.write(index: index, vectors: vectors, key: "k", k: 5, blockRows: 512, to: root)
        let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
        #expect(try written != nil && inode() == written)
        #expect(exists(ours) && !exists(theirs) && exists(assigned))
        _ = try NeighborPlan.write(index: index, vectors: vectors, key: "other", k: 5, blockRows: 512, to: root)
        #expect(!exists(ours) && !exists(assigned) && exists(vectorsFile))
    }

    @Test func aPlanThatDoesNotMatchItsFilesIsRefused() throws {
        let vectors = clusteredMatrix(rows: 600, dimension: 16, clusters: 10, spread: 0.3, seed: 3)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let plan = try NeighborPlan.write(index: ExactIndex(vectors: vectors), vectors: vectors, key: "k", k: 5, blockRows: 512, to: root)
        #expect(plan.blocks == 2 && plan.rows(ofBlock: 1) == 512..<600)
        var lying = plan
        lying.rows = 700
        try JSONEncoder().encode(lying).write(to: root.appendingPathComponent("plan.json"))
        #expect(throws: IndexError.self) { _ = try NeighborPlan(folder: root).loadIndex(folder: root) }
        lying = plan
        lying.blockRows = .max
        try JSONEncoder().encode(lying).write(to: root.appendingPathComponent("plan.json"))
        #expect(throws: IndexError.self) { _ = try NeighborPlan(folder: root) }
        try Data("{}".utf8).write(to: root.appendingPathComponent("plan.json"))
        #expect(throws: (any Error).self) { _ = try NeighborPlan(folder: root) }
    }
}
