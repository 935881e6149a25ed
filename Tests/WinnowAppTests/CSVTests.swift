import Foundation
import Testing
@testable import WinnowApp
@testable import WinnowCore

@Suite("App CSV reading")
struct AppCSVTests {
    @Test func quotedFieldsKeepCommasQuotesAndNewlines() {
        let text = "index,filename\r\n0,\"a, b.jpg\"\n1,\"say \"\"hi\"\".png\"\n2,\"two\nlines.jpg\"\n3,plain.jpg"
        #expect(CSVReader.rows(text) == [["index", "filename"], ["0", "a, b.jpg"], ["1", "say \"hi\".png"], ["2", "two\nlines.jpg"],
                                         ["3", "plain.jpg"]])
        #expect(CSVReader.rows("") == [])
        #expect(CSVReader.rows("a,b\n\n1,2\n") == [["a", "b"], ["1", "2"]])
        for name in ["a, b.jpg", "say \"hi\".png", "two\nlines.jpg"] {
            var table = CSVTable(header: ["index", "filename", "mark"])
            table.append(["7", name, "keep"])
            #expect(CSVReader.rows(table.contents) == [["index", "filename", "mark"], ["7", name, "keep"]])
            #expect(CSVReader.records(table.contents) == [["index": "7", "filename": name, "mark": "keep"]])
            let line = table.contents.split(separator: "\n", maxSplits: 1)[1].trimmingCharacters(in: .newlines)
            #expect(CSVReader.fields(line) == ["7", name, "keep"] || name.contains("\n"))
        }
        // One line: an open quote is nil (the caller reports the line), a trailing \r is dropped.
        #expect(CSVReader.fields("1,\"open") == nil)
        #expect(CSVReader.fields("1,\"a\"\"b\",c\r") == ["1", "a\"b", "c"])
        #expect(CSVReader.fields("") == [""])
    }

    @Test func mapRowsOutsideTheWorkDirOrNotFiniteAreSkipped() throws {
        let work = try AppTestData.temporaryDirectory("maprows")
        let maps = work.appendingPathComponent("maps")
        try FileManager.default.createDirectory(at: maps, withIntermediateDirectories: true)
        try "index,filename,x,y\n0,a.jpg,1.5,-2\n1,b.jpg,nan,0\n9,c.jpg,1,1\nx,d.jpg,1,1\n2,e.jpg,3,\n3,f.jpg,0.25,4e3\n"
            .write(to: maps.appendingPathComponent("m.csv"), atomically: false, encoding: .utf8)
        let map = try MapPoints.load(key: "m", directory: work, rows: [0: 0, 1: 1, 2: 2, 3: 3])
        #expect(map.index == [0, 3] && map.x == [1.5, 0.25] && map.y == [-2, 4000])
        #expect(map.skipped == 4)
    }
}
