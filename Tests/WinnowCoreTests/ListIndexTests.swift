import Foundation
import Testing
@testable import WinnowCore

/// The list index: exact with one list (and its graph's progress heard), close to exact with
/// many, the same after saving, and a damaged saved index refused.
@Suite struct ListIndexTests {
    @Test func oneListIsTheExactIndex() throws {
        let vectors = clusteredMatrix(rows: 1000, dimension: 32, clusters: 20, spread: 0.3, seed: 5)
        let index = try ListIndex(vectors: vectors, listRows: 4096)
        #expect(index.lists == 1 && index.members(of: 0).count == 1000)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let exact = root.appendingPathComponent("exact.bin"), lists = root.appendingPathComponent("lists.bin")
        var heard: (exact: [Int], lists: [Int]) = ([], [])
        _ = try ExactIndex(vectors: vectors).writeNeighborGraph(k: 8, to: exact, blockRows: 512) { heard.exact.append($0) }
        _ = try index.writeNeighborGraph(k: 8, to: lists, blockRows: 512) { heard.lists.append($0) }
        #expect(try Data(contentsOf: exact) == Data(contentsOf: lists))
        // Progress: rows written so far, block by block, up to every row.
        #expect(heard.exact == [0, 512, 1000], "\(heard.exact)")
        #expect(heard.lists.first == 0 && heard.lists.last == 1000 && heard.lists == heard.lists.sorted(), "\(heard.lists)")
    }

    /// Many lists: each row in four, its neighbours found among their members. Rows are 60
    /// groups of 50; nearly every true neighbour shares a list with its row.
    @Test(arguments: [DistanceMetric.cosine, .euclidean])
    func manyListsFindNearlyEveryNeighbor(metric: DistanceMetric) throws {
        let vectors = clusteredMatrix(rows: 3000, dimension: 32, clusters: 60, spread: 0.2, seed: 9)
        let index = try ListIndex(vectors: vectors, metric: metric, listRows: 200)
        #expect(index.lists == 60)
        #expect((0..<index.lists).reduce(0) { $0 + index.members(of: $1).count } == 3000 * ListIndex.listsPerRow)
        let recall = try Self.recallOfGraph(index, vectors)
        #expect(recall >= 0.97, "recall \(recall)")
    }

    /// Unit rows from many directions (400 groups in 512 dimensions for 60 lists, each list drawing several):
    /// the lists' centroids stay unit length (spherical k-means), so no list draws the rows of
    /// every group. With plain means one list took most rows, and the index was an exact
    /// search in disguise (on 20,000 copy descriptors: 18,594 rows in one of 938 lists).
    @Test(arguments: [100_000, 16])
    func listsOfRowsFromManyDirectionsStayBalanced(twoLevelAbove: Int) throws {
        let vectors = clusteredMatrix(rows: 4000, dimension: 512, clusters: 400, spread: 0.2, seed: 3)
        let index = try ListIndex(vectors: vectors, listRows: 200, twoLevelAbove: twoLevelAbove)
        let sizes = (0..<index.lists).map { index.members(of: $0).count }
        let mean = Double(4000 * ListIndex.listsPerRow) / Double(index.lists)
        #expect(Double(sizes.max() ?? 0) <= 3 * mean, "largest list \(sizes.max() ?? 0), mean \(mean)")
        #expect(try Self.recallOfGraph(index, vectors) >= 0.9)
    }

    /// Many lists in two levels (60 lists under ⌈√60⌉ = 8 coarse cells): each row compared with
    /// the lists of its nearest cells (``coarseProbes``: here all 8), nearly every neighbour is found; saved and
    /// loaded, the same cells and answers; cells that do not split the lists are refused.
    @Test func listsInTwoLevelsFindNearlyEveryNeighbor() throws {
        let vectors = clusteredMatrix(rows: 3000, dimension: 32, clusters: 60, spread: 0.2, seed: 9)
        let index = try ListIndex(vectors: vectors, listRows: 200, twoLevelAbove: 16)
        #expect(index.centroids.cellCount == 8 && (54...61).contains(index.lists), "\(index.centroids.cellCount) cells, \(index.lists) lists")
        let recall = try Self.recallOfGraph(index, vectors)
        #expect(recall >= 0.97, "recall \(recall)")
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (url, loaded) = try Self.savedAndLoaded(index, vectors, in: root)
        #expect(loaded.centroids.cells == index.centroids.cells)
        var bytes = try Data(contentsOf: ListIndex.partitionFile(of: url))
        bytes[(index.lists + 8) * 32 * 4] = 5  // the first cell's first list: 5 instead of 0
        try bytes.write(to: ListIndex.partitionFile(of: url))
        #expect(throws: IndexError.self) { _ = try ListIndex.load(from: url, vectors: vectors) }
    }

    /// A graph write stopped part-way (its merger noted half the chunks, merged a few more, then
    /// was dropped) goes on from its note to the graph of an uninterrupted write; chunks a note
    /// names are not searched again; a note of another sequence of chunks starts it again.
    @Test func aStoppedGraphWriteGoesOnFromItsNote() throws {
        let vectors = clusteredMatrix(rows: 3000, dimension: 32, clusters: 60, spread: 0.2, seed: 9)
        let index = try ListIndex(vectors: vectors, listRows: 200)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole.bin"), resumed = root.appendingPathComponent("resumed.bin")
        _ = try index.writeNeighborGraph(k: 10, to: whole, blockRows: 512)
        let chunks = index.chunks(rowsPerChunk: 512)
        try #require(chunks.count >= 10)
        func stop(afterMerging merged: Int, noting noted: Int, of total: Int) throws {
            let merger = try KNNGraphMerger(url: resumed, rows: 3000, k: 10, metric: .cosine, resumable: true)
            for chunk in chunks.prefix(merged) {
                let found = index.search(chunk, k: 10)
                for (row, list) in zip(found.rows, found.lists) { try merger.merge(list, into: row) }
            }
            try merger.record(piecesMerged: noted, of: total)
        }
        try stop(afterMerging: chunks.count / 2 + 3, noting: chunks.count / 2, of: chunks.count)
        #expect(FileManager.default.fileExists(atPath: resumed.path + ".partial"))
        _ = try index.writeNeighborGraph(k: 10, to: resumed, blockRows: 512, resumable: true)
        #expect(try Data(contentsOf: whole) == Data(contentsOf: resumed))
        #expect(!FileManager.default.fileExists(atPath: resumed.path + ".partial.pieces"))
        try stop(afterMerging: 0, noting: chunks.count, of: chunks.count)
        let trusted = try index.writeNeighborGraph(k: 10, to: resumed, blockRows: 512, resumable: true)
        #expect((0..<3000).allSatisfy { trusted.neighbors(of: $0).isEmpty })
        try stop(afterMerging: 0, noting: 5, of: chunks.count + 1)
        _ = try index.writeNeighborGraph(k: 10, to: resumed, blockRows: 512, resumable: true)
        #expect(try Data(contentsOf: whole) == Data(contentsOf: resumed))
    }

    /// Lists shared among cells in proportion to their sample rows: every cell with rows gets
    /// one at least, none more than its rows.
    @Test func listsAreSharedAmongCellsByTheirRows() {
        #expect(ListCentroids.shares(10, of: [5, 0, 3, 2]) == [5, 0, 3, 2])
        #expect(ListCentroids.shares(4, of: [3, 3, 3]) == [2, 1, 1])
        #expect(ListCentroids.shares(7, of: [100, 1, 1]) == [6, 1, 1])
        #expect(ListCentroids.shares(50, of: [2, 30, 0]) == [2, 30, 0])
    }

    /// `index` saved in `root` and loaded again: it answers the first 50 rows' searches alike.
    static func savedAndLoaded(_ index: ListIndex, _ vectors: FeatureMatrix, in root: URL) throws -> (url: URL, loaded: ListIndex) {
        let url = root.appendingPathComponent("index")
        try index.save(to: url)
        let loaded = try ListIndex.load(from: url, vectors: vectors)
        let queries = vectors.slice(0..<50)
        #expect(try loaded.search(queries, k: 5, excludingSelf: true) == index.search(queries, k: 5, excludingSelf: true))
        return (url, loaded)
    }

    /// The share of each row's exact 10 nearest neighbours its graph row lists (each listed
    /// neighbour at its exact distance, nearest first); a block searched through the index gives
    /// the graph's rows.
    static func recallOfGraph(_ index: ListIndex, _ vectors: FeatureMatrix) throws -> Double {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let graph = try index.writeNeighborGraph(k: 10, to: root.appendingPathComponent("knn.bin"))
        let exact = ExactIndex(vectors: vectors, metric: index.metric).allNeighbors(k: 10)
        var found = 0
        for row in 0..<vectors.rows {
            let listed = Set(graph.neighbors(of: row).map(\.index))
            found += exact[row].filter { listed.contains($0.index) }.count
            let distances = graph.neighbors(of: row).map(\.distance)
            #expect(distances == distances.sorted())
        }
        let block = try index.neighbors(ofStoredRows: 100..<164, k: 10)
        #expect(block.enumerated().allSatisfy { Array(graph.neighbors(of: 100 + $0.offset)).map(\.index) == $0.element.map(\.index) })
        return Double(found) / Double(vectors.rows * 10)
    }

    @Test func savedAndLoadedItAnswersTheSameAndRefusesDamage() throws {
        let vectors = clusteredMatrix(rows: 900, dimension: 24, clusters: 15, spread: 0.3, seed: 2)
        let index = try ListIndex(vectors: vectors, listRows: 150)
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (url, loaded) = try Self.savedAndLoaded(index, vectors, in: root)
        let queries = vectors.slice(0..<50)
        #expect(loaded.chunks(rowsPerChunk: 64) == index.chunks(rowsPerChunk: 64))
        // A query finds itself first when not excluded; excluded, never.
        #expect(try index.search(queries, k: 3, excludingSelf: false).enumerated().allSatisfy { $0.element.first?.index == $0.offset })
        #expect(try index.search(queries, k: 3, excludingSelf: true).enumerated().allSatisfy { query in !query.element.contains { $0.index == query.offset } })

        // Rows added later join their nearest lists: each finds its own copy among the old rows.
        var grown = try ListIndex(vectors: vectors.slice(0..<800), listRows: 150)
        try grown.add(vectors.slice(800..<900))
        #expect(grown.count == 900 && (0..<grown.lists).reduce(0) { $0 + grown.members(of: $1).count } == 900 * ListIndex.listsPerRow)
        #expect(try grown.search(vectors.slice(850..<851), k: 1, excludingSelf: false).first?.first?.index == 850)

        var bytes = try Data(contentsOf: ListIndex.partitionFile(of: url))
        bytes[bytes.count - 2] = 0x7F  // the last member: a row far outside the collection
        try bytes.write(to: ListIndex.partitionFile(of: url))
        #expect(throws: IndexError.self) { _ = try ListIndex.load(from: url, vectors: vectors) }
        try bytes.prefix(bytes.count - 4).write(to: ListIndex.partitionFile(of: url))
        #expect(throws: IndexError.self) { _ = try ListIndex.load(from: url, vectors: vectors) }
    }
}
