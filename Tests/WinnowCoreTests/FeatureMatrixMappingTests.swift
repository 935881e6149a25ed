import Foundation
import Testing
@testable import WinnowCore

@Suite("Feature files mapped, not read")
struct FeatureMatrixMappingTests {
    /// Resident kilobytes of this process's mapping of `url` (from /proc/self/smaps).
    func residentKilobytes(of url: URL) throws -> Int {
        // /proc files report size 0: read to the end rather than by size.
        let smaps = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps")).readToEnd() ?? Data(),
                           as: UTF8.self)
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            if line.first?.isHexDigit == true && line.contains("-") { inMapping = line.hasSuffix(url.path) }
            if inMapping && line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
            }
        }
        return -1
    }

    @Test func releasedRowsLeaveTheProcessAndReadBackTheSame() throws {
        let folder = try TestData.temporaryDirectory("mapping")
        let url = folder.appendingPathComponent("features.f32")
        let rows = 8192, dimension = 256
        let values = (0..<(rows * dimension)).map { Float($0 % 977) / 977 }
        try values.withUnsafeBytes { try Data($0).write(to: url) }
        let matrix = try FeatureMatrix(mapping: url, dimension: dimension)
        func total() -> Double { (0..<rows).reduce(0) { sum, i in sum + matrix.row(i).reduce(0) { $0 + Double($1) } } }
        let expected = values.reduce(0) { $0 + Double($1) }
        #expect(total() == expected)
        let touched = try residentKilobytes(of: url)
        #expect(touched >= rows * dimension * 4 / 1024 - 8, "\(touched) KB resident of \(url.path)")
        matrix.releasePages(rows: 0..<(rows / 2))
        let half = try residentKilobytes(of: url)
        #expect(half <= rows * dimension * 4 / 2048 + 8 && half >= rows * dimension * 4 / 2048 - 8)
        matrix.releasePages(rows: 0..<rows)
        #expect(try residentKilobytes(of: url) == 0)
        #expect(total() == expected, "released pages are read again from the file")
    }

    /// A sparse pass (every 10th row, as a fit's sample reads them) keeps the mapping resident by
    /// one span of rows at most, though the kernel maps pages around each row touched; the rows
    /// read are the file's, and k-means' sample drawn this way equals the one drawn in memory.
    @Test func aSparsePassStaysResidentByOneSpan() throws {
        let folder = try TestData.temporaryDirectory("mapping-sparse")
        let url = folder.appendingPathComponent("features.f32")
        let rows = 80_000, dimension = 128, span = 8192
        var random = SplitMix64(seed: 5)
        let values = (0..<(rows * dimension)).map { _ in Float(random.nextUnit()) }
        try values.withUnsafeBytes { try Data($0).write(to: url) }
        let mapped = try FeatureMatrix(mapping: url, dimension: dimension)
        var largest = 0, sum = 0.0
        try mapped.forEachRow(stride(from: 0, to: rows, by: 10), releasingEvery: span) { r, row in
            if r % 5_000 == 0 { largest = max(largest, try residentKilobytes(of: url)) }
            sum += Double(row[r % dimension])
        }
        let expected = stride(from: 0, to: rows, by: 10).reduce(0.0) { $0 + Double(values[$1 * dimension + $1 % dimension]) }
        #expect(sum == expected)
        // One span, and the 2 MB the kernel may map around a row at either end.
        #expect(largest > 0 && largest <= span * dimension * 4 / 1024 + 4096, "\(largest) KB resident")
        #expect(try residentKilobytes(of: url) == 0)
        let inMemory = FeatureMatrix(rows: rows, dimension: dimension, values: values)
        let drawn = Representativeness.sample(mapped, rows: 1_000, seed: 9)
        #expect(drawn.withValues { Array($0) } == Representativeness.sample(inMemory, rows: 1_000, seed: 9).withValues { Array($0) })
        #expect(try residentKilobytes(of: url) == 0)
    }

    /// A mapped file cut short after it was mapped (a user's vectors file changed mid-run): the
    /// rows it no longer holds are refused, without reading the mapping (which would end the
    /// process); a header before the values is skipped by `offset`.
    @Test func rowsOfAFileCutShortAreRefusedNotRead() throws {
        let folder = try TestData.temporaryDirectory("mapping-cut")
        let url = folder.appendingPathComponent("vectors.f32")
        let dimension = 16, rows = 1_000
        try (Data(repeating: 7, count: 64) + (0..<(rows * dimension)).map(Float.init).withUnsafeBytes { Data($0) }).write(to: url)
        let mapped = try FeatureMatrix(mapping: url, dimension: dimension, offset: 64)
        #expect(mapped.rows == rows && Array(mapped.row(3)) == (48..<64).map(Float.init))
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(64 + 100 * dimension * 4))
        try handle.close()
        var row = [Float](repeating: -1, count: dimension)
        #expect(row.withUnsafeMutableBufferPointer { mapped.copyRow(99, into: $0.baseAddress!) })
        #expect(row == (1584..<1600).map(Float.init))
        #expect(!row.withUnsafeMutableBufferPointer { mapped.copyRow(500, into: $0.baseAddress!) })
        #expect(row == Array(repeating: 0, count: dimension))
        #expect(throws: (any Error).self) { try FeatureMatrix(mapping: url, dimension: dimension, offset: 2) }
    }

    @Test func theExactIndexLeavesAMappedMatrixResidentByOneBlockAtMost() throws {
        let folder = try TestData.temporaryDirectory("mapping-index")
        let url = folder.appendingPathComponent("features.f32")
        let rows = 9_000, dimension = 128
        var random = SplitMix64(seed: 3)
        let values = (0..<(rows * dimension)).map { _ in Float(random.nextUnit() - 0.5) }
        try values.withUnsafeBytes { try Data($0).write(to: url) }
        let mapped = try FeatureMatrix(mapping: url, dimension: dimension)
        let found = ExactIndex(vectors: mapped, metric: .cosine).allNeighbors(k: 3)
        let resident = try residentKilobytes(of: url)
        #expect(resident >= 0 && resident <= 4096 * dimension * 4 / 1024, "\(resident) KB of \(rows * dimension * 4 / 1024) KB resident")
        let inMemory = ExactIndex(vectors: FeatureMatrix(rows: rows, dimension: dimension, values: values), metric: .cosine)
        #expect(found == inMemory.allNeighbors(k: 3))
    }

    @Test func theProjectedIndexReadsTheRowsItReranksWithoutKeepingThem() throws {
        let folder = try TestData.temporaryDirectory("mapping-projected")
        let url = folder.appendingPathComponent("features.f32")
        let inMemory = ProjectedIndexTests.lowRank
        try inMemory.withValues { try Data(buffer: $0).write(to: url) }
        let mapped = try FeatureMatrix(mapping: url, dimension: inMemory.dimension)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: mapped.dimension)
        defer { buffer.deallocate() }
        mapped.copyRow(4321, into: buffer)
        #expect(Array(UnsafeBufferPointer(start: buffer, count: mapped.dimension)) == Array(inMemory.row(4321)))
        let found = try ProjectedIndex(vectors: mapped, projectedDimension: 32).allNeighbors(k: 5)
        let resident = try residentKilobytes(of: url)
        let block = ProjectedIndex.blockRows * mapped.dimension * 4 / 1024
        #expect(resident >= 0 && resident <= block, "\(resident) KB of \(mapped.rows * mapped.dimension * 4 / 1024) KB resident")
        #expect(found == (try ProjectedIndex(vectors: inMemory, projectedDimension: 32).allNeighbors(k: 5)))
    }

    @Test func missingAndMisshapenFilesAreNamedErrors() throws {
        let folder = try TestData.temporaryDirectory("mapping-bad")
        let missing = folder.appendingPathComponent("none.f32")
        #expect(throws: CocoaError.self) { try FeatureMatrix(mapping: missing, dimension: 4) }
        do { _ = try FeatureMatrix(mapping: missing, dimension: 4) } catch let error as CocoaError {
            #expect(error.code == .fileReadNoSuchFile && error.localizedDescription.contains(missing.path))
        }
        let odd = folder.appendingPathComponent("odd.f32")
        try Data(count: 18).write(to: odd)
        do { _ = try FeatureMatrix(mapping: odd, dimension: 4); Issue.record("accepted 18 bytes as 4-d rows") } catch let error as CocoaError {
            #expect(error.code == .fileReadCorruptFile && error.localizedDescription.contains("18 bytes"))
        }
        let empty = folder.appendingPathComponent("empty.f32")
        try Data().write(to: empty)
        #expect(try FeatureMatrix(mapping: empty, dimension: 4).rows == 0)
    }
}
