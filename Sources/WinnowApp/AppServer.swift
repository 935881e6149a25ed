import Foundation
import Hummingbird
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
    let marks: ReviewMarkStore
    /// `thumbnails/<index>.jpg`, shared with `winnow gallery --lazy`.
    let thumbnails: ThumbnailStore
    /// Large previews of images browsers cannot show (TIFF, HEIF, …) or inside archives.
    let previews: ThumbnailStore
    /// Thumbnails and previews being made at once: at most one per core.
    let imageWork = WorkLimiter(width: ProcessInfo.processInfo.activeProcessorCount)
    let neighbors: NeighborFinder
    /// The samples filtered, sorted and paged for `/api/samples`.
    let finder: SampleFinder
    /// The work_dir's catalog, for the decisions made in the app.
    let catalog: Catalog
    /// One-line notes about work_dir files the app could not use (it serves without them).
    public var warnings: [String] { neighbors.warning.map { [$0] } ?? [] }

    public init(workDirectory: URL, policy: AccessPolicy) throws {
        data = try WorkDirData(directory: workDirectory)
        self.policy = policy
        marks = ReviewMarkStore(directory: data.directory,
                                names: Dictionary(uniqueKeysWithValues: data.samples.map { ($0.index, $0.filename) }))
        thumbnails = ThumbnailStore(workDirectory: data.directory)
        previews = thumbnails.resized(side: 1600, folder: ThumbnailStore.folderName + "/large")
        neighbors = NeighborFinder(data: data)
        finder = SampleFinder(data: data, hasPreview: { [thumbnails] in thumbnails.contains($0) })
        catalog = try Catalog(url: data.directory.appendingPathComponent(Catalog.fileName))
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

    /// The routes, one controller per area; every request passes the error and access checks first.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AccessMiddleware(policy: policy))
        AssetsController().addRoutes(to: router)
        SummaryController(finder: finder, marks: marks, hasNeighbors: neighbors.available).addRoutes(to: router)
        SamplesController(data: data, marks: marks, finder: finder, neighbors: neighbors).addRoutes(to: router)
        MarksController(data: data, marks: marks, catalog: catalog).addRoutes(to: router)
        DecisionsController(data: data, catalog: catalog).addRoutes(to: router)
        ImagesController(data: data, thumbnails: thumbnails, previews: previews, work: imageWork).addRoutes(to: router)
        FilesController(directory: data.directory).addRoutes(to: router)
        return router
    }
}
