import Foundation
import Testing
import WinnowCore
import WinnowTestSupport

/// The shared helpers (the app tests are their own target so they do not link WinnowCore's
/// test fixtures).
typealias AppTestData = TestFiles

struct AppTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Work_dirs made once per test process from real photos: two folders, an exact copy, a
/// half-size copy, a truncated JPEG; then `winnow visualize --method pca` (the map) and
/// `winnow gallery` (duplicates and components pages), as a user would make them.
///
/// `work()` is a plain run (labels are the folder names); `labelledWork()` runs the same photos
/// with `--annotations labels.csv` (labels `animal` / `object` that differ from the folder names,
/// one of them wrong, splits, and a row naming no image) so the app's label views have
/// `label_scores.csv` to show.
enum AppFixture {
    static let workDirectory: Result<URL, AppTestFailure> = {
        do { return .success(try make(annotated: false)) } catch { return .failure(error as? AppTestFailure ?? AppTestFailure("\(error)")) }
    }()
    static let labelledWorkDirectory: Result<URL, AppTestFailure> = {
        do { return .success(try make(annotated: true)) } catch { return .failure(error as? AppTestFailure ?? AppTestFailure("\(error)")) }
    }()

    static func work() throws -> URL { try workDirectory.get() }
    static func labelledWork() throws -> URL { try labelledWorkDirectory.get() }

    /// The annotations of the labelled fixture (relative to the fixture root): astronaut is
    /// labelled `animal` on purpose; `missing.jpg` names no image.
    static let annotations = """
        filename,label,split
        photos/animals/chelsea.jpg,animal,train
        photos/animals/chelsea copy.jpg,animal,val
        photos/animals/horse.jpg,animal,train
        photos/animals/astronaut.jpg,animal,train
        photos/objects/coffee.jpg,object,train
        photos/objects/coffee_small.jpg,object,val
        photos/objects/motorcycle_left.jpg,object,train
        photos/objects/rocket.jpg,object,val
        photos/objects/missing.jpg,object,train

        """

    static func make(annotated: Bool) throws -> URL {
        let root = try AppTestData.temporaryDirectory(annotated ? "labelled" : "fixture")
        let data = try AppTestData.skimageData()
        let animals = root.appendingPathComponent("photos/animals"), objects = root.appendingPathComponent("photos/objects")
        for folder in [animals, objects] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        func vips(_ arguments: [String]) throws {
            let result = try AppTestData.shell("vips", arguments)
            guard result.status == 0 else { throw AppTestFailure("vips \(arguments): \(result.output)") }
        }
        for (name, folder) in [("chelsea", animals), ("astronaut", animals), ("coffee", objects), ("motorcycle_left", objects),
                               ("rocket", objects), ("horse", animals)] {
            let png = data.appendingPathComponent("\(name).png"), jpg = data.appendingPathComponent("\(name).jpg")
            let source = FileManager.default.fileExists(atPath: png.path) ? png : jpg
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            try vips(["copy", source.path, folder.appendingPathComponent("\(name).jpg").path + "[Q=90]"])
        }
        try FileManager.default.copyItem(at: animals.appendingPathComponent("chelsea.jpg"),
                                         to: animals.appendingPathComponent("chelsea copy.jpg"))
        try vips(["resize", objects.appendingPathComponent("coffee.jpg").path,
                  objects.appendingPathComponent("coffee_small.jpg").path + "[Q=85]", "0.5"])
        let coffee = try Data(contentsOf: objects.appendingPathComponent("coffee.jpg"))
        try coffee.prefix(coffee.count / 3).write(to: objects.appendingPathComponent("truncated.jpg"))
        let work = root.appendingPathComponent("work")
        var arguments = ["run", root.appendingPathComponent("photos").path, "--work-dir", work.path, "--quiet"]
        if annotated {
            let labels = root.appendingPathComponent("labels.csv")
            try annotations.write(to: labels, atomically: false, encoding: .utf8)
            arguments += ["--annotations", labels.path]
        }
        try winnow(arguments)
        try winnow(["visualize", work.path, "--method", "pca"])
        try winnow(["gallery", work.path, "--kind", "duplicates,components", "--num-images", "0"])
        return work
    }

    /// Runs `winnow` and fails with its output when it does not exit 0.
    static func winnow(_ arguments: [String]) throws {
        let result = try AppTestData.shell(AppTestData.winnowExecutable.path, arguments)
        guard result.status == 0 else { throw AppTestFailure("winnow \(arguments.prefix(2).joined(separator: " ")) failed: \(result.output)") }
    }
}

/// A `winnow serve` process on a free loopback port, stopped by `stop()`.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let firstLine: String

    init(work: URL, arguments: [String] = []) throws {
        process.executableURL = AppTestData.winnowExecutable
        process.arguments = ["serve", work.path, "--port", "0"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let handle = out.fileHandleForReading
        while !text.contains("\n") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        handle.readabilityHandler = { _ = $0.availableData }
        firstLine = text
        guard let range = text.range(of: #":(\d+)/"#, options: .regularExpression),
              let port = Int(text[range].dropFirst().dropLast()) else {
            process.terminate()
            throw AppTestFailure("winnow serve did not start: \(text)")
        }
        self.port = port
    }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM (the server shuts down cleanly), then SIGKILL if it is still there after 10 s.
    func stop() {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A minimal HTTP/1.1 client over a POSIX socket, so tests can send requests as they are
/// written (unnormalised paths, malformed lines) to the server.
struct RawHTTP {
    var port: Int

    struct Reply {
        var status: Int
        var head: String
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
    }

    func get(_ path: String, headers: [String: String] = [:], host: String? = nil) throws -> Reply {
        try send(request("GET", path, headers: headers, host: host))
    }

    func post(_ path: String, json: String, contentType: String = "application/json", headers: [String: String] = [:]) throws -> Reply {
        var all = headers
        all["Content-Type"] = contentType
        all["Content-Length"] = String(json.utf8.count)
        return try send(request("POST", path, headers: all) + json)
    }

    func request(_ method: String, _ path: String, headers: [String: String] = [:], host: String? = nil) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { text += "\(k): \(v)\r\n" }
        return text + "\r\n"
    }

    /// Sends raw bytes and reads until the server closes; status 0 when it closed without answering.
    func send(_ raw: String) throws -> Reply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AppTestFailure("socket: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Loopback.connect(fd, port: port) == 0 else { throw AppTestFailure("connect to port \(port): errno \(errno)") }
        let bytes = Array(raw.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            sent += n
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(buffer, count: n)
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { return Reply(status: 0, head: "", body: response) }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var body = Data(response[split.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = Self.dechunk(body) }
        return Reply(status: status, head: head, body: body)
    }

    static func dechunk(_ data: Data) -> Data {
        var out = Data(), rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            let end = rest.index(start, offsetBy: size)
            out.append(contentsOf: rest[start..<end])
            rest = rest[rest.index(end, offsetBy: min(2, rest.distance(from: end, to: rest.endIndex)))...]
        }
        return out
    }
}
