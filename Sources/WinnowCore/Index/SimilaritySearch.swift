import Foundation

/// "Images like this one": nearest neighbours in a finished work_dir of an image file (decoded
/// and embedded on the fly with the run's model), of a sample already in it, or of a vector.
/// Uses the run's saved approximate index when there is one, else exact search over the
/// memory-mapped `atrain_features.dat`.
public final class SimilaritySearch: @unchecked Sendable {
    public let workDirectory: URL
    public let configuration: RunConfiguration
    /// Sample index and output filename of each feature row.
    public let ids: [Int64]
    public let filenames: [String]
    private let index: any SimilarityIndex
    private let rowOfID: [Int64: Int]
    private var embedder: OnnxImageEmbedder?
    private var copyEmbedder: CopyDescriptorEmbedder?
    /// The run's `whitening.bin`, read on first use (``storedVector(ofRaw:)``); nil inside: none.
    private var whitening: BlockWhitening??

    /// Saved approximate index inside a work_dir.
    public static let indexFileName = "index.faiss"

    public struct Match: Sendable, Equatable, Codable {
        public var index: Int64
        public var filename: String
        public var similarity: Float
        public var distance: Float
    }

    public init(workDirectory: URL) throws {
        self.workDirectory = workDirectory
        let config = workDirectory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: config) else { throw SearchError.notAWorkDirectory(workDirectory.path) }
        configuration = try JSONDecoder().decode(RunConfiguration.self, from: data)
        let vectors = workDirectory.appendingPathComponent(FeatureFiles.vectors)
        guard FileManager.default.fileExists(atPath: vectors.path) else { throw SearchError.noFeatures(workDirectory.path) }
        let (ids, names): (ids: [Int64], filenames: [String])
        do { (ids, names) = try WorkDirFeatures.samples(in: workDirectory) } catch { throw SearchError.unreadableFile(error.description) }
        guard !ids.isEmpty else { throw SearchError.noFeatures(workDirectory.path) }
        self.ids = ids
        filenames = names
        rowOfID = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let saved = workDirectory.appendingPathComponent(Self.indexFileName)
        if FileManager.default.fileExists(atPath: saved.path) {
            index = try loadSimilarityIndex(from: saved)
        } else {
            let size = (try FileManager.default.attributesOfItem(atPath: vectors.path)[.size] as? NSNumber)?.intValue ?? 0
            guard size > 0, size % (ids.count * 4) == 0 else { throw SearchError.noFeatures(workDirectory.path) }
            let matrix = try FeatureMatrix(mapping: vectors, dimension: size / (ids.count * 4))
            index = ExactIndex(vectors: matrix, metric: configuration.analysis.metric)
        }
        // Every row the index returns must name a sample.
        guard index.count == ids.count else { throw SearchError.noFeatures(workDirectory.path) }
    }

    public var dimension: Int { index.dimension }

    /// Neighbours of a vector (length `dimension`), nearest first.
    public func neighbors(ofVector vector: [Float], k: Int = 10, minimumSimilarity: Float? = nil) throws -> [Match] {
        guard vector.count == dimension else { throw SearchError.dimensionMismatch(expected: dimension, actual: vector.count) }
        // A NaN would be at distance 0 from everything; a zero vector has no direction.
        guard isUsableEmbedding(vector) else { throw SearchError.unusableVector }
        return try matches(FeatureMatrix(rows: 1, dimension: dimension, values: vector), k: k, excluding: nil,
                           minimumSimilarity: minimumSimilarity)
    }

    /// Neighbours of a sample of the work_dir (by its index), itself excluded.
    public func neighbors(ofSample id: Int64, k: Int = 10, minimumSimilarity: Float? = nil) throws -> [Match] {
        guard let row = rowOfID[id] else { throw SearchError.unknownSample(id) }
        let vectors = try FeatureMatrix(mapping: workDirectory.appendingPathComponent(FeatureFiles.vectors), dimension: dimension)
        return try matches(vectors.slice(row..<(row + 1)), k: k, excluding: id, minimumSimilarity: minimumSimilarity)
    }

    /// Neighbours of an image file, embedded with the run's model (and its bounding box).
    public func neighbors(ofImageAt path: String, k: Int = 10, minimumSimilarity: Float? = nil) throws -> [Match] {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw SearchError.unreadableImage(path, "cannot read the file")
        }
        let decoded: DecodedImage
        // Decoded as the run decoded its images.
        do { decoded = try configuration.decoder(minimumSide: configuration.analysisSide).decode(bytes) } catch {
            throw SearchError.unreadableImage(path, error.message)
        }
        var image = decoded.image
        if let crop = configuration.crop,
           let cropped = crop.crop(image, originalWidth: decoded.originalWidth, originalHeight: decoded.originalHeight) {
            image = cropped
        }
        return try neighbors(ofVector: try queryVector(of: image), k: k, minimumSimilarity: minimumSimilarity)
    }

    /// The vector the run would have stored for a decoded image: its model's embedding, or for
    /// copy descriptors the descriptor whitened with the run's `whitening.bin`.
    private func queryVector(of image: RGBImage) throws -> [Float] {
        guard configuration.embedding.isCopyDescriptor else { return try modelEmbedder().embed([image])[0] }
        let describer = try copyEmbedder ?? CopyDescriptorEmbedder.mobileNetV2(intraOpThreads: 0)
        copyEmbedder = describer
        return try storedVector(ofRaw: describer.describe([image])[0])
    }

    /// The vector the run stored for a raw embedding: for copy descriptors the descriptor
    /// whitened with the run's `whitening.bin` (when it has one), else the embedding as it is.
    public func storedVector(ofRaw raw: [Float]) throws -> [Float] {
        guard configuration.embedding.isCopyDescriptor else { return raw }
        if whitening == nil {
            let saved = workDirectory.appendingPathComponent(WhiteningStage.fileName)
            whitening = .some(FileManager.default.fileExists(atPath: saved.path) ? try BlockWhitening.read(from: saved) : nil)
        }
        return whitening??.apply(raw) ?? raw
    }

    private func modelEmbedder() throws -> OnnxImageEmbedder {
        if let embedder { return embedder }
        let made: OnnxImageEmbedder
        switch configuration.embedding {
        case .mobileNetV2(let squash, let size):
            made = try OnnxImageEmbedder.mobileNetV2(intraOpThreads: 0, inputSize: size, squash: squash)
        case .mobileNetV2Int8(let size):
            made = try OnnxImageEmbedder.mobileNetV2(intraOpThreads: 0, inputSize: size, precision: .int8)
        case .onnx(let path, let size, let mean, let std, let bgr):
            made = try OnnxImageEmbedder(modelPath: path, inputSize: size, mean: mean, std: std, channelOrder: bgr ? .bgr : .rgb)
        case .precomputed, .none, .copyDescriptor, .precomputedCopyDescriptors:
            throw SearchError.noModel(workDirectory.path)
        }
        embedder = made
        return made
    }

    private func matches(_ query: FeatureMatrix, k: Int, excluding: Int64?, minimumSimilarity: Float?) throws -> [Match] {
        let metric = configuration.analysis.metric
        let wanted = min(index.count, min(max(k, 0), index.count) + (excluding == nil ? 0 : 1))
        let found = try index.search(query, k: wanted, excludingSelf: false)[0]
        return found.compactMap { n -> Match? in
            guard ids[n.index] != excluding else { return nil }
            let similarity = n.similarity(metric)
            if let minimumSimilarity, similarity < minimumSimilarity { return nil }
            return Match(index: ids[n.index], filename: filenames[n.index], similarity: similarity, distance: n.distance)
        }.prefix(k).map { $0 }
    }
}

/// Names of the feature files in a work_dir.
enum FeatureFiles {
    static let vectors = "atrain_features.dat"
}

/// Why a search cannot run; one line each.
public enum SearchError: Error, Equatable, CustomStringConvertible {
    case notAWorkDirectory(String)
    case noFeatures(String)
    case noModel(String)
    case unknownSample(Int64)
    case unreadableImage(String, String)
    case dimensionMismatch(expected: Int, actual: Int)
    case unusableVector
    /// A work_dir file that cannot be read (its path and why).
    case unreadableFile(String)

    public var description: String {
        switch self {
        case .notAWorkDirectory(let path): "\(path) is not a Winnow work_dir (no config.json): run `winnow run` first"
        case .noFeatures(let path): "\(path) has no features (atrain_features.dat): run `winnow run` with embeddings"
        case .noModel(let path): "\(path) was run with precomputed embeddings: search by --id or --vector instead of an image"
        case .unknownSample(let id): "no embedded sample with index \(id) in this work_dir"
        case .unreadableImage(let path, let why): "\(path): \(why)"
        case .dimensionMismatch(let expected, let actual): "the query vector has \(actual) values, the features \(expected)"
        case .unusableVector: "the query vector has NaN or infinite values or is all zero"
        case .unreadableFile(let message): message
        }
    }
}
