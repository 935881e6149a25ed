import Foundation
import Testing
@testable import WinnowApp
import WinnowCore

/// `/api/decisions`: decisions made in the app land in the catalog, as `winnow mark` records them.
@Suite("App decisions")
struct DecisionsAPITests {
    @Test func decisionsMadeInTheAppAreThoseOfWinnowMarksAndBadOnesAreRefused() throws {
        let work = try fixtureCopy("decisions", from: AppFixture.work())
        let indices = try AppTestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { Int64($0["index"] ?? "") }
        let (a, b) = (try #require(indices.first), try #require(indices.last))
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let http = RawHTTP(port: server.port)

        #expect(try http.post("/api/decisions", json: #"{"kind":"not_copy","indices":[\#(b),\#(a)]}"#).status == 200)
        #expect(try http.post("/api/decisions", json: #"{"kind":"keep","indices":[\#(a)]}"#).status == 200)
        for (body, status) in [(#"{"kind":"not_copy","indices":[\#(a),\#(a)]}"#, 400), (#"{"kind":"protect","indices":[]}"#, 400),
                               (#"{"kind":"keep","indices":[\#(a),\#(b)]}"#, 400), (#"{"kind":"keep","indices":[987654]}"#, 404),
                               ("not json", 400)] {
            let reply = try http.post("/api/decisions", json: body)
            #expect(reply.status == status && !reply.text.isEmpty, "\(body): \(reply.status) \(reply.text)")
        }
        let listed = try JSONSerialization.jsonObject(with: try http.get("/api/decisions").body) as? [[String: Any]]
        #expect(listed?.map { $0["kind"] as? String } == ["not_copy", "keep"])
        #expect(listed?.first?["samples"] as? [Int64] == [min(a, b), max(a, b)])

        let marks = try runBounded(AppTestData.winnowExecutable, ["marks", work.path], seconds: 60)
        #expect(marks.status == 0 && marks.output.contains("not a copy: \(min(a, b)) \(max(a, b))") && marks.output.contains("keep: \(a)"),
                "\(marks.output)")
        let undo = try http.send(http.request("DELETE", "/api/decisions/1"))
        #expect(undo.status == 200)
        #expect(try http.send(http.request("DELETE", "/api/decisions/1")).status == 404)
        #expect(try Catalog(url: work.appendingPathComponent(Catalog.fileName)).decisions().map(\.decision) == [.keep(a)])
    }
}
