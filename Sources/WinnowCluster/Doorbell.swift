/// Wakes a waiting worker: rung by `NOTIFY winnow_jobs`, or by a time-out when no
/// notification comes (leases of other workers expire without one).
actor Doorbell {
    private var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var rung = false
    private var nextID = 0

    /// Wakes the waiter, or the next one to wait when none is waiting.
    func ring() {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume()
        } else {
            rung = true
        }
    }

    /// Returns when rung (at once if rung since the last wait) or after `seconds`.
    func wait(seconds: Double) async {
        if rung {
            rung = false
            return
        }
        nextID += 1
        let id = nextID
        await withCheckedContinuation { continuation in
            waiter = (id, continuation)
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                self.timeOut(id)
            }
        }
    }

    private func timeOut(_ id: Int) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume()
    }
}
