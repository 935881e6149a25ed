import Foundation
import Testing
@testable import WinnowCore

@Suite("Whitening: independent of the order decoding finished in, kept for a resumed run")
struct WhiteningOrderTests {
    /// The feature store's rows follow the order the workers finished in, which differs from run
    /// to run; each sample's whitened vector must not.
    @Test func theSameVectorsInAnotherStoreOrderWhitenToTheSameBytes() throws {
        let folder = try TestData.temporaryDirectory("whiten-order")
        var random = SplitMix64(seed: 7)
        let count = 300, blocks = CopyDescriptor.blockLengths, d = blocks.reduce(0, +)
        let vectors = (0..<count).map { _ in (0..<d).map { _ in Float(random.nextUnit() * 2 - 1) } }
        var order = Array(0..<count)
        order.shuffle(using: &random)
        func whitened(storeOrder: [Int], name: String) throws -> [[Float]] {
            let directory = folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let store = try FeatureStore(url: directory.appendingPathComponent("raw.f32"), dimension: d, committedRows: 0)
            _ = try store.append(storeOrder.map { vectors[$0] })
            var rowOf = [Int](repeating: 0, count: count)
            for (row, sample) in storeOrder.enumerated() { rowOf[sample] = row }
            let result = try WhiteningStage.whiten(store, rows: rowOf, blockLengths: blocks, directory: directory,
                                                   workDirectory: directory)
            let matrix = try FeatureMatrix(mapping: result.url, dimension: result.dimension)
            return (0..<count).map { Array(matrix.row(rowOf[$0])) }
        }
        let inOrder = try whitened(storeOrder: Array(0..<count), name: "a")
        let shuffled = try whitened(storeOrder: order, name: "b")
        #expect(inOrder.count == count && inOrder[0].count > 0)
        let differing = (0..<count).filter { inOrder[$0] != shuffled[$0] }.count
        #expect(differing == 0, "\(differing) of \(count) samples whitened differently")
    }

    /// A run killed after whitening finds the whitened copy again (not rewritten); other vectors
    /// or rows get a new one, and the old one is removed.
    @Test func aFinishedWhiteningIsFoundAgainUntilItsInputsChange() throws {
        let work = try TestData.temporaryDirectory("whiten-kept")
        defer { try? FileManager.default.removeItem(at: work) }
        var random = SplitMix64(seed: 3)
        let blocks = CopyDescriptor.blockLengths, d = blocks.reduce(0, +)
        let store = try FeatureStore(url: work.appendingPathComponent("features.f32"), dimension: d, committedRows: 0)
        _ = try store.append((0..<200).map { _ in (0..<d).map { _ in Float(random.nextUnit() * 2 - 1) } })
        func whiten(_ rows: [Int], into name: String) throws -> (url: URL, inode: Int, fit: Data) {
            let staging = work.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            let result = try WhiteningStage.whiten(store, rows: rows, blockLengths: blocks, directory: staging, workDirectory: work)
            let inode = try FileManager.default.attributesOfItem(atPath: result.url.path)[.systemFileNumber] as? Int ?? -1
            return (result.url, inode, try Data(contentsOf: staging.appendingPathComponent(WhiteningStage.fileName)))
        }
        func kept() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.hasPrefix(WhiteningStage.folderPrefix) }
        }
        let first = try whiten(Array(0..<200), into: "run1")
        let again = try whiten(Array(0..<200), into: "run2")
        #expect(again.url == first.url && again.inode == first.inode && again.fit == first.fit)
        #expect(first.url.deletingLastPathComponent().lastPathComponent.hasPrefix(WhiteningStage.folderPrefix))
        let fewer = try whiten(Array(0..<150), into: "run3")
        #expect(fewer.url != first.url && fewer.fit != first.fit)
        #expect(try kept() == [fewer.url.deletingLastPathComponent().lastPathComponent])
        _ = try store.append([[Float](repeating: 0.5, count: d)])
        let grown = try whiten(Array(0..<150), into: "run4")
        let left = try kept()
        #expect(grown.url != fewer.url && left.count == 1)
        WhiteningStage.cleanUp(workDirectory: work)
        #expect(try kept().isEmpty)
    }
}
