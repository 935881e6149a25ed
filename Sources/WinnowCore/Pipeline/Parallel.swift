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

/// Runs `body` over `0..<count` split into contiguous ranges, `rangesPerCore` per core (more than
/// one balances uneven work), concurrently.
func parallelRanges(_ count: Int, rangesPerCore: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    let ranges = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount * rangesPerCore))
    DispatchQueue.concurrentPerform(iterations: ranges) { range in
        let start = count * range / ranges, end = count * (range + 1) / ranges
        if start < end { body(start..<end) }
    }
}
