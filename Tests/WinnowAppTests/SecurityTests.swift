import Foundation
import Testing
@testable import WinnowApp

/// Runs a command and fails (instead of hanging) when it does not exit within `seconds`.
func runBounded(_ executable: URL, _ arguments: [String], seconds: Double = 20) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        throw AppTestFailure("\(executable.lastPathComponent) \(arguments) still running after \(seconds) s")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A copy of a fixture work_dir (default: the plain one) that a test may change (symlinks, marks).
func fixtureCopy(_ name: String, from source: @autoclosure () throws -> URL = try AppFixture.work()) throws -> URL {
    let target = try AppTestData.temporaryDirectory(name).appendingPathComponent("work")
    let from = try source()
    // Other tests serve the shared fixture meanwhile: their SQLite sidecars (-wal/-shm, empty once
    // the run that wrote the catalog closed it) and thumbnail temporaries come and go, so those
    // sidecars are left out and a copy that lost a file to such a race is made again.
    var attempt = 0
    while true {
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for entry in try FileManager.default.contentsOfDirectory(atPath: from.path)
            where !entry.hasSuffix("-wal") && !entry.hasSuffix("-shm") {
                try FileManager.default.copyItem(at: from.appendingPathComponent(entry), to: target.appendingPathComponent(entry))
            }
            return target
        } catch where attempt < 5 {
            attempt += 1
            try? FileManager.default.removeItem(at: target)
        }
    }
}

@Suite("App security")
struct AppSecurityTests {
    @Test func nonLoopbackAddressesNeedAToken() throws {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
            #expect(throws: Never.self) { try AccessPolicy(host: host, token: nil) }
        }
        for host in ["0.0.0.0", "192.168.1.10", "::", "example.org", "127.0.0.1.evil.org"] {
            #expect(throws: AppError.insecureBinding(host)) { try AccessPolicy(host: host, token: nil) }
            #expect(throws: AppError.insecureBinding(host)) { try AccessPolicy(host: host, token: "") }
            #expect(throws: Never.self) { try AccessPolicy(host: host, token: "s3cret-token") }
        }
        #expect(throws: AppError.badToken) { try AccessPolicy(host: "0.0.0.0", token: "short") }
        #expect(throws: AppError.badToken) { try AccessPolicy(host: "0.0.0.0", token: "has space;and=more") }
    }

    @Test func tokenlessRemoteBindIsRefusedByTheCommand() throws {
        let work = try AppFixture.work()
        let result = try runBounded(AppTestData.winnowExecutable, ["serve", work.path, "--host", "0.0.0.0", "--port", "0"])
        #expect(result.status != 0)
        let lines = result.output.split(whereSeparator: \.isNewline)
        #expect(lines.count == 1, "one-line error, got: \(result.output)")
        #expect(result.output.contains("--token") && result.output.contains("0.0.0.0"))
        let notAWorkDir = try runBounded(AppTestData.winnowExecutable, ["serve", work.appendingPathComponent("photos").path])
        #expect(notAWorkDir.status == 66 && notAWorkDir.output.contains("not a Winnow work_dir"))
    }

    @Test func onlyWorkDirFilesAndDatasetImagesAreServed() throws {
        let work = try fixtureCopy("traversal")
        let galleries = work.appendingPathComponent("galleries")
        try FileManager.default.createDirectory(at: galleries, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: galleries.appendingPathComponent("passwd.html").path,
                                                   withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: work.appendingPathComponent("root").path, withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: galleries.appendingPathComponent("scores.csv").path,
                                                   withDestinationPath: "../scores.csv")
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let http = RawHTTP(port: server.port)

        // What may be read: a work_dir file (also through a symlink that stays inside), a dataset image.
        #expect(try http.get("/files/scores.csv").status == 200)
        #expect(try http.get("/files/galleries/scores.csv").text.hasPrefix("index,filename"))
        let image = try http.get("/image/0")
        #expect(image.status == 200 && image.header("Content-Type") == "image/jpeg")
        #expect(try http.get("/thumb/0").body.starts(with: [0xFF, 0xD8, 0xFF]))

        let attempts = [
            "/files/../winnow.sqlite", "/files/../../../../etc/passwd", "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/files/..%2f..%2f..%2fetc%2fpasswd", "/files//etc/passwd",
            "/files/%2fetc%2fpasswd", "/files/%252e%252e/%252e%252e/etc/passwd", "/files/galleries/passwd.html",
            "/files/root/etc/passwd", "/files/./scores.csv", "/files/.%2e/winnow.sqlite", "/files/maps/..",
            "/files/scores.csv%00.html", "/files/..\\..\\etc\\passwd", "/files/", "/files/maps",
            "/image/../../etc/passwd", "/image/%2e%2e%2fwinnow.sqlite", "/thumb/..%2f..%2fetc%2fpasswd",
            "/api/maps/..%2f..%2fetc%2fpasswd", "/api/maps/../scores", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
            "/etc/passwd", "/files/root",
        ]
        for path in attempts {
            let reply = try http.get(path)
            #expect((400..<500).contains(reply.status), "\(path) answered \(reply.status)")
            #expect(!reply.text.contains("root:x:0:0"), "\(path) leaked /etc/passwd")
        }
        // An absolute path in the request line instead of a path.
        let absolute = try http.send("GET /files//etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect((400..<500).contains(absolute.status))
        #expect(server.isRunning)
    }

    @Test func badRequestsGet4xxAndTheServerKeepsRunning() throws {
        let work = try fixtureCopy("malformed")
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let http = RawHTTP(port: server.port)
        let cases: [(String, Int)] = [
            ("/image/abc", 400), ("/image/99999999", 404), ("/image/-1", 404), ("/image/99999999999999999999999", 400),
            ("/thumb/1.5", 400), ("/api/neighbors/0?k=0", 400), ("/api/neighbors/0?k=1000", 400),
            ("/api/neighbors/0?k=x", 400), ("/api/neighbors/424242", 404), ("/api/maps/nope", 404), ("/nothing-here", 404),
        ]
        for (path, status) in cases {
            let reply = try http.get(path)
            #expect(reply.status == status, "\(path) answered \(reply.status): \(reply.text)")
        }
        #expect(try http.post("/api/marks", json: "{not json").status == 400)
        #expect(try http.post("/api/marks", json: #"{"indices":[0],"mark":"delete"}"#).status == 400)
        #expect(try http.post("/api/marks", json: #"{"indices":[987654],"mark":"keep"}"#).status == 404)
        #expect(try http.post("/api/marks", json: #"{"indices":[0],"mark":"keep"}"#, contentType: "text/plain").status == 415)
        let huge = "{\"indices\":[" + String(repeating: "0,", count: 600_000) + "0],\"mark\":\"keep\"}"
        let tooLarge = try http.post("/api/marks", json: huge).status   // 413, or the connection closed mid-upload
        #expect(tooLarge == 0 || tooLarge == 413, "a 1.2 MB marks body answered \(tooLarge)")
        // Requests that are not HTTP at all, or broken HTTP.
        for raw in ["GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /api/summary HTTP/9.9\r\n\r\n",
                    "GET /api/summary HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "\u{0}\u{1}\u{2}\r\n\r\n",
                    "GET /" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] {
            let reply = try http.send(raw)
            #expect(reply.status == 0 || (400..<500).contains(reply.status), "\(raw.prefix(30)) answered \(reply.status)")
        }
        // A page of another site that resolves to 127.0.0.1 (DNS rebinding) is refused.
        #expect(try http.get("/api/summary", host: "evil.example:\(server.port)").status == 403)
        #expect(server.isRunning)
        #expect(try http.get("/api/summary").status == 200)
    }

    @Test func withATokenEveryRequestMustCarryIt() throws {
        let work = try fixtureCopy("token")
        let token = "test-token-12345"
        let server = try ServerProcess(work: work, arguments: ["--token", token])
        defer { server.stop() }
        #expect(server.firstLine.contains("?token=\(token)"))
        let http = RawHTTP(port: server.port)
        for path in ["/", "/api/summary", "/image/0", "/files/scores.csv"] {
            #expect(try http.get(path).status == 401, "\(path) without the token")
            #expect(try http.get(path, headers: ["Authorization": "Bearer wrong-token-000"]).status == 401)
        }
        #expect(try http.get("/api/summary", headers: ["Authorization": "Bearer \(token)"]).status == 200)
        #expect(try http.get("/api/summary", headers: ["X-Winnow-Token": token]).status == 200)
        #expect(try http.get("/?token=wrong-token-000").status == 403)
        let login = try http.get("/?token=\(token)")
        #expect(login.status == 303)
        let cookie = try #require(login.header("Set-Cookie"))
        #expect(cookie.contains("winnow_token=\(token)") && cookie.contains("HttpOnly"))
        #expect(try http.get("/api/summary", headers: ["Cookie": "winnow_token=\(token)"]).status == 200)
        #expect(try http.get("/api/summary", headers: ["Cookie": "winnow_token=nope"]).status == 401)
    }

    /// After the token cookie is set the browser goes to the same path, only ever on this host.
    @Test func tokenLoginRedirectsOnlyToLocalPaths() throws {
        let work = try fixtureCopy("redirect")
        let token = "test-token-12345"
        let server = try ServerProcess(work: work, arguments: ["--token", token])
        defer { server.stop() }
        let http = RawHTTP(port: server.port)
        let local = try http.get("/files/scores.csv?token=\(token)")
        #expect(local.status == 303 && local.header("Location") == "/files/scores.csv")
        for path in ["//evil.com/", "///evil.com/", "/\\evil.com/", "/\\/evil.com", "//evil.com/files", "/a//evil.com",
                     "/http://evil.com/", "/javascript:alert(1)"] {
            let reply = try http.get(path + "?token=\(token)")   // refused (4xx), or sent home
            #expect((400..<500).contains(reply.status) || (reply.status == 303 && reply.header("Location") == "/"),
                    "\(path) answered \(reply.status), Location \(reply.header("Location") ?? "none")")
        }
        #expect(AccessPolicy.localRedirect("/api/summary") == "/api/summary")
        #expect(AccessPolicy.localRedirect("") == "/" && AccessPolicy.localRedirect("evil.com") == "/")
    }
}
