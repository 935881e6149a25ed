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

@Test func piecesHashLikeTheirConcatenation() {
    var generator = SystemRandomNumberGenerator()
    for length in [0, 1, 7, 31, 32, 33, 63, 64, 100, 777] {
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = bytes.withUnsafeBytes { ContentHash.xxh64($0) }
        for cuts in [[], [0], [length / 2], [1, length / 3, length / 2], Array(stride(from: 0, to: length, by: 5))] {
            var hasher = ContentHasher()
            let points = [0] + cuts.filter { $0 <= length }.sorted() + [length]
            for (start, end) in zip(points, points.dropFirst()) {
                bytes[start..<end].withUnsafeBytes { hasher.update($0) }
            }
            #expect(hasher.value == whole, "length \(length), cuts \(cuts)")
        }
    }
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

/// A run holds one ``ValidSample`` per image: its fields round-trip through their compact storage.
@Test func validSampleKeepsItsFieldsCompactly() {
    var sample = ValidSample(id: 7, path: "a/b.jpg", filename: "/data/a/b.jpg", featureRow: 0, addedRun: 3, fileSize: 1 << 40,
                             contentHash: "00000000000000ff", width: 640, height: 480, location: .file("/data/a/b.jpg"))
    #expect(sample.featureRow == 0 && sample.addedRun == 3 && sample.contentHash == "00000000000000ff")
    #expect(sample.width == 640 && sample.height == 480 && sample.fileSize == 1 << 40)
    sample.contentHash = "0000000000000000"
    #expect(sample.contentHash == "0000000000000000")
    (sample.featureRow, sample.addedRun, sample.contentHash) = (nil, nil, nil)
    #expect(sample.featureRow == nil && sample.addedRun == nil && sample.contentHash == nil)
    // Anything but 16 hex digits is not an XXH64 hash.
    sample.contentHash = "not a hash"
    #expect(sample.contentHash == nil)
    #expect(MemoryLayout<ValidSample>.stride <= 112, "\(MemoryLayout<ValidSample>.stride)")
}
