import Foundation
import Synchronization
import WinnowTestSupport

/// A throwaway PostgreSQL 15 server for the tests: `initdb` into a scratch folder (trust
/// authentication, user `winnow`), `pg_ctl start` on 127.0.0.1 at a free port with its socket in
/// that folder; stopped when the test process exits. One per test process; each test makes
/// its own database. As root, the server runs as the `postgres` (else `nobody`) user.
final class PostgresServer: Sendable {
    let folder: URL
    let port: Int
    let binaries: URL
    private let runAs: String?
    private static let counter = Atomic<Int>(0)

    /// The process's server, started on first use.
    static func shared() throws -> PostgresServer { try running.server() }

    private static let running = SharedTestServer(start: { try PostgresServer() }, stop: { $0.stop() })

    private init() throws {
        let binaries = try Self.findBinaries()
        let folder = try TestFiles.temporaryDirectory("postgres")
        let runAs = getuid() == 0 ? (try TestFiles.shell("id", ["-u", "postgres"]).status == 0 ? "postgres" : "nobody") : nil
        (self.binaries, self.folder, self.runAs) = (binaries, folder, runAs)
        if let runAs { try Self.check(TestFiles.shell("chown", ["-R", runAs, folder.path]), "chown") }
        func command(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
            try Self.command(binaries, runAs, name, arguments)
        }
        try Self.check(command("initdb", ["-D", folder.appendingPathComponent("data").path, "-A", "trust", "-U", "winnow",
                                          "-E", "UTF8", "--no-sync"]), "initdb")
        var lastFailure = ""
        for _ in 0..<5 {
            let candidate = Int.random(in: 20_000...60_000)
            let options = "-p \(candidate) -k \(folder.path) -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            let result = try command("pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-o", options,
                                                "-l", folder.appendingPathComponent("server.log").path, "-w", "start"])
            if result.status == 0 {
                port = candidate
                return
            }
            lastFailure = result.output
        }
        throw TestDataMissing("PostgreSQL did not start: \(lastFailure)")
    }

    /// `initdb`, `pg_ctl` and `psql` of PostgreSQL 15: Debian's folder, else beside `initdb` on the PATH.
    private static func findBinaries() throws -> URL {
        var candidates = ["/usr/lib/postgresql/15/bin"]
        if let path = ProcessInfo.processInfo.environment["PATH"] { candidates += path.split(separator: ":").map(String.init) }
        for folder in candidates where FileManager.default.isExecutableFile(atPath: folder + "/initdb") {
            return URL(fileURLWithPath: folder + "/initdb").resolvingSymlinksInPath().deletingLastPathComponent()
        }
        throw TestDataMissing("PostgreSQL 15 (initdb) not found; run scripts/setup.sh")
    }

    /// Runs PostgreSQL's `name` (as `runAs`, when given) and waits for it. Spawned and reaped
    /// here, output to a file: the server `pg_ctl start` leaves running inherits the test
    /// process's descriptors, and `Process` then never sees pg_ctl end.
    private static func command(_ binaries: URL, _ runAs: String?, _ name: String,
                                _ arguments: [String]) throws -> (status: Int32, output: String) {
        let tool = binaries.appendingPathComponent(name).path
        let argv = runAs.map { ["/usr/sbin/runuser", "-u", $0, "--", tool] + arguments } ?? [tool] + arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-pg-\(UUID().uuidString).log").path
        defer { unlink(log) }
        let exited = TestFiles.exitStatus(of: try TestFiles.spawn(argv, log: log))
        return (exited, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    private static func check(_ result: (status: Int32, output: String), _ what: String) throws {
        if result.status != 0 { throw TestDataMissing("\(what) failed: \(result.output)") }
    }

    private func stop() {
        _ = try? Self.command(binaries, runAs, "pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "immediate", "stop"])
    }

    /// Restarts the server as an operator would (`pg_ctl restart`, fast shutdown: every open
    /// connection is cut), on the same port.
    func restart() throws {
        try Self.check(Self.command(binaries, runAs, "pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "fast",
                                                               "-l", folder.appendingPathComponent("server.log").path, "-w", "restart"]),
                       "pg_ctl restart")
    }

    /// A new empty database; returns its `postgres://` URL.
    func createDatabase() throws -> String {
        let name = "test_\(ProcessInfo.processInfo.processIdentifier)_\(Self.counter.add(1, ordering: .relaxed).newValue)"
        _ = try sql("CREATE DATABASE \(name)", database: "postgres")
        return "postgres://winnow@127.0.0.1:\(port)/\(name)?sslmode=disable"
    }

    /// Runs `statement` with psql and returns its unaligned output (fails on an SQL error).
    @discardableResult
    func sql(_ statement: String, database: String) throws -> String {
        let name = database.split(separator: "/").last.map { String($0.prefix { $0 != "?" }) } ?? database
        let result = try TestFiles.shell(binaries.appendingPathComponent("psql").path,
                                         ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                                          "-U", "winnow", "-d", name, "-c", statement])
        guard result.status == 0 else { throw TestDataMissing("psql \(statement): \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
