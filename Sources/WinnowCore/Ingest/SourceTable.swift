/// The run's sample sources in stable-id order, looked up by id with a binary search: where to
/// read an image's bytes again (copy verification) without a second table over every image.
public struct SourceTable: Sendable {
    private let sources: [SampleSource]

    /// `sources` in any order (ingest gives them sorted by id; then nothing is copied). Of two
    /// sources with the same id, the first is kept.
    public init(_ sources: [SampleSource]) {
        let sorted = zip(sources, sources.dropFirst()).allSatisfy { $0.id < $1.id }
        self.sources = sorted ? sources : Self.firstOfEachID(sources)
    }

    private static func firstOfEachID(_ sources: [SampleSource]) -> [SampleSource] {
        let ordered = sources.enumerated().sorted { ($0.element.id, $0.offset) < ($1.element.id, $1.offset) }
        return ordered.enumerated().compactMap { position, entry in
            position > 0 && ordered[position - 1].element.id == entry.element.id ? nil : entry.element
        }
    }

    public var count: Int { sources.count }

    /// The source whose stable id is `id`, nil when none is.
    public subscript(id id: String) -> SampleSource? {
        let at = sources.partitionPoint { $0.id < id }
        return at < sources.count && sources[at].id == id ? sources[at] : nil
    }
}
