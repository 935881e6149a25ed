import Foundation
import Hummingbird
import WinnowCore

/// `/api/decisions`: the decisions that last (``Decision``, as `winnow mark` records them) —
/// GET lists them, POST records one (`not_copy` on a pair, `keep` or `remove` on an image),
/// DELETE `/api/decisions/{number}` takes one back. They apply from the next `winnow run` and
/// `winnow clean`.
struct DecisionsController {
    let data: WorkDirData
    let catalog: Catalog

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/api/decisions") { _, _ in try Responses.json(try catalog.decisions()) }
        router.post("/api/decisions", use: record)
        router.delete("/api/decisions/{number}", use: undo)
    }

    @Sendable func record(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(DecisionRequest.self)
        if let unknown = body.indices.first(where: { data.rowOfIndex[$0] == nil }) { throw HTTPError.noSample(unknown) }
        let number = try catalog.record(body.decision)
        return try Responses.json(["number": number])
    }

    @Sendable func undo(_ request: Request, context: BasicRequestContext) throws -> Response {
        guard let number = context.parameters.get("number", as: Int64.self) else {
            throw HTTPError(.badRequest, message: "the decision number must be an integer")
        }
        guard try catalog.undoDecisions([number]).isEmpty else { throw HTTPError(.notFound, message: "no decision numbered \(number)") }
        return try Responses.json(["undone": number])
    }
}

/// `{"kind": "not_copy", "indices": [a, b]}` or `{"kind": "keep" | "remove", "indices": [i]}`.
struct DecisionRequest: JSONRequestBody {
    var indices: [Int64]
    var decision: Decision

    static let noun = "decisions"
    static let expectedShape = #"expected {"kind": "not_copy", "indices": [a, b]} or {"kind": "keep"|"remove", "indices": [i]}"#
    static let byteLimit = 1 << 16

    private enum CodingKeys: String, CodingKey { case kind, indices }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        indices = try container.decode([Int64].self, forKey: .indices)
        switch (try container.decode(String.self, forKey: .kind), indices.count) {
        case ("not_copy", 2) where indices[0] != indices[1]: decision = .notCopy(min(indices[0], indices[1]), max(indices[0], indices[1]))
        case ("keep", 1): decision = .keep(indices[0])
        case ("remove", 1): decision = .remove(indices[0])
        default: throw HTTPError(.badRequest, message: Self.expectedShape + " (two different indices for not_copy)")
        }
    }
}
