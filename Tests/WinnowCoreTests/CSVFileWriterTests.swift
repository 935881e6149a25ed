import Foundation
import Testing
@testable import WinnowCore

@Suite("CSV written row by row")
struct CSVFileWriterTests {
    @Test func rowsAcrossManyChunksReadBackAsTheTableWouldWriteThem() throws {
        let folder = try TestData.temporaryDirectory("csvwriter")
        let url = folder.appendingPathComponent("big.csv")
        var table = CSVTable(header: ["index", "filename"])
        let writer = try CSVFileWriter(url: url, header: ["index", "filename"])
        for i in 0..<20_000 {
            let row = [String(i), i % 7 == 0 ? "a, \"b\"\n\(i).jpg" : "img\(i).jpg"]
            table.append(row)
            try writer.append(row)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path), "nothing under the final name before finish")
        try writer.finish()
        #expect(try String(contentsOf: url, encoding: .utf8) == table.contents)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["big.csv"])
    }

    @Test func aWriterDroppedUnfinishedLeavesTheOldFileAndNoTemporary() throws {
        let folder = try TestData.temporaryDirectory("csvwriter-drop")
        let url = folder.appendingPathComponent("t.csv")
        try "old\n".write(to: url, atomically: false, encoding: .utf8)
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try CSVFileWriter.write(url, header: ["a"]) { append in
                for i in 0..<10_000 { try append([String(i)]) }
                throw Stop()
            }
        }
        #expect(try String(contentsOf: url, encoding: .utf8) == "old\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["t.csv"])
    }
}
