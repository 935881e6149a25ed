import Foundation
import Testing
@testable import WinnowCore

/// `--bounding-box face|ocr` on real photos: each detected face or text line is a sample,
/// `atrain_crops.csv` links it to its image, images without one are listed, and every failure
/// (model file missing, broken image, absurd margins) is one line.
@Suite struct DetectorCropTests {
    /// Eileen Collins' face in astronaut.png (512×512), as a box a person draws around it.
    static let astronautFace = (x: 175.0...235.0, y: 60.0...120.0, side: 70.0...120.0)

    func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }

    /// Copies skimage photos (PNG, unchanged) into a fresh `images` folder.
    func images(_ names: [String], in folder: URL) throws -> URL {
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let data = try TestData.skimageData()
        for name in names {
            try FileManager.default.copyItem(at: data.appendingPathComponent(name), to: images.appendingPathComponent(name))
        }
        return images
    }

    func number(_ row: [String: String], _ column: String) -> Double { Double(row[column] ?? "") ?? .nan }

    @Test func marginsGrowTheBoxAsFastdupDefinesThem() {
        let box = BoundingBox(x: 100, y: 100, width: 50, height: 40)
        // 0.2 / 0.2: 20 % wider and taller about the centre (125, 120): 60 × 48.
        #expect(ObjectCrop(box: box, margins: .fastdupDefault).region(imageWidth: 500, imageHeight: 500)
                == CropBox(rowY: 96, colX: 95, height: 48, width: 60))
        #expect(ObjectCrop(box: box, margins: CropMargins(horizontal: 1, vertical: 0)).region(imageWidth: 500, imageHeight: 500)
                == CropBox(rowY: 100, colX: 75, height: 40, width: 100))
        // 7 pixels on every side.
        #expect(ObjectCrop(box: box, margins: CropMargins(pixels: 7)).region(imageWidth: 500, imageHeight: 500)
                == CropBox(rowY: 93, colX: 93, height: 54, width: 64))
        // Clipped to the image.
        #expect(ObjectCrop(box: BoundingBox(x: 0, y: 0, width: 20, height: 20), margins: CropMargins(pixels: 50))
                .region(imageWidth: 30, imageHeight: 40) == CropBox(rowY: 0, colX: 0, height: 40, width: 30))
        #expect(ObjectCrop(box: box, margins: .fastdupDefault).idPart == "100_100_50_40_mh0.2_mv0.2")
        #expect(ObjectCrop(box: box, margins: CropMargins(pixels: 7)).idPart == "100_100_50_40_mp7")
    }

    /// astronaut.png has one face → exactly one crop, around it, 20 % larger each way; coffee.png
    /// has none → no sample, listed in images_without_crops.csv. A second run reuses the crop.
    @Test func oneFaceCropWithFastdupMarginsAndNoneForAPhotoWithoutFaces() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["astronaut.png", "coffee.png"], in: folder)
        let work = folder.appendingPathComponent("work")
        let arguments = ["run", images.path, "-w", work.path, "--quiet", "--no-embeddings", "--bounding-box", "face"]
        let run = try winnow(arguments)
        #expect(run.status == 0, "\(run.output)")
        let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
        try #require(crops.count == 1, "\(crops)")
        let crop = crops[0]
        #expect(crop["filename"] == images.appendingPathComponent("astronaut.png").path && crop["label"] == "face")
        let (x, y, w, h) = (number(crop, "col_x"), number(crop, "row_y"), number(crop, "width"), number(crop, "height"))
        #expect(Self.astronautFace.x.contains(x + w / 2) && Self.astronautFace.y.contains(y + h / 2), "\(crop)")
        #expect(Self.astronautFace.side.contains(w) && Self.astronautFace.side.contains(h), "\(crop)")
        #expect(abs(number(crop, "crop_width") - 1.2 * w) <= 1 && abs(number(crop, "crop_height") - 1.2 * h) <= 1, "\(crop)")
        let samples = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        #expect(samples.count == 1 && samples[0]["filename"]?.contains("astronaut.png#0:") == true, "\(samples)")
        #expect(samples.first?["index"] == crop["index"])
        let none = try TestData.readCSV(work.appendingPathComponent("images_without_crops.csv"))
        #expect(none.map { $0["filename"] } == [images.appendingPathComponent("coffee.png").path], "\(none)")
        #expect(none.first?["reason"] == "no face found" && none.first?["detector"] == "face")
        #expect(try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv")).isEmpty)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: work.appendingPathComponent("summary.json")))
        #expect(summary.stages.map { Array($0.map(\.name).prefix(3)) } == ["ingest", "detect", "decode"], "\(summary.stages ?? [])")

        let again = try winnow(arguments + ["--json"])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("\"processedThisRun\" : 0") && again.output.contains("\"imagesWithoutCrops\" : 1"), "\(again.output)")
    }

    /// `--augmentation-additive-margin 10` adds 10 pixels a side; 0 / 0 crops the box itself.
    @Test func additiveAndZeroMarginsCropAsGiven() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["astronaut.png"], in: folder)
        for (margins, grow) in [(["--augmentation-additive-margin", "10"], 20.0),
                                (["--augmentation-horiz", "0", "--augmentation-vert", "0"], 0.0)] {
            let work = folder.appendingPathComponent("work\(Int(grow))")
            let run = try winnow(["run", images.path, "-w", work.path, "--quiet", "--no-embeddings", "--bounding-box", "face"] + margins)
            #expect(run.status == 0, "\(run.output)")
            let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
            try #require(crops.count == 1, "\(crops)")
            #expect(number(crops[0], "crop_width") == number(crops[0], "width") + grow, "\(margins): \(crops[0])")
            #expect(number(crops[0], "crop_height") == number(crops[0], "height") + grow, "\(margins): \(crops[0])")
        }
    }

    /// page.png (a printed page): one crop per line of text, in reading order, together covering
    /// the paragraph; text.png (handwritten formulas) and astronaut.png give none.
    @Test func textLinesOfAPrintedPageAreCrops() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["page.png", "text.png", "astronaut.png"], in: folder)
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--quiet", "--no-embeddings", "--bounding-box", "ocr"])
        #expect(run.status == 0, "\(run.output)")
        let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
        #expect(crops.count >= 4 && crops.allSatisfy { $0["filename"]?.hasSuffix("page.png") == true && $0["label"] == "text" }, "\(crops)")
        let lines = crops.sorted { number($0, "row_y") < number($1, "row_y") }
        // The paragraph of page.png (384×191) spans about x 65…380, y 45…125; lines are 8–40 px tall.
        #expect(lines.allSatisfy { (8...40).contains(number($0, "height")) && number($0, "width") > 150 }, "\(lines)")
        #expect(number(lines[0], "row_y") < 50 && lines.map { number($0, "row_y") + number($0, "height") }.max() ?? 0 > 115, "\(lines)")
        #expect(lines.allSatisfy { number($0, "col_x") >= 40 && number($0, "col_x") + number($0, "width") <= 384 }, "\(lines)")
        let none = try TestData.readCSV(work.appendingPathComponent("images_without_crops.csv"))
        #expect(Set(none.compactMap { $0["filename"].map { URL(fileURLWithPath: $0).lastPathComponent } }) == ["text.png", "astronaut.png"])
        #expect(none.allSatisfy { $0["reason"] == "no text found" }, "\(none)")
    }

    /// A 2048×2048 PNG and a 3072×3072 JPEG (decoded reduced) of the astronaut are detected on
    /// 640-px copies: one face each, its box 4× and 6× the 512-px one.
    @Test func largeImagesAreDetectedOnABoundedCopyAndTheBoxMappedBack() throws {
        let folder = try TestData.temporaryDirectory()
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let source = try TestData.skimageData().appendingPathComponent("astronaut.png")
        for (name, scale) in [("x4.png", "4"), ("x6.jpg", "6")] {
            let big = try TestData.shell("vips", ["resize", source.path, images.appendingPathComponent(name).path, scale])
            #expect(big.status == 0, "\(big.output)")
        }
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--quiet", "--no-embeddings", "--bounding-box", "face"])
        #expect(run.status == 0, "\(run.output)")
        let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
        try #require(crops.count == 2, "\(crops)")
        for crop in crops {
            let scale = crop["filename"]?.hasSuffix("x4.png") == true ? 4.0 : 6.0
            let (x, y, w) = (number(crop, "col_x") / scale, number(crop, "row_y") / scale, number(crop, "width") / scale)
            #expect(Self.astronautFace.x.contains(x + w / 2) && Self.astronautFace.y.contains(y + w / 2), "\(crop)")
            #expect(Self.astronautFace.side.contains(w), "\(crop)")
        }
    }

    /// Images inside a tar archive are read from it for detection and for their crops.
    @Test func facesAreCroppedFromImagesInAnArchive() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["astronaut.png", "coffee.png"], in: folder)
        let archive = folder.appendingPathComponent("photos.tar")
        let tar = try TestData.shell("tar", ["cf", archive.path, "-C", images.path, "astronaut.png", "coffee.png"])
        #expect(tar.status == 0, "\(tar.output)")
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", archive.path, "-w", work.path, "--no-embeddings", "--bounding-box", "face"])
        #expect(run.status == 0 && run.output.contains("1 images gave none (images_without_crops.csv)"), "\(run.output)")
        let crops = try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv"))
        #expect(crops.map { $0["filename"] } == [archive.path + "/astronaut.png"], "\(crops)")
        let names = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { $0["filename"] }
        #expect(names.count == 1 && names[0].hasPrefix(archive.path + "/astronaut.png#0:"), "\(names)")
    }

    /// A truncated PNG among good photos: one row in atrain_features.bad.csv, the others cropped.
    @Test func aBrokenImageIsOneInvalidRowAndTheOthersAreCropped() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["astronaut.png", "coffee.png"], in: folder)
        let bytes = try Data(contentsOf: images.appendingPathComponent("astronaut.png"))
        try bytes.prefix(bytes.count / 3).write(to: images.appendingPathComponent("broken.png"))
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--no-embeddings", "--bounding-box", "face"])
        #expect(run.status == 0, "\(run.output)")
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 1 && bad.first?["filename"]?.hasSuffix("broken.png") == true, "\(bad)")
        #expect(run.output.components(separatedBy: "broken.png").count == 2, "one warning line: \(run.output)")
        #expect(try TestData.readCSV(work.appendingPathComponent("atrain_crops.csv")).count == 1)
        #expect(try TestData.readCSV(work.appendingPathComponent("images_without_crops.csv")).count == 1)
    }

    /// A missing or unusable cascade or tessdata: one line naming the file, exit 65, before the
    /// work_dir is created or any image decoded.
    @Test(arguments: [
        (["--bounding-box", "face", "--face-cascade", "/nonexistent/cascade.xml"], "face cascade /nonexistent/cascade.xml not found"),
        (["--bounding-box", "ocr", "--tessdata", "/nonexistent"], "Tesseract's /nonexistent/eng.traineddata not found"),
        (["--bounding-box", "face", "--face-cascade", "/etc/hostname"], "/etc/hostname: not an OpenCV cascade (Input file is invalid)"),
    ])
    func aMissingModelFileStopsTheRunInOneLine(arguments: [String], message: String) throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["astronaut.png"], in: folder)
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--no-embeddings"] + arguments)
        #expect(run.status == 65, "\(run.output)")
        #expect(run.output.hasPrefix("winnow: --bounding-box: " + message), "\(run.output)")
        #expect(run.output.split(separator: "\n").count == 1, "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: work.path))
    }

    /// An empty eng.traineddata: Tesseract refuses it, in one line, before the work_dir exists.
    @Test func anEmptyTraineddataStopsTheRunInOneLine() throws {
        let folder = try TestData.temporaryDirectory()
        let images = try images(["page.png"], in: folder)
        let tessdata = folder.appendingPathComponent("tessdata")
        try FileManager.default.createDirectory(at: tessdata, withIntermediateDirectories: true)
        try Data().write(to: tessdata.appendingPathComponent("eng.traineddata"))
        let work = folder.appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--bounding-box", "ocr", "--tessdata", tessdata.path])
        #expect(run.status == 65, "\(run.output)")
        #expect(run.output.hasPrefix("winnow: --bounding-box: \(tessdata.path)/eng.traineddata: Tesseract cannot load language 'eng'"),
                "\(run.output)")
        #expect(run.output.split(separator: "\n").count == 1 && !FileManager.default.fileExists(atPath: work.path), "\(run.output)")
    }

    /// Absurd margins and combinations are usage errors (64) in one line.
    @Test(arguments: [
        (["--augmentation-horiz", "-0.5"], "--augmentation-horiz must be in 0…1 (got -0.5)"),
        (["--augmentation-horiz", "nan"], "--augmentation-horiz must be in 0…1 (got nan)"),
        (["--augmentation-vert", "inf"], "--augmentation-vert must be in 0…1 (got inf)"),
        (["--augmentation-vert", "1e300"], "--augmentation-vert must be in 0…1 (got 1e+300)"),
        (["--augmentation-additive-margin", "-3"], "--augmentation-additive-margin must be in 0…10000 (got -3)"),
        (["--augmentation-additive-margin", "99999999"], "--augmentation-additive-margin must be in 0…10000 (got 99999999)"),
        (["--augmentation-additive-margin", "5", "--augmentation-horiz", "0.1"], "--augmentation-additive-margin does not go with"),
    ])
    func absurdMarginsAreRejectedInOneLine(arguments: [String], message: String) throws {
        let run = try winnow(["run", "x", "--bounding-box", "face"] + arguments)
        #expect(run.status == 64, "\(arguments): \(run.output)")
        #expect(run.output.hasPrefix("Error: " + message), "\(arguments): \(run.output)")
    }

    @Test func marginsOrAnnotationsWithoutAMatchingBoundingBoxAreUsageErrors() throws {
        let margins = try winnow(["run", "x", "--augmentation-horiz", "0.1"])
        #expect(margins.status == 64 && margins.output.hasPrefix("Error: --augmentation-* margins need --bounding-box face or ocr"),
                "\(margins.output)")
        let folder = try TestData.temporaryDirectory()
        let file = folder.appendingPathComponent("a.csv")
        try "filename,label\na.png,cat\n".write(to: file, atomically: false, encoding: .utf8)
        let annotations = try winnow(["run", "x", "--bounding-box", "ocr", "--annotations", file.path])
        #expect(annotations.status == 64 && annotations.output.hasPrefix("Error: --bounding-box face|ocr does not go with --annotations"),
                "\(annotations.output)")
        let unknown = try winnow(["run", "x", "--bounding-box", "faces"])
        #expect(unknown.status == 64 && unknown.output.hasPrefix("Error: --bounding-box needs face, ocr or row_y="), "\(unknown.output)")
    }
}
