import Foundation
import Hummingbird
import NIOCore
import Synchronization
import WinnowCore

/// `winnow serve`: a local web app over a finished work_dir — summary, image grid with filters
/// and sorts, clusters, a scatter map of `maps/*.csv`, neighbours of any image, and keep/remove
/// marks saved to `review_marks.csv` for `winnow clean --marks`.
///
/// Only two kinds of file are ever read for a request: dataset images named by their sample
/// index (the path comes from the catalog, never from the URL; previews are made by the
/// galleries' `ThumbnailStore`) and files inside the work_dir (`/files/…`, resolved by
/// `SafePath`). Bad requests get a 4xx answer with a one-line reason.
public struct AppServer: Sendable {
    public let data: WorkDirData
    public let policy: AccessPolicy
    let marks: ReviewMarks
    /// `thumbnails/<index>.jpg`, shared with `winnow gallery --lazy`.
    let thumbnails: ThumbnailStore
    /// Large previews of images browsers cannot show (TIFF, HEIF, …) or inside archives.
    let previews: ThumbnailStore
    /// Thumbnails and previews being made at once: at most one per core.
    let imageWork = WorkLimiter(width: ProcessInfo.processInfo.activeProcessorCount)
    let neighbours: NeighbourFinder

    public init(workDirectory: URL, policy: AccessPolicy) throws {
        data = try WorkDirData(directory: workDirectory)
        self.policy = policy
        marks = ReviewMarks(directory: data.directory,
                            names: Dictionary(uniqueKeysWithValues: data.samples.map { ($0.index, $0.filename) }))
        thumbnails = ThumbnailStore(workDirectory: data.directory)
        previews = thumbnails.resized(side: 1600, folder: ThumbnailStore.folderName + "/large")
        neighbours = NeighbourFinder(data: data)
    }

    /// Listens on `policy.host`:`port` (0 picks a free port) until SIGINT/SIGTERM;
    /// `onRunning` gets the port actually bound.
    public func run(port: Int, onRunning: @escaping @Sendable (Int) -> Void) async throws {
        guard (0...65535).contains(port) else { throw AppError.badPort(port) }
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(policy.host, port: port), serverName: "winnow"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? port) }
        )
        try await app.runService()
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AccessMiddleware(policy: policy))
        for asset in WebAsset.all {
            router.get(RouterPath(asset.path)) { _, _ in Responses.asset(asset) }
        }
        router.get("/api/summary") { _, _ in try Responses.json(summary()) }
        router.get("/api/samples") { _, _ in
            try Responses.json(SampleColumns(data: data, marks: marks.all, hasPreview: thumbnails.contains))
        }
        router.get("/api/components") { _, _ in
            try Responses.json(data.components.map { ComponentInfo(id: $0.key, members: $0.value) }
                .sorted { ($0.members.count, $1.id) > ($1.members.count, $0.id) })
        }
        router.get("/api/maps/{key}") { _, context in
            guard let key = context.parameters.get("key"), data.listing("maps", extension: "csv").contains(key) else {
                throw HTTPError(.notFound, message: "no such map (see /api/summary for the maps of this work_dir)")
            }
            return try Responses.json(try MapPoints.load(key: key, directory: data.directory, rows: data.rowOfIndex))
        }
        router.get("/api/neighbors/{index}") { request, context in
            let index = try sampleIndex(context)
            guard data.rowOfIndex[index] != nil else { throw HTTPError(.notFound, message: "no decoded sample with index \(index)") }
            let k = try request.uri.queryParameters.get("k").map { text -> Int in
                guard let k = Int(text), (1...100).contains(k) else { throw HTTPError(.badRequest, message: "k must be 1–100") }
                return k
            } ?? 12
            return try Responses.json(try neighbours.neighbours(of: index, k: k))
        }
        router.get("/api/marks") { _, _ in
            try Responses.json(Dictionary(uniqueKeysWithValues: marks.all.map { (String($0.key), $0.value.rawValue) }))
        }
        router.get("/api/marks.csv") { _, _ in
            var response = Responses.text(marks.csv, type: "text/csv; charset=utf-8")
            response.headers[.contentDisposition] = "attachment; filename=\"\(ReviewMarks.fileName)\""
            return response
        }
        router.post("/api/marks") { request, context in
            var request = request
            guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
                throw HTTPError(.unsupportedMediaType, message: "send marks as application/json")
            }
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: 1 << 20) } catch {
                throw HTTPError(.contentTooLarge, message: "marks bodies are limited to 1 MB")
            }
            let update: MarkUpdate
            do { update = try JSONDecoder().decode(MarkUpdate.self, from: Data(buffer: body)) } catch {
                throw HTTPError(.badRequest, message: "expected {\"indices\": [..], \"mark\": \"keep\"|\"remove\"|\"none\"}")
            }
            let mark: ReviewMarks.Mark?
            switch update.mark {
            case "none": mark = nil
            case let text: guard let m = ReviewMarks.Mark(rawValue: text) else {
                throw HTTPError(.badRequest, message: "mark must be keep, remove or none")
            }; mark = m
            }
            let unknown = update.indices.filter { data.rowOfIndex[$0] == nil }
            guard unknown.isEmpty else { throw HTTPError(.notFound, message: "no decoded sample with index \(unknown[0])") }
            let changed = try marks.set(mark, for: update.indices)
            return try Responses.json(["changed": changed, "marked": marks.all.count])
        }
        router.get("/thumb/{index}") { _, context in
            let sample = try imageSample(context)
            do {
                return Responses.data(try await imageWork.run { [index = sample.index] in try thumbnails.jpeg(of: index) }, type: "image/jpeg")
            } catch {
                throw HTTPError(.notFound, message: "no preview for sample \(sample.index): \((error as? ThumbnailStore.Failure)?.reason ?? "\(error)")")
            }
        }
        router.get("/image/{index}") { _, context in
            let sample = try imageSample(context)
            // Files in formats browsers show are sent as they are; others (and archive members) as a large JPEG preview.
            if let location = sample.location, let bytes = try? Data(contentsOf: URL(fileURLWithPath: location)),
               let type = Responses.browserImageType(bytes) {
                return Responses.data(bytes, type: type)
            }
            do {
                return Responses.data(try await imageWork.run { [index = sample.index] in try previews.jpeg(of: index) }, type: "image/jpeg")
            } catch {
                throw HTTPError(.notFound, message: "the image of sample \(sample.index) cannot be shown: \((error as? ThumbnailStore.Failure)?.reason ?? "\(error)")")
            }
        }
        router.get("/files/**") { request, _ in
            let tail = request.uri.path.dropFirst("/files/".count)
            guard let url = SafePath.resolve(tail, under: data.directory) else {
                throw HTTPError(.notFound, message: "not a file of this work_dir")
            }
            guard let bytes = try? Data(contentsOf: url) else { throw HTTPError(.notFound, message: "cannot read the file") }
            return Responses.file(bytes, name: url.lastPathComponent)
        }
        return router
    }

    private func sampleIndex(_ context: BasicRequestContext) throws -> Int64 {
        guard let index = context.parameters.get("index", as: Int64.self) else {
            throw HTTPError(.badRequest, message: "the sample index must be an integer")
        }
        return index
    }

    /// The decoded sample a request names by index; its image is located by the catalog only.
    private func imageSample(_ context: BasicRequestContext) throws -> WorkDirData.Sample {
        let index = try sampleIndex(context)
        guard let row = data.rowOfIndex[index] else { throw HTTPError(.notFound, message: "no decoded sample with index \(index)") }
        guard thumbnails.contains(index) else {
            throw HTTPError(.notFound, message: "the catalog does not say where the image of sample \(index) is")
        }
        return data.samples[row]
    }

    struct Summary: Encodable {
        var workDirectory: String
        var images: Int
        var invalid: [WorkDirData.Invalid]
        var issueCounts: [String: Int]
        var issueOrder: [String]
        var components: Int
        var imagesInComponents: Int
        var labels: [String: Int]
        /// annotations (`label_scores.csv`), folders, or none.
        var labelSource: WorkDirData.LabelSource
        /// Images whose given label is likely wrong (with annotations).
        var likelyWrongLabels: Int
        /// The label outputs of the run present in the work_dir (`likely_wrong_labels.csv`, …).
        var labelFiles: [String]
        var splits: [String: Int]
        var maps: [String]
        var galleries: [String]
        var marks: [String: Int]
        var hasNeighbours: Bool
        /// Whether the run's summary.json is there (the page reads it from /files/summary.json).
        var hasRunSummary: Bool
    }

    func summary() -> Summary {
        var issueCounts: [String: Int] = [:], labels: [String: Int] = [:], splits: [String: Int] = [:]
        for s in data.samples {
            for issue in s.issues { issueCounts[issue, default: 0] += 1 }
            if !s.label.isEmpty { labels[s.label, default: 0] += 1 }
            if !s.split.isEmpty { splits[s.split, default: 0] += 1 }
        }
        var markCounts: [String: Int] = [:]
        for mark in marks.all.values { markCounts[mark.rawValue, default: 0] += 1 }
        return Summary(workDirectory: data.directory.path, images: data.samples.count, invalid: data.invalid,
                       issueCounts: issueCounts, issueOrder: WorkDirData.issueOrder, components: data.components.count,
                       imagesInComponents: data.components.values.reduce(0) { $0 + $1.count }, labels: labels,
                       labelSource: data.labelSource, likelyWrongLabels: issueCounts[WorkDirData.wrongLabelIssue] ?? 0,
                       labelFiles: WorkDirData.labelFiles.filter {
                           FileManager.default.fileExists(atPath: data.directory.appendingPathComponent($0).path)
                       }, splits: splits,
                       maps: data.listing("maps", extension: "csv"), galleries: data.listing("galleries", extension: "html"),
                       marks: markCounts, hasNeighbours: neighbours.available,
                       hasRunSummary: data.summaryJSON != nil)
    }
}

/// `{"indices": [...], "mark": "keep" | "remove" | "none"}`.
struct MarkUpdate: Decodable {
    var indices: [Int64]
    var mark: String
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

    init(data: WorkDirData, marks: [Int64: ReviewMarks.Mark], hasPreview previewable: (Int64) -> Bool) {
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

/// Turns thrown errors into answers: `HTTPError`s keep their status and message; anything
/// else is a 500 with a one-line reason (the server keeps running).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.init("X-Content-Type-Options")!] = "nosniff"
            return response
        } catch let error as HTTPError {
            return Responses.text((error.body ?? "\(error.status.code)") + "\n", status: error.status)
        } catch let error as any HTTPResponseError {
            return Responses.text("\(error.status.code) \(error.status.reasonPhrase)\n", status: error.status)
        } catch {
            return Responses.text("error: \(error)\n", status: .internalServerError)
        }
    }
}

/// The app's answers, with their content types and caching.
enum Responses {
    /// What the page may load: only this app's own script, style sheet and images.
    static let pagePolicy =
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

    static func text(_ text: String, status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
        uncached(ByteBuffer(string: text), status: status, type: type)
    }

    /// A file of the web UI; the page comes with ``pagePolicy``.
    static func asset(_ asset: WebAsset) -> Response {
        uncached(asset.body, type: asset.contentType, policy: asset.isPage ? pagePolicy : nil)
    }

    private static func uncached(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, type: String,
                                 policy: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-store"]
        if let policy { headers[.contentSecurityPolicy] = policy }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static func data(_ data: Data, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "private, max-age=300"],
                 body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A work_dir file: shown when it is a page, text or picture, downloaded otherwise.
    static func file(_ data: Data, name: String) -> Response {
        let types = ["html": "text/html; charset=utf-8", "css": "text/css", "js": "text/javascript", "json": "application/json",
                     "csv": "text/csv; charset=utf-8", "txt": "text/plain; charset=utf-8", "jsonl": "text/plain; charset=utf-8",
                     "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"]
        let ext = (name as NSString).pathExtension.lowercased()
        var response = self.data(data, type: types[ext] ?? "application/octet-stream")
        response.headers[.cacheControl] = "no-store"
        if types[ext] == nil { response.headers[.contentDisposition] = "attachment" }
        return response
    }

    /// MIME type of image bytes every browser shows, from their signature.
    static func browserImageType(_ bytes: Data) -> String? {
        let b = [UInt8](bytes.prefix(12))
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if b.starts(with: Array("GIF8".utf8)) { return "image/gif" }
        if b.count >= 12, b.starts(with: Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { return "image/webp" }
        return nil
    }
}
