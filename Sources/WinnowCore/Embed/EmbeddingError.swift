/// Everything that can go wrong while loading ONNX Runtime, converting or loading a model,
/// or computing embeddings.
///
/// Every case renders as a single line (``description``), suitable for a CLI error message;
/// messages that come from ONNX Runtime are carried verbatim (with line breaks folded).
public enum EmbeddingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No ONNX Runtime shared library was found; `searched` lists where Winnow looked.
    case libraryNotFound(searched: [String])
    /// The shared library exists but could not be loaded (`dlopen`/`dlsym` failure).
    case libraryLoadFailed(path: String, reason: String)
    /// The library does not provide the C API version Winnow needs.
    case apiVersionUnsupported(path: String, requested: UInt32, libraryVersion: String)
    /// The model file does not exist.
    case modelNotFound(path: String)
    /// ONNX Runtime refused the model file (truncated, not ONNX, invalid graph…).
    case corruptModel(path: String, ortMessage: String)
    /// The model's input does not match the requested preprocessing
    /// (`expected` is what the model declares, `requested` what the caller asked for; -1 = any).
    case inputShapeMismatch(path: String, expected: [Int], requested: [Int])
    /// The model loads but cannot be used as an image embedder (e.g. no float tensor output).
    case unsupportedModel(path: String, reason: String)
    /// The MobileNetV2 weights (`.pth`) were not found; `searched` lists where Winnow looked.
    case weightsNotFound(searched: [String])
    /// The `.pth` weights could not be read or converted to ONNX.
    case conversionFailed(path: String, reason: String)
    /// An ONNX Runtime call failed at run time.
    case runtime(operation: String, code: Int, ortMessage: String)
    /// The caller passed something unusable (empty tensor, wrong element count, unknown output…).
    case invalidArgument(String)
    /// A file could not be written (e.g. the converted model in the cache).
    case fileWriteFailed(path: String, reason: String)
    /// Precomputed embeddings (`--embeddings`) cannot be used: wrong format, shape or names.
    case invalidEmbeddings(path: String, reason: String)

    public var description: String {
        let text: String
        switch self {
        case .libraryNotFound(let searched):
            text = "ONNX Runtime library not found (looked in: \(searched.joined(separator: ", "))); "
                + "run scripts/fetch-models.sh or set WINNOW_ONNXRUNTIME to libonnxruntime.so"
        case .libraryLoadFailed(let path, let reason):
            text = "cannot load ONNX Runtime library \(path): \(reason)"
        case .apiVersionUnsupported(let path, let requested, let version):
            text = "ONNX Runtime \(version) at \(path) does not provide C API version \(requested)"
        case .modelNotFound(let path):
            text = "model file not found: \(path)"
        case .corruptModel(let path, let message):
            text = "cannot load model \(path): not a valid ONNX model (\(message))"
        case .inputShapeMismatch(let path, let expected, let requested):
            text = "model \(path) expects input \(Self.shapeText(expected)), "
                + "but the embedder was configured for \(Self.shapeText(requested))"
        case .unsupportedModel(let path, let reason):
            text = "model \(path) cannot be used as an image embedder: \(reason)"
        case .weightsNotFound(let searched):
            text = "MobileNetV2 weights not found (looked in: \(searched.joined(separator: ", "))); "
                + "run scripts/fetch-models.sh"
        case .conversionFailed(let path, let reason):
            text = "cannot convert \(path) to ONNX: \(reason)"
        case .runtime(let operation, let code, let message):
            text = "ONNX Runtime \(operation) failed (code \(code)): \(message)"
        case .invalidArgument(let message):
            text = message
        case .fileWriteFailed(let path, let reason):
            text = "cannot write \(path): \(reason)"
        case .invalidEmbeddings(let path, let reason):
            text = "cannot use embeddings \(path): \(reason)"
        }
        return Self.oneLine(text)
    }

    /// Renders a shape as `N×3×224×224`, with `?` for dynamic dimensions.
    static func shapeText(_ shape: [Int]) -> String {
        shape.map { $0 < 0 ? "?" : String($0) }.joined(separator: "×")
    }

    /// Folds line breaks and runs of whitespace so the message stays on one line.
    static func oneLine(_ text: String) -> String { text.oneLine }
}

extension String {
    /// The text with line breaks and tabs folded into single spaces, for one-line messages.
    var oneLine: String {
        let text = self
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for ch in text {
            if ch.isNewline || ch == "\t" {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                if out.last != " " { out.append(" ") }
                pendingSpace = false
            }
            out.append(ch)
        }
        return out
    }
}
