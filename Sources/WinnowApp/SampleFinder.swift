import Foundation
import Synchronization
import WinnowCore

/// One sample as `/api/samples` lists it.
struct SampleRow: Encodable, Equatable {
    var index: Int64
    var filename: String
    var width: Int
    var height: Int
    var uniqueness: Double?
    var nearestSimilarity: Double?
    var component: Int64?
    /// Images in its component (1 when it is alone).
    var componentSize: Int
    /// Its k-means cluster (`scores.csv`).
    var cluster: Int?
    /// Issue names in display order (``WorkDirData/issueOrder``).
    var issues: [String]
    /// The given label ("" when none).
    var label: String
    var split: String
    /// The review mark made in the app.
    var mark: ReviewMark?
    /// Whether the catalog locates the image, so that the app can preview it.
    var hasPreview: Bool
    /// With annotations: its scores of `label_scores.csv`.
    var labelScores: WorkDirData.LabelScores?
}

/// The colour groups of a map's points for one "colour by" choice: each point's code into
/// `names` (-1 for none), names in order of first appearance.
struct PointColours: Encodable, Equatable {
    var names: [String] = []
    var codes: [Int32] = []
}

/// The samples as the app asks for them: filtered, sorted and cut into pages on the server.
///
/// It keeps a small record per sample for the filters and sorts (issue bits, label and split
/// codes, component size) and the last ``cachedOrders`` sort orders asked for (a row permutation
/// each, 4 bytes a sample), so that paging through one order sorts once. A request walks that
/// order once, counting the samples that match and keeping the rows of its page only.
final class SampleFinder: Sendable {
    let data: WorkDirData
    /// The distinct non-empty labels and splits, sorted; a sample's code is its position (-1: none).
    let labelNames: [String], splitNames: [String]
    private let labelCodes: [Int32], splitCodes: [Int32]
    /// Bit `i` set: the sample has issue `WorkDirData.issueOrder[i]`.
    private let issueBits: [UInt64]
    private let componentSizes: [Int32]
    /// Whether the catalog locates a sample's image, so that the app can preview it.
    let hasPreview: @Sendable (Int64) -> Bool
    /// The sort orders made last, newest first.
    private let orders = Mutex<[(order: SampleOrder, rows: [Int32])]>([])

    /// Sort orders kept (4 bytes a sample each).
    static let cachedOrders = 4

    /// `hasPreview` tells whether the app can show a sample's image (`ThumbnailStore.contains`).
    init(data: WorkDirData, hasPreview: @escaping @Sendable (Int64) -> Bool) {
        self.data = data
        self.hasPreview = hasPreview
        let bit = Dictionary(uniqueKeysWithValues: WorkDirData.issueOrder.enumerated().map { ($1, UInt64(1) << $0) })
        issueBits = data.samples.map { sample in sample.issues.reduce(0) { $0 | (bit[$1] ?? 0) } }
        (labelNames, labelCodes) = Self.codes(data.samples.map(\.label))
        (splitNames, splitCodes) = Self.codes(data.samples.map(\.split))
        componentSizes = data.samples.map { sample in Int32(sample.component.flatMap { data.components[$0]?.count } ?? 1) }
    }

    /// The page `query` asks for, with the number of samples that match its filter.
    func page(_ query: SampleQuery, marks: [Int64: ReviewMark]) -> Page<SampleRow> {
        let matches = matcher(query.filter, marks: marks)
        let (offset, limit) = (query.paging.offset, query.paging.limit)
        var total = 0, rows: [Int] = []
        for row in rowsSorted(query.order) where matches(Int(row)) {
            if total >= offset && rows.count < limit { rows.append(Int(row)) }
            total += 1
        }
        return Page(total: total, offset: offset, limit: limit, rows: rows.map { self.row($0, marks: marks) })
    }

    /// The sample with index `index`, nil when it is not a decoded sample.
    func sample(_ index: Int64, marks: [Int64: ReviewMark]) -> SampleRow? {
        data.rowOfIndex[index].map { row($0, marks: marks) }
    }

    /// The sort keys for which some sample has a value (a scan of the samples for each key without).
    var keysWithValues: [SampleSortKey] {
        SampleSortKey.allCases.filter { key in key == .filename || data.samples.indices.contains { sortValue(key, of: $0) != nil } }
    }

    /// The colour groups of the samples `indices` (a map's points, each a decoded sample): by label,
    /// first issue, split, k-means cluster and, with annotations, whether the label is likely wrong.
    func colours(of indices: [Int64]) -> [String: PointColours] {
        let rows = indices.compactMap { data.rowOfIndex[$0] }, samples = data.samples
        var colours = [
            "label": Self.group(rows.lazy.map { samples[$0].label }),
            "issue": Self.group(rows.lazy.map { samples[$0].issues.first ?? "" }),
            "split": Self.group(rows.lazy.map { samples[$0].split }),
            "cluster": Self.group(rows.lazy.map { samples[$0].cluster.map { "k-means \($0)" } ?? "" }),
        ]
        if data.labelSource == .annotations {
            colours["wrong"] = Self.group(rows.lazy.map {
                samples[$0].labelScores?.wrongLabelScore == nil ? ""
                    : samples[$0].issues.contains(WorkDirData.wrongLabelIssue) ? "likely wrong label" : "label agrees"
            })
        }
        return colours
    }

    /// The sample of `row` in `data.samples` as the API lists it.
    private func row(_ row: Int, marks: [Int64: ReviewMark]) -> SampleRow {
        let s = data.samples[row]
        return SampleRow(index: s.index, filename: s.filename, width: s.width, height: s.height, uniqueness: s.uniqueness,
                         nearestSimilarity: s.nearestSimilarity, component: s.component, componentSize: Int(componentSizes[row]),
                         cluster: s.cluster, issues: s.issues, label: s.label, split: s.split, mark: marks[s.index],
                         hasPreview: hasPreview(s.index), labelScores: s.labelScores)
    }
}

extension SampleFinder {
    /// Whether a row passes `filter`: one test per criterion given, all of which must hold.
    private func matcher(_ filter: SampleFilter, marks: [Int64: ReviewMark]) -> (Int) -> Bool {
        var tests: [(Int) -> Bool] = []
        switch filter.issue {
        case .anyIssue?: tests.append { self.issueBits[$0] != 0 }
        case .noIssue?: tests.append { self.issueBits[$0] == 0 }
        case .named(let name)?:
            let bit = WorkDirData.issueOrder.firstIndex(of: name).map { UInt64(1) << $0 } ?? 0
            tests.append { self.issueBits[$0] & bit != 0 }
        case nil: break
        }
        if let label = filter.label {
            let code = labelNames.firstIndex(of: label).map(Int32.init) ?? -2   // -2: no sample has it
            tests.append { self.labelCodes[$0] == code }
        }
        if let split = filter.split {
            let code = splitNames.firstIndex(of: split).map(Int32.init) ?? -2
            tests.append { self.splitCodes[$0] == code }
        }
        if let cluster = filter.cluster { tests.append { self.data.samples[$0].cluster == cluster } }
        if let component = filter.component { tests.append { self.data.samples[$0].component == component } }
        if let mark = filter.mark {
            let wanted = ReviewMark(rawValue: mark.rawValue)   // nil: unmarked
            tests.append { marks[self.data.samples[$0].index] == wanted }
        }
        if let name = filter.name {
            let needle = NameNeedle(name)
            tests.append { needle.isIn(self.data.samples[$0].filename) }
        }
        return { row in tests.allSatisfy { $0(row) } }
    }

    /// Every row in `order`, sorted once and kept among the last ``cachedOrders`` orders.
    private func rowsSorted(_ order: SampleOrder) -> [Int32] {
        if let kept = orders.withLock({ $0.first { $0.order == order }?.rows }) { return kept }
        let rows = sortedRows(order)
        orders.withLock { kept in
            kept.removeAll { $0.order == order }
            kept.insert((order, rows), at: 0)
            if kept.count > Self.cachedOrders { kept.removeLast() }
        }
        return rows
    }

    /// Every row in `order`: samples without a value last either way; ties by component id (none
    /// first), then by index (the rows' own order).
    private func sortedRows(_ order: SampleOrder) -> [Int32] {
        var rows = Array(0..<Int32(data.samples.count))
        let samples = data.samples, descending = order.descending
        let tie = { (a: Int32, b: Int32) in (samples[Int(a)].component ?? .min, a) < (samples[Int(b)].component ?? .min, b) }
        if order.key == .filename {
            rows.sort { a, b in
                let (x, y) = (samples[Int(a)].filename, samples[Int(b)].filename)
                return x == y ? tie(a, b) : (x < y) != descending
            }
            return rows
        }
        let values = samples.indices.map { sortValue(order.key, of: $0).flatMap { $0.isNaN ? nil : $0 } }
        rows.sort { a, b in
            switch (values[Int(a)], values[Int(b)]) {
            case let (x?, y?) where x != y: (x < y) != descending
            case (nil, _?): false
            case (_?, nil): true
            default: tie(a, b)
            }
        }
        return rows
    }

    /// A row's value for a sort key (labels and splits by their codes, which follow their names);
    /// nil when it has none, and for `filename`, which is sorted by name.
    private func sortValue(_ key: SampleSortKey, of row: Int) -> Double? {
        let samples = data.samples
        switch key {
        case .index: return Double(samples[row].index)
        case .filename: return nil
        case .uniqueness: return samples[row].uniqueness
        case .nearestSimilarity: return samples[row].nearestSimilarity
        case .componentSize: return Double(componentSizes[row])
        case .issues: return Double(samples[row].issues.count)
        case .label: return labelCodes[row] < 0 ? nil : Double(labelCodes[row])
        case .split: return splitCodes[row] < 0 ? nil : Double(splitCodes[row])
        case .cluster: return samples[row].cluster.map(Double.init)
        case .wrongLabelScore: return samples[row].labelScores?.wrongLabelScore
        case .knnDisagreement: return samples[row].labelScores?.knnDisagreement
        case .mistakenness: return samples[row].labelScores?.mistakenness
        case .hardness: return samples[row].labelScores?.hardness
        }
    }

    /// The distinct non-empty `values`, sorted, and each value's position among them (-1 for "").
    private static func codes(_ values: [String]) -> (names: [String], codes: [Int32]) {
        let names = Set(values).subtracting([""]).sorted()
        let code = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        return (names, values.map { code[$0] ?? -1 })
    }

    /// Codes for `keys` into their distinct non-empty values, in order of first appearance (-1 for "").
    private static func group(_ keys: some Sequence<String>) -> PointColours {
        var colours = PointColours(), code: [String: Int32] = [:]
        for key in keys {
            guard !key.isEmpty else { colours.codes.append(-1); continue }
            let next = code[key] ?? Int32(colours.names.count)
            if next == colours.names.count { code[key] = next; colours.names.append(key) }
            colours.codes.append(next)
        }
        return colours
    }
}

/// Part of a file name to look for in any case. An ASCII needle is compared byte by byte with
/// ASCII letters folded, so that names are not lowered one by one; other needles are looked
/// for in the lowered name.
struct NameNeedle: Sendable {
    private let lowered: String
    /// The lowered needle's bytes when they are all ASCII.
    private let ascii: [UInt8]?

    init(_ text: String) {
        lowered = text.lowercased()
        ascii = lowered.utf8.allSatisfy { $0 < 0x80 } ? Array(lowered.utf8) : nil
    }

    /// Whether `name` contains the needle, in any case.
    func isIn(_ name: String) -> Bool {
        guard let ascii else { return name.lowercased().contains(lowered) }
        var name = name
        return name.withUTF8 { bytes in
            ascii.withUnsafeBufferPointer { needle in
                var start = 0
                while start + needle.count <= bytes.count {
                    var k = 0
                    while k < needle.count, Self.folded(bytes[start + k]) == needle[k] { k += 1 }
                    if k == needle.count { return true }
                    start += 1
                }
                return false
            }
        }
    }

    /// An ASCII upper-case letter's lower-case byte; other bytes as they are.
    private static func folded(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}
