import Foundation
import Testing
import WinnowTestSupport

/// The servers tests start (moto, PostgreSQL) must not keep another test's pipe open: a pipe
/// whose write end lives on in a server never reaches its end, and the test reading it waits
/// until the whole run times out.
struct SpawnedProcessTests {
    @Test func aSpawnedServerHoldsNoFileButItsStandardStreams() throws {
        let pipe = Pipe()
        let log = try TestFiles.temporaryDirectory().appendingPathComponent("sleep.log").path
        let pid = try TestFiles.spawn(["/bin/sleep", "30"], log: log)
        defer {
            kill(pid, SIGKILL)
            _ = TestFiles.exitStatus(of: pid)
        }
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { Int32($0) }.sorted()
        #expect(open == [0, 1, 2])
        try pipe.fileHandleForWriting.close()
        #expect(pipe.fileHandleForReading.readDataToEndOfFile().isEmpty)
    }
}
