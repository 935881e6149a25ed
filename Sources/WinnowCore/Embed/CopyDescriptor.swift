import Foundation

/// A global image descriptor for copy detection: it stays close for an image and its edited
/// copies (crops, small rotations, blur, grayscale, recompression, borders, flips) and is
/// meant to be PCA-whitened over the collection (``BlockWhitening``) before comparing.
///
/// Made from torchvision's ImageNet MobileNetV2 on the whole image squashed to a square:
/// 1. uniform borders (letterbox bars, frames, plain background around a cut-out) are removed
///    (``BorderTrim``);
/// 2. a photo turned inside a frame whose corners were filled (``PaddedRotation``) is turned
///    back upright and cropped to its content first;
/// 3. the model sees two views of the content: in colour at 192×192 (``colourModelSide``), and
///    in grey shrunk to 80×80 first (``coarseGraySide``), then fed at 128×128
///    (``coarseGrayModelSide``) — a view that ignores colour and fine detail, so that grayscale,
///    blurred, small or heavily recompressed copies meet their originals;
/// 4. for each view, two blocks are pooled from one forward pass: the final feature map (1280
///    channels, 6×6 at 192) by max pooling (MAC), and the expansion activations of block 12 (576
///    channels, 12×12) by generalised mean pooling (GeM, p = 3) — mid-level features that are
///    more about this image than about its class;
/// 5. per block, the views' unit vectors are added and normalised; the blocks are concatenated
///    with weight `1/√2` (unit length, 1856 values).
///
/// Copy→original recall at pair precision 0.99 after whitening, mean over corpus set A seeds
/// 0, 1, 2 and seed 1 with nine extra transforms: 0.63 for the squashed max-pooled map alone, 0.85
/// whitened, 0.90 with all of the above.
public struct CopyDescriptor: Sendable, Equatable, Codable {
    /// Remove uniform borders first (nil: describe the whole image).
    public var borderTrim: BorderTrim?
    /// Side of the second view: the content shrunk to `side × side` (area averaging) and turned
    /// grey, then resized to the model's input like the first. Nil: the colour view only.
    public var coarseGraySide: Int?
    /// Side of the square model input the grey view is resized to (a multiple of 32). 128
    /// instead of 224 takes a third of the grey view's inference time (about 3 ms per image)
    /// for 0.007 less global recall on set A seeds 0 and 1 (0.891/0.886 vs 0.898/0.893) and
    /// 0.002 less after verification (0.984 vs 0.986, seed 0).
    public var coarseGrayModelSide: Int
    /// Side of the square model input the colour view is squashed to (int8 ranges exist for
    /// 128, 160, 192 and 224). 192 instead of 224: decode, statistics and embedding on corpus
    /// set C 0.867× the CPU; copy recall after verification on set A seeds 0–2 the same (0.990 /
    /// 0.991 / 0.993), own hard sets seeds 10–12 0.976 / 0.977 / 0.980 (224: 0.977 / 0.976 /
    /// 0.979), hard negatives no more, every transform within 0.018 (docs/benchmarks.md,
    /// session 36).
    public var colourModelSide: Int
    /// Precision of both views' models. int8 (``MobileNetV2Converter/Precision/int8``, its
    /// weights 7-bit: ``EmbeddingAssets/copyInt8LargestWeightLevel``) is the default: the same
    /// features on every x86-64 CPU. The colour view in int8 took the default run on corpus set C
    /// to 0.915× float32's CPU on an AVX2-only EPYC, with copy recall after verification on set A
    /// seeds 0–2 0.991 / 0.990 / 0.993 (float32 0.991 / 0.991 / 0.993) and own hard sets seeds
    /// 10–12 0.978 / 0.976 / 0.979 (0.978 / 0.977 / 0.979), every transform within 0.012
    /// (session 34). The grey view in int8 too (its 128 px ranges also cover grey views): 0.949×
    /// the CPU of the run with it in float32 on set C (decode and embedding alone 0.964), recall
    /// 0.990 / 0.991 / 0.993 and 0.977 / 0.976 / 0.979, every transform within 0.009
    /// (docs/benchmarks.md, session 35).
    public var precision: MobileNetV2Converter.Precision
    /// Describe a photo turned inside a padded frame by its upright content (nil: as it is).
    /// Such copies were nowhere among their original's global neighbours (own hard-copy set,
    /// seed 10: docs/benchmarks.md, "Upright content").
    public var upright: PaddedRotation?

    public init(borderTrim: BorderTrim? = BorderTrim(), coarseGraySide: Int? = 80, coarseGrayModelSide: Int = 128,
                colourModelSide: Int = 192, precision: MobileNetV2Converter.Precision = .int8,
                upright: PaddedRotation? = PaddedRotation()) {
        self.borderTrim = borderTrim
        self.coarseGraySide = coarseGraySide
        self.coarseGrayModelSide = coarseGrayModelSide
        self.colourModelSide = colourModelSide
        self.precision = precision
        self.upright = upright
    }

    /// How a block's activations become one value per channel.
    public enum Pooling: Sendable, Equatable, Codable {
        /// Largest activation (MAC).
        case max
        /// Generalised mean `(mean xᵖ)^(1/p)` of the (non-negative) activations.
        case generalizedMean(Float)
    }

    /// A part of the descriptor: a model activation map, pooled to one value per channel.
    public struct Block: Sendable, Equatable {
        /// The map (`[batch, channels, side, side]`).
        public var map: String
        /// The same, pooled in the model (`[batch, channels]`), what the descriptor reads.
        public var output: String
        public var channels: Int
        public var pooling: Pooling
    }

    /// Blocks of MobileNetV2 whose expansion activations the model outputs besides its final map.
    public static let expansionBlocks = [12]

    /// The descriptor's blocks, in order.
    public static let blocks: [Block] = {
        let block12 = MobileNetV2Converter.expansionOutput(block: 12)!
        return [
            Block(map: MobileNetV2Converter.TensorName.featureMap, output: MobileNetV2Converter.featureMapMaxName,
                  channels: MobileNetV2Converter.lastChannels, pooling: .max),
            Block(map: block12.name, output: MobileNetV2Converter.generalizedMeanName(of: block12.name),
                  channels: block12.channels, pooling: .generalizedMean(3)),
        ]
    }()

    /// Length of each block in the descriptor.
    public static var blockLengths: [Int] { blocks.map(\.channels) }
    /// Length of the descriptor.
    public static var dimension: Int { blockLengths.reduce(0, +) }

    /// Names the method and its settings (stored features are recomputed when it changes).
    public var identity: String {
        let trim = borderTrim.map { "trim\($0.tolerance)/\($0.minimumMatchingFraction)/\($0.maximumTrimFraction)/"
            + "\($0.minimumBorderFraction)/\($0.analysisSide)/\($0.maximumRounds)" } ?? "notrim"
        let int8 = precision == .int8 ? "-int8w7" : ""
        let coarse = coarseGraySide.map { "+grey\($0)" + (coarseGrayModelSide == colourModelSide ? "" : "@\(coarseGrayModelSide)") + int8 } ?? ""
        let colour = "colour" + int8
        return "copy-v1/mobilenet_v2-squash\(colourModelSide)/final-max+b12-gem3/\(colour)\(coarse)/\(trim)" + (upright?.identity ?? "")
    }

    /// The images the model sees: the content (borders removed, turned upright when it was
    /// turned inside a padded frame) in colour and, unless `coarseGraySide` is nil, shrunk and grey.
    public func views(of image: RGBImage) -> [RGBImage] {
        let trimmed = borderTrim?.trimmed(image) ?? image
        let content = upright?.uprightView(of: trimmed) ?? trimmed
        guard let side = coarseGraySide else { return [content] }
        return [content, ImagePreprocessor.resized(content, width: side, height: side, filter: .area).grayscale()]
    }

    /// One value per channel of a `[channels, positions]` map (what the model's pooled outputs
    /// compute, in Swift).
    public static func pool(_ map: UnsafeBufferPointer<Float>, channels: Int, positions: Int, pooling: Pooling) -> [Float] {
        precondition(map.count >= channels * positions && positions > 0, "the map is smaller than channels × positions")
        var out = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let base = c * positions
            switch pooling {
            case .max:
                var best = -Float.infinity
                for p in 0..<positions { best = Swift.max(best, map[base + p]) }
                out[c] = best
            case .generalizedMean(let power):
                var sum: Float = 0
                if power == 3 {
                    for p in 0..<positions { let x = Swift.max(map[base + p], 1e-6); sum += x * x * x }
                } else {
                    for p in 0..<positions { sum += powf(Swift.max(map[base + p], 1e-6), power) }
                }
                out[c] = powf(sum / Float(positions), 1 / power)
            }
        }
        return out
    }

    /// The descriptor from the pooled blocks of each view (`views[v][b]`, in ``blocks`` order):
    /// per block, the sum of the views' unit vectors, normalised; blocks concatenated with
    /// weight `1/√blocks`.
    public static func combine(_ views: [[[Float]]]) -> [Float] {
        precondition(!views.isEmpty, "a descriptor needs at least one view")
        let count = views[0].count
        let weight = 1 / Float(count).squareRoot()
        var out: [Float] = []
        for b in 0..<count {
            var sum = [Float](repeating: 0, count: views[0][b].count)
            for view in views {
                let unit = normalized(view[b])
                for i in sum.indices { sum[i] += unit[i] }
            }
            out += normalized(sum).map { $0 * weight }
        }
        return out
    }

    static func normalized(_ vector: [Float]) -> [Float] {
        var norm: Float = 0
        for v in vector { norm += v * v }
        guard norm > 0 else { return vector }
        let scale = 1 / norm.squareRoot()
        return vector.map { $0 * scale }
    }
}

/// Computes ``CopyDescriptor``s with the copy-detection variant of the default MobileNetV2
/// (``EmbeddingAssets/mobileNetV2CopyModelPath()``). Thread-safe.
///
/// ``inputs(for:)`` makes the views' tensors (border search, grey view, resizing) and
/// ``describe(inputs:)`` runs the models on them and pools. The result is the raw descriptor;
/// comparisons should go through a ``BlockWhitening`` fitted on the collection (`blockLengths:`
/// ``CopyDescriptor/blockLengths``).
public final class CopyDescriptorEmbedder: Sendable {
    /// The model the colour view goes through (``CopyDescriptor/colourModelSide``).
    public let model: OnnxImageEmbedder
    /// The model the grey view goes through (``CopyDescriptor/coarseGrayModelSide``); the same
    /// weights as ``model``.
    public let coarseModel: OnnxImageEmbedder
    public let descriptor: CopyDescriptor

    public init(model: OnnxImageEmbedder, coarseModel: OnnxImageEmbedder? = nil,
                descriptor: CopyDescriptor = CopyDescriptor()) throws(EmbeddingError) {
        for model in [model, coarseModel ?? model] {
            for block in CopyDescriptor.blocks where model.session.output(named: block.output) == nil {
                throw .unsupportedModel(path: model.session.modelPath, reason: "no output named \(block.output)")
            }
        }
        self.model = model
        self.coarseModel = coarseModel ?? model
        self.descriptor = descriptor
    }

    /// The default weights with the extra outputs, images squashed to the models' inputs.
    public static func mobileNetV2(assets: EmbeddingAssets = .fromEnvironment(), intraOpThreads: Int = 1,
                                   batchSize: Int = 32, descriptor: CopyDescriptor = CopyDescriptor())
        throws(EmbeddingError) -> CopyDescriptorEmbedder
    {
        let runtime = try OnnxRuntime.shared(assets: assets)
        func model(side: Int, precision: MobileNetV2Converter.Precision = .float32) throws(EmbeddingError) -> OnnxImageEmbedder {
            let preprocessor = ImagePreprocessor(width: side, height: side, resizeMode: .squash)
            let path = try assets.mobileNetV2CopyModelPath(inputSize: side, precision: precision)
            return try OnnxImageEmbedder(modelPath: path, preprocessor: preprocessor,
                                         runtime: runtime, options: OnnxSessionOptions(intraOpThreads: intraOpThreads),
                                         batchSize: batchSize, featureOutput: MobileNetV2Converter.TensorName.features,
                                         logitsOutput: MobileNetV2Converter.TensorName.logits)
        }
        let colour = try model(side: descriptor.colourModelSide, precision: descriptor.precision)
        let coarse = descriptor.coarseGraySide == nil || descriptor.coarseGrayModelSide == descriptor.colourModelSide
            ? colour : try model(side: descriptor.coarseGrayModelSide, precision: descriptor.precision)
        return try CopyDescriptorEmbedder(model: colour, coarseModel: coarse, descriptor: descriptor)
    }

    /// Length of the descriptors.
    public var dimension: Int { CopyDescriptor.dimension }

    /// The model inputs of `image`'s views: the colour view's tensor, then the grey view's.
    public func inputs(for image: RGBImage) -> [[Float]] {
        let views = descriptor.views(of: image)
        return views.indices.map { ($0 == 0 ? model : coarseModel).preprocessor.tensor(from: views[$0]) }
    }

    /// The descriptor of one image from its views' tensors (``inputs(for:)``).
    public func describe(inputs: [[Float]]) throws(EmbeddingError) -> [Float] {
        guard (1...2).contains(inputs.count) else {
            throw .invalidArgument("a copy descriptor needs one or two views, got \(inputs.count)")
        }
        let outputNames = CopyDescriptor.blocks.map(\.output)
        // One call for both views when they go through the same model.
        let runs: [(model: OnnxImageEmbedder, batch: [Float], views: Int)] = inputs.count == 2 && coarseModel === model
            ? [(model, inputs[0] + inputs[1], 2)]
            : inputs.indices.map { (($0 == 0 ? model : coarseModel), inputs[$0], 1) }
        var pooled: [[[Float]]] = []
        for run in runs {
            let outputs = try run.model.run(batchTensor: run.batch, count: run.views, outputs: outputNames)
            var views: [[[Float]]] = Array(repeating: [], count: run.views)
            for block in CopyDescriptor.blocks {
                guard let tensor = outputs[block.output], tensor.values.count == run.views * block.channels else {
                    throw .unsupportedModel(path: run.model.session.modelPath, reason: "output \(block.output) is not [N, \(block.channels)]")
                }
                for v in 0..<run.views {
                    views[v].append(Array(tensor.values[(v * block.channels)..<((v + 1) * block.channels)]))
                }
            }
            pooled += views
        }
        return CopyDescriptor.combine(pooled)
    }

    /// Descriptors of decoded images.
    public func describe(_ images: [RGBImage]) throws(EmbeddingError) -> [[Float]] {
        try images.map { image throws(EmbeddingError) in try describe(inputs: inputs(for: image)) }
    }
}
