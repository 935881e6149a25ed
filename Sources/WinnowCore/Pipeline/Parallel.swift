import Foundation

/// A pointer handed to concurrent workers that each touch their own disjoint part of it.
struct SharedPointer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// Read-only counterpart of `SharedPointer`.
struct SharedReadPointer<Element>: @unchecked Sendable {
    let base: UnsafePointer<Element>
    subscript(i: Int) -> Element { base[i] }
}

/// Runs `body` over `0..<count` split into one contiguous range per core, concurrently.
func parallelRanges(_ count: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let workers = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount))
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        let start = count * worker / workers, end = count * (worker + 1) / workers
        if start < end { body(start..<end) }
    }
}
