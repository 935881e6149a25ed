import Foundation
import Testing
@testable import WinnowCore

/// Adding images to a work_dir, removing them, and searching it.
@Suite(.serialized) struct IncrementalSearchTests {
    func exampleRun() throws -> (images: URL, work: URL, configuration: RunConfiguration) {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path])
        #expect(made.status == 0, "\(made.output)")
        let work = root.appendingPathComponent("work")
        let configuration = RunConfiguration(inputs: [images.path], workDirectory: work.path, embedding: .mobileNetV2(squash: false))
        _ = try Run(configuration: configuration).execute()
        return (images, work, configuration)
    }

    @Test func newImagesAreEmbeddedAloneAndCheckedAgainstKnownOnes() throws {
        let (images, work, configuration) = try exampleRun()
        let incoming = images.appendingPathComponent("incoming")
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        #expect(try TestData.shell("vips", ["resize", images.appendingPathComponent("photos/chelsea.jpg").path,
                                            incoming.appendingPathComponent("cat_again.jpg").path + "[Q=80]", "0.6"]).status == 0)
        try FileManager.default.copyItem(at: try TestData.skimageData().appendingPathComponent("retina.jpg"),
                                         to: incoming.appendingPathComponent("retina.jpg"))
        let summary = try Run(configuration: configuration).execute()
        #expect(summary.processedThisRun == 2 && summary.reused == 18)
        #expect(summary.addedImages == 2 && summary.addedAlreadyKnown == 1)
        let known = try TestData.readCSV(work.appendingPathComponent("new_vs_known.csv"))
        #expect(known.count == 1)
        #expect(known.first?["new_filename"]?.hasSuffix("incoming/cat_again.jpg") == true)
        #expect(known.first?["known_filename"]?.contains("chelsea") == true, "\(known)")

        // A removed file leaves the catalog and every output.
        try FileManager.default.removeItem(at: incoming.appendingPathComponent("retina.jpg"))
        let after = try Run(configuration: configuration).execute()
        #expect(after.files == 19 && after.processedThisRun == 0 && after.addedImages == 0)
        let catalog = try Catalog(url: work.appendingPathComponent(Catalog.fileName))
        #expect(try catalog.query("SELECT COUNT(*) AS n FROM samples WHERE path LIKE '%retina%'").first?["n"] == "0")
        let listed = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        #expect(listed.count == 17 && !listed.contains { $0["filename"]!.contains("retina") })
        let data = try Data(contentsOf: work.appendingPathComponent("atrain_features.dat"))
        #expect(data.count == 17 * 1280 * 4)
    }

    @Test func searchFindsTheOriginalOfATransformedCopy() throws {
        let (_, work, _) = try exampleRun()
        let search = try SimilaritySearch(workDirectory: work)
        let query = try TestData.temporaryDirectory().appendingPathComponent("query.jpg")
        let data = try TestData.skimageData()
        // A crop of the motorcycle photo, recompressed.
        #expect(try TestData.shell("vips", ["extract_area", data.appendingPathComponent("motorcycle_left.png").path,
                                            query.path + "[Q=60]", "60", "40", "560", "400"]).status == 0)
        let matches = try search.neighbors(ofImageAt: query.path, k: 3)
        #expect(matches.first?.filename.hasSuffix("photos/motorcycle_left.jpg") == true, "\(matches)")
        #expect(matches.count == 3 && matches[0].similarity >= matches[1].similarity)

        let byID = try search.neighbors(ofSample: matches[0].index, k: 2)
        #expect(byID.first?.filename.hasSuffix("motorcycle_right.jpg") == true, "\(byID)")
        #expect(!byID.contains { $0.index == matches[0].index })
        #expect(try search.neighbors(ofImageAt: query.path, k: 5, minimumSimilarity: 0.99).isEmpty)

        #expect(throws: SearchError.unknownSample(999)) { try search.neighbors(ofSample: 999) }
        #expect(throws: SearchError.dimensionMismatch(expected: 1280, actual: 3)) { try search.neighbors(ofVector: [1, 2, 3]) }
        let cli = try TestData.shell(TestData.winnowExecutable.path, ["search", work.path, "--image", query.path, "-k", "1"])
        #expect(cli.status == 0 && cli.output.contains("photos/motorcycle_left.jpg"), "\(cli.output)")
        let missing = try TestData.shell(TestData.winnowExecutable.path, ["search", "/tmp", "--id", "1"])
        #expect(missing.status == 66 && missing.output == "winnow: /tmp is not a Winnow work_dir (no config.json): run `winnow run` first\n")
    }
}
