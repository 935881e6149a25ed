import Foundation

/// Which embeddings a run computes or reads.
public enum EmbeddingChoice: Sendable, Codable, Equatable {
    /// Statistics only.
    case none
    /// torchvision's ImageNet MobileNetV2, 1280-d global-average-pooled features, centre crop
    /// 224 of the image resized to 256 (fastdup-like default) or the whole image squashed; a
    /// smaller `inputSize` (multiple of 32) trades accuracy for speed.
    case mobileNetV2(squash: Bool, inputSize: Int = 224)
    /// The same features (centre crop) from the partially int8 model
    /// (``MobileNetV2Converter/Precision/int8``): faster on CPUs with VNNI; `inputSize` 224, 192, 160 or 128.
    case mobileNetV2Int8(inputSize: Int = 224)
    /// A user ONNX model with a `[N,3,size,size]` float input.
    case onnx(path: String, inputSize: Int, mean: [Float], std: [Float], bgr: Bool)
    /// Vectors computed elsewhere (`.npy`, fastdup `.dat`, or CSV).
    case precomputed(path: String)
    /// The copy-detection descriptor (``CopyDescriptor``: MobileNetV2 on the squashed, border-
    /// trimmed image in colour and coarse grey, final map max-pooled + block 12 GeM), PCA-whitened
    /// over the collection in the analysis stage.
    case copyDescriptor
    /// Raw copy descriptors computed elsewhere (a file as for `precomputed`, with
    /// ``CopyDescriptor/dimension`` values a row): used as ``copyDescriptor`` is — whitened, with
    /// its thresholds, uncertain pairs verified on the images.
    case precomputedCopyDescriptors(path: String)

    /// A name for the catalog: when it changes, stored features are recomputed.
    var identity: String {
        switch self {
        case .none: "none"
        case .mobileNetV2(let squash, let size): "mobilenet_v2/\(squash ? "squash" : "crop")\(size)"
        case .mobileNetV2Int8(let size): "mobilenet_v2_int8/crop\(size)"
        case .onnx(let path, let size, let mean, let std, let bgr):
            "onnx/\(path)/\(modificationTime(path))/\(size)/\(mean)/\(std)/\(bgr ? "bgr" : "rgb")"
        case .precomputed(let path): "precomputed/\(path)/\(modificationTime(path))"
        case .copyDescriptor: CopyDescriptor().identity
        case .precomputedCopyDescriptors(let path): "precomputed-copy/\(path)/\(modificationTime(path))"
        }
    }

    /// Copy descriptors, from the model or precomputed.
    public var isCopyDescriptor: Bool {
        switch self {
        case .copyDescriptor, .precomputedCopyDescriptors: true
        default: false
        }
    }

    /// Block lengths of vectors that are whitened over the collection before use (nil: used as stored).
    var whitenedBlocks: [Int]? {
        isCopyDescriptor ? CopyDescriptor.blockLengths : nil
    }
}

/// Turns one decoded image into its stored vector, on a decode worker.
protocol SampleEmbedder: Sendable {
    func vector(for image: RGBImage) throws(EmbeddingError) -> [Float]
}

extension OnnxImageEmbedder: SampleEmbedder {
    func vector(for image: RGBImage) throws(EmbeddingError) -> [Float] {
        guard let vector = try embed([image]).first else {
            throw .unsupportedModel(path: session.modelPath, reason: "no output for an image")
        }
        return vector
    }
}

extension CopyDescriptorEmbedder: SampleEmbedder {
    func vector(for image: RGBImage) throws(EmbeddingError) -> [Float] {
        try describe(inputs: inputs(for: image))
    }
}

private func modificationTime(_ path: String) -> Double {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
}

/// The model or the precomputed vectors of a run, loaded before the work_dir is touched: an
/// unusable model or vectors file stops the run with nothing written.
struct EmbeddingSource {
    let choice: EmbeddingChoice
    /// What the decode workers run on each decoded image (nil for precomputed vectors).
    let embedder: (any SampleEmbedder)?
    let precomputed: PrecomputedEmbeddings?
    let dimension: Int

    init(_ choice: EmbeddingChoice) throws(EmbeddingError) {
        self.choice = choice
        switch choice {
        case .none:
            throw .invalidArgument("no embedding stage without a model")
        case .mobileNetV2(let squash, let size):
            let model = try OnnxImageEmbedder.mobileNetV2(batchSize: 1, inputSize: size, squash: squash)
            (embedder, precomputed, dimension) = (model, nil, model.dimension)
        case .mobileNetV2Int8(let size):
            let model = try OnnxImageEmbedder.mobileNetV2(batchSize: 1, inputSize: size, precision: .int8)
            (embedder, precomputed, dimension) = (model, nil, model.dimension)
        case .onnx(let path, let size, let mean, let std, let bgr):
            let model = try OnnxImageEmbedder(modelPath: path, inputSize: size, mean: mean, std: std,
                                              channelOrder: bgr ? .bgr : .rgb, batchSize: 1)
            (embedder, precomputed, dimension) = (model, nil, model.dimension)
        case .precomputed(let path):
            let vectors = try PrecomputedEmbeddings.load(path)
            (embedder, precomputed, dimension) = (nil, vectors, vectors.dimension)
        case .copyDescriptor:
            let model = try CopyDescriptorEmbedder.mobileNetV2(batchSize: 2)
            (embedder, precomputed, dimension) = (model, nil, model.dimension)
        case .precomputedCopyDescriptors(let path):
            let vectors = try PrecomputedEmbeddings.load(path)
            guard vectors.dimension == CopyDescriptor.dimension else {
                throw .invalidEmbeddings(path: path, reason: "\(vectors.dimension) values a row; copy descriptors (--model copy) "
                                         + "have \(CopyDescriptor.dimension)")
            }
            (embedder, precomputed, dimension) = (nil, vectors, vectors.dimension)
        }
    }

    /// What the catalog records of the vectors: the choice's identity and their dimension.
    var identity: String { "\(choice.identity)/d\(dimension)" }

    /// The precomputed row of each of the run's files (all listed files, in id order); nil for a model.
    func rows(for samples: [(id: String, filename: String)]) throws(EmbeddingError) -> [Int?]? {
        try precomputed?.rows(for: samples)
    }
}

/// The embedding step of a run: the model that the decode workers run on each decoded image
/// (single-threaded inference per worker), or the precomputed vectors, and the feature store
/// the vectors are appended to. A vector with NaN or infinite values, or all zeros, is not
/// stored: its image gets no vector, and ``warnings`` says so.
final class EmbeddingStage {
    let choice: EmbeddingChoice
    let store: FeatureStore
    /// What the decode workers run on each decoded image (nil for precomputed vectors).
    let embedder: (any SampleEmbedder)?
    private let precomputed: PrecomputedEmbeddings?
    /// Decoded samples without a precomputed vector: how many, and the first one's name.
    private var missingVectors = (count: 0, first: "")
    /// Samples the model gave an unusable vector: how many, and the first one's name.
    private var unusableOutputs = (count: 0, first: "")

    static let featuresFileName = "features.f32"

    init(source: EmbeddingSource, workDirectory: URL, catalog: Catalog) throws {
        choice = source.choice
        embedder = source.embedder
        precomputed = source.precomputed
        let url = workDirectory.appendingPathComponent(Self.featuresFileName)
        let identity = source.identity
        if try catalog.setting("embedding") != identity {
            try catalog.clearFeatureRows()
            FeatureStore.remove(at: url)
            try catalog.setSetting("embedding", identity)
        }
        store = try FeatureStore(url: url, dimension: source.dimension, committedRows: try catalog.committedFeatureRows())
    }

    var dimension: Int { store.dimension }

    /// Appends the vectors of the decoded samples among `outcomes` to the feature store and
    /// returns each one's row. A model failure ends the run (it is not about one file).
    func append(_ outcomes: [SampleOutcome]) throws -> [Int64: Int] {
        var embedded: [(Int64, [Float])] = []
        for outcome in outcomes {
            if let embedding = outcome.embedding {
                let vector = try embedding.get()
                guard isUsableEmbedding(vector) else { Self.count(outcome.name, in: &unusableOutputs); continue }
                embedded.append((outcome.sampleID, vector))
            } else if let precomputed, case .success = outcome.result {
                guard let row = outcome.vectorRow else { Self.count(outcome.name, in: &missingVectors); continue }
                guard precomputed.isUsable(row: row) else { continue }   // named by `warnings`
                // Read from the file (rows come in decode order, at random): never kept resident.
                var vector = [Float](repeating: 0, count: precomputed.dimension)
                guard vector.withUnsafeMutableBufferPointer({ $0.baseAddress.map { precomputed.matrix.copyRow(row, into: $0) } ?? false })
                else {
                    throw EmbeddingError.invalidEmbeddings(path: precomputed.path, reason: "row \(row) can no longer be read: the file changed during the run")
                }
                embedded.append((outcome.sampleID, vector))
            }
        }
        guard !embedded.isEmpty else { return [:] }
        let rows = try store.append(embedded.map(\.1))
        return Dictionary(uniqueKeysWithValues: zip(embedded.map(\.0), rows))
    }

    private static func count(_ name: String, in tally: inout (count: Int, first: String)) {
        if tally.count == 0 { tally.first = name }
        tally.count += 1
    }

    /// One line for each kind of decoded image left without a vector (name, problem), for the end of the run.
    var warnings: [(name: String, problem: InvalidSample)] {
        var lines: [(name: String, problem: InvalidSample)] = []
        if missingVectors.count > 0 {
            lines.append((missingVectors.first, InvalidSample(.unreadable,
                "\(missingVectors.count) decoded images have no vector in the given embeddings (first shown)")))
        }
        if let precomputed, let message = precomputed.unusableRowsMessage {
            lines.append((precomputed.path, InvalidSample(.unreadable, message)))
        }
        if unusableOutputs.count > 0 {
            lines.append((unusableOutputs.first, InvalidSample(.unreadable, "the model gave \(unusableOutputs.count) images a vector with NaN "
                + "or infinite values or all zeros: they get no vector (first shown)")))
        }
        return lines
    }
}
