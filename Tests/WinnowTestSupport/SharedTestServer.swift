import Foundation
import Synchronization

/// A server the tests of one process share: started on first use, stopped when the process exits
/// (a PostgreSQL or S3-compatible server on 127.0.0.1).
public final class SharedTestServer<Server: Sendable>: Sendable {
    private let slot = Mutex<Server?>(nil)
    private let start: @Sendable () throws -> Server
    private let stop: @Sendable (Server) -> Void

    public init(start: @escaping @Sendable () throws -> Server, stop: @escaping @Sendable (Server) -> Void) {
        self.start = start
        self.stop = stop
    }

    /// The running server, started now if it is not yet.
    public func server() throws -> Server {
        try slot.withLock { running in
            if let running { return running }
            let fresh = try start()
            running = fresh
            ExitActions.add { [self] in self.slot.withLock { $0.map(self.stop) } }
            return fresh
        }
    }
}

/// What runs when the test process exits (`atexit`, registered once).
private enum ExitActions {
    private static let actions = Mutex<[@Sendable () -> Void]>([])
    private static let registered = Atomic<Bool>(false)

    static func add(_ action: @escaping @Sendable () -> Void) {
        actions.withLock { $0.append(action) }
        if registered.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            atexit { ExitActions.runAll() }
        }
    }

    private static func runAll() {
        for action in actions.withLock({ $0 }) { action() }
    }
}
