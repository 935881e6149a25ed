import Foundation
import Testing
@testable import WinnowCore

@Suite struct AnnotationReaderTests {
    private func write(_ text: String, _ name: String, in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url
    }

    @Test func fastdupCSVWithBoxesRotatedBoxesAndPredictions() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try write(#"""
            filename,label,split,col_x,row_y,width,height,confidence,logits
            a.jpg,cat,train,10,20,30,40,0.9,"[2.0, 0.5, -1]"
            "b, 2.jpg",dog,val,,,,,,
            c.jpg,"say ""hi""",test,0,0,5,5,,1;2;3
            """#, "ann.csv", in: folder)
        let file = try AnnotationFile.read(url)
        #expect(file.format == .csv)
        #expect(file.problems.isEmpty)
        #expect(file.annotations.count == 3)
        let a = file.annotations[0]
        #expect(a.filename == "a.jpg" && a.label == "cat" && a.split == "train")
        #expect(a.box == BoundingBox(x: 10, y: 20, width: 30, height: 40))
        #expect(a.confidence == 0.9 && a.logits == [2.0, 0.5, -1])
        #expect(file.annotations[1].filename == "b, 2.jpg" && file.annotations[1].box == nil && file.annotations[1].label == "dog")
        #expect(file.annotations[2].label == "say \"hi\"" && file.annotations[2].logits == [1, 2, 3])

        let rotated = try write("filename,label,x1,y1,x2,y2,x3,y3,x4,y4\nr.jpg,car,10,0,20,10,10,20,0,10\n", "rot.csv", in: folder)
        let box = try #require(try AnnotationFile.read(rotated).annotations.first?.box)
        #expect(box.x == 0 && box.y == 0 && box.width == 20 && box.height == 20)
        #expect(box.corners == [10, 0, 20, 10, 10, 20, 0, 10])

        let other = try write("file,given_label,true_label\nx/a.png,shirt,coat\n", "labels.csv", in: folder)
        let given = try AnnotationFile.read(other, labelColumn: "given_label")
        #expect(given.annotations == [Annotation(filename: "x/a.png", label: "shirt", record: "line 2")])
    }

    @Test func malformedCSVNamesFileLineAndField() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let noFilename = try write("image,label\na.jpg,cat\n", "nofile.csv", in: folder)
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(noFilename) }
        do { _ = try AnnotationFile.read(noFilename); Issue.record("should throw") } catch {
            #expect(error.file == noFilename.path && error.field == "filename")
            #expect(error.description.contains("nofile.csv"))
        }
        let halfBox = try write("filename,col_x,row_y\na.jpg,1,2\n", "half.csv", in: folder)
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(halfBox) }
        let missingColumn = try write("filename,label\na.jpg,cat\n", "col.csv", in: folder)
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(missingColumn, labelColumn: "given_label") }
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(folder.appendingPathComponent("absent.csv")) }
        // Nothing to use under the default column names: one error that points to --label-column.
        let otherNames = try write("file,given_label\na.jpg,cat\n", "other.csv", in: folder)
        do { _ = try AnnotationFile.read(otherNames); Issue.record("should throw") } catch {
            #expect(error.field == "label" && error.description.contains("given_label")
                    && error.description.contains("--label-column"))
        }
        #expect(try AnnotationFile.read(otherNames, labelColumn: "given_label").annotations.first?.label == "cat")

        let bad = try write(#"""
            filename,label,col_x,row_y,width,height,confidence
            ok.jpg,cat,1,2,3,4,0.5
            x.jpg,cat,1,two,3,4,0.5
            y.jpg,cat,1,2,0,4,0.5
            z.jpg,cat,1,2,3,4,1.5
            w.jpg,cat,1,2
            "open.jpg,cat,1,2,3,4,0.5
            ,cat,1,2,3,4,0.5
            """#, "bad.csv", in: folder)
        let file = try AnnotationFile.read(bad)
        #expect(file.annotations.map(\.filename) == ["ok.jpg"])
        let problems = file.problems.map { "\($0.record ?? "")|\($0.field ?? "")" }
        #expect(problems == ["line 3|row_y", "line 4|width", "line 5|confidence", "line 6|", "line 7|", "line 8|filename"])
        #expect(file.problems.allSatisfy { $0.file == bad.path })
        #expect(file.problems[0].description.contains("bad.csv, line 3, field 'row_y'"))
    }

    @Test func cocoJSONGoodAndMalformed() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try write(#"""
            {"images": [{"id": 1, "file_name": "a.jpg", "split": "train"}, {"id": "2", "file_name": "b.jpg"}],
             "categories": [{"id": 3, "name": "cat"}, {"id": 4, "name": "dog"}],
             "annotations": [
               {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]},
               {"id": 2, "image_id": "2", "category_id": 4, "score": 0.8, "logits": [0.1, 2]},
               {"id": 3, "image_id": 9, "category_id": 4, "bbox": [1, 2, 3, 4]},
               {"id": 4, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]},
               {"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3]},
               {"id": 6, "image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4]},
               {"id": 7, "image_id": 1, "category_id": 3, "score": "high"}
             ]}
            """#, "coco.json", in: folder)
        let file = try AnnotationFile.read(url)
        #expect(file.format == .coco)
        #expect(file.classes == ["cat", "dog"] && file.images == ["a.jpg", "b.jpg"])
        #expect(file.annotations == [
            Annotation(filename: "a.jpg", label: "cat", split: "train", box: BoundingBox(x: 1, y: 2, width: 3, height: 4),
                       record: "annotations[0]"),
            Annotation(filename: "b.jpg", label: "dog", confidence: 0.8, logits: [0.1, 2], record: "annotations[1]"),
        ])
        #expect(file.problems.map { "\($0.record ?? "")|\($0.field ?? "")" } ==
                ["annotations[2]|image_id", "annotations[3]|category_id", "annotations[4]|bbox", "annotations[5]|bbox",
                 "annotations[6]|score"])

        // Images and categories without an id or a name are skipped and reported by list and field.
        let entries = try AnnotationFile.read(try write(#"""
            {"images": [{"file_name": "a.jpg"}, {"id": 2}, {"id": 3, "file_name": "c.jpg"}],
             "categories": [{"id": 1}, {"name": "dog"}, {"id": 4, "name": "cat"}], "annotations": []}
            """#, "entries.json", in: folder))
        #expect(entries.images == ["c.jpg"] && entries.classes == ["cat"])
        #expect(entries.problems.map { "\($0.record ?? "")|\($0.field ?? "")" } ==
                ["categories[0]|name", "categories[1]|id", "images[0]|id", "images[1]|file_name"])

        let broken = try write("{\"images\": [", "broken.json", in: folder)
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(broken) }
        let noImages = try write("{\"annotations\": []}", "noimages.json", in: folder)
        do { _ = try AnnotationFile.read(noImages); Issue.record("should throw") } catch { #expect(error.field == "images") }
    }

    @Test func yoloDataYAMLAndLabelFiles() throws {
        let folder = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let train = folder.appendingPathComponent("data/images/train")
        let val = folder.appendingPathComponent("data/images/val")
        try FileManager.default.createDirectory(at: train, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: val, withIntermediateDirectories: true)
        let photos = try TestData.photoFixtures(in: train, names: ["coffee", "chelsea"])
        _ = try TestData.photoFixtures(in: val, names: ["astronaut"])
        _ = try write("0 0.5 0.5 0.2 0.4\n1 0.25 0.25 0.5 0.5 0.75\n", "data/labels/train/coffee.txt", in: folder)
        _ = try write("1 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n7 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n0 1.5 0.5 0.1 0.1\n",
                      "data/labels/val/astronaut.txt", in: folder)
        let yaml = try write(#"""
            # dataset
            path: data
            train: images/train   # folder
            val: 'images/val'
            names:
              0: person
              1: cup
            """#, "data.yaml", in: folder)
        let file = try AnnotationFile.read(yaml)
        #expect(file.format == .yolo && file.classes == ["person", "cup"])
        #expect(file.images.count == 3)
        #expect(file.annotations.count == 3)
        let coffee = photos[0].standardizedFileURL.path
        let first = file.annotations[0]
        #expect(first.filename == coffee && first.label == "person" && first.split == "train")
        let box = try #require(first.box)
        #expect(box.normalized && abs(box.x - 0.4) < 1e-12 && abs(box.y - 0.3) < 1e-12)
        #expect(box.inPixels(imageWidth: 600, imageHeight: 400) == BoundingBox(x: 0.4 * 600, y: 0.3 * 400, width: 0.2 * 600, height: 0.4 * 400))
        #expect(file.annotations[1].confidence == 0.75)
        #expect(file.annotations[2].box?.corners?.count == 8 && file.annotations[2].split == "val")
        #expect(file.problems.map { "\($0.record ?? "")|\($0.field ?? "")" } == ["line 2|class", "line 3|line", "line 4|x_center"])
        #expect(file.problems.allSatisfy { $0.file.hasSuffix("labels/val/astronaut.txt") })

        let listNames = try write("path: data\ntrain: images/train\nnames: [person, 'cup']\n", "list.yaml", in: folder)
        #expect(try AnnotationFile.read(listNames).classes == ["person", "cup"])
        let noNames = try write("train: data/images/train\n", "nonames.yaml", in: folder)
        do { _ = try AnnotationFile.read(noNames); Issue.record("should throw") } catch { #expect(error.field == "names") }
        let missingFolder = try write("train: nowhere\nnames: [a]\n", "missing.yaml", in: folder)
        do { _ = try AnnotationFile.read(missingFolder); Issue.record("should throw") } catch {
            #expect(error.field == "train" && error.reason.contains("nowhere"))
        }
        let gaps = try write("train: data/images/train\nnames:\n  0: a\n  2: c\n", "gaps.yaml", in: folder)
        #expect(throws: AnnotationError.self) { try AnnotationFile.read(gaps) }
    }

    @Test func matcherResolvesNamesAndReportsUnknown() {
        let matcher = AnnotationMatcher(samples: [(filename: "/data/in/cat/a.jpg", path: "cat/a.jpg"),
                                                  (filename: "/data/in/dog/a.jpg", path: "dog/a.jpg"),
                                                  (filename: "/data/in/dog/b.jpg", path: "dog/b.jpg")])
        #expect(matcher.row(for: "cat/a.jpg", relativeTo: nil) == 0)
        #expect(matcher.row(for: "/data/in/dog/a.jpg", relativeTo: nil) == 1)
        #expect(matcher.row(for: "in/dog/b.jpg", relativeTo: URL(fileURLWithPath: "/data")) == 2)
        #expect(matcher.row(for: "b.jpg", relativeTo: nil) == 2)
        #expect(matcher.row(for: "a.jpg", relativeTo: nil) == nil)   // ambiguous
        #expect(matcher.row(for: "cat/zzz.jpg", relativeTo: nil) == nil)
    }

    @Test func boxIoU() {
        let a = BoundingBox(x: 0, y: 0, width: 10, height: 10)
        let b = BoundingBox(x: 5, y: 0, width: 10, height: 10)
        #expect(abs(a.iou(b) - 50.0 / 150.0) < 1e-12)
        #expect(a.iou(BoundingBox(x: 20, y: 20, width: 1, height: 1)) == 0)
        #expect(a.iou(a) == 1)
    }
}
