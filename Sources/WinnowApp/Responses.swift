import Foundation
import Hummingbird
import NIOCore

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
