import Foundation
import Testing
import WinnowCore

/// `review_marks.csv` has one reader and one writer (`ReviewMark`), used by `winnow serve` to
/// save and reload its marks and by `winnow clean --marks`.
@Suite struct ReviewMarkTests {
    @Test func whatIsWrittenIsReadBackWhateverTheFileNames() throws {
        let url = try TestData.temporaryDirectory().appendingPathComponent(ReviewMark.fileName)
        let names: [Int64: String] = [3: "a, b.jpg", 7: "say \"hi\".png", 9: "two\nlines.jpg", 12: "plain.jpg"]
        let marks: [Int64: ReviewMark] = [3: .keep, 7: .remove, 9: .remove, 12: .keep]
        try ReviewMark.write(marks, names: names, to: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.hasPrefix("index,filename,mark\n3,\"a, b.jpg\",keep\n"))
        #expect(text == ReviewMark.csv(marks, names: names))
        let read = try ReviewMark.read(from: url)
        #expect(read.marks == marks && read.warnings.isEmpty)
    }

    /// Warnings name the line a row starts on, also after a file name that spans two lines.
    @Test func warningsNameTheLineOfTheRow() throws {
        let url = try TestData.temporaryDirectory().appendingPathComponent("marks.csv")
        try "index,filename,mark\n1,\"two\nlines.jpg\",keep\nx,b.jpg,keep\n\n2,c.jpg,\"may\nbe\"\n3,d.jpg, REMOVE\n"
            .write(to: url, atomically: false, encoding: .utf8)
        let read = try ReviewMark.read(from: url)
        #expect(read.marks == [1: .keep, 3: .remove])
        #expect(read.warnings == ["\(url.path):4: no integer index; line skipped",
                                  "\(url.path):6: mark must be keep or remove, not \"may\\nbe\"; line skipped"])
        try "index,filename\n1,a.jpg\n".write(to: url, atomically: false, encoding: .utf8)
        #expect(throws: ReviewMarksError.self) { try ReviewMark.read(from: url) }
    }
}
