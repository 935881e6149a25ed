/// Groups of byte-identical files, keyed by the first instance, as fiftyone.brain's
/// `compute_exact_duplicates` returns them (`{first_id: [duplicate_ids…]}`): files are
/// grouped by content hash (XXH64) and size; the first instance is the lowest sample id.
public enum ExactDuplicates {
    public static func groups(_ samples: [(id: Int64, contentHash: String?, fileSize: Int64)]) -> [Int64: [Int64]] {
        struct Key: Hashable { var hash: String; var size: Int64 }
        var members: [Key: [Int64]] = [:]
        for sample in samples {
            guard let hash = sample.contentHash, sample.fileSize > 0 else { continue }
            members[Key(hash: hash, size: sample.fileSize), default: []].append(sample.id)
        }
        var groups: [Int64: [Int64]] = [:]
        for ids in members.values where ids.count > 1 {
            let sorted = ids.sorted()
            groups[sorted[0]] = Array(sorted.dropFirst())
        }
        return groups
    }
}
