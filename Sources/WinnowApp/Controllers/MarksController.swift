import Foundation
import Hummingbird
import WinnowCore

/// `/api/marks` (GET the marks, POST a change) and `/api/marks.csv` (the marks file). A change
/// is saved to `review_marks.csv` and as the images' keep/remove decisions in the catalog, which
/// `winnow clean` applies (``CleanPlan/make(workDirectory:groups:rules:marks:)``).
struct MarksController {
    let data: WorkDirData
    let marks: ReviewMarkStore
    let catalog: Catalog

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/api/marks") { _, _ in
            try Responses.json(Dictionary(uniqueKeysWithValues: marks.all.map { (String($0.key), $0.value.rawValue) }))
        }
        router.get("/api/marks.csv") { _, _ in
            var response = Responses.text(marks.csv, type: "text/csv; charset=utf-8")
            response.headers[.contentDisposition] = "attachment; filename=\"\(ReviewMark.fileName)\""
            return response
        }
        router.post("/api/marks", use: update)
    }

    /// Sets or clears the marks of samples; answers how many changed and how many are marked.
    @Sendable func update(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let update = try await request.decodeJSON(MarkUpdate.self)
        if let unknown = update.indices.first(where: { data.rowOfIndex[$0] == nil }) { throw HTTPError.noSample(unknown) }
        let changed = try marks.set(update.mark, for: update.indices)
        try catalog.setMark(update.mark, for: update.indices)
        return try Responses.json(["changed": changed, "marked": marks.all.count])
    }
}

/// `{"indices": [...], "mark": "keep" | "remove" | "none"}`; "none" clears the mark.
struct MarkUpdate: JSONRequestBody {
    var indices: [Int64]
    var mark: ReviewMark?

    static let noun = "marks"
    static let expectedShape = #"expected {"indices": [..], "mark": "keep"|"remove"|"none"}"#
    static let byteLimit = 1 << 20

    private enum CodingKeys: String, CodingKey { case indices, mark }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        indices = try container.decode([Int64].self, forKey: .indices)
        let text = try container.decode(String.self, forKey: .mark)
        guard text == "none" || ReviewMark(rawValue: text) != nil else {
            throw HTTPError(.badRequest, message: "mark must be keep, remove or none")
        }
        mark = ReviewMark(rawValue: text)
    }
}
