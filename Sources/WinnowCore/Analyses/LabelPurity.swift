/// Label purity of visual clusters (fastdup's components with labels): for each connected
/// component (pairs ≥ `cc_threshold`), the majority label, `purity = majority count / members`,
/// and every label's count. A component with purity < 1 holds near-identical images with
/// contradicting labels.
public enum LabelPurity {
    public struct Cluster: Sendable, Equatable {
        /// The component's id (its smallest row) and member rows.
        public var id: Int
        public var members: [Int]
        public var majority: String
        public var purity: Double
        /// Label → count, most frequent first (ties by name).
        public var counts: [(label: String, count: Int)]

        public var isContradicting: Bool { counts.count > 1 }

        public static func == (a: Cluster, b: Cluster) -> Bool {
            a.id == b.id && a.members == b.members && a.majority == b.majority && a.purity == b.purity
                && a.counts.map(\.label) == b.counts.map(\.label) && a.counts.map(\.count) == b.counts.map(\.count)
        }
    }

    /// Purity of each component with ≥ 2 labelled members; unlabelled members (nil) are ignored.
    /// Least pure first.
    public static func compute(components: [ConnectedComponents.Component], labels: [String?]) -> [Cluster] {
        var clusters: [Cluster] = []
        for component in components {
            var byLabel: [String: Int] = [:]
            for row in component.members { if let label = labels[row] { byLabel[label, default: 0] += 1 } }
            let labelled = byLabel.values.reduce(0, +)
            guard labelled >= 2 else { continue }
            let counts = byLabel.map { (label: $0.key, count: $0.value) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.label < $1.label }
            clusters.append(Cluster(id: component.id, members: component.members, majority: counts[0].label,
                                    purity: Double(counts[0].count) / Double(labelled), counts: counts))
        }
        return clusters.sorted { $0.purity != $1.purity ? $0.purity < $1.purity : $0.id < $1.id }
    }
}
