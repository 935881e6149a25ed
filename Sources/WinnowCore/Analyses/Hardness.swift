import Foundation

/// fiftyone.brain `compute_hardness`: the natural-log entropy of `softmax(logits)`,
/// `H = −Σ pᵢ ln pᵢ` — high when the model is unsure. (For videos fiftyone takes the max over frames.)
public enum Hardness {
    /// Softmax of `logits`, computed stably (max subtracted).
    public static func softmax(_ logits: [Double]) -> [Double] {
        guard let top = logits.max() else { return [] }
        let e = logits.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Entropy (nats) of `softmax(logits)`; 0 for empty logits.
    public static func entropy(logits: [Double]) -> Double {
        softmax(logits).reduce(0) { $1 > 0 ? $0 - $1 * log($1) : $0 }
    }
}
