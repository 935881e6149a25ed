import Foundation
import Testing
@testable import WinnowCore

/// `winnow run` with embeddings: the default model, precomputed vectors in each format, and
/// the one-line errors for unusable models and vectors.
@Suite(.serialized) struct EmbeddingRunTests {
    func makeExample() throws -> URL {
        let folder = try TestData.temporaryDirectory().appendingPathComponent("images")
        let made = try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, folder.path])
        #expect(made.status == 0, "\(made.output)")
        return folder
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    func nearest(_ name: String, in vectors: [String: [Float]]) -> String? {
        vectors.filter { $0.key != name }.max { cosine(vectors[name]!, $0.value) < cosine(vectors[name]!, $1.value) }?.key
    }

    @Test func defaultModelWritesFastdupFeaturesThatFindCopies() throws {
        let images = try makeExample()
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                              embedding: .mobileNetV2(squash: false), exportNumPy: true)).execute()
        #expect(summary.embedded == 16 && summary.featureDimension == 1280)
        let vectors = try TestData.features(work)
        #expect(vectors.count == 16)
        for vector in vectors.values { #expect(abs(cosine(vector, vector) - 1) < 1e-4) }
        #expect(cosine(vectors["coffee.jpg"]!, vectors["coffee (copy).jpg"]!) > 0.9999)
        #expect(nearest("chelsea_small.jpg", in: vectors) == "chelsea.jpg")
        #expect(nearest("astronaut_q30.jpg", in: vectors) == "astronaut.jpg")
        #expect(nearest("motorcycle_left.jpg", in: vectors) == "motorcycle_right.jpg")
        let npy = try Data(contentsOf: work.appendingPathComponent("features.npy"))
        #expect(npy.count == 128 + 16 * 1280 * 4)   // header padded to 128 bytes

        // Interrupted or not, a second run embeds nothing again and writes the same vectors.
        let again = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                            embedding: .mobileNetV2(squash: false))).execute()
        #expect(again.processedThisRun == 0)
        #expect(try TestData.features(work) == vectors)

        // Switching models recomputes every vector.
        let squashed = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                               embedding: .mobileNetV2(squash: true))).execute()
        #expect(squashed.processedThisRun == 16 && squashed.embedded == 16)
        #expect(try TestData.features(work)["coffee.jpg"] != vectors["coffee.jpg"])
    }

    /// `--model mobilenet_v2_int8`: the int8 features find the same copies, are stored under
    /// their own identity (a switch recomputes), and `winnow search` embeds queries with them.
    @Test func int8ModelRunFindsTheSameCopies() throws {
        let images = try makeExample()
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let float32 = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                              embedding: .mobileNetV2(squash: false))).execute()
        let reference = try TestData.features(work)
        let summary = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: work.path,
                                                              embedding: .mobileNetV2Int8())).execute()
        #expect(float32.embedded == 16 && summary.processedThisRun == 16)
        #expect(summary.embedded == 16 && summary.featureDimension == 1280)
        let vectors = try TestData.features(work)
        for (name, vector) in vectors {
            #expect(abs(cosine(vector, vector) - 1) < 1e-4)
            #expect(cosine(vector, reference[name] ?? []) > 0.97, "\(name)")
        }
        #expect(cosine(vectors["coffee.jpg"]!, vectors["coffee (copy).jpg"]!) > 0.9999)
        #expect(nearest("chelsea_small.jpg", in: vectors) == "chelsea.jpg")
        #expect(nearest("astronaut_q30.jpg", in: vectors) == "astronaut.jpg")
        #expect(nearest("motorcycle_left.jpg", in: vectors) == "motorcycle_right.jpg")

        let search = try SimilaritySearch(workDirectory: work)
        let match = try search.neighbors(ofImageAt: TestData.skimageData().appendingPathComponent("chelsea.png").path, k: 1)
        #expect(match.first?.filename.hasSuffix("chelsea.jpg") == true && (match.first?.similarity ?? 0) > 0.95, "\(match)")
    }

    @Test(arguments: ["npy", "dat", "csv"])
    func precomputedVectorsAreMatchedToFiles(format: String) throws {
        let images = try makeExample()
        let first = images.deletingLastPathComponent().appendingPathComponent("first")
        _ = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: first.path,
                                                    embedding: .mobileNetV2(squash: false), exportNumPy: true)).execute()
        let original = try TestData.features(first)
        var path = first.appendingPathComponent(format == "npy" ? "features.npy" : "atrain_features.dat").path
        if format == "csv" {
            let csv = images.deletingLastPathComponent().appendingPathComponent("vectors.csv")
            var text = "filename," + (0..<1280).map { "f\($0)" }.joined(separator: ",") + "\n"
            for (name, vector) in original.sorted(by: { $0.key < $1.key }) {
                let folder = name.contains("_blurry") || name.contains("_dark") || name.contains("_bright") || name.contains("_gray") ? "issues" : "photos"
                text += "\(folder)/\(name)," + vector.map { String($0) }.joined(separator: ",") + "\n"
            }
            try text.write(to: csv, atomically: false, encoding: .utf8)
            path = csv.path
        }
        let second = images.deletingLastPathComponent().appendingPathComponent("second")
        let summary = try Run(configuration: RunConfiguration(inputs: [images.path], workDirectory: second.path,
                                                              embedding: .precomputed(path: path))).execute()
        #expect(summary.embedded == 16)
        #expect(try TestData.features(second) == original)
    }

    @Test func unusableModelsAndVectorsAreOneLineErrors() throws {
        let images = try makeExample()
        let root = images.deletingLastPathComponent()
        // A .npy whose row count matches nothing (no name list beside it).
        let npy = root.appendingPathComponent("wrong.npy")
        try NumPyFile.float32((0..<5).map { row in (0..<4).map { Float(4 * row + $0 + 1) } }).write(to: npy)
        let corrupt = root.appendingPathComponent("corrupt.onnx")
        try Data("definitely not a protobuf".utf8).write(to: corrupt)
        let cases: [([String], Int32, String)] = [
            (["--embeddings", npy.path], 65, "cannot use embeddings \(npy.path): 5 rows, but the run has 18 files"),
            (["--model", corrupt.path], 65, "cannot load model \(corrupt.path): not a valid ONNX model"),
            (["--model", "/no/such/model.onnx"], 66, "model file not found: /no/such/model.onnx"),
        ]
        for (arguments, status, message) in cases {
            let work = root.appendingPathComponent("work-\(UUID().uuidString.prefix(6))")
            let result = try TestData.shell(TestData.winnowExecutable.path,
                                            ["run", images.path, "-w", work.path, "--quiet"] + arguments)
            #expect(result.status == status, "\(arguments): \(result.output)")
            #expect(result.output.hasPrefix("winnow: " + message), "\(result.output)")
            #expect(result.output.split(separator: "\n").count == 1, "\(result.output)")
        }
    }

    @Test func modelsCommandListsAndVerifiesTheDefaultModel() throws {
        let listed = try TestData.shell(TestData.winnowExecutable.path, ["models", "list"])
        #expect(listed.status == 0, "\(listed.output)")
        let rows = listed.output.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        let views = (CopyDescriptor().precision == .int8 ? "int8" : "squash") + " \(CopyDescriptor().colourModelSide) + grey 128"
        #expect(rows.contains { $0.hasPrefix("copy 1856 \(views) ready") }, "\(listed.output)")
        #expect(rows.contains { $0.hasPrefix("mobilenet_v2 1280 crop 224 ready") }, "\(listed.output)")
        let photo = try TestData.photoFixtures(in: try TestData.temporaryDirectory(), names: ["coffee"])[0]
        let verified = try TestData.shell(TestData.winnowExecutable.path, ["models", "verify", "--image", photo.path])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.contains("output:  features ?×1280") && verified.output.contains("967  espresso"), "\(verified.output)")
        let broken = try TestData.shell(TestData.winnowExecutable.path, ["models", "verify", "--model", "/no/such.onnx"])
        #expect(broken.status == 70 && broken.output == "winnow: model file not found: /no/such.onnx\n")

        // The int8 model: listed, verified by name, refused at a size it has no ranges for.
        #expect(rows.contains { $0.hasPrefix("mobilenet_v2_int8 1280 crop 224 ready") }, "\(listed.output)")
        let int8 = try TestData.shell(TestData.winnowExecutable.path, ["models", "verify", "--model", "mobilenet_v2_int8", "--image", photo.path])
        #expect(int8.status == 0 && int8.output.contains("mobilenet_v2_int8.onnx") && int8.output.contains("967  espresso"), "\(int8.output)")
        let unsized = try TestData.shell(TestData.winnowExecutable.path, ["run", photo.path, "--model", "mobilenet_v2_int8", "--input-size", "256"])
        #expect(unsized.status == 64 && unsized.output.hasPrefix(
            "Error: --input-size: mobilenet_v2_int8 is calibrated for input sizes 128, 160, 192, 224 only, got 256\n"), "\(unsized.output)")
    }
}
