import Foundation
import Testing
@testable import WinnowCore

@Suite struct CropBoxTests {
    @Test func parsesFastdupsBoundingBoxString() {
        #expect(CropBox(parsing: "row_y=10,col_x=20,height=30,width=40") == CropBox(rowY: 10, colX: 20, height: 30, width: 40))
        #expect(CropBox(parsing: "width=40, height=30, col_x=20, row_y=10") == CropBox(rowY: 10, colX: 20, height: 30, width: 40))
        #expect(CropBox(parsing: "row_y=10,col_x=20,height=0,width=40") == nil)
        #expect(CropBox(parsing: "row_y=10,col_x=20,height=30") == nil)
        #expect(CropBox(parsing: "row_y=-1,col_x=20,height=30,width=40") == nil)
    }

    @Test func cropsInFullResolutionCoordinatesOnAReducedImage() {
        // A 4×2 image standing for an 8×4 original: the box (row 2, col 4, 2×4) is its lower right quarter.
        let pixels: [UInt8] = (0..<8).flatMap { i in [UInt8(i), UInt8(i), UInt8(i)] }
        let image = RGBImage(width: 4, height: 2, pixels: pixels)
        let box = CropBox(rowY: 2, colX: 4, height: 2, width: 4)
        let cropped = box.crop(image, originalWidth: 8, originalHeight: 4)
        #expect(cropped == RGBImage(width: 2, height: 1, pixels: [6, 6, 6, 7, 7, 7]))
        #expect(CropBox(rowY: 10, colX: 0, height: 5, width: 5).crop(image, originalWidth: 8, originalHeight: 4) == nil)
    }

    @Test func aRunWithABoundingBoxMeasuresAndEmbedsTheBox() throws {
        let folder = try TestData.temporaryDirectory()
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea"])   // 600×400, 451×300
        let work = folder.appendingPathComponent("work")
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", work.path, "--quiet",
                                                                         "--model", "mobilenet_v2",
                                                                         "--bounding-box", "row_y=0,col_x=0,height=100,width=200"])
        #expect(result.status == 0, "\(result.output)")
        let stats = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(stats.map { "\($0["width"]!)×\($0["height"]!)" } == ["200×100", "200×100"])
        let data = try Data(contentsOf: work.appendingPathComponent("atrain_features.dat"))
        #expect(data.count == 2 * 1280 * 4)
        let bad = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "--bounding-box", "x=1"])
        #expect(bad.status == 64 && bad.output.contains("--bounding-box needs"))
    }
}
