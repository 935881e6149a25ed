import Foundation
import Hummingbird

/// Who may talk to the app. On a loopback address anyone on this machine may (the default);
/// any other address needs a token, and then every request must carry it — as
/// `Authorization: Bearer T`, an `X-Winnow-Token` header, or the `winnow_token` cookie that
/// opening any page with `?token=T` sets. Without a token, requests whose `Host` is not a
/// loopback name are refused (a DNS-rebinding page cannot read the app).
public struct AccessPolicy: Sendable, Equatable {
    public var host: String
    public var token: String?

    /// Checks the binding: a non-loopback host without a token is refused.
    public init(host: String, token: String?) throws(AppError) {
        let token = token.flatMap { $0.isEmpty ? nil : $0 }
        guard Self.isLoopback(host) || token != nil else { throw .insecureBinding(host) }
        if let token, token.count < 8 || !token.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._~".unicodeScalars.contains($0)) }) {
            throw .badToken
        }
        self.host = host
        self.token = token
    }

    /// 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The name in a `Host` header without its port.
    static func hostName(_ header: String) -> String {
        if header.hasPrefix("["), let end = header.firstIndex(of: "]") { return String(header[...end]) }
        return String(header.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// Where to send the browser after the token cookie is set: `path` when it is a local path
    /// (one leading `/`, no `//` or `\\` that a browser reads as another host, no scheme or
    /// control character), else `/`. Never an open redirect.
    static func localRedirect(_ path: String) -> String {
        let local = path.hasPrefix("/") && !path.contains("//") && !path.contains("\\") && !path.contains(":")
            && path.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F }
        return local ? path : "/"
    }

    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }
}

/// Enforces an `AccessPolicy` on every request.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    var policy: AccessPolicy
    static var cookieName: String { "winnow_token" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = policy.token else {
            let host = request.head.authority.map(AccessPolicy.hostName) ?? ""
            guard AccessPolicy.isLoopback(host) else {
                return Responses.text("forbidden: the app answers only to a loopback Host (start it with --token to serve others)",
                                      status: .forbidden)
            }
            return try await next(request, context)
        }
        if let given = request.uri.queryParameters.get("token") {
            guard AccessPolicy.equalInConstantTime(given, token) else { return Responses.text("forbidden: wrong token", status: .forbidden) }
            // Set the cookie and drop the token from the address bar.
            var response = Response(status: .seeOther, headers: [.location: AccessPolicy.localRedirect(request.uri.path)])
            response.setCookie(Cookie(name: Self.cookieName, value: token, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let header = request.headers[.init("X-Winnow-Token")!]
        let cookie = request.cookies[Self.cookieName]?.value
        guard let presented = bearer ?? header ?? cookie, AccessPolicy.equalInConstantTime(presented, token) else {
            return Responses.text("unauthorized: this app needs its token (open it once with ?token=…)", status: .unauthorized)
        }
        return try await next(request, context)
    }
}
