import Foundation
import Synchronization

/// Runs `body` as a task and blocks the calling thread until it ends, returning its value or
/// throwing its error: for synchronous code on a thread of its own (never a thread of the
/// cooperative pool) that needs an async API. `unfinished` is thrown should the task end
/// without an outcome.
public func waitForTask<T: Sendable, E: Error>(unfinished: @autoclosure () -> E,
                                               _ body: @escaping @Sendable () async throws(E) -> T) throws(E) -> T {
    let outcome = Mutex<Result<T, E>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do throws(E) {
            let value = try await body()
            outcome.withLock { $0 = .success(value) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    guard let result = outcome.withLock({ $0 }) else { throw unfinished() }
    return try result.get()
}
