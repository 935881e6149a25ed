import Foundation
import Testing
@testable import WinnowApp
import WinnowCore

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

    /// After `winnow run --annotations` the labels, splits and wrong-label scores are those of
    /// `label_scores.csv`, not the folder names; without that file the folders stand in again.
    @Test func labelsComeFromTheAnnotationsWhenTheRunHadThem() throws {
        let work = try fixtureCopy("labels", from: AppFixture.labelledWork())   // the browser test copies the original meanwhile
        let data = try WorkDirData(directory: work)
        #expect(data.labelSource == .annotations)
        let rows = try AppTestData.readCSV(work.appendingPathComponent("label_scores.csv"))
        #expect(rows.count == 8)   // the 9 annotation rows less missing.jpg (truncated.jpg has none)
        for row in rows {
            let sample = try #require(data.samples.first { String($0.index) == row["index"] }, "\(row)")
            #expect(sample.label == row["label"] && sample.split == row["split"])
            let scores = try #require(sample.labelScores)
            #expect(scores.wrongLabelScore == Double(row["wrong_label_score"] ?? ""))
            #expect(scores.suggestedLabel == row["suggested_label"] && scores.knnDisagreement == Double(row["knn_disagreement"] ?? ""))
            #expect(sample.issues.contains(WorkDirData.wrongLabelIssue) == (row["is_likely_wrong"] == "1"))
        }
        #expect(Set(data.samples.map(\.label)) == ["animal", "object"])
        #expect(data.samples.contains { $0.labelScores?.wrongLabelScore != nil })

        // The API: label source, flagged count, label files; per-sample scores in /api/samples' rows.
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let http = RawHTTP(port: server.port)
        let summary = try #require(try JSONSerialization.jsonObject(with: try http.get("/api/summary").body) as? [String: Any])
        #expect(summary["labelSource"] as? String == "annotations")
        #expect(summary["likelyWrongLabels"] as? Int == rows.filter { $0["is_likely_wrong"] == "1" }.count)
        #expect((summary["labelFiles"] as? [String])?.contains("annotation_problems.csv") == true)
        #expect(summary["labels"] as? [String: Int] == ["animal": 4, "object": 4])
        let page = try #require(try JSONSerialization.jsonObject(with: try http.get("/api/samples?limit=1000").body) as? [String: Any])
        let scored = (page["rows"] as? [[String: Any]])?.filter { ($0["labelScores"] as? [String: Any])?["wrongLabelScore"] != nil }.count
        #expect(scored == rows.filter { !($0["wrong_label_score"] ?? "").isEmpty }.count)
        let problems = try http.get("/files/annotation_problems.csv")
        #expect(problems.status == 200 && problems.text.contains("missing.jpg"))

        // Without label_scores.csv: folder names, no scores.
        let plain = try fixtureCopy("nolabels", from: work)
        try FileManager.default.removeItem(at: plain.appendingPathComponent("label_scores.csv"))
        let folders = try WorkDirData(directory: plain)
        #expect(folders.labelSource == .folders && Set(folders.samples.map(\.label)) == ["animals", "objects"])
        #expect(folders.samples.allSatisfy { $0.labelScores == nil && !$0.issues.contains(WorkDirData.wrongLabelIssue) })
    }

    /// The app's previews are the galleries' thumbnails (`ThumbnailStore`): `/thumb/N` answers
    /// with `thumbnails/N.jpg`, the file `winnow gallery --lazy` links.
    @Test func previewsAreTheSharedThumbnails() throws {
        let work = try fixtureCopy("thumbs")
        let data = try WorkDirData(directory: work)
        let sample = try #require(data.samples.first)
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let reply = try RawHTTP(port: server.port).get("/thumb/\(sample.index)")
        #expect(reply.status == 200 && reply.body.starts(with: [0xFF, 0xD8, 0xFF]))
        let cached = work.appendingPathComponent("thumbnails/\(sample.index).jpg")
        #expect(try Data(contentsOf: cached) == reply.body)
        #expect(ThumbnailStore(workDirectory: work).url(of: sample.index).standardizedFileURL.path == cached.standardizedFileURL.path)
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
        // The marks are the images' decisions too: `winnow clean` applies them without --marks.
        #expect(Set(try Catalog(url: work.appendingPathComponent(Catalog.fileName)).decisions().map(\.decision))
                == [.keep(original.index), .keep(copy.index), .remove(single.index)])
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
        try "index,mark\nx,keep\n\(single.index),maybe\n\(single.index),remove\n".write(to: bad, atomically: false, encoding: .utf8)
        let warned = try runBounded(AppTestData.winnowExecutable, ["clean", work.path, "--marks", bad.path], seconds: 60)
        #expect(warned.status == 0)
        #expect(warned.output.contains("my marks.csv:2:") && warned.output.contains("my marks.csv:3:"))
        #expect(try AppTestData.readCSV(work.appendingPathComponent("remove.csv")).contains { $0["index"] == String(single.index) })
        let missing = try runBounded(AppTestData.winnowExecutable, ["clean", work.path, "--marks", "/nonexistent/marks.csv"])
        #expect(missing.status != 0 && missing.output.contains("/nonexistent/marks.csv"))
    }

    /// The app keeps its marks with WinnowCore's one reader and writer of `review_marks.csv`.
    @Test func theAppSavesAndReloadsItsMarksWithTheCoreReader() throws {
        let directory = try AppTestData.temporaryDirectory("markstore")
        let names: [Int64: String] = [1: "two\nlines.jpg", 2: "b.jpg", 3: "c.jpg"]
        let store = ReviewMarkStore(directory: directory, names: names)
        #expect(try store.set(.keep, for: [1, 2, 99]) == 2)
        #expect(try store.set(.remove, for: [3]) == 1 && store.set(nil, for: [2]) == 1)
        let url = directory.appendingPathComponent(ReviewMark.fileName)
        #expect(try ReviewMark.read(from: url).marks == [1: .keep, 3: .remove])
        #expect(store.csv == (try String(contentsOf: url, encoding: .utf8)))
        #expect(ReviewMarkStore(directory: directory, names: [1: "two\nlines.jpg", 2: "b.jpg"]).all == [1: .keep])
    }
}
