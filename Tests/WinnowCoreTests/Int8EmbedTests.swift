import Foundation
import Testing
@testable import WinnowCore

// The partially int8 MobileNetV2 (`--model mobilenet_v2_int8`), converted by Winnow from the same
// weights: it must answer like the float32 model on real photos, really run int8 kernels in ONNX
// Runtime, and refuse input sizes it has no activation ranges for. Fixtures as in EmbedTests.

@Suite("Int8EmbedTests")
struct Int8EmbedTests {
    static let photos = ["coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]

    /// Same top-1 class as float32 on each photo and features within cosine 0.98 of float32's.
    @Test(arguments: [224, 160, 128])
    func int8ModelAnswersLikeFloat32(inputSize: Int) throws {
        let int8 = try OnnxImageEmbedder.mobileNetV2(inputSize: inputSize, precision: .int8)
        let float32 = try inputSize == 224 ? EmbedFixtures.embedder() : OnnxImageEmbedder.mobileNetV2(inputSize: inputSize)
        let expectedFile = EmbeddingAssets.fileName(EmbeddingAssets.mobileNetV2Int8ModelName, inputSize: inputSize)
        #expect((int8.session.modelPath as NSString).lastPathComponent == expectedFile)
        #expect(int8.dimension == 1280)
        let images = try Self.photos.map(EmbedFixtures.photo)
        let classes = try int8.classify(images, topK: 2), reference = try float32.classify(images, topK: 2)
        let vectors = try int8.embed(images), referenceVectors = try float32.embed(images)
        for (i, name) in Self.photos.enumerated() {
            let cosine = EmbedFixtures.cosine(vectors[i], referenceVectors[i])
            print("Int8EmbedTests: \(inputSize) \(name) int8 \(classes[i][0].classIndex) \(classes[i][0].label) "
                + String(format: "%.3f", classes[i][0].probability) + ", float32 \(reference[i][0].classIndex) "
                + String(format: "%.3f", reference[i][0].probability) + String(format: ", cosine %.4f", cosine))
            // Same class only where the CPU has VNNI: without it int8 products are added in
            // saturating 16-bit registers (an AVX2-only EPYC turns the rocket's drilling platform,
            // 0.36 in float32, into a space shuttle, float32's second class) — `winnow run` warns.
            if CPUFeatures.hasVNNI {
                #expect(classes[i][0].classIndex == reference[i][0].classIndex, "\(name) at \(inputSize)")
            } else {
                #expect(reference[i].map(\.classIndex).contains(classes[i][0].classIndex), "\(name) at \(inputSize)")
            }
            #expect(cosine >= 0.98, "\(name) at \(inputSize): cosine \(cosine)")
            let norm = vectors[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4 && vectors[i].allSatisfy { $0 >= 0 })
        }
        // The photos' classes themselves, as EmbedTests checks them for float32.
        if inputSize == 224 {
            #expect([967, 968].contains(classes[0][0].classIndex))
            #expect((281...285).contains(classes[1][0].classIndex))
            #expect([665, 670].contains(classes[2][0].classIndex))
            #expect(classes[3].contains { $0.classIndex == 812 })
        }
    }

    /// ONNX Runtime fuses the QDQ groups: 37 QLinearConv (block 2's projection to block 14's
    /// depthwise convolution, and `features.18.0`) and 8 QLinearAdd; what stays is QuantizeLinear
    /// where float32 hands over to int8 (after block 2's depthwise convolution and block 17) and
    /// DequantizeLinear the other way (before block 14's projection, and `feature_map`, whose
    /// DequantizeLinear ONNX Runtime duplicates as it is both an output and the pool's input).
    @Test func onnxRuntimeRunsInt8Kernels() throws {
        let assets = EmbeddingAssets.fromEnvironment()
        let optimized = EmbedFixtures.temporaryPath("int8-optimized.onnx")
        defer { try? FileManager.default.removeItem(atPath: optimized) }
        let session = try OnnxSession(modelPath: assets.mobileNetV2ModelPath(precision: .int8), runtime: EmbedFixtures.runtime(),
                                      options: OnnxSessionOptions(optimizedModelPath: optimized))
        #expect(session.outputs.map(\.name) == ["features", "logits", "feature_map"])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: optimized)))
        func count(_ opType: String) -> Int {
            // Node op_type: field 4, length-delimited — the name as a whole string.
            let needle = [0x22, UInt8(opType.utf8.count)] + Array(opType.utf8)
            var found = 0, i = 0
            while i + needle.count <= bytes.count {
                if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) { found += 1; i += needle.count } else { i += 1 }
            }
            return found
        }
        let counts = ["QLinearConv", "QLinearAdd", "QuantizeLinear", "DequantizeLinear"].map(count)
        print("Int8EmbedTests: optimised graph QLinearConv \(counts[0]), QLinearAdd \(counts[1]), Q \(counts[2]), DQ \(counts[3])")
        #expect(counts == [37, 8, 2, 3])
    }

    @Test func inputSizesWithoutRangesGiveOneLineError() throws {
        for size in [256, 96] {
            do {
                _ = try OnnxImageEmbedder.mobileNetV2(inputSize: size, precision: .int8)
                Issue.record("int8 model converted for \(size) without ranges")
            } catch {
                print("Int8EmbedTests: \(size) -> \(error)")
                #expect(error == .invalidArgument("mobilenet_v2_int8 is calibrated for input sizes 128, 160, 192, 224 only, got \(size)"))
                #expect(!error.description.contains("\n"))
            }
        }
        let assets = EmbeddingAssets.fromEnvironment()
        #expect(throws: EmbeddingError.self) { try assets.mobileNetV2ModelPath(inputSize: 256, precision: .int8) }
        #expect(!FileManager.default.fileExists(atPath: (assets.modelsDirectory as NSString)
                .appendingPathComponent("mobilenet_v2_int8_256.onnx")))
    }

    // MARK: The quantisation rules

    @Test func activationParametersFollowOnnxRuntimesRule() {
        // Range widened to contain 0, scale = range / 255, zero point rounded half to even.
        let relu6 = MobileNetV2Converter.ActivationQuantization(low: 0, high: 6)
        #expect(relu6.scale == Float(6.0 / 255) && relu6.zeroPoint == 0)
        let up = MobileNetV2Converter.ActivationQuantization(low: -127.5, high: 127.5)
        #expect(up.scale == 1 && up.zeroPoint == 128)  // 127.5 → 128
        let down = MobileNetV2Converter.ActivationQuantization(low: -0.5, high: 254.5)
        #expect(down.scale == 1 && down.zeroPoint == 0)  // 0.5 → 0
        let positive = MobileNetV2Converter.ActivationQuantization(low: 1, high: 255)
        #expect(positive.scale == 1 && positive.zeroPoint == 0)
        let empty = MobileNetV2Converter.ActivationQuantization(low: 0, high: 0)
        #expect(empty.scale == 1 && empty.zeroPoint == 0)
    }

    @Test func weightsArePerChannelSymmetricInt8() {
        // Two output channels of four weights (the first with scale 127 / 127); the second is all zero.
        let weights = MobileNetV2Converter.ChannelQuantizedWeights([127, -63.5, 0.5, 1.5, 0, 0, 0, 0], outChannels: 2)
        #expect(weights.scales == [1, 1])
        #expect(weights.values == [127, -64, 0, 2, 0, 0, 0, 0])  // halves to even
        let halved = MobileNetV2Converter.ChannelQuantizedWeights([-254, 3], outChannels: 1)
        #expect(halved.scales == [2] && halved.values == [-127, 2])  // 1.5 → 2
        let bias = weights.quantizedBias([10.25, 0.75], inputScale: 0.5)
        #expect(bias.scales == [0.5, 0.5])
        #expect(bias.values == [20, 2])  // 20.5 → 20, 1.5 → 2
        // The copy model's 7-bit weights: the largest magnitude maps to ±63, so a pair of
        // uint8 × int8 products stays within a 16-bit sum.
        let level = EmbeddingAssets.copyInt8LargestWeightLevel
        let narrow = MobileNetV2Converter.ChannelQuantizedWeights([-126, 63, 1, 0.99], outChannels: 1, largestLevel: level)
        #expect(level == 63 && narrow.scales == [2] && narrow.values == [-63, 32, 0, 0])  // 31.5 → 32, 0.5 → 0
        #expect(2 * 255 * Int(level) <= Int(Int16.max))
    }

    @Test func int8LayersAreTheDocumentedOnes() {
        var convolutions: [String] = [], additions: [String] = []
        var channels = MobileNetV2Converter.stemChannels, layer = 1
        for setting in MobileNetV2Converter.invertedResidualSettings {
            for repeatIndex in 0..<setting.n {
                let base = "features.\(layer).conv"
                let names = setting.t == 1 ? ["\(base).0.0", "\(base).1"] : ["\(base).0.0", "\(base).1.0", "\(base).2"]
                convolutions += names.filter(MobileNetV2Converter.runsInInt8)
                if repeatIndex > 0, MobileNetV2Converter.runsInInt8("features.\(layer).add") { additions.append("\(layer)") }
                channels = setting.c
                layer += 1
            }
        }
        #expect(channels == 320)
        #expect(convolutions.count == 36 && convolutions.first == "features.2.conv.2" && convolutions.last == "features.14.conv.1.0")
        #expect(additions == ["3", "5", "6", "8", "9", "10", "12", "13"])
        #expect(MobileNetV2Converter.runsInInt8("features.18.0") && !MobileNetV2Converter.runsInInt8("features.0.0"))
        #expect(!MobileNetV2Converter.runsInInt8("features.14.conv.2") && !MobileNetV2Converter.runsInInt8("features.17.conv.1.0"))
    }

    /// `winnow run --model mobilenet_v2_int8` says in one line when this CPU lacks VNNI, and only then.
    @Test func runWarnsAboutInt8WithoutVNNI() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea"])
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "-w", root.appendingPathComponent("work").path,
                                                                          "--model", "mobilenet_v2_int8", "--quiet"])
        #expect(result.status == 0, "\(result.output)")
        let warnings = result.output.split(separator: "\n").filter { $0.contains("no VNNI") }
        #expect(warnings.count == (CPUFeatures.hasVNNI ? 0 : 1), "\(result.output)")
    }

}
