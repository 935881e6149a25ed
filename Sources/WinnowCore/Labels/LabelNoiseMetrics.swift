/// How well a score ranks known label errors first (corpus set D's `is_flipped`).
public enum LabelNoiseMetrics {
    /// Area under the ROC curve: the probability that a random flipped sample scores above a
    /// random clean one (ties count half, via average ranks). nil without both kinds.
    public static func auroc(scores: [Double], positives: [Bool]) -> Double? {
        let p = positives.filter { $0 }.count, n = positives.count - p
        guard p > 0, n > 0, scores.count == positives.count else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = average }
            i = j + 1
        }
        let positiveRanks = zip(ranks, positives).filter(\.1).reduce(0) { $0 + $1.0 }
        return (positiveRanks - Double(p) * Double(p + 1) / 2) / (Double(p) * Double(n))
    }

    /// Precision among the `k` highest scores (k = the number of positives by default; ties by index).
    public static func precisionAtK(scores: [Double], positives: [Bool], k: Int? = nil) -> Double? {
        let k = k ?? positives.filter { $0 }.count
        guard k > 0, scores.count == positives.count else { return nil }
        let top = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)
        return Double(top.filter { positives[$0] }.count) / Double(top.count)
    }
}
