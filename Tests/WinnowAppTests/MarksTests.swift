import Foundation
import Testing
@testable import WinnowApp

@Suite("App data and review marks")
struct AppMarksTests {
    @Test func theAppShowsTheWorkDirAsTheCatalogHasIt() throws {
        let work = try AppFixture.work()
        let data = try WorkDirData(directory: work)
        let listed = try AppTestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(data.samples.count == listed.count)
        #expect(Set(data.samples.map(\.label)) == ["animals", "objects"])
        #expect(data.invalid.contains { $0.filename.hasSuffix("truncated.jpg") })
        // The exact copy of chelsea is a duplicate, in one component with the original.
        let chelsea = data.samples.filter { $0.filename.hasSuffix("chelsea.jpg") || $0.filename.hasSuffix("chelsea copy.jpg") }
        #expect(chelsea.count == 2 && chelsea.allSatisfy { $0.issues.contains("duplicate") })
        #expect(Set(chelsea.map(\.component)).count == 1)
        let coffee = try #require(data.samples.first { $0.filename.hasSuffix("objects/coffee.jpg") })
        let alone = data.samples.filter { !$0.issues.contains("duplicate") }
        #expect(!alone.isEmpty && alone.allSatisfy { data.components[$0.component ?? -1] == nil })
        _ = coffee
    }

    @Test func marksAreSavedReloadedAndAppliedByClean() throws {
        let work = try fixtureCopy("marks")
        let data = try WorkDirData(directory: work)
        let original = try #require(data.samples.first { $0.filename.hasSuffix("chelsea.jpg") })
        let copy = try #require(data.samples.first { $0.filename.hasSuffix("chelsea copy.jpg") })
        let single = try #require(data.samples.first { !$0.issues.contains("duplicate") })

        // Without marks the rules remove one of the two identical files.
        let plain = try runBounded(AppTestData.winnowExecutable, ["clean", work.path], seconds: 60)
        #expect(plain.status == 0, "\(plain.output)")
        let plainRemoved = try AppTestData.readCSV(work.appendingPathComponent("remove.csv")).compactMap { Int64($0["index"] ?? "") }
        #expect(plainRemoved.contains(original.index) != plainRemoved.contains(copy.index))
        #expect(!plainRemoved.contains(single.index))

        var server = try ServerProcess(work: work)
        var http = RawHTTP(port: server.port)
        let both = "[\(original.index),\(copy.index)]"
        #expect(try http.post("/api/marks", json: #"{"indices":\#(both),"mark":"keep"}"#).status == 200)
        #expect(try http.post("/api/marks", json: #"{"indices":[\#(single.index)],"mark":"remove"}"#).status == 200)
        let marks = try AppTestData.readCSV(work.appendingPathComponent("review_marks.csv"))
        #expect(marks.count == 3)
        #expect(marks.first { $0["index"] == String(single.index) }?["mark"] == "remove")
        server.stop()

        // A new server reads the marks back.
        server = try ServerProcess(work: work)
        defer { server.stop() }
        http = RawHTTP(port: server.port)
        let shown = try JSONSerialization.jsonObject(with: try http.get("/api/marks").body) as? [String: String]
        #expect(shown == [String(original.index): "keep", String(copy.index): "keep", String(single.index): "remove"])
        #expect(try http.get("/api/marks.csv").text == (try String(contentsOf: work.appendingPathComponent("review_marks.csv"), encoding: .utf8)))

        // winnow clean --marks: both copies kept, the single image removed on review.
        let marked = try runBounded(AppTestData.winnowExecutable,
                                    ["clean", work.path, "--marks", work.appendingPathComponent("review_marks.csv").path], seconds: 60)
        #expect(marked.status == 0, "\(marked.output)")
        let removed = try AppTestData.readCSV(work.appendingPathComponent("remove.csv"))
        let removedIDs = removed.compactMap { Int64($0["index"] ?? "") }
        #expect(!removedIDs.contains(original.index) && !removedIDs.contains(copy.index))
        #expect(removed.first { $0["index"] == String(single.index) }?["group"] == "review")

        // Clearing a mark; then a marks file with bad lines: warnings naming file:line, the rest applied.
        #expect(try http.post("/api/marks", json: #"{"indices":[\#(single.index)],"mark":"none"}"#).status == 200)
        #expect(try AppTestData.readCSV(work.appendingPathComponent("review_marks.csv")).count == 2)
        let bad = work.deletingLastPathComponent().appendingPathComponent("my marks.csv")
        try "index,mark\nx,keep\n\(single.index),maybe\n\(single.index),remove\n".write(to: bad, atomically: true, encoding: .utf8)
        let warned = try runBounded(AppTestData.winnowExecutable, ["clean", work.path, "--marks", bad.path], seconds: 60)
        #expect(warned.status == 0)
        #expect(warned.output.contains("my marks.csv:2:") && warned.output.contains("my marks.csv:3:"))
        #expect(try AppTestData.readCSV(work.appendingPathComponent("remove.csv")).contains { $0["index"] == String(single.index) })
        let missing = try runBounded(AppTestData.winnowExecutable, ["clean", work.path, "--marks", "/nonexistent/marks.csv"])
        #expect(missing.status != 0 && missing.output.contains("/nonexistent/marks.csv"))
    }
}
