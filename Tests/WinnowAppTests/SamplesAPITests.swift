import Foundation
import Testing
@testable import WinnowApp
import WinnowCore

/// `/api/samples` pages, filters and sorts on the server: checked over a live `winnow serve` of
/// the labelled fixture against the work_dir's own CSV files.
@Suite("App samples API")
struct SamplesAPITests {
    /// A sample as the API lists it (decoding fails when the shape changes).
    struct Row: Decodable, Equatable {
        struct Scores: Decodable, Equatable {
            var wrongLabelScore: Double?
            var knnDisagreement: Double?
            var mistakenness: Double?
            var hardness: Double?
            var suggestedLabel: String?
            var isLikelyWrong: Bool
        }

        var index: Int64
        var filename: String
        var width: Int
        var height: Int
        var uniqueness: Double?
        var nearestSimilarity: Double?
        var component: Int64?
        var componentSize: Int
        var cluster: Int?
        var issues: [String]
        var label: String
        var split: String
        var mark: String?
        var hasPreview: Bool
        var labelScores: Scores?
    }

    struct Page<Item: Decodable>: Decodable {
        var total: Int
        var offset: Int
        var limit: Int
        var rows: [Item]
    }

    struct Group: Decodable {
        var id: Int64
        var size: Int
        var members: [Row]
    }

    /// A server over `work` and a way to ask it for JSON.
    struct API {
        let server: ServerProcess
        let http: RawHTTP

        init(_ work: URL) throws {
            server = try ServerProcess(work: work)
            http = RawHTTP(port: server.port)
        }

        func get<T: Decodable>(_ path: String, as type: T.Type = Page<Row>.self) throws -> T {
            let reply = try http.get(path)
            guard reply.status == 200 else { throw AppTestFailure("\(path): \(reply.status) \(reply.text)") }
            return try JSONDecoder().decode(T.self, from: reply.body)
        }

        /// Every sample for `query` (a filter and sort), in one page.
        func all(_ query: String = "") throws -> [Row] {
            let page = try get("/api/samples?limit=1000" + (query.isEmpty ? "" : "&" + query))
            #expect(page.total == page.rows.count, "\(query)")
            return page.rows
        }

        /// The indices of every sample for `query`.
        func indices(_ query: String) throws -> Set<Int64> {
            Set(try all(query).map(\.index))
        }
    }

    /// A copy of the labelled fixture the read-only tests here serve: a server's catalog writes
    /// (its WAL checkpoint on exit) must not land in the original while the browser test copies it.
    static let copy: Result<URL, AppTestFailure> = {
        do { return .success(try fixtureCopy("samples-api", from: AppFixture.labelledWork())) } catch {
            return .failure(error as? AppTestFailure ?? AppTestFailure("\(error)"))
        }
    }()

    static func work() throws -> URL { try copy.get() }

    /// The sample indices in `column` of the CSV rows that `keep` keeps.
    static func indices(_ rows: [[String: String]], _ column: String,
                        where keep: ([String: String]) -> Bool = { _ in true }) -> Set<Int64> {
        Set(rows.filter(keep).compactMap { Int64($0[column] ?? "") })
    }

    @Test func aPageHasLimitRowsAndTheTotalOfAllMatches() throws {
        let work = try Self.work()
        let api = try API(work)
        defer { api.server.stop() }
        let decoded = try AppTestData.readCSV(work.appendingPathComponent("atrain_stats.csv")).count
        #expect(decoded > 3)
        for limit in [1, 2, 3, decoded, decoded + 5] {
            let page = try api.get("/api/samples?limit=\(limit)")
            #expect(page.total == decoded && page.rows.count == min(limit, decoded) && page.offset == 0 && page.limit == limit)
        }
        let defaults = try api.get("/api/samples")
        #expect(defaults.limit == 100 && defaults.rows.count == decoded)
        let beyond = try api.get("/api/samples?offset=\(decoded + 10)&limit=5")
        #expect(beyond.total == decoded && beyond.rows.isEmpty)
        let filtered = try api.get("/api/samples?issue=duplicate&limit=1")
        let duplicates = try api.all("issue=duplicate")
        #expect(filtered.rows.count == 1 && filtered.total == duplicates.count && filtered.total > 1)
    }

    /// For every sort and page size: the pages one after another are the unpaged list, each sample once.
    @Test func pagesTogetherAreTheWholeOrderedList() throws {
        let api = try API(try Self.work())
        defer { api.server.stop() }
        let everything = Set(try api.all().map(\.index))
        for key in SampleSortKey.allCases {
            for order in ["asc", "desc"] {
                let query = "sort=\(key.rawValue)&order=\(order)"
                let whole = try api.all(query)
                #expect(Set(whole.map(\.index)) == everything && whole.count == everything.count, "\(query)")
                for size in [1, 2, 3, 5] {
                    var paged: [Row] = []
                    var offset = 0
                    while offset < whole.count {
                        let page = try api.get("/api/samples?\(query)&offset=\(offset)&limit=\(size)")
                        #expect(page.total == whole.count && page.offset == offset)
                        paged += page.rows
                        offset += size
                    }
                    #expect(paged == whole, "\(query), pages of \(size)")
                }
            }
        }
    }

    /// Each filter keeps exactly the samples the work_dir's files give it; filters combine as "and".
    @Test func eachFilterReturnsTheSamplesTheWorkDirFilesSay() throws {
        let work = try Self.work()
        let api = try API(work)
        defer { api.server.stop() }
        func csv(_ name: String) throws -> [[String: String]] { try AppTestData.readCSV(work.appendingPathComponent(name)) }
        let decoded = Self.indices(try csv("atrain_stats.csv"), "index")
        let quality = try csv("quality.csv"), labels = try csv("label_scores.csv"), members = try csv("connected_components.csv")
        var expected: [String: Set<Int64>] = [:]
        for issue in QualityIssue.allCases {
            expected[issue.rawValue] = Self.indices(quality, "index") { $0["is_" + issue.rawValue] == "1" }
        }
        let exact = try csv("exact_duplicates.csv")
        expected["duplicate"] = Self.indices(members, "__id") { Int($0["count"] ?? "") ?? 0 > 1 }
            .union(Self.indices(exact, "index")).union(Self.indices(exact, "first_index"))
        expected["near_duplicate"] = Self.indices(try csv("near_duplicates.csv"), "index")
        expected["outlier"] = Self.indices(try csv("scores.csv"), "index") { $0["is_outlier"] == "1" }
        let leaks = try csv("leaks.csv")
        expected["leak"] = Self.indices(leaks, "from").union(Self.indices(leaks, "to"))
        expected[WorkDirData.wrongLabelIssue] = Self.indices(labels, "index") { $0["is_likely_wrong"] == "1" }
        #expect(Set(expected.keys) == Set(WorkDirData.issueOrder))
        #expect(["duplicate", "leak", WorkDirData.wrongLabelIssue].allSatisfy { !(expected[$0] ?? []).isEmpty })
        for (issue, flagged) in expected {
            #expect(try api.indices("issue=\(issue)") == flagged.intersection(decoded), "issue \(issue)")
        }
        let flagged = expected.values.reduce(Set()) { $0.union($1) }.intersection(decoded)
        #expect(try api.indices("issue=any") == flagged)
        #expect(try api.indices("issue=none") == decoded.subtracting(flagged))

        for label in Set(labels.compactMap { $0["label"] }) {
            #expect(try api.indices("label=\(label)") == Self.indices(labels, "index") { $0["label"] == label })
        }
        for split in Set(labels.compactMap { $0["split"] }) {
            #expect(try api.indices("split=\(split)") == Self.indices(labels, "index") { $0["split"] == split })
        }
        let scores = try csv("scores.csv")
        for cluster in Set(scores.compactMap { $0["kmeans_cluster"] }) {
            let wanted = Self.indices(scores, "index") { $0["kmeans_cluster"] == cluster }
            #expect(try api.indices("cluster=\(cluster)") == wanted)
        }
        for component in Set(members.compactMap { $0["component_id"] }) {
            let wanted = Self.indices(members, "__id") { $0["component_id"] == component }
            #expect(try api.indices("component=\(component)") == wanted)
        }
        let names = try csv("atrain_features.dat.csv")
        for part in ["CHELSEA", "Copy", "objects/co", ".jpg", "nothing-like-this"] {
            let wanted = Self.indices(names, "index") { ($0["filename"] ?? "").lowercased().contains(part.lowercased()) }
            #expect(try api.indices("name=\(part)") == wanted, "name \(part)")
        }
        let both = try api.indices("label=animal&issue=duplicate")
        let animals = Self.indices(labels, "index") { $0["label"] == "animal" }
        #expect(!both.isEmpty && both == (expected["duplicate"] ?? []).intersection(animals))
        #expect(try api.get("/api/samples?label=no-such-label").total == 0)
    }

    /// Sorted by each key: values in order, samples without a value last, ties by component then index —
    /// and the values are those of the work_dir's files.
    @Test func sortOrderIsRight() throws {
        let work = try Self.work()
        let api = try API(work)
        defer { api.server.stop() }
        let byIndex = try api.all()
        #expect(byIndex.map(\.index) == byIndex.map(\.index).sorted())
        let scores = try AppTestData.readCSV(work.appendingPathComponent("scores.csv"))
        for row in byIndex {
            let csv = try #require(scores.first { $0["index"] == String(row.index) })
            #expect(row.uniqueness == Double(csv["uniqueness"] ?? "") && row.nearestSimilarity == Double(csv["nn_similarity"] ?? ""))
            #expect(row.cluster == Int(csv["kmeans_cluster"] ?? "") && row.component == Int64(csv["component_id"] ?? ""))
        }
        for key in SampleSortKey.allCases {
            for descending in [false, true] {
                let shown = try api.all("sort=\(key.rawValue)&order=\(descending ? "desc" : "asc")")
                let expected = byIndex.sorted { Self.precedes($0, $1, key: key, descending: descending) }
                #expect(shown.map(\.index) == expected.map(\.index), "\(key) \(descending ? "desc" : "asc")")
            }
        }
        let unique = try api.all("sort=uniqueness").compactMap(\.uniqueness)
        #expect(unique.count == byIndex.count && unique == unique.sorted() && Set(unique).count > 2)
    }

    /// The documented order, written out: the key's value (missing last either way), then component (none first), then index.
    static func precedes(_ a: Row, _ b: Row, key: SampleSortKey, descending: Bool) -> Bool {
        func text(_ row: Row) -> String? {
            switch key {
            case .filename: row.filename
            case .label: row.label.isEmpty ? nil : row.label
            case .split: row.split.isEmpty ? nil : row.split
            default: nil
            }
        }
        func number(_ row: Row) -> Double? {
            switch key {
            case .index: Double(row.index)
            case .uniqueness: row.uniqueness
            case .nearestSimilarity: row.nearestSimilarity
            case .componentSize: Double(row.componentSize)
            case .issues: Double(row.issues.count)
            case .cluster: row.cluster.map(Double.init)
            case .wrongLabelScore: row.labelScores?.wrongLabelScore
            case .knnDisagreement: row.labelScores?.knnDisagreement
            case .mistakenness: row.labelScores?.mistakenness
            case .hardness: row.labelScores?.hardness
            case .filename, .label, .split: nil
            }
        }
        let tie = { (a.component ?? .min, a.index) < (b.component ?? .min, b.index) }
        if [.filename, .label, .split].contains(key) {
            switch (text(a), text(b)) {
            case let (x?, y?) where x != y: return (x < y) != descending
            case (nil, _?): return false
            case (_?, nil): return true
            default: return tie()
            }
        }
        switch (number(a), number(b)) {
        case let (x?, y?) where x != y: return (x < y) != descending
        case (nil, _?): return false
        case (_?, nil): return true
        default: return tie()
        }
    }

    /// The mark filter and each row's mark follow the marks made in the app.
    @Test func theMarkFilterFollowsTheMarks() throws {
        let api = try API(try fixtureCopy("markfilter", from: AppFixture.labelledWork()))
        defer { api.server.stop() }
        let all = try api.all().map(\.index)
        let (kept, removed) = (all[0], [all[1], all[2]])
        #expect(try api.http.post("/api/marks", json: #"{"indices":[\#(kept)],"mark":"keep"}"#).status == 200)
        #expect(try api.http.post("/api/marks", json: #"{"indices":\#(removed),"mark":"remove"}"#).status == 200)
        #expect(try api.all("mark=keep").map(\.index) == [kept])
        #expect(try api.all("mark=remove").map(\.index) == removed)
        #expect(try api.all("mark=none").map(\.index) == Array(all.dropFirst(3)))
        #expect(try api.all().map(\.mark) == ["keep", "remove", "remove"] + Array(repeating: nil, count: all.count - 3))
        #expect(try api.get("/api/samples/\(kept)", as: Row.self).mark == "keep")
    }

    /// Bad parameters: 400 with one line saying what is allowed; the server keeps answering.
    @Test func badParametersGet400WithOneLine() throws {
        let api = try API(try Self.work())
        defer { api.server.stop() }
        let cases = [
            "offset=-1", "offset=x", "offset=1.5", "limit=0", "limit=-3", "limit=1001", "limit=99999999999999999999", "limit=NaN",
            "limit=abc", "limit=1e2", "limit=%20", "sort=nope", "sort=uniqueness&order=up", "issue=nope", "issue=ANY", "mark=maybe",
            "cluster=x", "component=1.5", "color=red", "limit=1&limit=2",
        ]
        for query in cases {
            let reply = try api.http.get("/api/samples?" + query)
            let lines = reply.text.split(separator: "\n")
            #expect(reply.status == 400 && lines.count == 1 && !reply.text.contains("{"), "\(query): \(reply.status) \(reply.text)")
        }
        #expect(try api.http.get("/api/samples?limit=0").text == "limit must be 1–1000\n")
        #expect(try api.http.get("/api/samples?offset=-1").text == "offset must be a whole number ≥ 0\n")
        #expect(try api.http.get("/api/samples?sort=nope").text.hasPrefix("unknown sort key nope: one of index, filename,"))
        #expect(try api.http.get("/api/samples?issue=nope").text.hasPrefix("unknown issue nope: any, none or one of duplicate,"))
        for (path, status) in [("/api/samples/abc", 400), ("/api/samples/424242", 404), ("/api/components?limit=0", 400),
                               ("/api/components?limit=101", 400), ("/api/components?offset=-1", 400), ("/api/components?k=1", 400),
                               ("/api/neighbors/0?k=3&x=1", 400)] {
            let reply = try api.http.get(path)
            #expect(reply.status == status && reply.text.split(separator: "\n").count == 1, "\(path): \(reply.status) \(reply.text)")
        }
        #expect(try api.http.get("/api/samples?limit=1").status == 200)
    }

    /// A one-image page is that image's row and a few bytes more, whatever the number of images.
    @Test func aOneImagePageIsSmall() throws {
        let api = try API(try Self.work())
        defer { api.server.stop() }
        let rows = try api.all()
        for (offset, row) in rows.enumerated() {
            let page = try api.http.get("/api/samples?limit=1&offset=\(offset)").body
            let single = try api.http.get("/api/samples/\(row.index)").body
            #expect(try JSONDecoder().decode(Row.self, from: single) == row)
            #expect(page.count < 1500 && page.count - single.count < 80, "\(page.count) bytes for a page of \(single.count) bytes")
        }
        let whole = try api.http.get("/api/samples?limit=1000").body.count
        #expect(try api.http.get("/api/samples?limit=1").body.count * rows.count < whole * 3)
    }

    /// `/api/components`: the groups of more than one image, largest first, paged, with their members.
    @Test func componentsArePagedLargestFirst() throws {
        let work = try Self.work()
        let api = try API(work)
        defer { api.server.stop() }
        var groups: [Int64: Set<Int64>] = [:]
        let members = try AppTestData.readCSV(work.appendingPathComponent("connected_components.csv"))
        for row in members where Int(row["count"] ?? "") ?? 0 > 1 {
            if let id = Int64(row["component_id"] ?? ""), let index = Int64(row["__id"] ?? "") { groups[id, default: []].insert(index) }
        }
        #expect(groups.count > 1)
        let whole = try api.get("/api/components", as: Page<Group>.self)
        #expect(whole.total == groups.count && whole.limit == 40 && whole.rows.count == groups.count)
        #expect(whole.rows.map(\.size) == whole.rows.map(\.size).sorted(by: >))
        for group in whole.rows {
            #expect(group.size == groups[group.id]?.count && Set(group.members.map(\.index)) == groups[group.id])
            #expect(group.members.map(\.index) == group.members.map(\.index).sorted())
            #expect(group.members.allSatisfy { $0.component == group.id })
        }
        let paged = try (0..<groups.count).flatMap {
            try api.get("/api/components?offset=\($0)&limit=1", as: Page<Group>.self).rows.map(\.id)
        }
        #expect(paged == whole.rows.map(\.id))
    }

    /// The lists the grid's filters offer come with the summary; neighbours and map points say what the page needs to show them.
    @Test func theSummaryListsTheFacetsAndNeighboursAndMapsCarryWhatThePageShows() throws {
        let work = try Self.work()
        let api = try API(work)
        defer { api.server.stop() }
        let summary = try #require(try JSONSerialization.jsonObject(with: try api.http.get("/api/summary").body) as? [String: Any])
        let scores = try AppTestData.readCSV(work.appendingPathComponent("scores.csv"))
        #expect(summary["clusters"] as? [Int] == Set(scores.compactMap { Int($0["kmeans_cluster"] ?? "") }).sorted())
        let keys = try #require(summary["sortKeys"] as? [String])
        #expect(keys.contains("wrongLabelScore") && keys.contains("uniqueness") && !keys.contains("mistakenness"))
        #expect(summary["splits"] as? [String: Int] == ["train": 5, "val": 3])
        #expect(summary["labels"] as? [String: Int] == ["animal": 4, "object": 4])

        let rows = try api.all()
        let neighbors = try #require(try JSONSerialization.jsonObject(with: try api.http.get("/api/neighbors/\(rows[0].index)?k=3").body)
            as? [String: Any])
        let listed = try #require(neighbors["neighbors"] as? [[String: Any]])
        #expect(listed.count == 3 && listed.allSatisfy { $0["hasPreview"] as? Bool == true })

        let map = try #require(try JSONSerialization.jsonObject(with: try api.http.get("/api/maps/pca").body) as? [String: Any])
        let points = try #require(map["index"] as? [Int64])
        let colours = try #require(map["colours"] as? [String: [String: Any]])
        #expect(Set(colours.keys) == ["label", "issue", "split", "cluster", "wrong"])
        let labels = try #require(colours["label"]), codes = try #require(labels["codes"] as? [Int])
        let names = try #require(labels["names"] as? [String])
        #expect(codes.count == points.count)
        for (point, code) in zip(points, codes) {
            #expect(names[code] == rows.first { $0.index == point }?.label)
        }
    }

    /// File-name search in any case: ASCII letters folded byte by byte, other needles on lowered names.
    @Test func nameSearchIgnoresCase() {
        #expect(NameNeedle("CHEL").isIn("photos/animals/chelsea copy.jpg") && NameNeedle("y.JP").isIn("copy.jpg"))
        #expect(!NameNeedle("chelsea.jpgx").isIn("chelsea.jpg") && !NameNeedle("ab").isIn("a"))
        #expect(NameNeedle("ÉTÉ").isIn("photos/été.png") && NameNeedle("é").isIn("CAFÉ.jpg") && !NameNeedle("é").isIn("cafe.jpg"))
        #expect(NameNeedle("Ca").isIn("CAFÉ.jpg") && NameNeedle("").isIn("x"))
    }
}
