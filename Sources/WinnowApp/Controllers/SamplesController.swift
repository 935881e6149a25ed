import Foundation
import Hummingbird
import WinnowCore

/// `/api/samples`, `/api/components`, `/api/maps/{key}` and `/api/neighbors/{index}`: the
/// samples with their scores and issues, the duplicate groups, a scatter map, and the
/// nearest neighbours of one sample.
struct SamplesController {
    let data: WorkDirData
    let marks: ReviewMarkStore
    /// Whose `contains` tells whether the catalog locates a sample's image (for a preview).
    let thumbnails: ThumbnailStore
    let neighbors: NeighborFinder

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/api/samples") { _, _ in
            try Responses.json(SampleColumns(data: data, marks: marks.all, hasPreview: thumbnails.contains))
        }
        router.get("/api/components") { _, _ in
            try Responses.json(data.components.map { ComponentInfo(id: $0.key, members: $0.value) }
                .sorted { ($0.members.count, $1.id) > ($1.members.count, $0.id) })
        }
        router.get("/api/maps/{key}", use: map)
        router.get("/api/neighbors/{index}", use: nearest)
    }

    @Sendable func map(_ request: Request, context: BasicRequestContext) throws -> Response {
        guard let key = context.parameters.get("key"), data.listing("maps", extension: "csv").contains(key) else {
            throw HTTPError(.notFound, message: "no such map (see /api/summary for the maps of this work_dir)")
        }
        return try Responses.json(try MapPoints.load(key: key, directory: data.directory, rows: data.rowOfIndex))
    }

    /// The `k` (1–100, default 12) nearest neighbours of a sample.
    @Sendable func nearest(_ request: Request, context: BasicRequestContext) throws -> Response {
        let index = try context.sampleIndex()
        guard data.rowOfIndex[index] != nil else { throw HTTPError.noSample(index) }
        let k = try request.uri.queryParameters.get("k").map { text throws(HTTPError) -> Int in
            guard let k = Int(text), (1...100).contains(k) else { throw HTTPError(.badRequest, message: "k must be 1–100") }
            return k
        } ?? 12
        return try Responses.json(try neighbors.neighbors(of: index, k: k))
    }
}

struct ComponentInfo: Encodable {
    var id: Int64
    var members: [Int64]
}

/// The samples as parallel arrays (compact for 100k images); issues as bit masks over
/// `issueNames`, labels and splits as codes into their name lists.
struct SampleColumns: Encodable {
    var index: [Int64] = [], filename: [String] = [], width: [Int] = [], height: [Int] = []
    var uniqueness: [Double?] = [], nearestSimilarity: [Double?] = [], component: [Int64?] = [], componentSize: [Int] = []
    var cluster: [Int?] = [], issues: [Int] = [], label: [Int] = [], split: [Int] = [], mark: [String] = []
    /// Whether the catalog locates the image, so that the app can preview it.
    var hasPreview: [Bool] = []
    var issueNames = WorkDirData.issueOrder
    var labelNames: [String] = [], splitNames: [String] = []
    /// With annotations (`label_scores.csv`), else all nil / -1: the wrong-label score, the
    /// suggested label (code into `labelNames`), kNN disagreement, and with predictions
    /// mistakenness and hardness.
    var hasLabelScores = false
    var wrongLabelScore: [Double?] = [], suggestedLabel: [Int] = [], knnDisagreement: [Double?] = []
    var mistakenness: [Double?] = [], hardness: [Double?] = []

    init(data: WorkDirData, marks: [Int64: ReviewMark], hasPreview previewable: (Int64) -> Bool) {
        let bit = Dictionary(uniqueKeysWithValues: issueNames.enumerated().map { ($1, 1 << $0) })
        labelNames = Array(Set(data.samples.map(\.label) + data.samples.compactMap(\.labelScores?.suggestedLabel))).sorted()
        splitNames = Array(Set(data.samples.map(\.split))).sorted()
        hasLabelScores = data.labelSource == .annotations
        let labelCode = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ($1, $0) })
        let splitCode = Dictionary(uniqueKeysWithValues: splitNames.enumerated().map { ($1, $0) })
        for s in data.samples {
            index.append(s.index); filename.append(s.filename); width.append(s.width); height.append(s.height)
            uniqueness.append(s.uniqueness); nearestSimilarity.append(s.nearestSimilarity); component.append(s.component)
            componentSize.append(s.component.map { data.components[$0]?.count ?? 1 } ?? 1)
            cluster.append(s.cluster)
            issues.append(s.issues.reduce(0) { $0 | (bit[$1] ?? 0) })
            label.append(labelCode[s.label] ?? 0); split.append(splitCode[s.split] ?? 0)
            mark.append(marks[s.index]?.rawValue ?? "")
            hasPreview.append(previewable(s.index))
            let scores = s.labelScores
            wrongLabelScore.append(scores?.wrongLabelScore)
            suggestedLabel.append(scores?.suggestedLabel.flatMap { labelCode[$0] } ?? -1)
            knnDisagreement.append(scores?.knnDisagreement)
            mistakenness.append(scores?.mistakenness)
            hardness.append(scores?.hardness)
        }
    }
}
