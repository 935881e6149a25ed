import Foundation
import Testing
@testable import WinnowCluster
import WinnowTestSupport

/// The connection `cluster finish` keeps for its pages of scan rows, against a real server.
@Suite struct HeldConnectionTests {
    @Test func onePageAfterAnotherUsesOneConnectionAndConnectsAgainWhenTheServerDropsIt() async throws {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let held = HeldConnection(try DatabaseAddress(database))
        func backend() async throws -> Int32 {
            try #require(try await held.rows("SELECT pg_backend_pid()").first).decode(Int32.self)
        }
        let first = try await backend()
        #expect(try await backend() == first, "a second page opened a connection of its own")
        // As a restart does to every open connection.
        let ended = try server.sql("SELECT pg_terminate_backend(\(first))", database: database)
        try #require(ended == "t")
        let second = try await backend()
        #expect(second != first)
        #expect(try await backend() == second)
        await held.close()
        // The server ends the backend shortly after the client leaves.
        func open() throws -> Bool {
            try server.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = \(second)", database: database) != "0"
        }
        for _ in 0..<100 where try open() { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try !open(), "close() left the connection open")
    }
}
