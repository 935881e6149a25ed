import COpenBLAS
import Foundation

/// The centroids a ``ListIndex`` puts rows in lists by, and the search for a row's nearest ones.
///
/// Up to ``twoLevelLists`` lists, one level: k-means on an evenly spaced sample, each row
/// compared with every centroid. Above, two levels (Faiss's hierarchical IVF training): ⌈√lists⌉
/// coarse cells fitted first, each cell's share of the lists (by its share of the sample) fitted
/// on the sample rows nearest it, and a row compared with the coarse centroids, then with the
/// lists of its ``coarseProbes`` nearest cells only. At 100M images (97,700 lists of 4,096
/// rows) that is ~2,800 centroids a row instead of 97,700 — the assignment's ~3×10¹⁶ flops
/// become ~9×10¹⁴ — and the fit ~310 small k-means instead of one with 97,700 centres. On
/// 20,000 copy descriptors in 938 lists (31 cells): the graph's recall@10 0.9915 against one
/// level's 0.9930, the fit and assignment 4.5 CPU-s against 14.6 (docs/cluster.md).
public struct ListCentroids: Sendable {
    /// Every list's centroid; with two levels the lists of one cell are consecutive.
    public let lists: FeatureMatrix
    /// The coarse cells' centroids (nil: one level).
    public let coarse: FeatureMatrix?
    /// With two levels, cell `c`'s lists are `cells[c]..<cells[c + 1]` (each cell has at least one).
    let cells: [Int]
    private let listNorms: [Float], coarseNorms: [Float]

    /// Most lists fitted in one level.
    public static let twoLevelLists = 1024
    /// Coarse cells whose lists a row is compared with.
    static let coarseProbes = 8
    /// Sample rows per centroid (Faiss trains on 39–256 a centroid), and most sample rows in one
    /// level and in two (where the fit of each cell sees only its own rows).
    static let sampleRowsPerList = 256, maximumSampleRows = 65_536, maximumTwoLevelSampleRows = 131_072

    init(lists: FeatureMatrix, coarse: FeatureMatrix? = nil, cells: [Int] = []) {
        (self.lists, self.coarse, self.cells) = (lists, coarse, cells)
        listNorms = Self.squaredNorms(lists)
        coarseNorms = coarse.map(Self.squaredNorms) ?? []
    }

    /// Whether `cells` splits `lists` lists among `coarse` cells, each non-empty, in order.
    static func isPartition(_ cells: [Int], lists: Int, coarse: Int) -> Bool {
        cells.count == coarse + 1 && cells.first == 0 && cells.last == lists && zip(cells, cells.dropFirst()).allSatisfy { $0 < $1 }
    }

    private static func squaredNorms(_ m: FeatureMatrix) -> [Float] {
        (0..<m.rows).map { KMeans.squaredNorm(m.row($0)) }
    }

    // MARK: Saving

    /// The coarse cells (0: one level).
    public var cellCount: Int { coarse?.rows ?? 0 }

    /// Bytes ``encoded()`` writes for `lists` lists of `dimension` values and `cells` coarse cells.
    static func byteCount(lists: Int, dimension: Int, cells: Int) -> Int {
        (lists + cells) * dimension * 4 + (cells > 0 ? (cells + 1) * 8 : 0)
    }

    /// The lists' centroids as float32, then with two levels the coarse centroids' and the
    /// cells' `cells + 1` Int64 bounds, little-endian.
    func encoded() -> Data {
        var data = Data()
        for m in [lists] + (coarse.map { [$0] } ?? []) {
            m.withValues { $0.map { $0.bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) } }
        }
        if coarse != nil { cells.map { Int64($0).littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// Centroids ``encoded()`` into the first ``byteCount(lists:dimension:cells:)`` bytes of
    /// `data`, or nil when a value is not finite or the cells do not split the lists.
    static func decoded(_ data: Data, lists: Int, dimension: Int, cells: Int) -> ListCentroids? {
        guard data.count >= byteCount(lists: lists, dimension: dimension, cells: cells) else { return nil }
        let values = data.withUnsafeBytes { raw in
            (0..<(lists + cells) * dimension).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        let bounds = data.withUnsafeBytes { raw in
            (0..<(cells > 0 ? cells + 1 : 0)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: values.count * 4 + $0 * 8, as: Int64.self))) }
        }
        guard values.allSatisfy(\.isFinite), cells == 0 || isPartition(bounds, lists: lists, coarse: cells) else { return nil }
        let split = lists * dimension
        return ListCentroids(lists: FeatureMatrix(rows: lists, dimension: dimension, values: Array(values[..<split])),
                             coarse: cells > 0 ? FeatureMatrix(rows: cells, dimension: dimension, values: Array(values[split...])) : nil,
                             cells: bounds)
    }

    // MARK: Fitting

    /// About `lists` centroids for `vectors` (unit rows for cosine), in two levels above `twoLevelAbove` lists.
    static func fit(_ vectors: FeatureMatrix, lists: Int, metric: DistanceMetric, twoLevelAbove: Int = twoLevelLists) -> ListCentroids {
        let unit = metric == .cosine
        guard lists > twoLevelAbove else {
            let sample = ListIndex.gather(evenlySpaced(vectors.rows, lists: lists, cap: maximumSampleRows), from: vectors, unit: unit)
            return ListCentroids(lists: KMeans(clusters: lists, maximumIterations: 20, spherical: unit).fit(sample).centres)
        }
        let sample = ListIndex.gather(evenlySpaced(vectors.rows, lists: lists, cap: maximumTwoLevelSampleRows), from: vectors, unit: unit)
        let cellCount = Int(Double(lists).squareRoot().rounded(.up))
        let coarseSample = ListIndex.gather(evenlySpaced(sample.rows, lists: cellCount, cap: maximumSampleRows), from: sample)
        let coarse = KMeans(clusters: cellCount, maximumIterations: 20, spherical: unit).fit(coarseSample).centres
        let cellOf = ListCentroids(lists: coarse).nearest(of: sample, metric: .euclidean, take: 1)
        var members = [[Int]](repeating: [], count: coarse.rows)
        for (row, cell) in cellOf.enumerated() { members[Int(cell)].append(row) }
        var centres = [Float](), cells = [0], kept = [Int]()
        for (cell, share) in zip(members.indices, shares(lists, of: members.map(\.count))) where share > 0 {
            let fitted = KMeans(clusters: share, maximumIterations: 20, spherical: unit).fit(ListIndex.gather(members[cell], from: sample)).centres
            fitted.withValues { centres += $0 }
            cells.append(cells[cells.count - 1] + fitted.rows)
            kept.append(cell)
        }
        let d = vectors.dimension
        return ListCentroids(lists: FeatureMatrix(rows: centres.count / d, dimension: d, values: centres),
                             coarse: ListIndex.gather(kept, from: coarse), cells: cells)
    }

    /// `min(rows, max(lists, min(lists × sampleRowsPerList, cap)))` rows spread evenly over `0..<rows`.
    static func evenlySpaced(_ rows: Int, lists: Int, cap: Int) -> [Int] {
        let count = min(rows, max(lists, min(lists * sampleRowsPerList, cap)))
        let step = Double(rows) / Double(max(count, 1))
        return (0..<count).map { Int(Double($0) * step) }
    }

    /// `total` split in proportion to `counts` (largest remainders), each non-zero count getting
    /// at least 1 and at most itself.
    static func shares(_ total: Int, of counts: [Int]) -> [Int] {
        let sum = max(1, counts.reduce(0, +))
        let exact = counts.map { Double(total) * Double($0) / Double(sum) }
        var shares = zip(exact, counts).map { min($1, max($1 > 0 ? 1 : 0, Int($0))) }
        let remainder = exact.map { $0 - $0.rounded(.down) }
        let byRemainder = counts.indices.sorted { remainder[$0] != remainder[$1] ? remainder[$0] > remainder[$1] : $0 < $1 }
        for cell in byRemainder where shares.reduce(0, +) < total && shares[cell] < counts[cell] { shares[cell] += 1 }
        return shares
    }

    // MARK: Assigning

    /// For each row of `x`, its `min(take, lists)` nearest lists, nearest first: `‖c‖² − 2x̂·c`
    /// with x̂ the row (its unit vector for cosine) and x̂·c from `sgemm` in tiles of
    /// ``ListIndex/assignmentBlock`` rows. Two levels: the coarse cells so, then for each cell
    /// the tile's rows that probe it against the cell's lists in one `sgemm` (a cell's centroids
    /// read once a tile, not once a row). A row's result depends only on its tile, so an
    /// assignment in whole tiles gives every row the same lists.
    func nearest(of x: FeatureMatrix, metric: DistanceMetric, take: Int) -> [Int32] {
        guard let coarse else { return Self.nearest(of: x, centres: lists, norms: listNorms, metric: metric, take: take) }
        let probes = min(Self.coarseProbes, coarse.rows), take = min(take, lists.rows)
        let probed = Self.nearest(of: x, centres: coarse, norms: coarseNorms, metric: metric, take: probes)
        var result = [Int32]()
        result.reserveCapacity(x.rows * take)
        for start in stride(from: 0, to: x.rows, by: ListIndex.assignmentBlock) {
            let tile = start..<min(x.rows, start + ListIndex.assignmentBlock)
            var rowsOfCell = [[Int]](repeating: [], count: coarse.rows)
            for r in tile { for cell in probed[(r * probes)..<((r + 1) * probes)] { rowsOfCell[Int(cell)].append(r) } }
            var best = [TopK](repeating: TopK(k: take), count: tile.count)
            for (cell, rows) in rowsOfCell.enumerated() where !rows.isEmpty {
                insertLists(ofCell: cell, for: ListIndex.gather(rows, from: x), rows: rows.map { $0 - start }, into: &best, metric: metric)
            }
            for top in best { result += top.sorted().map { Int32($0.index) } }
            x.releasePages(rows: tile)
        }
        return result
    }

    /// Inserts the lists of cell `cell` into `best[r]` for each row `r` of `rows`, whose vectors `gathered` holds.
    private func insertLists(ofCell cell: Int, for gathered: FeatureMatrix, rows: [Int], into best: inout [TopK],
                             metric: DistanceMetric) {
        let range = cells[cell]..<cells[cell + 1], d = gathered.dimension
        var products = [Float](repeating: 0, count: rows.count * range.count)
        lists.withValues { centres in
            gathered.withValues { queries in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows.count), Int32(range.count), Int32(d), 1,
                            queries.baseAddress, Int32(d), centres.baseAddress! + range.lowerBound * d, Int32(d), 0,
                            &products, Int32(range.count))
            }
        }
        for (i, r) in rows.enumerated() {
            let scale = metric == .cosine ? ProjectedIndex.inverseNorm(gathered.row(i)) : 1
            for (j, list) in range.enumerated() { best[r].insert(list, listNorms[list] - 2 * scale * products[i * range.count + j]) }
        }
    }

    private static func nearest(of x: FeatureMatrix, centres: FeatureMatrix, norms: [Float], metric: DistanceMetric, take: Int) -> [Int32] {
        let k = centres.rows, take = min(take, k)
        var result = [Int32]()
        result.reserveCapacity(x.rows * take)
        centres.withValues { c in
            KMeans.forEachBlockOfProducts(x, centres: c, k: k, block: ListIndex.assignmentBlock) { start, count, products in
                for r in 0..<count {
                    let scale = metric == .cosine ? ProjectedIndex.inverseNorm(x.row(start + r)) : 1
                    var best = TopK(k: take)
                    for c in 0..<k { best.insert(c, norms[c] - 2 * scale * products[r * k + c]) }
                    result += best.sorted().map { Int32($0.index) }
                }
            }
        }
        return result
    }
}
