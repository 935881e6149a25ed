import Foundation
import Testing
@testable import WinnowCore

/// The copy-detection descriptor: border trimming, pooling, whitening, real photos and the
/// `--model copy` pipeline (raw descriptors stored, whitened vectors written and searched).
@Suite(.serialized) struct CopyDescriptorTests {
    // MARK: - Border trimming

    /// A `width × height` image of random pixels (a stand-in for content).
    func noise(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var generator = SplitMix64(seed: seed)
        return RGBImage(width: width, height: height,
                        pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
    }

    /// `content` pasted at (x, y) on a `width × height` canvas of `colour`.
    func pasted(_ content: RGBImage, x: Int, y: Int, width: Int, height: Int, colour: [UInt8]) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[i * 3] = colour[0]; pixels[i * 3 + 1] = colour[1]; pixels[i * 3 + 2] = colour[2] }
        for row in 0..<content.height {
            for column in 0..<(content.width * 3) {
                pixels[((y + row) * width + x) * 3 + column] = content.pixels[row * content.width * 3 + column]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func trimFindsContentInsideBarsAndNestedFrames() {
        let trim = BorderTrim()
        // Short side 100 < analysisSide: the search runs at full resolution, so bounds are exact.
        let content = noise(width: 160, height: 60, seed: 1)
        let letterboxed = pasted(content, x: 20, y: 20, width: 200, height: 100, colour: [0, 0, 0])
        #expect(trim.contentBounds(of: letterboxed) == (20, 20, 160, 60))
        #expect(trim.trimmed(letterboxed) == content)
        // A red frame around white bars around the content: peeled in two rounds.
        let barred = pasted(content, x: 0, y: 30, width: 160, height: 120, colour: [255, 255, 255])
        let framed = pasted(barred, x: 12, y: 12, width: 184, height: 144, colour: [200, 30, 30])
        #expect(trim.contentBounds(of: framed) == (12, 42, 160, 60))
        // JPEG-like noise on the bars (±10 per channel) still counts as border.
        var noisy = letterboxed
        var generator = SplitMix64(seed: 2)
        for y in 0..<100 where y < 20 || y >= 80 {
            for i in (y * 200 * 3)..<((y + 1) * 200 * 3) { noisy.pixels[i] = UInt8(generator.next() % 11) }
        }
        #expect(trim.contentBounds(of: noisy) == (20, 20, 160, 60))
    }

    @Test func trimLeavesBorderlessAndBlankImagesAlone() throws {
        let trim = BorderTrim()
        let content = noise(width: 120, height: 90, seed: 3)
        #expect(trim.contentBounds(of: content) == (0, 0, 120, 90))
        // All plain: more than maximumTrimFraction would go, so nothing does.
        let blank = RGBImage(width: 100, height: 80, pixels: [UInt8](repeating: 128, count: 100 * 80 * 3))
        #expect(trim.contentBounds(of: blank) == (0, 0, 100, 80))
        // A small object on a wide plain background: the width keeps its extent, the height is trimmed.
        let small = pasted(noise(width: 30, height: 50, seed: 4), x: 85, y: 15, width: 200, height: 80, colour: [255, 255, 255])
        #expect(trim.contentBounds(of: small) == (0, 15, 200, 50))
        // Real photos without borders.
        let folder = try TestData.temporaryDirectory()
        for url in try TestData.photoFixtures(in: folder, names: ["coffee", "chelsea", "motorcycle_left"]) {
            let image = try ImageDecoder(minimumSide: 384).decode([UInt8](Data(contentsOf: url))).image
            let bounds = trim.contentBounds(of: image)
            #expect(bounds == (0, 0, image.width, image.height), "\(url.lastPathComponent): \(bounds)")
        }
    }

    @Test func trimUndoesLetterboxAndFrameOnARealPhoto() throws {
        let folder = try TestData.temporaryDirectory()
        let photo = try TestData.photoFixtures(in: folder, names: ["coffee"])[0]   // 600×400
        let letterbox = folder.appendingPathComponent("letterbox.jpg"), frame = folder.appendingPathComponent("frame.jpg")
        #expect(try TestData.shell("vips", ["embed", photo.path, letterbox.path + "[Q=80]", "0", "100", "600", "600",
                                            "--extend", "background", "--background", "0 0 0"]).status == 0)
        #expect(try TestData.shell("vips", ["embed", letterbox.path, frame.path + "[Q=80]", "30", "30", "660", "660",
                                            "--extend", "background", "--background", "40 160 90"]).status == 0)
        let trim = BorderTrim()
        for (url, expected) in [(letterbox, (0, 100, 600, 400)), (frame, (30, 130, 600, 400))] {
            let image = try ImageDecoder().decode([UInt8](Data(contentsOf: url))).image
            let found = trim.contentBounds(of: image)
            // Searched at ~1/4 resolution (600 / 128 → blocks of 4 px), through JPEG ringing.
            let error = [found.x - expected.0, found.y - expected.1, found.width - expected.2, found.height - expected.3].map(abs)
            #expect(error.allSatisfy { $0 <= 8 }, "\(url.lastPathComponent): \(found), expected \(expected)")
        }
    }

    // MARK: - Pooling and combination

    @Test func poolingAndCombinationByHand() {
        // Two channels, four positions: [1, 2, 3, 4] and [0, 0, 0, 8].
        let map: [Float] = [1, 2, 3, 4, 0, 0, 0, 8]
        map.withUnsafeBufferPointer { map in
            #expect(CopyDescriptor.pool(map, channels: 2, positions: 4, pooling: .max) == [4, 8])
            let gem = CopyDescriptor.pool(map, channels: 2, positions: 4, pooling: .generalizedMean(3))
            // ((1 + 8 + 27 + 64) / 4)^(1/3) = 25^(1/3); (512 / 4)^(1/3) = 128^(1/3).
            #expect(abs(gem[0] - 2.9240) < 1e-3 && abs(gem[1] - 5.0397) < 1e-3, "\(gem)")
        }
        // Block 0: [3, 4] → [0.6, 0.8] and [0, 2] → [0, 1]; sum [0.6, 1.8], norm √3.6.
        // Block 1: [5] and [-1] → 1 + (−1) = 0 stays 0. Weight 1/√2 per block.
        let combined = CopyDescriptor.combine([[[3, 4], [5]], [[0, 2], [-1]]])
        let w = 1 / Float(2).squareRoot()
        let norm = Float(3.6).squareRoot()
        let expected: [Float] = [0.6 / norm * w, 1.8 / norm * w, 0]
        #expect(zip(combined, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "\(combined)")
        #expect(CopyDescriptor.dimension == 1280 + 576)
        #expect(MobileNetV2Converter.expansionOutput(block: 12)! == ("features.12.conv.0.0.out", 576, 14))
        #expect(MobileNetV2Converter.expansionOutput(block: 1) == nil)
    }

    // MARK: - Whitening

    @Test func whiteningOfHandCheckableData() throws {
        // (±2, 0), (0, ±1) rotated by 45°: mean 0, covariance eigenvalues 2 and 0.5 (1/N), the
        // first along (1, 1)/√2.
        let r = 1 / Float(2).squareRoot()
        let points: [[Float]] = [[2, 0], [-2, 0], [0, 1], [0, -1]].map { [r * ($0[0] - $0[1]), r * ($0[0] + $0[1])] }
        let matrix = FeatureMatrix(rows: 4, dimension: 2, values: points.flatMap { $0 })
        let whitening = try PCAWhitening.fit(matrix, options: .init(dimensions: 2, dimensionsPerVector: nil, ledoitWolf: false))
        #expect(whitening.outputDimension == 2 && whitening.shrinkage == 0)
        #expect(abs(whitening.eigenvalues[0] - 2) < 1e-5 && abs(whitening.eigenvalues[1] - 0.5) < 1e-5, "\(whitening.eigenvalues)")
        // Rows: eigenvector / √eigenvalue (up to sign).
        let long = r / Float(2).squareRoot(), short = r / Float(0.5).squareRoot()
        #expect(abs(abs(whitening.projection[0]) - long) < 1e-5 && abs(abs(whitening.projection[1]) - long) < 1e-5)
        #expect(abs(abs(whitening.projection[2]) - short) < 1e-5)
        // Each whitened point is a unit vector along one axis; the two long ones are opposite.
        let out = whitening.apply(matrix)
        for i in 0..<4 {
            let v = out.row(i)
            let length: Float = v[0] * v[0] + v[1] * v[1]
            #expect(abs(length - 1) < 1e-5)
        }
        #expect(abs(abs(out.row(0)[0]) - 1) < 1e-5 && abs(out.row(0)[0] + out.row(1)[0]) < 1e-5)
        #expect(abs(abs(out.row(2)[1]) - 1) < 1e-5)
        // One vector at a time gives the same.
        #expect(zip(whitening.apply(points[2]), Array(out.row(2))).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(throws: WhiteningError.tooFewVectors(1)) {
            try PCAWhitening.fit(FeatureMatrix(rows: 1, dimension: 2, values: [1, 2]))
        }
    }

    @Test func whitenedVectorsHaveUnitCovariance() throws {
        // 400 vectors in 16-d with very different spreads per (random) direction.
        var generator = SplitMix64(seed: 7)
        func uniform() -> Float { Float(generator.next() % 1_000_000) / 1_000_000 - 0.5 }
        let mixing = (0..<(16 * 16)).map { _ in uniform() }
        var values: [Float] = []
        for _ in 0..<400 {
            let latent = (0..<16).map { uniform() * Float(1 << ($0 % 8)) }
            for i in 0..<16 { values.append(3 + (0..<16).reduce(0) { $0 + mixing[i * 16 + $1] * latent[$1] }) }
        }
        let matrix = FeatureMatrix(rows: 400, dimension: 16, values: values)
        let whitening = try PCAWhitening.fit(matrix, options: .init(dimensions: 8, dimensionsPerVector: nil, ledoitWolf: false))
        #expect(whitening.outputDimension == 8 && whitening.eigenvalues == whitening.eigenvalues.sorted(by: >))
        // P(x − μ) before normalisation: covariance ≈ identity.
        var covariance = [Double](repeating: 0, count: 64)
        for n in 0..<400 {
            let y = (0..<8).map { k in (0..<16).reduce(Float(0)) { $0 + whitening.projection[k * 16 + $1] * (values[n * 16 + $1] - whitening.mean[$1]) } }
            for a in 0..<8 { for b in 0..<8 { covariance[a * 8 + b] += Double(y[a] * y[b]) / 400 } }
        }
        for a in 0..<8 { for b in 0..<8 { #expect(abs(covariance[a * 8 + b] - (a == b ? 1 : 0)) < 1e-3, "\(a),\(b)") } }
        // Ledoit–Wolf shrinks more when there are fewer vectors.
        let few = try PCAWhitening.fit(matrix.slice(0..<20), options: .init(dimensions: 8, dimensionsPerVector: nil))
        let many = try PCAWhitening.fit(matrix, options: .init(dimensions: 8, dimensionsPerVector: nil))
        #expect(few.shrinkage > many.shrinkage && many.shrinkage >= 0 && few.shrinkage <= 1, "\(few.shrinkage) \(many.shrinkage)")
    }

    @Test func fewerVectorsThanDimensions() throws {
        var generator = SplitMix64(seed: 9)
        let values = (0..<(10 * 50)).map { _ in Float(generator.next() % 1000) / 1000 }
        let matrix = FeatureMatrix(rows: 10, dimension: 50, values: values)
        // N/4 = 2 dimensions by default; at most N − 1 = 9 whatever is asked.
        #expect(try PCAWhitening.fit(matrix).outputDimension == 2)
        let most = try PCAWhitening.fit(matrix, options: .init(dimensions: 40, dimensionsPerVector: nil))
        #expect(most.outputDimension == 9)
        let out = most.apply(matrix)
        let finite = out.withValues { $0.allSatisfy(\.isFinite) }
        #expect(finite)
        // Directions outside the span of 10 centred vectors are not blown up: eigenvalues are
        // floored by the shrinkage.
        #expect(most.eigenvalues.allSatisfy { $0 > 0 })
    }

    @Test func blockWhiteningWhitensEachBlockAndRoundTrips() throws {
        var generator = SplitMix64(seed: 11)
        let values = (0..<(300 * 12)).map { _ in Float(generator.next() % 1000) / 1000 }
        let matrix = FeatureMatrix(rows: 300, dimension: 12, values: values)
        let blocks = try BlockWhitening.fit(matrix, blockLengths: [8, 4], options: .init(dimensions: 3, dimensionsPerVector: nil))
        #expect(blocks.inputDimension == 12 && blocks.outputDimension == 6)
        // Same as each block's own whitening, weighted 1/√2.
        let first = try PCAWhitening.fit(matrix, columns: 0..<8, options: .init(dimensions: 3, dimensionsPerVector: nil))
        let row = Array(matrix.row(5))
        let expected = first.apply(Array(row[0..<8])).map { $0 / Float(2).squareRoot() }
        let whitened = blocks.apply(row)
        #expect(zip(whitened.prefix(3), expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(abs(whitened.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        let url = try TestData.temporaryDirectory().appendingPathComponent("whitening.bin")
        try blocks.write(to: url)
        #expect(try BlockWhitening.read(from: url) == blocks)
        // Small collections are only centred.
        let centred = try BlockWhitening.fit(matrix.slice(0..<10), blockLengths: [8, 4], minimumWhiteningRows: 64)
        #expect(centred.outputDimension == 12 && centred.blocks[0].projection[0] == 1 && centred.blocks[0].projection[1] == 0)
    }

    // MARK: - Real photos

    @Test func editedCopiesOfARealPhotoStayCloserThanOtherPhotos() throws {
        let folder = try TestData.temporaryDirectory()
        let photos = try TestData.photoFixtures(in: folder, names: ["coffee", "chelsea", "astronaut", "motorcycle_left"])
        let coffee = photos[0].path
        var edits: [String: [String]] = [
            "gray": ["colourspace", coffee, "OUT", "b-w"],
            "flip": ["flip", coffee, "OUT", "horizontal"],
            "crop": ["extract_area", coffee, "OUT", "50", "40", "480", "320"],
            "small": ["resize", coffee, "OUT", "0.4"],
            "letterbox": ["embed", coffee, "OUT", "0", "100", "600", "600", "--extend", "background", "--background", "0 0 0"],
        ]
        var copies: [String: URL] = [:]
        for (name, var arguments) in edits {
            let out = folder.appendingPathComponent("coffee_\(name).jpg")
            arguments[2] = out.path + "[Q=50]"
            #expect(try TestData.shell("vips", arguments).status == 0, "\(name)")
            copies[name] = out
        }
        edits.removeAll()
        let embedder = try CopyDescriptorEmbedder.mobileNetV2()
        func decode(_ url: URL) throws -> RGBImage { try ImageDecoder(minimumSide: 384).decode([UInt8](Data(contentsOf: url))).image }
        // The model's pooled outputs are the Swift pooling of its maps.
        let outputs = try embedder.model.run([try decode(photos[1])], outputs: CopyDescriptor.blocks.flatMap { [$0.map, $0.output] })
        for block in CopyDescriptor.blocks {
            let map = outputs[block.map]!, pooled = outputs[block.output]!
            let reference = map.values.withUnsafeBufferPointer {
                CopyDescriptor.pool($0, channels: block.channels, positions: map.shape[2] * map.shape[3], pooling: block.pooling)
            }
            #expect(pooled.shape == [1, block.channels])
            #expect(zip(pooled.values, reference).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(block.output)")
        }
        let names = copies.keys.sorted()
        let vectors = try embedder.describe(try (photos + names.map { copies[$0]! }).map(decode))
        #expect(vectors.allSatisfy { $0.count == 1856 && abs($0.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4 })
        func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let others = (1..<4).map { cosine(vectors[0], vectors[$0]) }.max()!
        for (i, name) in names.enumerated() {
            let similarity = cosine(vectors[0], vectors[4 + i])
            #expect(similarity > others + 0.05, "\(name): \(similarity) vs other photos \(others)")
        }
        // Trimming makes the letterboxed copy almost the same descriptor.
        #expect(cosine(vectors[0], vectors[4 + names.firstIndex(of: "letterbox")!]) > 0.97)
        // Two views: the content in colour, and 80×80 in grey.
        let views = CopyDescriptor().views(of: try decode(copies["letterbox"]!))
        #expect(views.count == 2 && views[0].width == 600 && abs(views[0].height - 400) <= 8)
        #expect(views[1].width == 80 && views[1].height == 80 && views[1] == views[1].grayscale())
        // The grey view goes through the same weights at 128×128.
        #expect(embedder.inputs(for: views[0]).map(\.count) == [3 * 192 * 192, 3 * 128 * 128])
        #expect(embedder.coarseModel.session.inputs.first?.shape.suffix(2) == [128, 128])
    }

    /// The int8 views (the default; 7-bit weights, so the same with and without VNNI) describe
    /// real photos as the float32 ones do, and a run's stored features say which made them.
    @Test func int8ViewsDescribePhotosAsFloat32Do() throws {
        let folder = try TestData.temporaryDirectory()
        let photos = try TestData.photoFixtures(in: folder, names: ["coffee", "chelsea", "astronaut", "motorcycle_left", "horse"])
        let images = try photos.map { try ImageDecoder(minimumSide: 384).decode([UInt8](Data(contentsOf: $0))).image }
        let float32 = CopyDescriptor(precision: .float32), int8 = CopyDescriptor(precision: .int8)
        #expect(CopyDescriptor().precision == .int8 && float32.identity != int8.identity)
        let exact = try CopyDescriptorEmbedder.mobileNetV2(descriptor: float32).describe(images)
        let embedder = try CopyDescriptorEmbedder.mobileNetV2(descriptor: int8)
        #expect(embedder.model.session.modelPath.hasSuffix(EmbeddingAssets.fileName(EmbeddingAssets.mobileNetV2CopyInt8ModelName, inputSize: 192)))
        #expect(embedder.coarseModel.session.modelPath.hasSuffix(EmbeddingAssets.fileName(EmbeddingAssets.mobileNetV2CopyInt8ModelName, inputSize: 128)))
        let fast = try embedder.describe(images)
        for (i, (a, b)) in zip(exact, fast).enumerated() {
            let similarity = zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(similarity > 0.99, "\(photos[i].lastPathComponent): \(similarity)")
            let others = exact.indices.filter { $0 != i }.map { j in zip(exact[j], b).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            #expect(others.allSatisfy { $0 < similarity - 0.1 })
        }
    }

    // MARK: - Pipeline

    @Test func copyRunsWhitenOverTheCollectionAndSearchWithTheSameWhitening() throws {
        // ~150 files of corpus set A: whole groups (original + its copies), so that there are
        // enough images to whiten (≥ 64).
        let corpus = try TestData.corpus("A")
        let truth = try TestData.readCSV(corpus.appendingPathComponent("ground_truth.csv"))
        let groups = Dictionary(grouping: truth, by: { $0["original_id"]! })
        var chosen: [[String: String]] = []
        for key in groups.keys.sorted() where chosen.count < 150 { chosen += groups[key]! }
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for row in chosen {
            try FileManager.default.copyItem(at: corpus.appendingPathComponent("images/" + row["file"]!),
                                             to: images.appendingPathComponent(row["file"]!))
        }
        let work = root.appendingPathComponent("work")
        let configuration = RunConfiguration(inputs: [images.path], workDirectory: work.path, embedding: .copyDescriptor)
        let summary = try Run(configuration: configuration).execute()
        let n = chosen.count
        let expectedDimension = min(n / 4, 1280) + min(n / 4, 576)
        #expect(summary.embedded == n && summary.featureDimension == expectedDimension, "\(summary.featureDimension)")
        // The store keeps raw descriptors; the whitening is saved; the whitened copy is gone.
        let store = try FeatureMatrix(mapping: work.appendingPathComponent(EmbeddingStage.featuresFileName), dimension: 1856)
        #expect(store.rows == n)
        let whitening = try BlockWhitening.read(from: work.appendingPathComponent(WhiteningStage.fileName))
        #expect(whitening.inputDimension == 1856 && whitening.outputDimension == expectedDimension)
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent(WhiteningStage.whitenedStoreName).path))

        // Copies find their own group.
        let vectors = try TestData.features(work)
        let group = Dictionary(uniqueKeysWithValues: chosen.map { ($0["file"]!, $0["original_id"]!) })
        func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let copies = chosen.filter { $0["transform"] != "original" }.map { $0["file"]! }
        let found = copies.filter { name in
            let best = vectors.filter { $0.key != name }.max { cosine(vectors[name]!, $0.value) < cosine(vectors[name]!, $1.value) }!
            return group[best.key] == group[name]
        }
        #expect(Double(found.count) >= 0.9 * Double(copies.count), "\(found.count) of \(copies.count)")

        // Resumed: nothing embedded again, same whitened vectors.
        let again = try Run(configuration: configuration).execute()
        #expect(again.processedThisRun == 0)
        #expect(try TestData.features(work) == vectors)

        // An image query is described and whitened like the stored vectors: a stored file finds itself.
        let search = try SimilaritySearch(workDirectory: work)
        let probe = copies[0]
        let matches = try search.neighbors(ofImageAt: images.appendingPathComponent(probe).path, k: 2)
        #expect(matches.first.map { URL(fileURLWithPath: $0.filename).lastPathComponent } == probe, "\(matches)")
        #expect((matches.first?.similarity ?? 0) > 0.999)
    }

    @Test func smallCopyRunsAreCentredNotWhitened() throws {
        let folder = try TestData.temporaryDirectory().appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, folder.path])
        #expect(made.status == 0, "\(made.output)")
        let work = folder.deletingLastPathComponent().appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [folder.path], workDirectory: work.path,
                                                              embedding: .copyDescriptor)).execute()
        #expect(summary.embedded == 16 && summary.featureDimension == 1856)
        let whitening = try BlockWhitening.read(from: work.appendingPathComponent(WhiteningStage.fileName))
        #expect(whitening.blocks.map(\.outputDimension) == [1280, 576])
        let vectors = try TestData.features(work)
        func nearest(_ name: String) -> String? {
            vectors.filter { $0.key != name }.max {
                zip(vectors[name]!, $0.value).reduce(0) { $0 + $1.0 * $1.1 } < zip(vectors[name]!, $1.value).reduce(0) { $0 + $1.0 * $1.1 }
            }?.key
        }
        #expect(nearest("chelsea_small.jpg") == "chelsea.jpg")
        #expect(nearest("astronaut_q30.jpg") == "astronaut.jpg")
        #expect(nearest("rocket_crop.jpg") == "rocket.jpg")
        #expect(nearest("ihc_gray.jpg") == "ihc.jpg")
        // Switching back to another model removes the whitening.
        _ = try Run(configuration: RunConfiguration(inputs: [folder.path], workDirectory: work.path,
                                                    embedding: .mobileNetV2(squash: false))).execute()
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent(WhiteningStage.fileName).path))
    }
}
