import Foundation
import Testing
@testable import WinnowCore

@Suite("Whitening does not depend on the order decoding finished in")
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
            let result = try WhiteningStage.whiten(store, rows: rowOf, blockLengths: blocks, directory: directory)
            let matrix = try FeatureMatrix(mapping: result.url, dimension: result.dimension)
            return (0..<count).map { Array(matrix.row(rowOf[$0])) }
        }
        let inOrder = try whitened(storeOrder: Array(0..<count), name: "a")
        let shuffled = try whitened(storeOrder: order, name: "b")
        #expect(inOrder.count == count && inOrder[0].count > 0)
        let differing = (0..<count).filter { inOrder[$0] != shuffled[$0] }.count
        #expect(differing == 0, "\(differing) of \(count) samples whitened differently")
    }
}
