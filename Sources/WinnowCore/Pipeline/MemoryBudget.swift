import Foundation

/// How much memory a run may use (`--max-memory`; default half of the machine's memory, or of
/// its cgroup's limit when lower). Before a run starts, ``MemoryBudget/check(_:)`` compares the
/// budget with what the run needs at least (``MemoryEstimate``) and refuses, in one line, a run
/// that cannot fit; the stages that can trade memory for time (verification's feature cache)
/// are then given what is left.
public struct MemoryBudget: Sendable, Codable, Equatable {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = max(0, bytes) }

    /// Half of the memory this process can have.
    public static var machineDefault: MemoryBudget {
        MemoryBudget(bytes: availableMemory() / 2)
    }

    /// The machine's memory, or the cgroup v2 limit (`memory.max`) when that is lower.
    static func availableMemory() -> Int64 {
        let physical = Int64(clamping: ProcessInfo.processInfo.physicalMemory)
        guard let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
              let limit = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 else { return physical }
        return min(physical, limit)
    }

    /// Parses sizes as users write them: `12G`, `512M`, `1.5GB`, `2GiB`, `800k`, or bytes.
    /// Units are powers of 1024. Nil for anything else (negative, NaN, unknown unit, overflow).
    public static func parse(_ text: String) -> MemoryBudget? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        var unit = String(trimmed.dropFirst(number.count)).trimmingCharacters(in: .whitespaces)
        for suffix in ["ib", "b"] where unit.count > suffix.count && unit.hasSuffix(suffix) {
            unit = String(unit.dropLast(suffix.count))
            break
        }
        guard let power = ["": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40][unit] else { return nil }
        let scale = Double(Int64(1) << power)
        guard let value = Double(number), value.isFinite, value * scale < 0x1p62 else { return nil }
        return MemoryBudget(bytes: Int64(value * scale))
    }

    /// Throws ``MemoryBudgetError/tooSmall(budget:estimate:)`` when `estimate` does not fit.
    public func check(_ estimate: MemoryEstimate) throws(MemoryBudgetError) {
        guard estimate.total <= bytes else { throw .tooSmall(budget: self, estimate: estimate) }
    }

    /// What is left of the budget once `estimate` is taken (never negative).
    public func remaining(after estimate: MemoryEstimate) -> Int64 { max(0, bytes - estimate.total) }
}

/// What a run needs at least, part by part: the bounds the stages keep to, not a forecast of
/// its peak (the operating system's caches and the verification feature cache come on top).
public struct MemoryEstimate: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
    }

    public var parts: [Part]
    public var total: Int64 { parts.reduce(0) { $0 + $1.bytes } }

    /// A small record per image (catalog row, id, name, scores) in the analyses.
    static let bytesPerImage: Int64 = 1024
    /// The embedding model's weights and working buffers, per worker (MobileNetV2 float32
    /// with ONNX Runtime's arena).
    static let modelBytesPerWorker: Int64 = 96 << 20
    /// The smallest local-feature cache verification runs with.
    static let minimumVerificationCache: Int64 = 32 << 20

    /// The estimate for a run over `images` images on `workers` workers.
    public static func run(images: Int, dimension: Int, workers: Int, limits: DecodeLimits,
                           index: IndexKind, embeds: Bool, verifies: Bool) -> MemoryEstimate {
        let n = Int64(images), d = Int64(dimension), w = Int64(max(1, workers))
        var parts = [Part(name: "image records", bytes: n * bytesPerImage),
                     Part(name: "decoding (\(w) × the largest image and file allowed)",
                          bytes: w * (Int64(limits.maximumPixels) * 3 + limits.maximumFileBytes))]
        if embeds { parts.append(Part(name: "embedding model", bytes: w * modelBytesPerWorker)) }
        if d > 0 { parts.append(Part(name: "\(index.rawValue) index", bytes: indexBytes(n, d, index))) }
        if verifies { parts.append(Part(name: "verification", bytes: minimumVerificationCache)) }
        return MemoryEstimate(parts: parts)
    }

    /// The exact index keeps one tile of scores and a norm per row (vectors stay mapped);
    /// Faiss keeps every vector, plus HNSW's links (2·32 on the bottom layer); the projected
    /// index keeps a 256-d projection and a norm per row (plus HNSW's links above 75k rows).
    /// The list index keeps its lists and searches one list's gathered members at a time.
    static func indexBytes(_ n: Int64, _ d: Int64, _ kind: IndexKind) -> Int64 {
        switch kind {
        case .flat: 512 * 4096 * 4 + n * 4
        case .hnsw: n * (d * 4 + 64 * 4 + 16)
        case .ivf: n * (d * 4 + 8)
        // The lists (three Int32 a row, twice while they are sorted), the centroids' sample and
        // one list's gathered vectors and scores.
        case .lists: n * 24 + min(n, Int64(ListCentroids.maximumTwoLevelSampleRows)) * d * 4
            + 2 * Int64(ListIndex.defaultListRows) * (d * 4 + 4096 * 4)
        case .projected:
            n * (Int64(ProjectedIndex.defaultProjectedDimension) * 4 + 4)
                + (n > Int64(IndexKind.exactRowLimit) ? n * (64 * 4 + 16) : 512 * 4096 * 4)
        }
    }
}

/// A run that cannot fit in its memory budget.
public enum MemoryBudgetError: Error, Equatable, CustomStringConvertible {
    case tooSmall(budget: MemoryBudget, estimate: MemoryEstimate)

    public var description: String {
        switch self {
        case let .tooSmall(budget, estimate):
            let parts = estimate.parts.filter { $0.bytes > 0 }.map { "\($0.name) \(gigabytes($0.bytes))" }
            return "--max-memory \(gigabytes(budget.bytes)) is too small for this run: it needs at least "
                + "\(gigabytes(estimate.total)) (\(parts.joined(separator: ", "))); raise --max-memory, or lower "
                + "--threads, --max-image-pixels or --max-file-bytes"
        }
    }
}

/// "1.25 GiB" for messages.
func gigabytes(_ bytes: Int64) -> String {
    String(format: "%.2f GiB", Double(bytes) / Double(1 << 30))
}
