import Foundation

/// Where Winnow finds the ONNX Runtime library and its embedding models.
///
/// Layout under the cache directory (`$WINNOW_CACHE`, default `~/.cache/winnow`), as filled by
/// `scripts/fetch-models.sh`:
///
///     onnxruntime/libonnxruntime.so.<version>
///     models/mobilenet_v2-b0353104.pth   torchvision's ImageNet weights (legacy torch format)
///     models/mobilenet_v2.onnx           converted from the .pth on first use
///     models/mobilenet_v2_int8.onnx      its partially int8 variant, likewise
public struct EmbeddingAssets: Sendable, Equatable {
    /// Cache root.
    public var cacheDirectory: String
    /// An explicit ONNX Runtime library path (env `WINNOW_ONNXRUNTIME`), tried first.
    public var onnxRuntimeLibrary: String?

    /// File name of the converted default model inside `models/`.
    public static let mobileNetV2ModelName = "mobilenet_v2.onnx"
    /// File name of the converted partially int8 model (``MobileNetV2Converter/Precision/int8``).
    public static let mobileNetV2Int8ModelName = "mobilenet_v2_int8.onnx"

    public init(cacheDirectory: String, onnxRuntimeLibrary: String? = nil) {
        self.cacheDirectory = cacheDirectory
        self.onnxRuntimeLibrary = onnxRuntimeLibrary
    }

    /// Reads `WINNOW_CACHE` (default `$HOME/.cache/winnow`) and `WINNOW_ONNXRUNTIME`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> EmbeddingAssets
    {
        let cache: String
        if let value = environment["WINNOW_CACHE"], !value.isEmpty {
            cache = value
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            cache = (home as NSString).appendingPathComponent(".cache/winnow")
        }
        let library = environment["WINNOW_ONNXRUNTIME"].flatMap { $0.isEmpty ? nil : $0 }
        return EmbeddingAssets(cacheDirectory: cache, onnxRuntimeLibrary: library)
    }

    /// `<cache>/models`.
    public var modelsDirectory: String { (cacheDirectory as NSString).appendingPathComponent("models") }
    /// `<cache>/onnxruntime`.
    public var onnxRuntimeDirectory: String { (cacheDirectory as NSString).appendingPathComponent("onnxruntime") }

    /// The ONNX Runtime library: `onnxRuntimeLibrary` if set, else the newest
    /// `<cache>/onnxruntime/libonnxruntime.so*`.
    public func onnxRuntimeLibraryPath() throws(EmbeddingError) -> String {
        if let explicit = onnxRuntimeLibrary {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw .libraryNotFound(searched: ["WINNOW_ONNXRUNTIME=\(explicit)"])
            }
            return explicit
        }
        let directory = onnxRuntimeDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let candidates = names.filter {
            $0.hasPrefix("libonnxruntime.so") || ($0.hasPrefix("libonnxruntime.") && $0.hasSuffix(".dylib"))
        }
        guard let best = candidates.max(by: { Self.versionOrder($0, $1) }) else {
            throw .libraryNotFound(searched: [(directory as NSString).appendingPathComponent("libonnxruntime.so*")])
        }
        return (directory as NSString).appendingPathComponent(best)
    }

    /// The torchvision MobileNetV2 weights in `<cache>/models` (`mobilenet_v2*.pth`).
    public func mobileNetV2WeightsPath() throws(EmbeddingError) -> String {
        let directory = modelsDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let name = names.filter({ $0.hasPrefix("mobilenet_v2") && $0.hasSuffix(".pth") }).sorted().first else {
            throw .weightsNotFound(searched: [(directory as NSString).appendingPathComponent("mobilenet_v2*.pth")])
        }
        return (directory as NSString).appendingPathComponent(name)
    }

    /// The default model, `<cache>/models/mobilenet_v2.onnx` (for an `inputSize`² input other
    /// than 224, `mobilenet_v2_<inputSize>.onnx`; int8: `mobilenet_v2_int8.onnx`,
    /// `mobilenet_v2_int8_<inputSize>.onnx`), converted from the `.pth` weights (and written
    /// atomically) if it is not there yet.
    ///
    /// - Throws: ``EmbeddingError/invalidArgument(_:)`` for an int8 input size without
    ///   calibrated ranges (``MobileNetV2Converter/Precision/supportedInputSizes``).
    public func mobileNetV2ModelPath(inputSize: Int = 224, precision: MobileNetV2Converter.Precision = .float32)
        throws(EmbeddingError) -> String
    {
        try MobileNetV2Converter.checkInputSize(inputSize, precision: precision)
        let name = precision == .int8 ? Self.mobileNetV2Int8ModelName : Self.mobileNetV2ModelName
        return try convertedModelPath(named: Self.fileName(name, inputSize: inputSize)) { weights throws(EmbeddingError) in
            try MobileNetV2Converter.convert(pthAt: weights, inputSize: inputSize, precision: precision)
        }
    }

    /// File name of the converted copy-detection model inside `models/`: the default model plus
    /// the expansion activations of the blocks in ``CopyDescriptor/expansionBlocks`` and the
    /// pooled outputs of ``CopyDescriptor/blocks`` (a new name when those change).
    public static let mobileNetV2CopyModelName = "mobilenet_v2_copy_v1.onnx"
    /// The same with the int8 layers of ``MobileNetV2Converter/Precision/int8``, its weights
    /// within ±``copyInt8LargestWeightLevel``.
    public static let mobileNetV2CopyInt8ModelName = "mobilenet_v2_copy_int8_v2.onnx"
    /// 7-bit weights: a pair of uint8 × int8 products (255 · 63 · 2 = 32,130) then fits the
    /// saturating 16-bit sums ONNX Runtime's kernels make on CPUs without VNNI, so the copy
    /// model computes the same on every x86-64 CPU (with 8-bit weights an AVX2-only CPU's sums
    /// could saturate).
    public static let copyInt8LargestWeightLevel: Int8 = 63

    /// The copy model's file name for `precision` (224² input).
    public static func mobileNetV2CopyModelName(precision: MobileNetV2Converter.Precision) -> String {
        precision == .int8 ? mobileNetV2CopyInt8ModelName : mobileNetV2CopyModelName
    }

    /// The copy-detection variant of the default model, `<cache>/models/` + ``mobileNetV2CopyModelName``
    /// (or ``mobileNetV2CopyInt8ModelName``; `_<inputSize>` added for inputs other than 224²),
    /// converted from the same `.pth` weights on first use.
    ///
    /// - Throws: ``EmbeddingError/invalidArgument(_:)`` for an int8 input size without
    ///   calibrated ranges.
    public func mobileNetV2CopyModelPath(inputSize: Int = 224, precision: MobileNetV2Converter.Precision = .float32)
        throws(EmbeddingError) -> String
    {
        try MobileNetV2Converter.checkInputSize(inputSize, precision: precision)
        return try convertedModelPath(named: Self.fileName(Self.mobileNetV2CopyModelName(precision: precision), inputSize: inputSize)) { weights throws(EmbeddingError) in
            try MobileNetV2Converter.convert(pthAt: weights, inputSize: inputSize, expansionOutputs: CopyDescriptor.expansionBlocks,
                                             pooledOutputs: true, precision: precision,
                                             largestWeightLevel: Self.copyInt8LargestWeightLevel)
        }
    }

    /// The file of a converted model: `name`, or for an input side other than 224 `name` with
    /// `_<inputSize>` before `.onnx`.
    public static func fileName(_ name: String, inputSize: Int) -> String {
        inputSize == 224 ? name : name.replacingOccurrences(of: ".onnx", with: "_\(inputSize).onnx")
    }

    /// `<cache>/models/<name>`, converted from the `.pth` weights by `convert` (once, under a
    /// lock, written atomically) if it is not there yet.
    private func convertedModelPath(named name: String,
                                    convert: (String) throws(EmbeddingError) -> [UInt8]) throws(EmbeddingError) -> String {
        let path = (modelsDirectory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: path) { return path }
        Self.conversionLock.lock()
        defer { Self.conversionLock.unlock() }
        if FileManager.default.fileExists(atPath: path) { return path }
        try Self.writeAtomically(try convert(try mobileNetV2WeightsPath()), to: path)
        return path
    }

    private static let conversionLock = NSLock()

    /// Writes `bytes` to a temporary file next to `path`, then renames it into place, so a
    /// reader never sees a partial file (even with several processes converting at once).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(EmbeddingError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = (directory as NSString).appendingPathComponent(
                ".\((path as NSString).lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp")
            let url = URL(fileURLWithPath: temporary)
            try Data(bytes).write(to: url)
            if rename(temporary, path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: url)
                throw EmbeddingError.fileWriteFailed(path: path, reason: reason)
            }
        } catch let error as EmbeddingError {
            throw error
        } catch {
            throw .fileWriteFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// Orders `libonnxruntime.so.1.9.0` before `libonnxruntime.so.1.22.1` (numeric components).
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        func numbers(_ s: String) -> [Int] {
            s.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        }
        return numbers(a).lexicographicallyPrecedes(numbers(b))
    }
}
