import Foundation
import Testing
@testable import WinnowCore

@Suite struct StatisticsTests {
    /// 8×8 checkerboard of grey 0 and 200: every figure can be worked out by hand.
    @Test func checkerboardMatchesHandComputedValues() {
        var pixels: [UInt8] = []
        for y in 0..<8 { for x in 0..<8 { let v: UInt8 = (x + y) % 2 == 0 ? 0 : 200; pixels += [v, v, v] } }
        let s = StatisticsCalculator().statistics(of: RGBImage(width: 8, height: 8, pixels: pixels),
                                                  originalWidth: 8, originalHeight: 8)
        #expect(s.uniqueGreyLevels == 2)
        #expect(s.mean == 100)
        #expect(s.standardDeviation == 100)
        #expect(s.minimum == 0 && s.maximum == 200)
        #expect(s.contrast == 1)
        #expect(abs(s.entropy - 1) < 1e-12)
        // Interior Laplacian is ±4·200 = ±800 in equal numbers: variance 640,000.
        #expect(abs(s.blur - 640_000) < 1e-6)
        #expect(s.meanChroma == 0 && s.saturation == 0)
    }

    @Test func areaResizeAveragesExactlyOnIntegerFactors() {
        let pixels: [UInt8] = [0, 0, 0, 100, 100, 100, 200, 200, 200, 50, 50, 50]   // 2×2 RGB
        let out = AreaResize.resize(pixels, width: 2, height: 2, channels: 3, toWidth: 1, height: 1)
        #expect(out == [88, 88, 88])   // (0+100+200+50)/4 = 87.5 → 88
    }

    func decode(_ url: URL) throws -> DecodedImage {
        try ImageDecoder().decode([UInt8](try Data(contentsOf: url)))
    }

    func statistics(_ url: URL) throws -> ImageStatistics {
        let image = try decode(url)
        return StatisticsCalculator().statistics(of: image.image, originalWidth: image.originalWidth,
                                                 originalHeight: image.originalHeight)
    }

    /// Real photos and their blurred, darkened, brightened and grey versions (vips CLI).
    @Test func qualitySignalsSeparateRealPhotosFromTheirDegradedVersions() throws {
        let folder = try TestData.temporaryDirectory()
        let photos = try TestData.photoFixtures(in: folder)
        let inspector = QualityInspector()
        for photo in photos {
            let base = photo.deletingPathExtension().path
            let variants = [("blurry", ["gaussblur", photo.path, base + "_blur.jpg", "5"]),
                            ("dark", ["linear", photo.path, base + "_dark.jpg", "0.08", "0"]),
                            ("bright", ["linear", photo.path, base + "_bright.jpg", "0.1", "229"]),
                            ("grayscale", ["colourspace", photo.path, base + "_gray.jpg", "b-w"])]
            let original = try statistics(photo)
            let originalIssues = Set(inspector.flags(original).map(\.0))
            #expect(originalIssues.isDisjoint(with: [.blurry, .dark, .bright, .grayscale, .lowInformation]),
                    "\(photo.lastPathComponent) flagged \(originalIssues)")
            for (issue, arguments) in variants {
                #expect(try TestData.shell("vips", arguments).status == 0)
                let s = try statistics(URL(fileURLWithPath: arguments[2]))
                let flagged = Set(inspector.flags(s).map(\.0))
                #expect(flagged.contains(QualityIssue(rawValue: issue)!), "\(arguments[2]) not flagged \(issue): \(s)")
            }
            let blurred = try statistics(URL(fileURLWithPath: base + "_blur.jpg"))
            #expect(blurred.sharpness < original.sharpness / 3)
            #expect(blurred.blur < original.blur / 5)
        }
    }

    /// Dark, bright and low-information images have too little signal to be called blurry too.
    @Test func issuesDeferToTheOnesThatExplainThem() {
        var s = ImageStatistics(width: 500, height: 400, uniqueGreyLevels: 20, blur: 3, mean: 5, minimum: 0, maximum: 20,
                                standardDeviation: 3, contrast: 1, sharpness: 50, directionalSharpness: 0.5,
                                saturation: 0.2, entropy: 2.5, meanChroma: 1, colourfulFraction: 0, brightnessP1: 0,
                                brightnessP5: 1, brightnessP50: 5, brightnessP95: 15, brightnessP99: 20)
        #expect(QualityInspector().flags(s).map(\.0) == [.dark])
        s.brightnessP1 = 120; s.brightnessP5 = 121; s.brightnessP50 = 125; s.brightnessP95 = 128; s.brightnessP99 = 130
        #expect(QualityInspector().flags(s).map(\.0) == [.lowInformation])
        s.brightnessP1 = 10; s.brightnessP5 = 30; s.entropy = 7
        #expect(QualityInspector().flags(s).map(\.0) == [.blurry])
    }

    @Test func sharpnessDoesNotDependOnImageSize() throws {
        let folder = try TestData.temporaryDirectory()
        let photo = try TestData.photoFixtures(in: folder, names: ["astronaut"])[0]
        let big = folder.appendingPathComponent("big.png")
        #expect(try TestData.shell("vips", ["resize", photo.path, big.path, "2"]).status == 0)
        let small = try statistics(photo), large = try statistics(big)
        #expect(large.width == 2 * small.width)
        // Analysed at the same size: the 2× upscale is a little softer, but far from blurred.
        #expect(large.sharpness > 0.3 * small.sharpness)
        #expect(!QualityInspector().flags(large).contains { $0.0 == .blurry })
    }

    @Test func oddSizeUsesTheDatasetsInterquartileRange() {
        func stats(_ w: Int, _ h: Int) -> ImageStatistics {
            ImageStatistics(width: w, height: h, uniqueGreyLevels: 200, blur: 500, mean: 120, minimum: 0, maximum: 255,
                            standardDeviation: 50, contrast: 1, sharpness: 900, directionalSharpness: 1.5, saturation: 0.4, entropy: 7,
                            meanChroma: 40, colourfulFraction: 0.8, brightnessP1: 5, brightnessP5: 20,
                            brightnessP50: 120, brightnessP95: 230, brightnessP99: 250)
        }
        let samples = [stats(500, 500), stats(510, 490), stats(480, 520), stats(505, 500), stats(5000, 5000), stats(12, 12)]
        let findings = QualityInspector().findings(for: samples.enumerated().map { (Int64($0.offset), $0.element) })
        #expect(Set(findings.filter { $0.issue == .oddSize }.map(\.sampleID)) == [4, 5])
        #expect(findings.filter { $0.issue == .tiny }.map(\.sampleID) == [5])
    }
}
