import Foundation

/// Which embeddings a run computes or reads.
public enum EmbeddingChoice: Sendable, Codable, Equatable {
    /// Statistics only.
    case none
    /// torchvision's ImageNet MobileNetV2, 1280-d global-average-pooled features, centre crop
    /// 224 of the image resized to 256 (fastdup-like default) or the whole image squashed.
    case mobileNetV2(squash: Bool)
    /// A user ONNX model with a `[N,3,size,size]` float input.
    case onnx(path: String, inputSize: Int, mean: [Float], std: [Float], bgr: Bool)
    /// Vectors computed elsewhere (`.npy`, fastdup `.dat`, or CSV).
    case precomputed(path: String)
    /// The copy-detection descriptor (``CopyDescriptor``: MobileNetV2 on the squashed, border-
    /// trimmed image in colour and coarse grey, final map max-pooled + block 12 GeM), PCA-whitened
    /// over the collection in the analysis stage.
    case copyDescriptor

    /// A name for the catalog: when it changes, stored features are recomputed.
    var identity: String {
        switch self {
        case .none: "none"
        case .mobileNetV2(let squash): "mobilenet_v2/\(squash ? "squash224" : "crop224")"
        case .onnx(let path, let size, let mean, let std, let bgr):
            "onnx/\(path)/\(modificationTime(path))/\(size)/\(mean)/\(std)/\(bgr ? "bgr" : "rgb")"
        case .precomputed(let path): "precomputed/\(path)/\(modificationTime(path))"
        case .copyDescriptor: CopyDescriptor().identity
        }
    }

    /// Block lengths of vectors that are whitened over the collection before use (nil: used as stored).
    var whitenedBlocks: [Int]? {
        self == .copyDescriptor ? CopyDescriptor.blockLengths : nil
    }
}

/// Makes the model input from a decoded image, on the decode workers.
protocol EmbeddingInputMaker: Sendable {
    func embeddingInput(for image: RGBImage) -> [Float]
}

extension ImagePreprocessor: EmbeddingInputMaker {
    func embeddingInput(for image: RGBImage) -> [Float] { tensor(from: image) }
}

extension CopyDescriptorEmbedder: EmbeddingInputMaker {
    func embeddingInput(for image: RGBImage) -> [Float] { input(for: image) }
}

private func modificationTime(_ path: String) -> Double {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
}

/// The embedding step of a run: turns decoded images into vectors (model inference on the
/// caller's thread, preprocessing on the decode workers) and appends them to the feature store.
final class EmbeddingStage {
    let choice: EmbeddingChoice
    let store: FeatureStore
    /// What the decode workers run on each decoded image (nil for precomputed vectors).
    let preprocessor: (any EmbeddingInputMaker)?
    private let embedder: OnnxImageEmbedder?
    private let copyEmbedder: CopyDescriptorEmbedder?
    private let precomputed: PrecomputedEmbeddings?
    private var precomputedRows: [String: Int] = [:]
    /// Samples that decoded but have no precomputed vector.
    private(set) var missingVectors: [String] = []

    static let featuresFileName = "features.f32"

    init(choice: EmbeddingChoice, workDirectory: URL, catalog: Catalog, threads: Int) throws {
        self.choice = choice
        copyEmbedder = choice == .copyDescriptor ? try CopyDescriptorEmbedder.mobileNetV2(intraOpThreads: threads) : nil
        switch choice {
        case .none:
            throw EmbeddingError.invalidArgument("no embedding stage without a model")
        case .mobileNetV2(let squash):
            embedder = try OnnxImageEmbedder.mobileNetV2(intraOpThreads: threads,
                                                          resizeMode: squash ? .squash : .centerCrop(shortSide: 256))
            precomputed = nil
        case .onnx(let path, let size, let mean, let std, let bgr):
            embedder = try OnnxImageEmbedder(modelPath: path, inputSize: size, mean: mean, std: std,
                                             channelOrder: bgr ? .bgr : .rgb,
                                             options: OnnxSessionOptions(intraOpThreads: threads))
            precomputed = nil
        case .precomputed(let path):
            embedder = nil
            precomputed = try PrecomputedEmbeddings.load(path)
        case .copyDescriptor:
            embedder = nil
            precomputed = nil
        }
        preprocessor = copyEmbedder ?? embedder?.preprocessor
        let dimension = copyEmbedder?.dimension ?? embedder?.dimension ?? precomputed?.dimension ?? 0
        let url = workDirectory.appendingPathComponent(Self.featuresFileName)
        let identity = "\(choice.identity)/d\(dimension)"
        if try catalog.setting("embedding") != identity {
            try catalog.clearFeatureRows()
            FeatureStore.remove(at: url)
            try catalog.setSetting("embedding", identity)
        }
        store = try FeatureStore(url: url, dimension: dimension, committedRows: try catalog.committedFeatureRows())
    }

    var dimension: Int { store.dimension }

    /// Matches precomputed vectors to the run's files (all listed files, in id order).
    func bind(_ samples: [(id: String, filename: String)]) throws {
        if let precomputed { precomputedRows = try precomputed.rows(for: samples) }
    }

    /// Embeds the decoded samples among `outcomes` and returns each one's feature-store row.
    func embed(_ outcomes: [SampleOutcome], ids: [Int64: String]) throws -> [Int64: Int] {
        var embedded: [(Int64, [Float])] = []
        if let copyEmbedder {
            let inputs = outcomes.compactMap { outcome in outcome.embeddingInput.map { (outcome.sampleID, $0) } }
            guard !inputs.isEmpty else { return [:] }
            let vectors = try copyEmbedder.describe(inputs: inputs.map(\.1))
            embedded = zip(inputs.map(\.0), vectors).map { ($0, $1) }
        } else if let embedder {
            let inputs = outcomes.compactMap { outcome in outcome.embeddingInput.map { (outcome.sampleID, $0) } }
            guard !inputs.isEmpty else { return [:] }
            let vectors = try embedder.embed(preprocessed: inputs.map(\.1))
            embedded = zip(inputs.map(\.0), vectors).map { ($0, $1) }
        } else if let precomputed {
            for outcome in outcomes {
                guard case .success = outcome.result, let id = ids[outcome.sampleID] else { continue }
                guard let row = precomputedRows[id] else { missingVectors.append(id); continue }
                embedded.append((outcome.sampleID, Array(precomputed.matrix.row(row))))
            }
        }
        guard !embedded.isEmpty else { return [:] }
        let rows = try store.append(embedded.map(\.1))
        return Dictionary(uniqueKeysWithValues: zip(embedded.map(\.0), rows))
    }
}
