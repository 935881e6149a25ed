import Foundation
import Testing
@testable import WinnowCore

@Suite struct ObjectCropTests {
    @Test func regionWithAlphaAndForceSquareByHand() {
        let box = BoundingBox(x: 10, y: 20, width: 40, height: 20)
        #expect(ObjectCrop(box: box).region(imageWidth: 100, imageHeight: 100) == CropBox(rowY: 20, colX: 10, height: 20, width: 40))
        // Square about the centre (30, 30): side 40.
        #expect(ObjectCrop(box: box, forceSquare: true).region(imageWidth: 100, imageHeight: 100)
                == CropBox(rowY: 10, colX: 10, height: 40, width: 40))
        // Then × 1.5: side 60 about (30, 30).
        #expect(ObjectCrop(box: box, alpha: 0.5, forceSquare: true).region(imageWidth: 100, imageHeight: 100)
                == CropBox(rowY: 0, colX: 0, height: 60, width: 60))
        // alpha −0.5 halves: 20 × 10 about (30, 30).
        #expect(ObjectCrop(box: box, alpha: -0.5).region(imageWidth: 100, imageHeight: 100)
                == CropBox(rowY: 25, colX: 20, height: 10, width: 20))
        // Clipped to the image; nothing left → nil.
        #expect(ObjectCrop(box: BoundingBox(x: 90, y: 90, width: 20, height: 20)).region(imageWidth: 100, imageHeight: 100)
                == CropBox(rowY: 90, colX: 90, height: 10, width: 10))
        #expect(ObjectCrop(box: BoundingBox(x: 200, y: 0, width: 20, height: 20)).region(imageWidth: 100, imageHeight: 100) == nil)
        // Normalised (YOLO) boxes scale with the image.
        #expect(ObjectCrop(box: BoundingBox(x: 0.1, y: 0.2, width: 0.4, height: 0.2, normalized: true)).region(imageWidth: 200, imageHeight: 100)
                == CropBox(rowY: 20, colX: 20, height: 20, width: 80))
    }

    /// `--data-type bbox` on real photos: each box is a sample whose statistics are those of
    /// the same region cut by vips, with its own embedding, label and link to its image.
    @Test func boxesBecomeSamplesWithTheirOwnStatsAndEmbeddings() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea", "astronaut"])
        // coffee 600×400, chelsea 451×300: a cup, a cat's face, a dark corner; astronaut has no box.
        let boxes = [("coffee.jpg", "cup", 60, 20, 420, 300), ("chelsea.jpg", "cat", 120, 40, 200, 180),
                     ("chelsea.jpg", "background", 0, 200, 80, 100)]
        var csv = "filename,label,col_x,row_y,width,height\n"
        let cut = folder.appendingPathComponent("cut")
        try FileManager.default.createDirectory(at: cut, withIntermediateDirectories: true)
        for (i, b) in boxes.enumerated() {
            csv += "\(b.0),\(b.1),\(b.2),\(b.3),\(b.4),\(b.5)\n"
            let out = cut.appendingPathComponent("\(i).png")
            let r = try TestData.shell("vips", ["crop", images.appendingPathComponent(b.0).path, out.path,
                                                String(b.2), String(b.3), String(b.4), String(b.5)])
            #expect(r.status == 0, "\(r.output)")
        }
        csv += "missing.jpg,dog,1,1,5,5\n"
        let annotations = folder.appendingPathComponent("boxes.csv")
        try csv.write(to: annotations, atomically: false, encoding: .utf8)
        let work = folder.appendingPathComponent("work")
        let run = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--quiet",
                                     "--annotations", annotations.path, "--data-type", "bbox", "--model", "mobilenet_v2"])
        #expect(run.status == 0, "\(run.output)")
        let reference = folder.appendingPathComponent("reference")
        #expect(try TestData.shell(TestData.winnowExecutable.path, ["run", cut.path, "-w", reference.path, "--quiet", "--no-embeddings"]).status == 0)

        let names = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { $0["filename"] }
        #expect(names.count == 3 && names.allSatisfy { $0.contains("#") })
        let size = try FileManager.default.attributesOfItem(atPath: work.appendingPathComponent("atrain_features.dat").path)[.size] as? Int
        #expect(size == 3 * 1280 * 4)
        let stats = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        let expected = try TestData.readCSV(reference.appendingPathComponent("atrain_stats.csv"))
        let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
        #expect(crops.count == 3)
        for (i, b) in boxes.enumerated() {
            let crop = try #require(crops.first { $0["label"] == b.1 })
            #expect(crop["filename"]?.hasSuffix("images/" + b.0) == true)
            let row = try #require(stats.first { $0["index"] == crop["index"] })
            let want = try #require(expected.first { $0["index"] == String(i) })
            #expect(row["width"] == String(b.4) && row["height"] == String(b.5))
            let mean = Double(row["mean"] ?? "") ?? -1, wantMean = Double(want["mean"] ?? "") ?? 99
            #expect(abs(mean - wantMean) < 3, "\(b.1): mean \(mean) vs vips crop \(wantMean)")
        }
        let scores = try TestData.readCSV(work.appendingPathComponent("label_scores.csv"))
        #expect(Set(scores.compactMap { $0["label"] }) == ["cup", "cat", "background"])
        let problems = try TestData.readCSV(work.appendingPathComponent("annotation_problems.csv"))
        #expect(problems.count == 1 && problems[0]["record"] == "line 5")
        #expect(names.contains { $0.hasSuffix("images/coffee.jpg#0:60_20_420_300") })
        #expect(crops.allSatisfy { $0["object"] == "0" || $0["object"] == "1" })

        // Again in the same work_dir with --alpha 0.1: the crops change, so they are cut again
        // (cup: 462 × 330 about its centre (270, 170)).
        let again = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--quiet",
                                       "--annotations", annotations.path, "--data-type", "bbox", "--model", "mobilenet_v2",
                                       "--alpha", "0.1"])
        #expect(again.status == 0, "\(again.output)")
        let grown = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(grown.count == 3)
        let cupIndex = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv")).first { $0["label"] == "cup" }?["index"]
        let cup = try #require(grown.first { $0["index"] == cupIndex })
        #expect(cup["width"] == "462" && cup["height"] == "330")
    }
}
