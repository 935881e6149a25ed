import Testing
@testable import WinnowCore

/// The decode stage's queue must not keep what it handed on: a popped 720p frame is 2.7 MB,
/// and a queue that kept its popped items until compaction held 1,024 of them (2.6 GB).
@Suite struct BlockingQueueTests {
    final class Payload: Sendable {}

    @Test func aPoppedItemIsReleasedAtOnce() {
        let queue = BlockingQueue<Payload>(capacity: 4)
        weak var released: Payload?
        do {
            let payload = Payload()
            released = payload
            queue.push(payload)
            #expect(queue.pop() === payload)
        }
        #expect(released == nil, "the queue still holds a popped item")
        queue.push(Payload())
        queue.close()
        #expect(queue.pop() != nil && queue.pop() == nil)
    }
}
