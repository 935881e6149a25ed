import Foundation
import Testing
import WinnowCore

// Tests of the neural embedding runtime: ONNX Runtime binding, .pth → ONNX conversion of
// torchvision's MobileNetV2, preprocessing, and the embedder on real photos.
//
// Needs `bash scripts/fetch-models.sh` (ONNX Runtime + weights in $WINNOW_CACHE) and
// scikit-image's sample photos (see `EmbedFixtures.skimageDataDirectory`), converted to PPM
// with the `vips` CLI so these tests do not depend on Winnow's own decoders.

// MARK: - Fixtures

enum EmbedFixtures {
    /// scikit-image's data folder (see `TestData.skimageData()`).
    static let skimageDataDirectory: String? = try? TestData.skimageData().path

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    /// A photo from scikit-image's data folder, decoded through `vips copy … x.ppm`.
    static func photo(_ name: String) throws -> RGBImage {
        guard let directory = skimageDataDirectory else {
            throw FixtureError(description: "scikit-image photos not found (set WINNOW_SOURCES)")
        }
        let ppm = FileManager.default.temporaryDirectory
            .appendingPathComponent("winnow-embed-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).ppm")
        defer { try? FileManager.default.removeItem(at: ppm) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["vips", "copy", "\(directory)/\(name)", ppm.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(description: "vips could not convert \(name)")
        }
        return try parsePPM([UInt8](Data(contentsOf: ppm)))
    }

    /// Parses binary PPM (P6) or PGM (P5) with 8-bit samples.
    static func parsePPM(_ bytes: [UInt8]) throws -> RGBImage {
        var position = 0
        func token() throws -> String {
            // Skip whitespace and comments.
            while position < bytes.count {
                if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count, bytes[position] != 0x0a { position += 1 }
                } else if [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) {
                    position += 1
                } else {
                    break
                }
            }
            let start = position
            while position < bytes.count, ![0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
            guard position > start else { throw FixtureError(description: "truncated PPM header") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
        let magic = try token()
        guard magic == "P6" || magic == "P5",
              let width = Int(try token()), let height = Int(try token()), let maxValue = Int(try token()),
              maxValue == 255
        else { throw FixtureError(description: "unsupported PPM") }
        position += 1  // single whitespace after maxval
        let channels = magic == "P6" ? 3 : 1
        guard bytes.count - position >= width * height * channels else {
            throw FixtureError(description: "truncated PPM data")
        }
        let data = Array(bytes[position..<(position + width * height * channels)])
        let pixels = channels == 3 ? data : data.flatMap { [$0, $0, $0] }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The default MobileNetV2 embedder (1 intra-op thread), shared by the tests.
    static let mobileNet: Result<OnnxImageEmbedder, EmbeddingError> = {
        do throws(EmbeddingError) {
            return .success(try OnnxImageEmbedder.mobileNetV2(intraOpThreads: 1))
        } catch {
            return .failure(error)
        }
    }()

    static func embedder() throws -> OnnxImageEmbedder {
        try mobileNet.get()
    }

    static func runtime() throws -> OnnxRuntime {
        try OnnxRuntime.shared()
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("winnow-embed-\(UUID().uuidString)-\(name)").path
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }
}

// MARK: - Real photos through MobileNetV2

@Suite("EmbedTests")
struct EmbedTests {
    @Test func classifiesPhotosLikeTorchvision() throws {
        let embedder = try EmbedFixtures.embedder()
        let names = ["coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]
        let photos = try names.map(EmbedFixtures.photo)
        let results = try embedder.classify(photos, topK: 3)
        #expect(results.count == 4)
        for (name, top) in zip(names, results) {
            let text = top.map { "\($0.classIndex) \($0.label) \(String(format: "%.3f", $0.probability))" }
            print("EmbedTests: \(name) -> \(text.joined(separator: " | "))")
        }
        // coffee: espresso (967) or cup (968)
        #expect([967, 968].contains(results[0][0].classIndex))
        // chelsea: a domestic cat (281 tabby … 285 Egyptian cat)
        #expect((281...285).contains(results[1][0].classIndex))
        // motorcycle_left: moped (665) or motor scooter (670)
        #expect([665, 670].contains(results[2][0].classIndex))
        // rocket (a launch pad with gantry towers): torchvision's own pipeline (PIL resize +
        // this model, cross-checked against an independent float64 NumPy forward pass) answers
        // drilling platform (540) 0.35, then space shuttle (812) 0.18.
        #expect(results[3][0].classIndex == 540)
        #expect(results[3].prefix(2).contains { $0.classIndex == 812 })
        for top in results {
            #expect(top[0].probability >= top[1].probability)
            #expect(top[0].probability > 0 && top[0].probability <= 1)
        }
    }

    @Test func featuresAreDeterministic1280dUnitVectors() throws {
        let embedder = try EmbedFixtures.embedder()
        #expect(embedder.dimension == 1280)
        let coffee = try EmbedFixtures.photo("coffee.png")
        let chelsea = try EmbedFixtures.photo("chelsea.png")
        let batch = try embedder.embed([coffee, chelsea, coffee])
        #expect(batch.count == 3)
        for vector in batch {
            #expect(vector.count == 1280)
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)
            #expect(vector.allSatisfy { $0 >= 0 })  // pooled ReLU6 activations
        }
        #expect(batch[0] == batch[2])
        let alone = try embedder.embed([coffee])
        let maxDifference = zip(alone[0], batch[0]).map { abs($0 - $1) }.max() ?? 0
        #expect(maxDifference < 1e-5)
        #expect(batch[0] != batch[1])
    }

    @Test func resizedCopyIsNearestToItsOriginal() throws {
        let embedder = try EmbedFixtures.embedder()
        let names = ["astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]
        let photos = try names.map(EmbedFixtures.photo)
        let originals = try embedder.embed(photos)
        for (index, photo) in photos.enumerated() {
            let smaller = ImagePreprocessor.resized(photo, width: photo.width * 3 / 5, height: photo.height * 3 / 5)
            let copy = try embedder.embed([smaller])[0]
            let similarities = originals.map { EmbedFixtures.cosine(copy, $0) }
            let best = similarities.indices.max { similarities[$0] < similarities[$1] }
            #expect(best == index, "resized \(names[index]) is nearest to \(names[best ?? -1]): \(similarities)")
            #expect(similarities[index] > 0.9)
        }
    }

    @Test func featureMapIsAvailable() throws {
        let embedder = try EmbedFixtures.embedder()
        let coffee = try EmbedFixtures.photo("coffee.png")
        let outputs = try embedder.run([coffee, coffee], outputs: ["feature_map", "features"])
        let map = try #require(outputs["feature_map"])
        let features = try #require(outputs["features"])
        #expect(map.shape == [2, 1280, 7, 7])
        #expect(features.shape == [2, 1280])
        // Pooled features are the spatial mean of the feature map.
        for channel in [0, 100, 1279] {
            let mean = map.values[(channel * 49)..<((channel + 1) * 49)].reduce(0, +) / 49
            #expect(abs(mean - features.values[channel]) < 1e-4)
        }
    }

    @Test func squashModeAlsoClassifies() throws {
        let embedder = try OnnxImageEmbedder.mobileNetV2(squash: true)
        let chelsea = try EmbedFixtures.photo("chelsea.png")
        let top = try embedder.classify([chelsea], topK: 1)[0][0]
        #expect((281...285).contains(top.classIndex))
    }

    // MARK: Errors

    @Test func corruptModelFileGivesOneLineError() throws {
        let runtime = try EmbedFixtures.runtime()
        let path = EmbedFixtures.temporaryPath("corrupt.onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("this is not an onnx model\n\u{1}\u{2}\u{3}".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try OnnxImageEmbedder(modelPath: path, runtime: runtime)
            Issue.record("a corrupt model loaded")
        } catch {
            guard case .corruptModel = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            print("EmbedTests: corrupt model -> \(error)")
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains(path))
        }
    }

    @Test func missingModelFileGivesOneLineError() throws {
        let runtime = try EmbedFixtures.runtime()
        #expect(throws: EmbeddingError.modelNotFound(path: "/nonexistent/model.onnx")) {
            _ = try OnnxImageEmbedder(modelPath: "/nonexistent/model.onnx", runtime: runtime)
        }
    }

    @Test(arguments: [([1, 3, 299, 299], "3×299×299"), ([1, 1, 224, 224], "1 channel"), ([1, 3, 224], "rank 3")])
    func wrongInputShapeGivesOneLineError(shape: [Int], label: String) throws {
        let runtime = try EmbedFixtures.runtime()
        // A tiny valid model: input of `shape` → GlobalAveragePool → output.
        var builder = OnnxModelBuilder(graphName: "tiny")
        builder.addInput("x", dims: shape.map { .fixed($0) })
        if shape.count == 4 {
            builder.addNode("GlobalAveragePool", name: "pool", inputs: ["x"], outputs: ["y"])
            builder.addOutput("y", dims: [.fixed(shape[0]), .fixed(shape[1]), .fixed(1), .fixed(1)])
        } else {
            builder.addNode("Relu", name: "relu", inputs: ["x"], outputs: ["y"])
            builder.addOutput("y", dims: shape.map { .fixed($0) })
        }
        let path = EmbedFixtures.temporaryPath("tiny.onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(builder.serialized()).write(to: URL(fileURLWithPath: path))
        do {
            _ = try OnnxImageEmbedder(modelPath: path, inputSize: 224, runtime: runtime)
            Issue.record("model with input \(label) accepted for 3×224×224")
        } catch {
            guard case .inputShapeMismatch(_, let expected, let requested) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            print("EmbedTests: wrong input (\(label)) -> \(error)")
            #expect(expected == shape)
            #expect(requested == [-1, 3, 224, 224])
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func userModelWithMatchingInputWorks() throws {
        // A user model: 3×64×64 input, GlobalAveragePool → Flatten → [N, 3] "embedding".
        let runtime = try EmbedFixtures.runtime()
        var builder = OnnxModelBuilder(graphName: "mean-colour")
        builder.addInput("pixels", dims: [.symbolic("n"), .fixed(3), .fixed(64), .fixed(64)])
        builder.addNode("GlobalAveragePool", name: "pool", inputs: ["pixels"], outputs: ["pooled"])
        builder.addNode("Flatten", name: "flatten", inputs: ["pooled"], outputs: ["embedding"],
                        attributes: [("axis", .int(1))])
        builder.addOutput("embedding", dims: [.symbolic("n"), .fixed(3)])
        let path = EmbedFixtures.temporaryPath("mean.onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(builder.serialized()).write(to: URL(fileURLWithPath: path))

        let embedder = try OnnxImageEmbedder(modelPath: path, inputSize: 64, mean: [0, 0, 0], std: [1, 1, 1],
                                             channelOrder: .bgr, resizeMode: .squash, runtime: runtime)
        #expect(embedder.dimension == 3)
        #expect(embedder.featureOutput == "embedding")
        let red = RGBImage(width: 10, height: 20, pixels: Array(repeating: [255, 0, 0], count: 200).flatMap { $0 })
        let outputs = try embedder.run([red], outputs: ["embedding"])
        let values = try #require(outputs["embedding"]).values
        // BGR order: blue plane first.
        #expect(abs(values[0] - 0) < 1e-5 && abs(values[1] - 0) < 1e-5 && abs(values[2] - 1) < 1e-5)
        #expect(throws: EmbeddingError.self) { _ = try embedder.classify([red]) }
    }

    @Test func sessionConfigEntriesReachOnnxRuntime() throws {
        // Asking for the ORT flatbuffer format makes loading an .onnx file fail: proof that the
        // entry went through AddSessionConfigEntry (and that its table position is right).
        let runtime = try EmbedFixtures.runtime()
        let modelPath = try EmbeddingAssets.fromEnvironment().mobileNetV2ModelPath()
        _ = try OnnxSession(modelPath: modelPath, runtime: runtime, options: OnnxSessionOptions(allowSpinning: true))
        #expect(throws: EmbeddingError.self) {
            _ = try OnnxSession(modelPath: modelPath, runtime: runtime,
                                options: OnnxSessionOptions(configEntries: ["session.load_model_format": "ORT"]))
        }
    }

    @Test func missingLibraryGivesOneLineError() throws {
        let assets = EmbeddingAssets(cacheDirectory: "/nonexistent-winnow-cache")
        do {
            _ = try OnnxRuntime.shared(assets: assets)
            Issue.record("loaded a library from nowhere")
        } catch {
            guard case .libraryNotFound = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            print("EmbedTests: missing library -> \(error)")
            #expect(!error.description.contains("\n"))
        }
        let notALibrary = EmbedFixtures.temporaryPath("libonnxruntime.so.0")
        defer { try? FileManager.default.removeItem(atPath: notALibrary) }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: notALibrary))
        #expect {
            _ = try OnnxRuntime.shared(libraryPath: notALibrary)
        } throws: { error in
            guard let error = error as? EmbeddingError, case .libraryLoadFailed = error else { return false }
            return !error.description.contains("\n")
        }
    }

    // MARK: Converter and pickle reader

    @Test func readsLegacyTorchStateDict() throws {
        let assets = EmbeddingAssets.fromEnvironment()
        let stateDict = try TorchPickleReader.readStateDict(at: assets.mobileNetV2WeightsPath())
        #expect(stateDict.names.count == 314)
        #expect(stateDict.names.first == "features.0.0.weight")
        #expect(stateDict.tensors["features.0.0.weight"]?.shape == [32, 3, 3, 3])
        #expect(stateDict.tensors["classifier.1.weight"]?.shape == [1000, 1280])
        #expect(stateDict.tensors["features.0.1.num_batches_tracked"]?.scalarType == .int64)
        let variance = try #require(stateDict.floats("features.0.1.running_var"))
        #expect(variance.count == 32 && variance.allSatisfy { $0 > 0 })
    }

    @Test func convertedModelHasTheDocumentedInterface() throws {
        let runtime = try EmbedFixtures.runtime()
        let assets = EmbeddingAssets.fromEnvironment()
        let bytes = try MobileNetV2Converter.convert(pthAt: assets.mobileNetV2WeightsPath(), includeFeatureMap: false)
        let path = EmbedFixtures.temporaryPath("mobilenet.onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let session = try OnnxSession(modelPath: path, runtime: runtime)
        #expect(session.inputs == [.init(name: "input", elementType: .float, shape: [-1, 3, 224, 224])])
        #expect(session.outputs.map(\.name) == ["features", "logits"])
        #expect(session.outputs.map(\.shape) == [[-1, 1280], [-1, 1000]])
    }

    @Test func truncatedWeightsGiveOneLineError() throws {
        let assets = EmbeddingAssets.fromEnvironment()
        let full = try Data(contentsOf: URL(fileURLWithPath: assets.mobileNetV2WeightsPath()))
        let path = EmbedFixtures.temporaryPath("truncated.pth")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try MobileNetV2Converter.convert(pthAt: path)
        } throws: { error in
            guard let error = error as? EmbeddingError, case .conversionFailed = error else { return false }
            return !error.description.contains("\n")
        }
    }

    // MARK: Preprocessing

    @Test func preprocessorNormalisesConstantImage() {
        let grey = RGBImage(width: 300, height: 200, pixels: [UInt8](repeating: 128, count: 300 * 200 * 3))
        let tensor = ImagePreprocessor.imageNet.tensor(from: grey)
        #expect(tensor.count == 3 * 224 * 224)
        for c in 0..<3 {
            let expected = (128 / 255 - ImagePreprocessor.imageNetMean[c]) / ImagePreprocessor.imageNetStd[c]
            let plane = tensor[(c * 224 * 224)..<((c + 1) * 224 * 224)]
            #expect(plane.allSatisfy { abs($0 - expected) < 1e-4 })
        }
    }

    @Test func centerCropFollowsTorchvisionGeometry() {
        // A 600×400 image: short side 400 → 256, long side int(256 × 600 / 400) = 384, crop at (80, 16).
        // Paint the left half black and the right half white: after the crop the boundary is at
        // column 192 − 80 = 112.
        var pixels = [UInt8](repeating: 0, count: 600 * 400 * 3)
        for y in 0..<400 { for x in 300..<600 { for c in 0..<3 { pixels[(y * 600 + x) * 3 + c] = 255 } } }
        let image = RGBImage(width: 600, height: 400, pixels: pixels)
        let plain = ImagePreprocessor(width: 224, height: 224, resizeMode: .centerCrop(shortSide: 256),
                                      mean: [0, 0, 0], std: [1, 1, 1])
        let tensor = plain.tensor(from: image)
        let row = Array(tensor[(100 * 224)..<(101 * 224)])
        #expect(row[110] < 0.01)
        #expect(row[113] > 0.99)
        #expect(abs(row[111] + row[112] - 1) < 0.05)  // symmetric edge
    }

    @Test func shrinkingAveragesInsteadOfAliasing() {
        // A 1-pixel checkerboard must shrink to flat grey with either filter (no moiré).
        var pixels = [UInt8](repeating: 0, count: 448 * 448 * 3)
        for y in 0..<448 { for x in 0..<448 where (x + y) % 2 == 0 { for c in 0..<3 { pixels[(y * 448 + x) * 3 + c] = 255 } } }
        let checker = RGBImage(width: 448, height: 448, pixels: pixels)
        for filter in [ImagePreprocessor.Filter.bilinear, .area] {
            let small = ImagePreprocessor.resized(checker, width: 97, height: 61, filter: filter)
            let values = small.pixels.map(Int.init)
            #expect(values.allSatisfy { abs($0 - 128) <= 12 }, "filter \(filter): \(values.min() ?? 0)…\(values.max() ?? 0)")
        }
    }

    /// The speed lever: the same weights converted for a smaller input still recognise the photos
    /// and give 1280-d unit vectors close to the 224 ones; sizes the network cannot take are refused.
    @Test func smallerInputSizeKeepsTheModelsAnswers() throws {
        let small = try OnnxImageEmbedder.mobileNetV2(inputSize: 160)
        #expect(small.session.modelPath.hasSuffix("mobilenet_v2_160.onnx"))
        #expect(small.session.inputs.first?.shape.suffix(2) == [160, 160])
        #expect(small.preprocessor.resizeMode == .centerCrop(shortSide: 183))
        let photos = try ["coffee.png", "chelsea.png", "motorcycle_left.png"].map(EmbedFixtures.photo)
        let top = try small.classify(photos, topK: 1).map { $0[0].classIndex }
        #expect([967, 968].contains(top[0]) && (281...285).contains(top[1]) && [665, 670].contains(top[2]), "\(top)")
        let vectors = try small.embed(photos), reference = try EmbedFixtures.embedder().embed(photos)
        for (i, (a, b)) in zip(vectors, reference).enumerated() {
            let cosine = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            let others = reference.indices.filter { $0 != i }.map { j in zip(a, reference[j]).reduce(0) { $0 + $1.0 * $1.1 } }
            #expect(a.count == 1280 && cosine > others.max()!, "photo \(i): \(cosine) vs \(others)")
        }
        for size in [100, 32] {
            #expect(throws: EmbeddingError.self) { try OnnxImageEmbedder.mobileNetV2(inputSize: size) }
        }
    }

    @Test func classNamesAreTheImageNetList() {
        #expect(ImageNetClasses.names.count == 1000)
        #expect(ImageNetClasses.names[967] == "espresso")
        #expect(ImageNetClasses.shortName(281) == "tabby")
        #expect(ImageNetClasses.names[812] == "space shuttle")
    }
}
