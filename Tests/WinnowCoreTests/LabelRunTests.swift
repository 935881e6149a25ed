import Foundation
import Testing
@testable import WinnowCore

/// `winnow run --annotations` end to end on real images.
@Suite struct LabelRunTests {
    /// 3 classes × 10 photos of corpus set D with 3 labels flipped: the flipped ones must top the
    /// wrong-label ranking (scored from the embeddings alone).
    @Test func flippedLabelsRankFirstFromEmbeddings() throws {
        let corpus = try TestData.corpus("D/photos").appendingPathComponent("images")
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let truth = try TestData.readCSV(corpus.deletingLastPathComponent().appendingPathComponent("labels.csv"))
            .filter { $0["is_flipped"] == "0" }
        var csv = "filename,label,split\n"
        var flipped: Set<String> = []
        let classes = ["bird", "flower", "vehicle"]
        for (c, label) in classes.enumerated() {
            let files = truth.filter { $0["given_label"] == label }.compactMap { $0["file"] }.sorted().prefix(10)
            for (i, file) in files.enumerated() {
                let name = "\(label)_\(i).jpg"
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: corpus.appendingPathComponent(file), to: folder.appendingPathComponent("images/\(name)"))
                let given = i == 0 ? classes[(c + 1) % 3] : label
                if given != label { flipped.insert(name) }
                csv += "\(name),\(given),\(i % 5 == 4 ? "val" : "train")\n"
            }
        }
        csv += "not_there.jpg,bird,train\n"
        let annotations = folder.appendingPathComponent("labels.csv")
        try csv.write(to: annotations, atomically: false, encoding: .utf8)
        let work = folder.appendingPathComponent("work")
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", folder.appendingPathComponent("images").path,
                                        "-w", work.path, "--annotations", annotations.path, "--quiet"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try String(contentsOf: annotations, encoding: .utf8) == csv)   // input untouched

        let scores = try TestData.readCSV(work.appendingPathComponent("label_scores.csv"))
        #expect(scores.count == 30)
        let ranked = scores.sorted { (Double($0["wrong_label_score"] ?? "") ?? 0) > (Double($1["wrong_label_score"] ?? "") ?? 0) }
        let top = Set(ranked.prefix(3).compactMap { $0["filename"].map { URL(fileURLWithPath: $0).lastPathComponent } })
        #expect(top == flipped, "top 3: \(top), flipped: \(flipped)")
        let likely = try TestData.readCSV(work.appendingPathComponent("likely_wrong_labels.csv"))
        #expect(likely.first?["rank"] == "1")
        #expect(Set(likely.prefix(3).compactMap { $0["filename"].map { URL(fileURLWithPath: $0).lastPathComponent } }) == flipped)
        for row in likely where flipped.contains(URL(fileURLWithPath: row["filename"] ?? "").lastPathComponent) {
            // The suggestion is the photo's real class (its name's prefix).
            #expect(URL(fileURLWithPath: row["filename"] ?? "").lastPathComponent.hasPrefix(row["suggested_label"] ?? "?"))
        }
        let problems = try TestData.readCSV(work.appendingPathComponent("annotation_problems.csv"))
        #expect(problems.count == 1 && problems[0]["record"] == "line 32" && problems[0]["field"] == "filename")
        let summary = try String(contentsOf: work.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"likelyWrongLabels\"") && summary.contains("\"unmatched\" : 1"))

        // Slices: one label, one split.
        let sliced = folder.appendingPathComponent("sliced")
        let again = try TestData.shell(TestData.winnowExecutable.path, ["run", folder.appendingPathComponent("images").path,
                                       "-w", sliced.path, "--annotations", annotations.path, "--quiet",
                                       "--slice", "bird", "--slice-split", "val"])
        #expect(again.status == 0, "\(again.output)")
        let slice = try TestData.readCSV(sliced.appendingPathComponent("label_scores.csv"))
        #expect(!slice.isEmpty && slice.allSatisfy { $0["label"] == "bird" && $0["split"] == "val" })
        // Every per-sample output, sliced, under slice/.
        let sliceIDs = Set(slice.compactMap { $0["index"] })
        let stats = try TestData.readCSV(sliced.appendingPathComponent("slice/atrain_stats.csv"))
        #expect(Set(stats.compactMap { $0["index"] }) == sliceIDs)
        let sliceScores = try TestData.readCSV(sliced.appendingPathComponent("slice/scores.csv"))
        #expect(Set(sliceScores.compactMap { $0["index"] }) == sliceIDs)
        let outliers = try TestData.readCSV(sliced.appendingPathComponent("slice/outliers.csv"))
        #expect(outliers.allSatisfy { sliceIDs.contains($0["from"] ?? "") || sliceIDs.contains($0["to"] ?? "") })
        #expect(try TestData.readCSV(sliced.appendingPathComponent("atrain_stats.csv")).count == 30)   // the full files stay whole
    }

    /// COCO ground truth + predictions on real photos: detection mistakenness, copy_missing
    /// writing a new file, classification hardness / mistakenness, malformed file → exit 65.
    @Test func detectionsAndPredictionsFromCOCO() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea"])
        let truth = #"""
            {"images": [{"id": 1, "file_name": "coffee.jpg"}, {"id": 2, "file_name": "chelsea.jpg"}, {"id": 3, "file_name": "gone.jpg"}],
             "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "cat"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 50, 200, 150]},
                             {"id": 2, "image_id": 1, "category_id": 2, "bbox": [400, 300, 50, 50]},
                             {"id": 3, "image_id": 2, "category_id": 2},
                             {"id": 4, "image_id": 3, "category_id": 2}]}
            """#
        let predictions = #"""
            {"images": [{"id": 1, "file_name": "coffee.jpg"}, {"id": 2, "file_name": "chelsea.jpg"}],
             "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "cat"}],
             "annotations": [{"image_id": 1, "category_id": 2, "bbox": [100, 50, 200, 120], "score": 0.8},
                             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.99},
                             {"image_id": 2, "category_id": 1, "score": 0.7, "logits": [0.5, 0.5]}]}
            """#
        let truthURL = folder.appendingPathComponent("truth.json"), predictionsURL = folder.appendingPathComponent("pred.json")
        try truth.write(to: truthURL, atomically: false, encoding: .utf8)
        try predictions.write(to: predictionsURL, atomically: false, encoding: .utf8)
        let work = folder.appendingPathComponent("work")
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--no-embeddings",
                                        "--annotations", truthURL.path, "--predictions", predictionsURL.path, "--copy-missing"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("possible missing 1, possible spurious 1"))
        #expect(try String(contentsOf: truthURL, encoding: .utf8) == truth)

        let objects = try TestData.readCSV(work.appendingPathComponent("detection_mistakenness.csv"))
        let matched = try #require(objects.first { $0["kind"] == "matched" })
        // IoU 0.8, wrong class at confidence 0.8: m = 0.9, loc = (0.8·(2·0.4 − 1) + 1)/2 = 0.42.
        #expect(matched["label"] == "cup" && matched["predicted_label"] == "cat")
        #expect(matched["iou"] == "0.800000" && matched["mistakenness"] == "0.900000" && matched["mistakenness_loc"] == "0.420000")
        #expect(objects.filter { $0["kind"] == "possible_spurious" }.map { $0["label"] } == ["cat"])
        #expect(objects.filter { $0["kind"] == "possible_missing" }.map { $0["predicted_label"] } == ["cup"])
        let corrected = try TestData.readCSV(work.appendingPathComponent("annotations_corrected.csv"))
        #expect(corrected.count == 3 && corrected.filter { $0["source"] == "copied_prediction" }.count == 1)

        let scores = try TestData.readCSV(work.appendingPathComponent("label_scores.csv"))
        let chelsea = try #require(scores.first { $0["filename"]?.hasSuffix("chelsea.jpg") == true })
        // Predicted cup for a cat at confidence 0.7: (0.7 + 1)/2; hardness ln 2.
        #expect(chelsea["mistakenness"] == "0.850000" && chelsea["hardness"] == decimal(log(2), 6))
        let problems = try TestData.readCSV(work.appendingPathComponent("annotation_problems.csv"))
        #expect(problems.contains { $0["record"] == "annotations[3]" && $0["reason"]?.contains("gone.jpg") == true })

        let broken = folder.appendingPathComponent("broken.json")
        try "{\"images\": 3}".write(to: broken, atomically: false, encoding: .utf8)
        let bad = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", folder.appendingPathComponent("w2").path,
                                     "--no-embeddings", "--annotations", broken.path])
        #expect(bad.status == 65 && bad.output.contains("broken.json") && bad.output.contains("images"))
    }

    /// Splits given by the annotations (not folder names) drive the leak check.
    @Test func leaksAcrossAnnotatedSplits() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let photos = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea", "astronaut"])
        let copy = images.appendingPathComponent("coffee_small.jpg")
        #expect(try TestData.shell("vips", ["resize", photos[0].path, copy.path + "[Q=80]", "0.5"]).status == 0)
        let csv = "filename,label,split\ncoffee.jpg,cup,train\ncoffee_small.jpg,cup,test\nchelsea.jpg,cat,train\nastronaut.jpg,person,test\n"
        let annotations = folder.appendingPathComponent("labels.csv")
        try csv.write(to: annotations, atomically: false, encoding: .utf8)
        let work = folder.appendingPathComponent("work")
        let run = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--quiet",
                                     "--annotations", annotations.path])
        #expect(run.status == 0, "\(run.output)")
        // A leak is a pair of images: the summary counts pairs, not a share of the files.
        let printed = run.output.split(separator: "\n").filter { $0.contains("split leaks") }
        #expect(printed.count == 1 && printed[0].contains(" 1  pair of near copies across splits") && !printed[0].contains("%"),
                "\(run.output)")
        let leaks = try TestData.readCSV(work.appendingPathComponent("leaks.csv"))
        #expect(leaks.count == 1)
        let names = Set(leaks.flatMap { [$0["from_filename"] ?? "", $0["to_filename"] ?? ""] }.map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(names == ["coffee.jpg", "coffee_small.jpg"])
        #expect(Set([leaks.first?["from_split"], leaks.first?["to_split"]]) == ["train", "test"])
        let summary = try String(contentsOf: work.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"leaks\" : 1"))
    }
}
