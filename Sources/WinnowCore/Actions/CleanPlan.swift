import Foundation

/// How the image kept from a group of duplicates is chosen: the first rule that tells two
/// images apart decides; the lowest sample index breaks remaining ties.
public enum KeeperRule: String, Sendable, Codable, CaseIterable {
    /// More pixels first.
    case resolution
    /// Higher contrast-normalised sharpness first, when it differs by more than 10 % (within
    /// that, recompression artefacts can outweigh real detail, so the next rule decides).
    case sharpness
    /// Larger file first.
    case size
}

/// Which groups `winnow clean` works on.
public enum CleanGroups: String, Sendable, Codable, CaseIterable {
    /// Byte-identical files (`exact_duplicates.csv`).
    case exact
    /// Connected components of near duplicates (`connected_components.csv`, cc_threshold).
    case components
}

/// For each group of duplicates, one image to keep and the rest to remove — a plan only:
/// nothing is touched until `Quarantine.move` is called with it.
public struct CleanPlan: Sendable {
    public struct Member: Sendable, Equatable {
        public var id: Int64
        /// The sample id (path relative to its input).
        public var path: String
        public var filename: String
        /// Absolute path of the file; nil for archive members and video frames, which cannot be moved.
        public var location: String?
        public var pixels: Int
        public var sharpness: Double
        public var fileSize: Int64
        /// The file's modification time and content hash (XXH64, hex) when the run read it.
        public var modificationTime: Double = 0
        public var contentHash: String? = nil
    }

    public struct Group: Sendable, Equatable {
        public var keeper: Member
        public var removed: [Member]
    }

    public var groups: [Group]
    /// Images marked remove by a person that belong to no group kept here (no duplicate group,
    /// or every member of their group was marked remove).
    public var reviewed: [Member] = []
    public var removed: [Member] { removals.map(\.member) }
    /// Each image to remove with its group's kept file (nil for images marked remove outside groups).
    public var removals: [(member: Member, keeper: Member?)] {
        groups.flatMap { group in group.removed.map { ($0, Optional(group.keeper)) } } + reviewed.map { ($0, nil) }
    }

    /// Builds the plan from a work_dir's catalog: groups from the chosen sources are merged
    /// when they share an image. `marks` (from `winnow serve`) override the rules: an image
    /// marked keep is never removed (and becomes its group's keeper), an image marked remove is
    /// removed even when it is alone or the rules would keep it; a group keeps its best member
    /// not marked remove. The decisions recorded with `winnow mark` count as marks (`marks`
    /// given here override them), and an image in a protected folder is kept whatever it is
    /// marked. Images come from the findings of the last finished run (and the images listed
    /// now), so a run that failed after listing other inputs changes nothing.
    public static func make(workDirectory: URL, groups sources: [CleanGroups] = [.exact, .components],
                            rules: [KeeperRule] = [.resolution, .sharpness, .size],
                            marks given: [Int64: ReviewMark] = [:]) throws -> CleanPlan {
        let catalog = try Catalog(url: workDirectory.appendingPathComponent(Catalog.fileName))
        let members = try catalogMembers(in: catalog)
        let decisions = Decisions(try catalog.decisions())
        var marks = decisions.marks.merging(given) { $1 }
        for member in members.values where decisions.isProtected(location: member.location) { marks[member.id] = .keep }
        let edges = try duplicateEdges(in: catalog, sources: sources)
        let grouped = groupedMembers(members, joinedBy: edges)
        let kept = keeperGroups(grouped, rules: rules, marks: marks)
        var reviewed = kept.reviewed
        for (id, mark) in marks.sorted(by: { $0.key < $1.key }) where mark == .remove && !kept.groupedIDs.contains(id) {
            if let member = members[id] { reviewed.append(member) }
        }
        return CleanPlan(groups: kept.groups, reviewed: reviewed.sorted { $0.id < $1.id })
    }

    /// The images of the last finished run (and those listed now), by sample id, with what the rules compare.
    private static func catalogMembers(in catalog: Catalog) throws -> [Int64: Member] {
        var members: [Int64: Member] = [:]
        for row in try catalog.query("""
            SELECT s.id, s.path, s.filename, s.location, s.frame_pts, s.file_size, s.mtime, s.content_hash, s.width, s.height, t.sharpness
            FROM samples s LEFT JOIN stats t ON t.sample_id = s.id
            WHERE s.listed = 1 OR s.id IN (SELECT sample_id FROM exact_duplicates UNION SELECT first_id FROM exact_duplicates
                                           UNION SELECT sample_id FROM scores)
            """) {
            guard let id = Int64(row["id"] ?? "") else { continue }
            members[id] = Member(id: id, path: row["path"] ?? "", filename: row["filename"] ?? "",
                                 location: (row["location"] ?? "").isEmpty || row["frame_pts"]?.isEmpty == false ? nil : row["location"],
                                 pixels: (Int(row["width"] ?? "") ?? 0) * (Int(row["height"] ?? "") ?? 0),
                                 sharpness: Double(row["sharpness"] ?? "") ?? 0, fileSize: Int64(row["file_size"] ?? "") ?? 0,
                                 modificationTime: Double(row["mtime"] ?? "") ?? 0,
                                 contentHash: (row["content_hash"] ?? "").isEmpty ? nil : row["content_hash"])
        }
        return members
    }

    /// Pairs of sample ids that belong together: exact duplicates and component members, as `sources` asks.
    private static func duplicateEdges(in catalog: Catalog, sources: [CleanGroups]) throws -> [(Int64, Int64)] {
        var edges: [(Int64, Int64)] = []
        if sources.contains(.exact) {
            for row in try catalog.query("SELECT sample_id, first_id FROM exact_duplicates") {
                if let a = Int64(row["sample_id"] ?? ""), let b = Int64(row["first_id"] ?? "") { edges.append((a, b)) }
            }
        }
        if sources.contains(.components) {
            for row in try catalog.query("SELECT sample_id, component_id FROM scores WHERE component_id != sample_id") {
                if let a = Int64(row["sample_id"] ?? ""), let b = Int64(row["component_id"] ?? "") { edges.append((a, b)) }
            }
        }
        return edges
    }

    /// Merges the edges between known members into groups (union–find), keyed by each group's smallest id.
    private static func groupedMembers(_ members: [Int64: Member], joinedBy edges: [(Int64, Int64)]) -> [Int64: [Member]] {
        var parent: [Int64: Int64] = [:]
        func root(_ x: Int64) -> Int64 {
            var x = x
            while let p = parent[x], p != x { x = p }
            return x
        }
        for (a, b) in edges where members[a] != nil && members[b] != nil {
            parent[a] = parent[a] ?? a
            parent[b] = parent[b] ?? b
            let (ra, rb) = (root(a), root(b))
            if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
        }
        var grouped: [Int64: [Member]] = [:]
        // By id: `better` treats sharpness within 10 % as equal (not transitive), so the order the
        // members come in must not depend on a dictionary's per-process order.
        for id in parent.keys.sorted() { if let m = members[id] { grouped[root(id), default: []].append(m) } }
        return grouped
    }

    /// Chooses each group's keeper (marks first, then `rules`); groups whose every member is marked
    /// remove go to `reviewed`. Also returns the ids of every grouped member.
    private static func keeperGroups(_ grouped: [Int64: [Member]], rules: [KeeperRule], marks: [Int64: ReviewMark])
        -> (groups: [Group], reviewed: [Member], groupedIDs: Set<Int64>) {
        var reviewed: [Member] = []
        var groupedIDs = Set<Int64>()
        let groups = grouped.values.filter { $0.count > 1 }.compactMap { list -> Group? in
            let ordered = list.sorted { better($0, $1, rules) }
            groupedIDs.formUnion(list.map(\.id))
            let candidates = ordered.filter { marks[$0.id] != .remove }
            guard let keeper = candidates.first(where: { marks[$0.id] == .keep }) ?? candidates.first else {
                reviewed += ordered
                return nil
            }
            return Group(keeper: keeper, removed: ordered.filter { $0.id != keeper.id && marks[$0.id] != .keep })
        }.sorted { $0.keeper.id < $1.keeper.id }
        return (groups, reviewed, groupedIDs)
    }

    static func better(_ a: Member, _ b: Member, _ rules: [KeeperRule]) -> Bool {
        for rule in rules {
            switch rule {
            case .resolution where a.pixels != b.pixels: return a.pixels > b.pixels
            case .sharpness where abs(a.sharpness - b.sharpness) > 0.1 * max(a.sharpness, b.sharpness):
                return a.sharpness > b.sharpness
            case .size where a.fileSize != b.fileSize: return a.fileSize > b.fileSize
            default: continue
            }
        }
        return a.id < b.id
    }

    /// Writes `keep.csv` and `remove.csv` (group, index, filename, reason) into the work_dir.
    public func writeLists(to workDirectory: URL) throws {
        try WorkDirFile.keep.write(groups.enumerated().lazy.map { number, group in
            let k = group.keeper
            return KeepRow(group: number, index: k.id, filename: k.filename, pixels: k.pixels, sharpness: k.sharpness, fileSize: k.fileSize)
        }, in: workDirectory)
        try WorkDirFile.remove.write(in: workDirectory) { append in
            for (number, group) in groups.enumerated() {
                for r in group.removed {
                    try append(RemoveRow(group: String(number), index: r.id, filename: r.filename, keptIndex: group.keeper.id,
                                         keptFilename: group.keeper.filename))
                }
            }
            for r in reviewed { try append(RemoveRow(group: "review", index: r.id, filename: r.filename)) }
        }
    }
}
