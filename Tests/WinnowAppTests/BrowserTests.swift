import Foundation
import Testing

/// The app in a real browser: `scripts/browser-check.py` drives headless Chromium (Debian's
/// `chromium`, installed by scripts/setup.sh with the websocket-client venv) against a live
/// `winnow serve` over the labelled fixture (a `winnow run --annotations` work_dir with a
/// `winnow visualize` map and `winnow gallery` pages), takes screenshots, filters, pages and sorts
/// the grid (each page from the server), marks an image, clicks a map point, checks the label
/// views and the galleries, and checks the console.
@Suite("App in a browser")
struct BrowserTests {
    static var python: URL { AppTestData.cache.appendingPathComponent("venv-browser/bin/python") }
    static var script: URL { AppTestData.repository.appendingPathComponent("scripts/browser-check.py") }

    static func requireBrowser() throws {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw AppTestFailure("\(python.path) missing: run scripts/setup.sh (browser-test venv)")
        }
        guard (try AppTestData.shell("which", ["chromium"])).status == 0 else {
            throw AppTestFailure("chromium missing: run scripts/setup.sh (apt-get install chromium)")
        }
    }

    @Test func theAppWorksInHeadlessChromium() throws {
        try Self.requireBrowser()
        let work = try fixtureCopy("browser", from: AppFixture.labelledWork())   // "keep best" marks land in this copy
        let server = try ServerProcess(work: work)
        defer { server.stop() }
        let shots = try AppTestData.temporaryDirectory("screenshots")
        let result = try runBounded(Self.python, [Self.script.path, "--url", "http://127.0.0.1:\(server.port)/",
                                                  "--out", shots.path, "--try-marks"], seconds: 240)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("issue filter") && result.output.contains("paging:") && result.output.contains("grid mark:")
                && result.output.contains("neighbours shown") && result.output.contains("'keep best' marked cluster")
                && result.output.contains("sort by wrong-label score") && result.output.contains("likely-wrong-label filter")
                && result.output.contains("gallery duplicates shows") && result.output.contains("'not a copy' recorded the pair")
                && result.output.contains(", 0 failed"))
        #expect(try AppTestData.readCSV(work.appendingPathComponent("review_marks.csv")).count >= 2)
        for name in ["summary", "grid", "clusters", "map", "labels", "gallery-duplicates", "gallery-components"] {
            let png = shots.appendingPathComponent("\(name).png")
            let bytes = try Data(contentsOf: png)
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 10_000, "\(name).png")
        }
    }

    /// The check fails on a broken page: a script error and a view that never becomes ready.
    @Test func theCheckFailsOnABrokenPage() throws {
        try Self.requireBrowser()
        let site = try AppTestData.temporaryDirectory("broken-site")
        try FileManager.default.createDirectory(at: site.appendingPathComponent("api"), withIntermediateDirectories: true)
        try #"<!doctype html><title>broken</title><script>window.winnow = {ready: {}}; undefinedFunction();</script>"#
            .write(to: site.appendingPathComponent("index.html"), atomically: false, encoding: .utf8)
        try #"{"images": 3, "issueCounts": {}, "components": 0, "maps": [], "galleries": []}"#
            .write(to: site.appendingPathComponent("api/summary"), atomically: false, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", site.path]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: a test process may hand SIGTERM down as ignored, and http.server has no handler of its own.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        var text = ""
        while !text.contains("port ") || !text.contains(")") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let port = try #require(text.range(of: #"port (\d+)"#, options: .regularExpression).flatMap { Int(text[$0].dropFirst(5)) })
        let result = try runBounded(Self.python, [Self.script.path, "--url", "http://127.0.0.1:\(port)/", "--timeout", "3",
                                                  "--out", try AppTestData.temporaryDirectory("broken-shots").path], seconds: 120)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("FAIL") && result.output.contains("undefinedFunction"))
    }
}
