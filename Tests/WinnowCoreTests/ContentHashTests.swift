import Testing
@testable import WinnowCore

/// Reference values from the xxHash reference implementation (python-xxhash `xxh64`).
@Test(arguments: [
    ("", "ef46db3751d8e999"),
    ("a", "d24ec4f1a98c6e5b"),
    ("abc", "44bc2cf5ad770999"),
    ("Winnow finds duplicates!", "87d34d81b8b57245"),
])
func xxh64MatchesReference(text: String, expected: String) {
    let bytes = Array(text.utf8)
    #expect(bytes.withUnsafeBytes { ContentHash.hex($0) } == expected)
}

@Test func xxh64MatchesReferenceOnLongInput() {
    let bytes = (0..<3).flatMap { _ in (0...255).map { UInt8($0) } } + Array("xyz".utf8)
    #expect(bytes.withUnsafeBytes { ContentHash.hex($0) } == "e921a1b45bd779f8")
}

@Test func exactDuplicatesAreKeyedByFirstInstance() {
    let groups = ExactDuplicates.groups([
        (id: 4, contentHash: "aa", fileSize: 10), (id: 1, contentHash: "aa", fileSize: 10),
        (id: 2, contentHash: "bb", fileSize: 10), (id: 3, contentHash: "aa", fileSize: 11),
        (id: 7, contentHash: "aa", fileSize: 10), (id: 5, contentHash: nil, fileSize: 10),
        (id: 6, contentHash: "00", fileSize: 0), (id: 8, contentHash: "00", fileSize: 0),
    ])
    #expect(groups == [1: [4, 7]])
}
