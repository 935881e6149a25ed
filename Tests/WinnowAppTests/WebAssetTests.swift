import Foundation
import Testing
@testable import WinnowApp

@Suite("App web files")
struct WebAssetTests {
    /// The page, script and style sheet are the files of Sources/WinnowApp/Web, compiled into
    /// the binary, each with its content type; only the page carries the Content-Security-Policy.
    @Test func theWebFilesAreServedFromTheBinaryWithTheirTypes() throws {
        let server = try ServerProcess(work: try AppFixture.work())
        defer { server.stop() }
        let http = RawHTTP(port: server.port)
        let web = AppTestData.repository.appendingPathComponent("Sources/WinnowApp/Web")
        for (path, file, type) in [("/", "index.html", "text/html; charset=utf-8"), ("/app.js", "app.js", "text/javascript; charset=utf-8"),
                                   ("/app.css", "app.css", "text/css; charset=utf-8")] {
            let reply = try http.get(path)
            #expect(reply.status == 200 && reply.header("Content-Type") == type, "\(path)")
            #expect(reply.body == (try Data(contentsOf: web.appendingPathComponent(file))), "\(path) is not Web/\(file)")
            #expect(reply.header("Cache-Control") == "no-store" && reply.header("X-Content-Type-Options") == "nosniff")
            #expect((reply.header("Content-Security-Policy") == Responses.pagePolicy) == (path == "/"), "\(path)")
        }
    }
}
