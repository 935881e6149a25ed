import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An object as a listing, a HEAD or a GET describes it.
public struct S3Object: Sendable, Equatable {
    public var key: String
    /// The ETag without its quotes.
    public var etag: String
    public var byteCount: Int64
}

/// One page of a ListObjectsV2 listing.
struct S3ListPage: Sendable {
    var objects: [S3Object]
    /// The token of the next page; nil on the last page.
    var continuation: String?
}

/// Signed S3 requests to one endpoint (async-http-client): ListObjectsV2 pages, HEAD, and GET
/// streamed to a file. Failures the server or the network may get over (5xx, 429, a broken
/// connection, a short body) are retried with exponential backoff; the rest are thrown at once.
public final class S3Client: Sendable {
    let endpoint: S3Endpoint
    private let signer: SignatureV4
    private let http: HTTPClient
    /// Attempts per request (the first one included).
    let attempts: Int

    public init(endpoint: S3Endpoint, credentials: S3Credentials, maximumConnections: Int = 16, attempts: Int = 4) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(3), read: .seconds(60)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maximumConnections)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        (self.endpoint, self.attempts) = (endpoint, max(1, attempts))
        signer = SignatureV4(credentials: credentials, region: endpoint.region)
    }

    /// Closes the connections; the client cannot be used afterwards.
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// One page of the objects under `address.key`, after `continuation` (nil: the first page).
    func listPage(_ address: S3Address, continuation: String?, maximumKeys: Int = 1000) async throws(S3Error) -> S3ListPage {
        var query = [("list-type", "2"), ("max-keys", String(maximumKeys))]
        if !address.key.isEmpty { query.append(("prefix", address.key)) }
        if let continuation { query.append(("continuation-token", continuation)) }
        let what = address.description
        return try await retrying(what) { () async throws(S3Error) -> S3ListPage in
            let response = try await self.send(self.request("GET", address.bucket, key: nil, query: query), what: what)
            let body = try await self.collect(response, what: what, limit: 64 << 20)
            guard response.status == .ok else { throw Self.failure(response, body: body, what: what) }
            return try ListingParser.page(body, what: what)
        }
    }

    /// The object's ETag and size (HEAD).
    func head(_ address: S3Address) async throws(S3Error) -> S3Object {
        let what = address.description
        return try await retrying(what) { () async throws(S3Error) -> S3Object in
            let response = try await self.send(self.request("HEAD", address.bucket, key: address.key, query: []), what: what)
            guard response.status == .ok else { throw Self.failure(response, body: [], what: what) }
            return try Self.object(address.key, response, what: what)
        }
    }

    /// GETs the object into `file` (written to a temporary file beside it, renamed into place
    /// when complete); refuses objects over `maximumBytes`. Returns the object as served.
    func download(_ address: S3Address, to file: URL, maximumBytes: Int64) async throws(S3Error) -> S3Object {
        let what = address.description
        return try await retrying(what) { () async throws(S3Error) -> S3Object in
            let response = try await self.send(self.request("GET", address.bucket, key: address.key, query: []), what: what)
            guard response.status == .ok else {
                throw Self.failure(response, body: try await self.collect(response, what: what, limit: 1 << 16), what: what)
            }
            let object = try Self.object(address.key, response, what: what)
            guard object.byteCount <= maximumBytes else {
                throw .local(what: what, reason: "object of \(object.byteCount) bytes is over the limit of \(maximumBytes) bytes (--max-file-bytes); not read")
            }
            try await ObjectFile.write(response.body, expected: object.byteCount, to: file, what: what)
            return object
        }
    }

    private func request(_ method: String, _ bucket: String, key: String?, query: [(String, String)]) -> HTTPClientRequest {
        let host = endpoint.virtualHosted ? "\(bucket).\(endpoint.hostHeader)" : endpoint.hostHeader
        let bucketPath = endpoint.virtualHosted ? "" : "/" + bucket
        let path = bucketPath + "/" + SignatureV4.uriEncode(key ?? "", keepingSlash: true)
        let canonicalQuery = SignatureV4.canonicalQuery(query)
        var request = HTTPClientRequest(url: "\(endpoint.scheme)://\(host)\(path)" + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery))
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signer.headers(method: method, host: host, path: path, query: query, date: Date()) {
            request.headers.add(name: name, value: value)
        }
        return request
    }

    private func send(_ request: HTTPClientRequest, what: String) async throws(S3Error) -> HTTPClientResponse {
        do { return try await http.execute(request, timeout: .seconds(300)) } catch {
            throw .transport(what: what, reason: oneLine("\(error)", limit: 200))
        }
    }

    private func collect(_ response: HTTPClientResponse, what: String, limit: Int) async throws(S3Error) -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw .transport(what: what, reason: oneLine("reading the answer: \(error)", limit: 200))
        }
    }

    /// Runs `operation`, again after 0.25 s, 0.5 s, 1 s… (with jitter) while it fails in a way
    /// that may pass, up to ``attempts`` times.
    private func retrying<T: Sendable>(_ what: String, _ operation: () async throws(S3Error) -> T) async throws(S3Error) -> T {
        var attempt = 0
        while true {
            do { return try await operation() } catch {
                attempt += 1
                guard attempt < attempts, Self.mayPass(error) else { throw error }
                let delay = 0.25 * Double(1 << (attempt - 1)) * Double.random(in: 0.8...1.2)
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            }
        }
    }

    static func mayPass(_ error: S3Error) -> Bool {
        switch error {
        case .transport, .badResponse: true
        case .http(_, let status, _, _): status >= 500 || status == 429
        case .invalidAddress, .noCredentials, .local: false
        }
    }

    private static func object(_ key: String, _ response: HTTPClientResponse, what: String) throws(S3Error) -> S3Object {
        guard let length = response.headers.first(name: "content-length").flatMap({ Int64($0) }), length >= 0 else {
            throw .badResponse(what: what, reason: "no Content-Length")
        }
        let etag = response.headers.first(name: "etag") ?? ""
        return S3Object(key: key, etag: etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")), byteCount: length)
    }

    /// The error an answer other than 200 stands for, with S3's `<Code>` and `<Message>`.
    private static func failure(_ response: HTTPClientResponse, body: [UInt8], what: String) -> S3Error {
        let text = String(decoding: body.prefix(1 << 16), as: UTF8.self)
        func element(_ name: String) -> String {
            guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex)
            else { return "" }
            return String(text[start.upperBound..<end.lowerBound])
        }
        var code = element("Code")
        if code.isEmpty, response.status == .notFound, body.isEmpty { code = "NotFound" }
        var message = element("Message")
        if let region = response.headers.first(name: "x-amz-bucket-region"), response.status.code == 301 {
            message += (message.isEmpty ? "" : "; ") + "bucket region \(region)"
        }
        return .http(what: what, status: Int(response.status.code), code: code, message: message)
    }
}
