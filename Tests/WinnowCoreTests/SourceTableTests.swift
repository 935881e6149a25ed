import Testing
@testable import WinnowCore

/// The run's sources looked up by id without a dictionary over every image.
@Suite struct SourceTableTests {
    func source(_ id: String, _ path: String) -> SampleSource {
        SampleSource(id: id, location: .file(path), byteCount: 1, modificationTime: 0)
    }

    @Test func findsEachIdInSortedOrUnsortedSourcesAndNothingElse() {
        let ids = (0..<50).map { "folder/\(String($0, radix: 7)).jpg" }
        for sources in [ids.sorted().map { source($0, "/a/" + $0) }, ids.shuffled().map { source($0, "/a/" + $0) }] {
            let table = SourceTable(sources)
            #expect(table.count == 50)
            for id in ids { #expect(table[id: id]?.location == .file("/a/" + id)) }
            #expect(table[id: "folder/missing.jpg"] == nil && table[id: ""] == nil && table[id: "zzz"] == nil)
        }
    }

    @Test func ofTwoSourcesWithOneIdTheFirstIsKept() {
        let table = SourceTable([source("b", "/first/b"), source("a", "/a"), source("b", "/second/b")])
        #expect(table.count == 2)
        #expect(table[id: "b"]?.location == .file("/first/b"))
        #expect(SourceTable([]).count == 0 && SourceTable([])[id: "a"] == nil)
    }
}
