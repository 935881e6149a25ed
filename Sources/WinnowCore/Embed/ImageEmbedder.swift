import Foundation

/// Something that maps images to fixed-length feature vectors.
public protocol ImageEmbedder: Sendable {
    /// Length of every embedding.
    var dimension: Int { get }

    /// One L2-normalised embedding per image, in order.
    func embed(_ images: [RGBImage]) throws(EmbeddingError) -> [[Float]]
}

/// One predicted class of an image classifier.
public struct ImageClassification: Sendable, Equatable {
    /// Index into the model's classes (for ImageNet models, 0…999).
    public var classIndex: Int
    /// Softmax probability.
    public var probability: Float
    /// The class name (ImageNet's, for 1000-class models), or `class <index>`.
    public var label: String

    public init(classIndex: Int, probability: Float, label: String) {
        self.classIndex = classIndex
        self.probability = probability
        self.label = label
    }
}

/// An ``ImageEmbedder`` running an ONNX model with ONNX Runtime.
///
/// The default model is torchvision's ImageNet MobileNetV2 (``mobileNetV2(assets:intraOpThreads:batchSize:inputSize:squash:)``):
/// 1280-d pooled features, ImageNet logits for ``classify(_:topK:)`` and the 7×7×1280 final
/// feature map. Any ONNX model with one `[N, 3, H, W]` float input can be used instead
/// (``init(modelPath:inputSize:mean:std:channelOrder:resizeMode:runtime:options:batchSize:featureOutput:)``).
/// Thread-safe: several threads may embed at once.
public final class OnnxImageEmbedder: ImageEmbedder {
    /// The underlying session.
    public let session: OnnxSession
    /// How images become input tensors.
    public let preprocessor: ImagePreprocessor
    /// Length of the embeddings (read from the model).
    public let dimension: Int
    /// Model output used for embeddings.
    public let featureOutput: String
    /// Model output holding class logits, if any (enables ``classify(_:topK:)``).
    public let logitsOutput: String?
    /// Images per inference call.
    public let batchSize: Int

    private let inputName: String
    /// Set when the model's batch dimension is fixed: inputs are padded to this many images.
    private let fixedBatch: Int?

    /// Input sides a model may be run at (a larger one needs gigabytes per image).
    public static let inputSizes = 16...2048
    /// Input sides of the built-in MobileNetV2 (multiples of 32 in this range).
    public static let mobileNetV2InputSizes = 64...1024

    /// The default model: torchvision's ImageNet MobileNetV2, converted from the cached `.pth`
    /// on first use (see ``EmbeddingAssets``).
    ///
    /// - Parameters:
    ///   - intraOpThreads: ONNX Runtime threads per inference (0 = one per core).
    ///   - batchSize: images per inference call.
    ///   - inputSize: side of the square input, a multiple of 32 (224, torchvision's; smaller is
    ///     faster: 160 takes about half the inference time).
    ///   - squash: resize the whole image to the input (aspect ratio ignored) instead of
    ///     torchvision's eval transform (short side to `inputSize × 256/224`, centre crop).
    ///   - precision: float32 (default), or the partially int8 model
    ///     (``MobileNetV2Converter/Precision/int8``: faster on CPUs with VNNI, input sizes 160 and
    ///     224 only).
    public static func mobileNetV2(assets: EmbeddingAssets = .fromEnvironment(), intraOpThreads: Int = 1,
                                   batchSize: Int = 32, inputSize: Int = 224, squash: Bool = false,
                                   precision: MobileNetV2Converter.Precision = .float32)
        throws(EmbeddingError) -> OnnxImageEmbedder
    {
        guard mobileNetV2InputSizes.contains(inputSize), inputSize % 32 == 0 else {
            throw .invalidArgument("the built-in model's input size must be a multiple of 32 in 64…1024, got \(inputSize)")
        }
        try MobileNetV2Converter.checkInputSize(inputSize, precision: precision)
        let runtime = try OnnxRuntime.shared(assets: assets)
        let modelPath = try assets.mobileNetV2ModelPath(inputSize: inputSize, precision: precision)
        let preprocessor = ImagePreprocessor(width: inputSize, height: inputSize, resizeMode: squash ? .squash : nil)
        return try OnnxImageEmbedder(modelPath: modelPath, preprocessor: preprocessor, runtime: runtime,
                                     options: OnnxSessionOptions(intraOpThreads: intraOpThreads),
                                     batchSize: batchSize, featureOutput: MobileNetV2Converter.TensorName.features,
                                     logitsOutput: MobileNetV2Converter.TensorName.logits)
    }

    /// A user-supplied ONNX model with a `[N, 3, inputSize, inputSize]` float input.
    ///
    /// - Parameters:
    ///   - modelPath: the `.onnx` file.
    ///   - inputSize: side of the square input the model expects.
    ///   - mean, std: normalisation in `channelOrder` on the [0, 1] scale.
    ///   - resizeMode: default: centre crop after resizing the short side to `inputSize × 256/224`.
    ///   - runtime: default: ``OnnxRuntime/shared(assets:)``.
    ///   - featureOutput: output to use as embedding; default: `features` if present, else the
    ///     first output of shape `[N, D]` (or `[N, D, 1, 1]`).
    /// - Throws: ``EmbeddingError/inputShapeMismatch(path:expected:requested:)`` when the model's
    ///   input is not `[N, 3, inputSize, inputSize]`, ``EmbeddingError/corruptModel(path:ortMessage:)``
    ///   when the file is not a loadable model.
    public convenience init(modelPath: String, inputSize: Int = 224,
                            mean: [Float] = ImagePreprocessor.imageNetMean,
                            std: [Float] = ImagePreprocessor.imageNetStd,
                            channelOrder: ImagePreprocessor.ChannelOrder = .rgb,
                            resizeMode: ImagePreprocessor.ResizeMode? = nil,
                            runtime: OnnxRuntime? = nil, options: OnnxSessionOptions = OnnxSessionOptions(),
                            batchSize: Int = 32, featureOutput: String? = nil) throws(EmbeddingError)
    {
        guard Self.inputSizes.contains(inputSize) else {
            throw .invalidArgument("input size must be in \(Self.inputSizes.lowerBound)…\(Self.inputSizes.upperBound), got \(inputSize)")
        }
        guard mean.count == 3, std.count == 3, mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw .invalidArgument("mean and std need three finite values each (std non-zero)")
        }
        let preprocessor = ImagePreprocessor(width: inputSize, height: inputSize, resizeMode: resizeMode,
                                             mean: mean, std: std, channelOrder: channelOrder)
        try self.init(modelPath: modelPath, preprocessor: preprocessor, runtime: runtime, options: options,
                      batchSize: batchSize, featureOutput: featureOutput, logitsOutput: nil)
    }

    /// A model with an explicit preprocessor.
    ///
    /// - Parameter logitsOutput: output holding class logits; default: `logits` if present.
    public init(modelPath: String, preprocessor: ImagePreprocessor, runtime: OnnxRuntime? = nil,
                options: OnnxSessionOptions = OnnxSessionOptions(), batchSize: Int = 32,
                featureOutput: String? = nil, logitsOutput: String? = nil) throws(EmbeddingError)
    {
        guard batchSize > 0 else { throw .invalidArgument("batch size must be positive, got \(batchSize)") }
        let ortRuntime: OnnxRuntime
        if let runtime {
            ortRuntime = runtime
        } else {
            ortRuntime = try OnnxRuntime.shared()
        }
        let session = try OnnxSession(modelPath: modelPath, runtime: ortRuntime, options: options)
        let input = try Self.imageInput(of: session, modelPath: modelPath, preprocessor: preprocessor)
        let dims = input.shape
        let chosen = try Self.embeddingOutput(of: session, named: featureOutput, modelPath: modelPath)
        let logits = try Self.logitsOutputName(of: session, named: logitsOutput, modelPath: modelPath)

        let fixedBatch: Int? = dims[0] > 0 ? dims[0] : nil
        self.session = session
        self.preprocessor = preprocessor
        self.featureOutput = chosen.name
        self.logitsOutput = logits
        self.inputName = input.name
        self.fixedBatch = fixedBatch
        self.batchSize = dims[0] > 0 ? dims[0] : batchSize
        self.dimension = try Self.embeddingDimension(of: chosen, session: session, inputName: input.name,
                                                     preprocessor: preprocessor, fixedBatch: fixedBatch,
                                                     modelPath: modelPath)
        guard dimension > 0 else {
            throw .unsupportedModel(path: modelPath, reason: "output \(chosen.name) is empty")
        }
    }

    /// The session's only input, checked to be one float tensor `[N, 3, H, W]` matching
    /// `preprocessor` (dynamic dimensions match anything).
    private static func imageInput(of session: OnnxSession, modelPath: String, preprocessor: ImagePreprocessor)
        throws(EmbeddingError) -> OnnxSession.TensorInfo
    {
        guard let input = session.inputs.first else {
            throw .unsupportedModel(path: modelPath, reason: "it has no inputs")
        }
        let requested = [-1, 3, preprocessor.height, preprocessor.width]
        let dims = input.shape
        let matches = dims.count == 4
            && (dims[1] == 3 || dims[1] < 0)
            && (dims[2] == preprocessor.height || dims[2] < 0)
            && (dims[3] == preprocessor.width || dims[3] < 0)
        guard matches else { throw .inputShapeMismatch(path: modelPath, expected: dims, requested: requested) }
        guard input.elementType == .float else {
            throw .unsupportedModel(path: modelPath, reason: "input \(input.name) is \(input.elementType), not float")
        }
        guard session.inputs.count == 1 else {
            throw .unsupportedModel(path: modelPath, reason: "it has \(session.inputs.count) inputs, expected one image input")
        }
        return input
    }

    /// The float output used for embeddings: `name` if given, else `features`, else the first
    /// vector-shaped float output, else the first float output.
    private static func embeddingOutput(of session: OnnxSession, named name: String?, modelPath: String)
        throws(EmbeddingError) -> OnnxSession.TensorInfo
    {
        let floatOutputs = session.outputs.filter { $0.elementType == .float }
        let chosen: OnnxSession.TensorInfo
        if let name {
            guard let output = session.output(named: name) else {
                throw .unsupportedModel(path: modelPath, reason: "no output named \(name) (outputs: "
                    + session.outputs.map(\.name).joined(separator: ", ") + ")")
            }
            chosen = output
        } else if let output = floatOutputs.first(where: { $0.name == MobileNetV2Converter.TensorName.features }) {
            chosen = output
        } else if let output = floatOutputs.first(where: Self.looksLikeVector) {
            chosen = output
        } else if let output = floatOutputs.first {
            chosen = output
        } else {
            throw .unsupportedModel(path: modelPath, reason: "it has no float tensor output")
        }
        guard chosen.elementType == .float else {
            throw .unsupportedModel(path: modelPath, reason: "output \(chosen.name) is \(chosen.elementType), not float")
        }
        return chosen
    }

    /// The name of the output holding class logits: `name` if given (it must exist), else a
    /// float output named `logits`, else nil.
    private static func logitsOutputName(of session: OnnxSession, named name: String?, modelPath: String)
        throws(EmbeddingError) -> String?
    {
        let floatOutputs = session.outputs.filter { $0.elementType == .float }
        let logits = name ?? floatOutputs.first(where: { $0.name == MobileNetV2Converter.TensorName.logits })?.name
        if let logits, session.output(named: logits) == nil {
            throw .unsupportedModel(path: modelPath, reason: "no output named \(logits)")
        }
        return logits
    }

    /// The embedding length: from `output`'s declared shape, else from one trial run on a black
    /// image (a batch of `fixedBatch` such images when the batch size is fixed).
    private static func embeddingDimension(of output: OnnxSession.TensorInfo, session: OnnxSession,
                                           inputName: String, preprocessor: ImagePreprocessor,
                                           fixedBatch: Int?, modelPath: String) throws(EmbeddingError) -> Int
    {
        let declared = output.shape.dropFirst()
        if !output.shape.isEmpty, declared.allSatisfy({ $0 > 0 }) {
            return declared.reduce(1, *)
        }
        let probe = RGBImage(width: preprocessor.width, height: preprocessor.height,
                             pixels: [UInt8](repeating: 0, count: preprocessor.width * preprocessor.height * 3))
        let batch = fixedBatch ?? 1
        let tensors = try session.run(preprocessor.batchTensor(from: Array(repeating: probe, count: batch)),
                                      shape: [batch, 3, preprocessor.height, preprocessor.width],
                                      inputName: inputName, outputNames: [output.name])
        guard let tensor = tensors[output.name], let first = tensor.shape.first, first > 0 else {
            throw .unsupportedModel(path: modelPath, reason: "output \(output.name) has no batch dimension")
        }
        return tensor.values.count / first
    }

    /// L2-normalised embeddings, one per image.
    public func embed(_ images: [RGBImage]) throws(EmbeddingError) -> [[Float]] {
        var result: [[Float]] = []
        result.reserveCapacity(images.count)
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let batch = Array(images[start..<min(start + batchSize, images.count)])
            let outputs = try run(batch, outputs: [featureOutput])
            guard let tensor = outputs[featureOutput] else { continue }
            for vector in Self.split(tensor, count: batch.count) {
                result.append(Self.normalized(vector))
            }
        }
        return result
    }

    /// The `topK` most probable classes of each image (softmax over the logits), most
    /// probable first.
    ///
    /// - Throws: ``EmbeddingError/unsupportedModel(path:reason:)`` if the model has no logits output.
    public func classify(_ images: [RGBImage], topK: Int = 5) throws(EmbeddingError) -> [[ImageClassification]] {
        guard let logitsOutput else {
            throw .unsupportedModel(path: session.modelPath, reason: "it has no logits output to classify with")
        }
        var result: [[ImageClassification]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let batch = Array(images[start..<min(start + batchSize, images.count)])
            let outputs = try run(batch, outputs: [logitsOutput])
            guard let tensor = outputs[logitsOutput] else { continue }
            for logits in Self.split(tensor, count: batch.count) {
                result.append(Self.top(Self.softmax(logits), k: topK))
            }
        }
        return result
    }

    /// Runs the model on `images` (at most one batch is padded; any count works) and returns
    /// the named raw outputs, with the batch dimension equal to `images.count`.
    /// For the default model, `feature_map` gives each image's `[1280, 7, 7]` activations.
    public func run(_ images: [RGBImage], outputs: [String]) throws(EmbeddingError) -> [String: OnnxTensor] {
        try run(preprocessed: images.map(preprocessor.tensor(from:)), outputs: outputs)
    }

    /// ``run(_:outputs:)`` on tensors made by ``preprocessor``.
    public func run(preprocessed tensors: [[Float]], outputs: [String]) throws(EmbeddingError) -> [String: OnnxTensor] {
        guard !tensors.isEmpty else {
            throw .invalidArgument("no images to run")
        }
        guard tensors.allSatisfy({ $0.count == preprocessor.tensorCount }) else {
            throw .invalidArgument("tensors must have \(preprocessor.tensorCount) values (3×\(preprocessor.height)×\(preprocessor.width))")
        }
        var merged: [String: OnnxTensor] = [:]
        let chunk = fixedBatch ?? max(batchSize, 1)
        for start in stride(from: 0, to: tensors.count, by: chunk) {
            let batch = tensors[start..<min(start + chunk, tensors.count)]
            let outputs = try run(batchTensor: batch.count == 1 ? batch[start] : Array(batch.joined()),
                                  count: batch.count, outputs: outputs)
            for (name, tensor) in outputs {
                if var existing = merged[name] {
                    existing.values.append(contentsOf: tensor.values)
                    existing.shape[0] += tensor.shape[0]
                    merged[name] = existing
                } else {
                    merged[name] = tensor
                }
            }
        }
        return merged
    }

    /// Runs the model on `count` images whose ``preprocessor`` tensors are concatenated in
    /// `batchTensor` (padded to the model's fixed batch size if it has one); the outputs' batch
    /// dimension is `count`.
    public func run(batchTensor: [Float], count: Int, outputs: [String]) throws(EmbeddingError) -> [String: OnnxTensor] {
        guard count > 0, batchTensor.count == count * preprocessor.tensorCount else {
            throw .invalidArgument("a batch of \(count) needs \(count * preprocessor.tensorCount) values, got \(batchTensor.count)")
        }
        var input = batchTensor, rows = count
        if let fixedBatch, count < fixedBatch {
            input += repeatElement(0, count: (fixedBatch - count) * preprocessor.tensorCount)
            rows = fixedBatch
        }
        let tensors = try session.run(input, shape: [rows, 3, preprocessor.height, preprocessor.width],
                                      inputName: inputName, outputNames: outputs)
        var result: [String: OnnxTensor] = [:]
        for (name, tensor) in tensors {
            guard let first = tensor.shape.first, first == rows else {
                throw .unsupportedModel(path: session.modelPath, reason: "output \(name) has no batch dimension")
            }
            var shape = tensor.shape
            shape[0] = count
            result[name] = rows == count ? tensor
                : OnnxTensor(shape: shape, values: Array(tensor.values[0..<(tensor.values.count / rows * count)]))
        }
        return result
    }

    // MARK: - Helpers

    private static func looksLikeVector(_ info: OnnxSession.TensorInfo) -> Bool {
        let rest = info.shape.dropFirst()
        return rest.count == 1 || (rest.count == 3 && rest.dropFirst().allSatisfy { $0 == 1 })
    }

    private static func split(_ tensor: OnnxTensor, count: Int) -> [ArraySlice<Float>] {
        guard count > 0 else { return [] }
        let perImage = tensor.values.count / count
        return (0..<count).map { tensor.values[($0 * perImage)..<(($0 + 1) * perImage)] }
    }

    /// `vector / ‖vector‖` (zero vectors stay zero).
    static func normalized(_ vector: ArraySlice<Float>) -> [Float] {
        var sum: Double = 0
        for v in vector { sum += Double(v) * Double(v) }
        guard sum > 0 else { return Array(vector) }
        let scale = Float(1 / sum.squareRoot())
        return vector.map { $0 * scale }
    }

    static func softmax(_ logits: ArraySlice<Float>) -> [Float] {
        guard let maximum = logits.max() else { return [] }
        var exps = logits.map { Double(Foundation.exp(Double($0 - maximum))) }
        let total = exps.reduce(0, +)
        for i in exps.indices { exps[i] /= total }
        return exps.map { Float($0) }
    }

    static func top(_ probabilities: [Float], k: Int) -> [ImageClassification] {
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
        return order.prefix(max(0, k)).map { index in
            ImageClassification(classIndex: index, probability: probabilities[index],
                                label: probabilities.count == ImageNetClasses.names.count
                                    ? ImageNetClasses.names[index] : "class \(index)")
        }
    }
}

