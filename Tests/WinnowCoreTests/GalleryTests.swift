import Foundation
import Testing
@testable import WinnowCore

@Suite(.serialized) struct GalleryTests {
    /// The cards a gallery page carries (its JSON data block).
    static func cards(_ page: URL) throws -> [[String: Any]] {
        let html = try String(contentsOf: page, encoding: .utf8)
        guard let start = html.range(of: "<script type=\"application/json\" id=\"data\">"),
              let end = html.range(of: "</script>", range: start.upperBound..<html.endIndex) else { return [] }
        let json = String(html[start.upperBound..<end.lowerBound])
        return try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
    }

    static func images(_ card: [String: Any]) -> [[String: Any]] { card["images"] as? [[String: Any]] ?? [] }
    static func stem(_ image: [String: Any]) -> String {
        URL(fileURLWithPath: image["filename"] as? String ?? "").deletingPathExtension().lastPathComponent
    }

    @Test func everyKindIsWrittenFromRealResults() throws {
        let (_, work) = try PhotoPairs.shared.get()
        let winnow = TestData.winnowExecutable.path
        let all = try TestData.shell(winnow, ["gallery", work.path, "--kind", "duplicates,outliers,components,stats,similarity"])
        #expect(all.status == 0, "\(all.output)")
        let folder = work.appendingPathComponent("galleries")
        for name in ["duplicates", "outliers", "components", "stats_blur", "stats_dark", "stats_bright", "similarity"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(name).html").path), "\(name)")
        }
        // Duplicates: every copy beside its original, most similar first, thumbnails embedded.
        let pairs = try Self.cards(folder.appendingPathComponent("duplicates.html"))
        let stems = pairs.map { Set(Self.images($0).map(Self.stem)) }
        for name in PhotoPairs.names where name != "coffee" {
            #expect(stems.contains([name, name + "_copy"]), "\(name): \(stems)")
        }
        let titles = pairs.compactMap { ($0["title"] as? String)?.split(separator: " ").last.flatMap { Double($0) } }
        #expect(titles == titles.sorted(by: >) && !titles.isEmpty)
        let src = Self.images(pairs[0])[0]["src"] as? String ?? ""
        #expect(src.hasPrefix("data:image/jpeg;base64,"))
        let jpeg = Data(base64Encoded: String(src.dropFirst("data:image/jpeg;base64,".count)))
        #expect(jpeg?.prefix(2) == Data([0xFF, 0xD8]))
        // Stats: the darkest first on the dark page; separate files per metric.
        let dark = try Self.cards(folder.appendingPathComponent("stats_dark.html"))
        #expect(Self.stem(Self.images(dark[0])[0]) == "coffee_dark")
        // Components: the eight pairs (coffee with its dark copies) as clusters.
        let components = try Self.cards(folder.appendingPathComponent("components.html"))
        #expect(components.count >= 7 && components.allSatisfy { Self.images($0).count >= 2 })
        // Escaping: the odd file name reaches the page only inside escaped JSON.
        let html = try String(contentsOf: folder.appendingPathComponent("duplicates.html"), encoding: .utf8)
        #expect(!html.contains("<img src=x") && html.contains("\\u003cimg src=x onerror=\\\"alert(1)\\\">&'"))

        // num-images, sort order and lazy thumbnails.
        #expect(try TestData.shell(winnow, ["gallery", work.path, "--kind", "duplicates", "--num-images", "2", "--sort", "asc", "--lazy"]).status == 0)
        let two = try Self.cards(folder.appendingPathComponent("duplicates.html"))
        #expect(two.count == 2)
        let ascending = two.compactMap { ($0["title"] as? String)?.split(separator: " ").last.flatMap { Double($0) } }
        #expect(ascending == ascending.sorted() && (ascending.first ?? 1) <= (titles.last ?? 0) + 1e-9)
        let lazySrc = Self.images(two[0])[0]["src"] as? String ?? ""
        #expect(lazySrc.hasPrefix("../thumbnails/") && FileManager.default.fileExists(atPath: folder.appendingPathComponent(lazySrc).path))
    }

    @Test func labelsGalleryFlagsTheMislabelledImageAndDrawsBoxes() throws {
        let (_, work) = try PhotoPairs.shared.get()
        let annotations = work.deletingLastPathComponent().appendingPathComponent("labels.csv")
        var text = "filename,label,split\n"
        for name in PhotoPairs.names {
            text += "images/\(name).jpg,\(name),train\n"
            text += "images/\(name)_copy.jpg,\(name == "moon" ? "astronaut" : name),val\n"
        }
        text += "images/not-there.jpg,x,train\n"
        try text.write(to: annotations, atomically: false, encoding: .utf8)
        let winnow = TestData.winnowExecutable.path
        let result = try TestData.shell(winnow, ["gallery", work.path, "--kind", "labels", "--annotations", annotations.path,
                                                 "--neighbors", "1", "--num-images", "0"])
        #expect(result.status == 0 && result.output.contains("1 rows name files that are not in this work_dir"), "\(result.output)")
        let flagged = try Self.cards(work.appendingPathComponent("galleries/labels.html")).map { Self.stem(Self.images($0)[0]) }
        #expect(Set(flagged) == ["moon", "moon_copy"], "\(flagged)")
        // --slice keeps cards with an image of that label or split.
        _ = try TestData.shell(winnow, ["gallery", work.path, "--kind", "labels", "--annotations", annotations.path,
                                        "--neighbors", "1", "--slice", "val"])
        let sliced = try Self.cards(work.appendingPathComponent("galleries/labels.html")).map { Self.stem(Self.images($0)[0]) }
        #expect(sliced == ["moon_copy"], "\(sliced)")

        // Boxes (pixels) become fractions of the image.
        let stats = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        let names = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        let coffee = names.first { ($0["filename"] ?? "").hasSuffix("/coffee.jpg") }?["index"] ?? ""
        let size = stats.first { $0["index"] == coffee }
        let width = Double(size?["width"] ?? "") ?? 0, height = Double(size?["height"] ?? "") ?? 0
        try "filename,label,col_x,row_y,width,height\nimages/coffee.jpg,cup,\(width / 4),\(height / 2),\(width / 2),\(height / 4)\n"
            .write(to: annotations, atomically: false, encoding: .utf8)
        #expect(try TestData.shell(winnow, ["gallery", work.path, "--kind", "stats", "--metric", "blur", "--num-images", "0",
                                            "--annotations", annotations.path]).status == 0)
        let boxes = try Self.cards(work.appendingPathComponent("galleries/stats_blur.html")).flatMap(Self.images)
            .first { Self.stem($0) == "coffee" }?["boxes"] as? [[String: Any]] ?? []
        #expect(boxes.count == 1 && abs((boxes.first?["x"] as? Double ?? 0) - 0.25) < 1e-9
                && abs((boxes.first?["height"] as? Double ?? 0) - 0.25) < 1e-9 && boxes.first?["label"] as? String == "cup")
    }

    @Test func missingAndBadInputsGiveOneLineErrors() throws {
        let (images, work) = try PhotoPairs.make()
        let winnow = TestData.winnowExecutable.path
        let none = try TestData.shell(winnow, ["gallery", work.path + "/nope", "--kind", "outliers"])
        #expect(none.status == 66 && none.output.contains("is not a Winnow work_dir"))
        #expect(try TestData.shell(winnow, ["gallery", work.path, "--kind", "faces"]).status == 64)
        #expect(try TestData.shell(winnow, ["gallery", work.path, "--kind", "stats", "--metric", "noise"]).status == 64)
        let noLabels = try TestData.shell(winnow, ["gallery", work.path, "--kind", "labels"])
        #expect(noLabels.status == 66 && noLabels.output.contains("no labels in"), "\(noLabels.output)")
        // A source gone since the run: its card has no preview, the rest is written, the file is named.
        try FileManager.default.removeItem(at: images.appendingPathComponent("grass_copy.jpg"))
        let partial = try TestData.shell(winnow, ["gallery", work.path, "--kind", "duplicates", "--num-images", "0"])
        #expect(partial.status == 0 && partial.output.contains("grass_copy.jpg: cannot read the file"), "\(partial.output)")
        let withGap = try Self.cards(work.appendingPathComponent("galleries/duplicates.html")).flatMap(Self.images)
        #expect(withGap.contains { Self.stem($0) == "grass_copy" && ($0["src"] as? String) == "" })
        #expect(withGap.contains { Self.stem($0) == "grass" && ($0["src"] as? String ?? "").hasPrefix("data:") })
        // A damaged line is skipped with its file and line named; the other rows still make the page.
        let similarity = work.appendingPathComponent("similarity.csv")
        try (try String(contentsOf: similarity, encoding: .utf8) + "12,abc,0.5\n").write(to: similarity, atomically: false, encoding: .utf8)
        let lines = try String(contentsOf: similarity, encoding: .utf8).split(separator: "\n").count
        let damaged = try TestData.shell(winnow, ["gallery", work.path, "--kind", "duplicates"])
        #expect(damaged.status == 0 && damaged.output.contains("similarity.csv:\(lines): column to: \"abc\" is not a number; skipped"), "\(damaged.output)")
        try FileManager.default.removeItem(at: similarity)
        let gone = try TestData.shell(winnow, ["gallery", work.path, "--kind", "duplicates"])
        #expect(gone.status == 66 && gone.output.contains("similarity.csv not found (needed for the duplicates gallery)"))
    }

    /// A copy of the shared work_dir (the tests below change its graph files).
    static func copyOfSharedWork() throws -> URL {
        let (_, work) = try PhotoPairs.shared.get()
        let copy = try TestData.temporaryDirectory().appendingPathComponent("work")
        try FileManager.default.copyItem(at: work, to: copy)
        return copy
    }

    /// The labels gallery reads the run's graph: without copy verification's file, exactly the
    /// neighbours (same rows, same order, same distances) a new index over the vectors gives, as
    /// the gallery did before; with it, that file's final scores.
    @Test func labelsGalleryNeighborsAreTheRunGraph() throws {
        let work = try Self.copyOfSharedWork()
        let verified = try KNNGraph(contentsOf: work.appendingPathComponent(KNNGraph.verifiedFileName))
        var options = GalleryOptions(kind: .labels)
        options.neighbors = 3
        var writer = GalleryWriter(workDirectory: work, options: options)
        let (ids, final) = try writer.neighborGraph()
        #expect(ids == (try WorkDirFeatures.samples(in: work)).ids && final.rows == ids.count)
        for row in 0..<ids.count { #expect(Array(final.neighbors(of: row)) == Array(verified.neighbors(of: row))) }

        try FileManager.default.removeItem(at: work.appendingPathComponent(KNNGraph.verifiedFileName))
        let (_, global) = try writer.neighborGraph()
        let features = try WorkDirFeatures.load(from: work)
        let searched = try buildSimilarityIndex(vectors: features.vectors, metric: features.metric).allNeighbors(k: 3)
        for row in 0..<ids.count {
            let read = Array(global.neighbors(of: row).prefix(3))
            #expect(read.map(\.index) == searched[row].map(\.index), "row \(row)")
            #expect(zip(read, searched[row]).allSatisfy { abs($0.distance - $1.distance) < 1e-6 }, "row \(row)")
        }
        #expect(writer.warnings.isEmpty)
        writer.options.neighbors = global.k + 2
        _ = try writer.neighborGraph()
        #expect(writer.warnings.contains { $0.contains("kept \(global.k) neighbours per image") }, "\(writer.warnings)")
    }

    /// A graph that does not fit the work_dir's features stops the labels gallery with one line
    /// naming the file, not a crash and not a new index.
    @Test func mismatchedOrTruncatedGraphGivesOneLine() throws {
        let work = try Self.copyOfSharedWork()
        let annotations = work.deletingLastPathComponent().appendingPathComponent("labels.csv")
        try "filename,label\nimages/moon.jpg,moon\nimages/moon_copy.jpg,astronaut\n".write(to: annotations, atomically: false, encoding: .utf8)
        let winnow = TestData.winnowExecutable.path
        let arguments = ["gallery", work.path, "--kind", "labels", "--annotations", annotations.path]
        #expect(try TestData.shell(winnow, arguments).status == 0)

        let verified = work.appendingPathComponent(KNNGraph.verifiedFileName)
        let graph = try KNNGraph(contentsOf: verified)
        let short = KNNGraph(lists: (0..<(graph.rows - 1)).map { Array(graph.neighbors(of: $0)).filter { $0.index < graph.rows - 1 } },
                             metric: graph.metric)
        _ = try short.write(to: verified)
        let wrongRows = try TestData.shell(winnow, arguments)
        #expect(wrongRows.status == 66, "\(wrongRows.output)")
        #expect(wrongRows.output.split(separator: "\n").count == 1
                && wrongRows.output.contains("\(verified.path): \(graph.rows - 1) rows, but atrain_features.dat.csv lists \(graph.rows) samples"),
                "\(wrongRows.output)")

        try FileManager.default.removeItem(at: verified)
        let knn = work.appendingPathComponent(KNNGraph.fileName)
        let bytes = try Data(contentsOf: knn)
        try bytes.prefix(bytes.count / 2).write(to: knn)
        let truncated = try TestData.shell(winnow, arguments)
        #expect(truncated.status == 66, "\(truncated.output)")
        #expect(truncated.output.split(separator: "\n").count == 1
                && truncated.output.contains("\(knn.path): \(bytes.count / 2) bytes"), "\(truncated.output)")
    }
}
