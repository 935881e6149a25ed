/// fiftyone.brain's leaky splits: near-duplicate pairs (similarity ≥ threshold) whose samples
/// belong to different splits — a test image that is a copy of a training image inflates
/// accuracy. Splits come from annotations or, failing that, from folder names.
public enum LeakySplits {
    /// The split named by a path component (`train`, `training`, `val`, `valid`, `validation`,
    /// `dev`, `test`, `testing`), normalised to train / val / test; nil if none.
    public static func split(fromPath path: String) -> String? {
        for part in path.lowercased().split(separator: "/").dropLast().reversed() {
            switch part {
            case "train", "training", "trainset": return "train"
            case "val", "valid", "validation", "dev", "valset": return "val"
            case "test", "testing", "testset": return "test"
            default: continue
            }
        }
        return nil
    }

    public struct Leak: Sendable, Equatable {
        public var pair: SimilarPair
        public var fromSplit: String
        public var toSplit: String
    }

    /// Each leaking pair once (lower row first), most similar first.
    public static func find(graph: KNNGraph, splits: [String?], threshold: Float = 0.9) -> [Leak] {
        var leaks: [Leak] = []
        for pair in SimilarityPairs.pairs(graph: graph, threshold: threshold) where pair.from < pair.to {
            guard let a = splits[pair.from], let b = splits[pair.to], a != b else { continue }
            leaks.append(Leak(pair: pair, fromSplit: a, toSplit: b))
        }
        return leaks
    }
}
