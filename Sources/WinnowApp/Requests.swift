import Foundation
import Hummingbird

/// A JSON request body: a `Decodable` type with the words its 4xx answers use. Its
/// `init(from:)` may throw an `HTTPError` for a value that decodes but is not allowed.
protocol JSONRequestBody: Decodable {
    /// What the body holds, as the answers name it ("marks").
    static var noun: String { get }
    /// The JSON expected, shown when a body does not decode.
    static var expectedShape: String { get }
    /// The largest body accepted, in bytes.
    static var byteLimit: Int { get }
}

extension Request {
    /// Decodes the JSON body: 415 unless it is sent as `application/json`, 413 when it is over
    /// `Body.byteLimit`, 400 with `Body.expectedShape` (or the body's own reason) when it does not decode.
    mutating func decodeJSON<Body: JSONRequestBody>(_: Body.Type) async throws(HTTPError) -> Body {
        guard headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw HTTPError(.unsupportedMediaType, message: "send \(Body.noun) as application/json")
        }
        let bytes: ByteBuffer
        do { bytes = try await collectBody(upTo: Body.byteLimit) } catch {
            throw HTTPError(.contentTooLarge, message: "\(Body.noun) bodies are limited to \(Body.byteLimit >> 20) MB")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer: bytes))
        } catch let error as HTTPError {
            throw error
        } catch {
            throw HTTPError(.badRequest, message: Body.expectedShape)
        }
    }
}

extension RequestContext {
    /// The `{index}` path parameter, a sample index.
    func sampleIndex() throws(HTTPError) -> Int64 {
        guard let index = parameters.get("index", as: Int64.self) else {
            throw HTTPError(.badRequest, message: "the sample index must be an integer")
        }
        return index
    }
}

extension HTTPError {
    /// The answer to an index that is not a decoded sample of the work_dir.
    static func noSample(_ index: Int64) -> HTTPError {
        HTTPError(.notFound, message: "no decoded sample with index \(index)")
    }
}
