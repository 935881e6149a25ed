import Hummingbird
import NIOCore

/// One file of the app's user interface: `Web/index.html`, `Web/app.js` or `Web/app.css`,
/// embedded in the binary by SwiftPM (`.embedInCode` in Package.swift; the generated
/// `PackageResources` holds their bytes), so `winnow` stays one file with nothing to install
/// beside it. Plain HTML/JS/CSS, no build step; scripts/browser-check.py loads them in Chromium.
struct WebAsset: Sendable {
    /// The URL path it is served at.
    var path: String
    var contentType: String
    var body: ByteBuffer
    /// Whether it is the page, which is sent with the app's Content-Security-Policy.
    var isPage = false

    /// The page, its script and its style sheet.
    static let all = [
        WebAsset(path: "/", contentType: "text/html; charset=utf-8", body: ByteBuffer(bytes: PackageResources.index_html),
                 isPage: true),
        WebAsset(path: "/app.js", contentType: "text/javascript; charset=utf-8", body: ByteBuffer(bytes: PackageResources.app_js)),
        WebAsset(path: "/app.css", contentType: "text/css; charset=utf-8", body: ByteBuffer(bytes: PackageResources.app_css)),
    ]
}
