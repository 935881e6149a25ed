import Foundation
import Synchronization
import Testing
@testable import WinnowCore

/// A run given decode results computed elsewhere (what `cluster finish` gives it) asks for them
/// a page at a time, so it never holds every image's results.
@Suite struct ScannedListingTests {
    /// 2,500 listed images, each one of the example's real photos (as a file or as an archive's
    /// member) scanned by ``SampleScanner``: the results are asked for in pages of at most
    /// ``PendingSamples/pageSize`` images (the archive's ~1,250 members too), each image once,
    /// and every image is stored with its result.
    @Test func resultsAreAskedForAPageAtATime() throws {
        let root = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appendingPathComponent("images")
        #expect(try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path]).status == 0)
        // The photos as files and as members of an archive (whose members a run hands over together).
        let archive = root.appendingPathComponent("photos.tar")
        #expect(try TestData.shell("tar", ["-cf", archive.path, "-C", images.path, "photos"]).status == 0)
        let photos = try Ingestor().ingest([images.appendingPathComponent("photos").path, archive.path]).sources
        try #require(photos.count >= 5)
        var scanned: [String: ScannedListing.Result] = [:]
        let configuration = RunConfiguration(inputs: [], workDirectory: root.appendingPathComponent("work").path, embedding: .none)
        try SampleScanner(configuration: configuration).scan(
            photos.enumerated().map { Catalog.PendingSample(id: Int64($0), source: $1) }, unreadable: [:]) { outcome in
            scanned[photos[Int(outcome.sampleID)].id] = ScannedListing.Result(contentHash: outcome.contentHash, outcome: outcome.result)
        }
        let listed = (0..<2500).map { i in
            let photo = photos[i % photos.count]
            return (source: SampleSource(id: "listed-\(i)", location: photo.location, byteCount: photo.byteCount,
                                         modificationTime: photo.modificationTime), photo: photo.id)
        }
        let photoOf = Dictionary(uniqueKeysWithValues: listed.map { ($0.source.id, $0.photo) })
        let pages = Mutex<[[String]]>([])
        let results = scanned
        var run = Run(configuration: configuration)
        run.scanned = ScannedListing(found: IngestResult(sources: listed.map(\.source))) { ids in
            pages.withLock { $0.append(ids) }
            return Dictionary(uniqueKeysWithValues: ids.compactMap { id in photoOf[id].flatMap { results[$0] }.map { (id, $0) } })
        }
        let summary = try run.execute()
        let asked = pages.withLock { $0 }
        #expect(asked.allSatisfy { $0.count <= PendingSamples.pageSize } && asked.count >= 3, "\(asked.map(\.count))")
        #expect(asked.flatMap { $0 }.sorted() == listed.map(\.source.id).sorted())
        let valid = (0..<2500).filter { i in
            if case .success = scanned[photos[i % photos.count].id]?.outcome { true } else { false }
        }.count
        #expect(summary.files == 2500 && summary.valid == valid && valid == 2500, "\(summary.valid) of \(valid) valid")
    }
}
