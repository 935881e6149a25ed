import Foundation
import Hummingbird

/// `/files/…`: a file inside the work_dir, resolved by ``SafePath`` (never outside it).
struct FilesController {
    let directory: URL

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("/files/**", use: file)
    }

    @Sendable func file(_ request: Request, context: BasicRequestContext) throws -> Response {
        let tail = request.uri.path.dropFirst("/files/".count)
        guard let url = SafePath.resolve(tail, under: directory) else {
            throw HTTPError(.notFound, message: "not a file of this work_dir")
        }
        guard let bytes = try? Data(contentsOf: url) else { throw HTTPError(.notFound, message: "cannot read the file") }
        return Responses.file(bytes, name: url.lastPathComponent)
    }
}
