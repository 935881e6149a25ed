/// Lets at most `width` pieces of work run at once; later callers wait their turn (in
/// order) without holding a thread. `winnow serve` runs thumbnail and preview decoding
/// through one, sized to the cores, so that many requests for large images at once cannot
/// multiply the memory a decode takes.
actor WorkLimiter {
    private var available: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Creates a limiter for `width` (at least 1) concurrent pieces of work.
    init(width: Int) {
        available = max(1, width)
    }

    /// Runs `work` once a slot is free, and frees the slot afterwards.
    nonisolated func run<T: Sendable>(_ work: @Sendable () throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try work()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    private func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the first waiter, or frees it.
    private func release() {
        if waiting.isEmpty {
            available += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
