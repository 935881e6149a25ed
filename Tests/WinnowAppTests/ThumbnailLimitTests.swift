import Foundation
import Synchronization
import Testing
@testable import WinnowApp

/// `winnow serve` makes thumbnails and previews through a `WorkLimiter` sized to the cores, so
/// that many requests for large images at once do not multiply a decode's memory.
@Suite struct ThumbnailLimitTests {
    /// Counts how many pieces of work run at once, and the most ever seen.
    final class Gauge: Sendable {
        private let state = Mutex((running: 0, most: 0))
        func enter() { state.withLock { $0.running += 1; $0.most = max($0.most, $0.running) } }
        func leave() { state.withLock { $0.running -= 1 } }
        var most: Int { state.withLock { $0.most } }
    }

    /// Width 1 because the cooperative pool has only as many threads as cores (2 in CI):
    /// without the limiter two pieces of work would overlap here.
    @Test func limiterRunsAtMostItsWidthAtOnceAndEveryPieceOfWork() async throws {
        let limiter = WorkLimiter(width: 1)
        let gauge = Gauge()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for k in 0..<12 {
                group.addTask {
                    try await limiter.run {
                        gauge.enter()
                        defer { gauge.leave() }
                        usleep(20_000)
                        return k
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<12))
        #expect(gauge.most == 1)
    }

    @Test func failedWorkFreesItsSlot() async throws {
        struct Failure: Error {}
        let limiter = WorkLimiter(width: 1)
        await #expect(throws: Failure.self) { try await limiter.run { throw Failure() } }
        #expect(try await limiter.run { 7 } == 7)
    }
}
