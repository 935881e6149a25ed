import Foundation
import Hummingbird
import WinnowCore

/// `/thumb/{index}` and `/image/{index}`: a sample's thumbnail and its full image. The file is
/// located by the catalog only, never by the URL; thumbnails and previews are made through
/// `work`, so that many requests for large images at once cannot multiply a decode's memory.
struct ImagesController {
    let data: WorkDirData
    /// `thumbnails/<index>.jpg`, shared with `winnow gallery --lazy`.
    let thumbnails: ThumbnailStore
    /// Large previews of images browsers cannot show (TIFF, HEIF, …) or inside archives.
    let previews: ThumbnailStore
    let work: WorkLimiter

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/thumb/{index}", use: thumbnail)
        router.get("/image/{index}", use: image)
    }

    @Sendable func thumbnail(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let sample = try imageSample(context)
        return Responses.data(try await jpeg(of: sample, from: thumbnails, failure: "no preview for sample \(sample.index)"),
                              type: "image/jpeg")
    }

    /// Files in formats browsers show are sent as they are; others (and archive members) as a large JPEG preview.
    @Sendable func image(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let sample = try imageSample(context)
        if let location = sample.location, let bytes = try? Data(contentsOf: URL(fileURLWithPath: location)),
           let type = Responses.browserImageType(bytes) {
            return Responses.data(bytes, type: type)
        }
        let failure = "the image of sample \(sample.index) cannot be shown"
        return Responses.data(try await jpeg(of: sample, from: previews, failure: failure), type: "image/jpeg")
    }

    /// The sample's JPEG from `store`, made within `work`; a 404 starting with `failure` when it cannot be made.
    private func jpeg(of sample: WorkDirData.Sample, from store: ThumbnailStore, failure: String) async throws(HTTPError) -> Data {
        do {
            return try await work.run { [index = sample.index] in try store.jpeg(of: index) }
        } catch {
            throw HTTPError(.notFound, message: "\(failure): \((error as? ThumbnailStore.Failure)?.reason ?? "\(error)")")
        }
    }

    /// The decoded sample a request names by index, when the catalog says where its image is.
    private func imageSample(_ context: BasicRequestContext) throws(HTTPError) -> WorkDirData.Sample {
        let index = try context.sampleIndex()
        guard let row = data.rowOfIndex[index] else { throw .noSample(index) }
        guard thumbnails.contains(index) else {
            throw HTTPError(.notFound, message: "the catalog does not say where the image of sample \(index) is")
        }
        return data.samples[row]
    }
}
