import Foundation
import Hummingbird
import WinnowCore

/// `/api/samples` (a page of the samples that match a filter, in a sort order),
/// `/api/samples/{index}` (one sample), `/api/components` (a page of the duplicate groups,
/// largest first), `/api/maps/{key}` (a scatter map with its colour groups) and
/// `/api/neighbors/{index}` (the nearest neighbours of one sample).
struct SamplesController {
    let data: WorkDirData
    let marks: ReviewMarkStore
    let finder: SampleFinder
    let neighbors: NeighborFinder
    /// The groups of more than one image, largest first (then by id), each with its members by index.
    let groups: [(id: Int64, members: [Int64])]

    /// Members of a group listed with it in `/api/components` (all of them: `/api/samples?component=ID`).
    static let membersListed = 100

    init(data: WorkDirData, marks: ReviewMarkStore, finder: SampleFinder, neighbors: NeighborFinder) {
        (self.data, self.marks, self.finder, self.neighbors) = (data, marks, finder, neighbors)
        groups = data.components.map { (id: $0.key, members: $0.value) }
            .sorted { ($0.members.count, $1.id) > ($1.members.count, $0.id) }
    }

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/api/samples") { request, _ in
            try Responses.json(finder.page(try SampleQuery(request), marks: marks.all))
        }
        router.get("/api/samples/{index}") { _, context in
            let index = try context.sampleIndex()
            guard let sample = finder.sample(index, marks: marks.all) else { throw HTTPError.noSample(index) }
            return try Responses.json(sample)
        }
        router.get("/api/components", use: components)
        router.get("/api/maps/{key}", use: map)
        router.get("/api/neighbors/{index}", use: nearest)
    }

    /// A page of the duplicate groups (`offset`, `limit` 1–100, default 40), each with its first
    /// ``membersListed`` members.
    @Sendable func components(_ request: Request, context: BasicRequestContext) throws -> Response {
        let paging = try Paging(QueryParameters(request, allowed: Paging.parameterNames), defaultLimit: 40, maxLimit: 100)
        let marks = marks.all
        let shown = groups.dropFirst(paging.offset).prefix(paging.limit).map { group in
            ComponentGroup(id: group.id, size: group.members.count,
                           members: group.members.prefix(Self.membersListed).compactMap { finder.sample($0, marks: marks) })
        }
        return try Responses.json(Page(total: groups.count, offset: paging.offset, limit: paging.limit, rows: shown))
    }

    @Sendable func map(_ request: Request, context: BasicRequestContext) throws -> Response {
        guard let key = context.parameters.get("key"), data.listing("maps", extension: "csv").contains(key) else {
            throw HTTPError(.notFound, message: "no such map (see /api/summary for the maps of this work_dir)")
        }
        var points = try MapPoints.load(key: key, directory: data.directory, rows: data.rowOfIndex)
        points.colours = finder.colours(of: points.index)
        return try Responses.json(points)
    }

    /// The `k` (1–100, default 12) nearest neighbours of a sample, each with whether it can be previewed.
    @Sendable func nearest(_ request: Request, context: BasicRequestContext) throws -> Response {
        let index = try context.sampleIndex()
        guard data.rowOfIndex[index] != nil else { throw HTTPError.noSample(index) }
        let k = try QueryParameters(request, allowed: ["k"]).integer("k", in: 1...100, default: 12)
        return try Responses.json(NeighborList(try neighbors.neighbors(of: index, k: k), hasPreview: finder.hasPreview))
    }
}

/// A group of near duplicates as `/api/components` lists it.
struct ComponentGroup: Encodable {
    var id: Int64
    /// Its images.
    var size: Int
    /// Its first images by index (at most ``SamplesController/membersListed``).
    var members: [SampleRow]
}

/// `/api/neighbors/{index}`: the neighbours ``NeighborFinder`` gives, each with whether the app
/// can preview its image.
struct NeighborList: Encodable {
    struct Neighbor: Encodable {
        var index: Int64
        var filename: String
        var similarity: Float
        var hasPreview: Bool
    }

    var index: Int64
    var source: String
    var neighbors: [Neighbor]

    init(_ answer: NeighborFinder.Answer, hasPreview: (Int64) -> Bool) {
        (index, source) = (answer.index, answer.source)
        neighbors = answer.neighbors.map {
            Neighbor(index: $0.index, filename: $0.filename, similarity: $0.similarity, hasPreview: hasPreview($0.index))
        }
    }
}
