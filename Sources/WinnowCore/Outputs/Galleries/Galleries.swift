import Foundation

/// The galleries `winnow gallery` writes (fastdup's `create_*_gallery` pages).
public enum GalleryKind: String, Sendable, CaseIterable {
    /// Pairs from `similarity.csv` with their similarity, most similar first.
    case duplicates
    /// `outliers.csv`: each outlier beside its nearest neighbour, least similar first.
    case outliers
    /// `connected_components.csv`: the members of each cluster, largest first.
    case components
    /// `quality.csv`, one page per metric: blur, dark, bright.
    case stats
    /// `similarity.csv`: each image (query) with its most similar images.
    case similarity
    /// Images whose label disagrees with most of their nearest neighbours' labels.
    case labels
}

/// A quality metric with its own stats page (`stats_<metric>.html`; fastdup wrote dark and
/// bright to one file, the second overwriting the first).
public enum StatsMetric: String, Sendable, CaseIterable {
    /// Sharpness (`quality.csv` `sharpness`), blurriest first.
    case blur
    /// 99th-percentile brightness, darkest first.
    case dark
    /// 5th-percentile brightness, brightest first.
    case bright
}

/// Options of a gallery, named as in fastdup's gallery API.
public struct GalleryOptions: Sendable {
    public var kind: GalleryKind
    /// Cards to show (fastdup `num_images`, default 20); 0 shows all.
    public var numImages = 20
    /// Sort order; nil keeps the kind's natural order (most telling first).
    public var ascending: Bool?
    /// Keep only cards with an image of one of these labels or splits (fastdup `slice`).
    public var slice: [String] = []
    /// Thumbnails as files beside the page (`../thumbnails/<index>.jpg`, fastdup `lazy_load`)
    /// instead of embedded `data:` URIs.
    public var lazy = false
    /// Neighbours per query (similarity, labels).
    public var neighbors = 5
    /// Members shown per component.
    public var maxMembers = 12
    public var metrics: [StatsMetric] = StatsMetric.allCases
    /// A fastdup-style annotation CSV (filename, label, optional split and box).
    public var annotations: URL?
    public var thumbnailSide = 160

    public init(kind: GalleryKind) { self.kind = kind }
}

/// One written page.
public struct GalleryResult: Sendable {
    public var url: URL
    public var cards: Int
    /// Cards before `numImages` cut them.
    public var available: Int
}

/// Builds galleries from a work_dir's result files and writes them to `WORK_DIR/galleries/`.
public struct GalleryWriter {
    public var workDirectory: URL
    public var options: GalleryOptions
    /// One-line notes about input rows skipped and thumbnails that could not be made.
    public private(set) var warnings: [String] = []

    public static let folderName = "galleries"

    public init(workDirectory: URL, options: GalleryOptions) {
        self.workDirectory = workDirectory
        self.options = options
    }

    /// Writes the page(s) of `options.kind`.
    public mutating func write() throws(GalleryError) -> [GalleryResult] {
        guard FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("atrain_features.dat.csv").path) else {
            throw .notAWorkDirectory(workDirectory.path)
        }
        guard options.numImages >= 0, options.neighbors >= 1, options.maxMembers >= 1 else {
            throw .invalidOption("--num-images must be ≥ 0, --neighbors and --max-members ≥ 1")
        }
        let samples = try GallerySamples.load(workDirectory: workDirectory, annotations: options.annotations)
        warnings += samples.warnings
        let pages = try pageContents(samples)
        let folder = workDirectory.appendingPathComponent(Self.folderName)
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw .cannotWrite(folder.path, error.localizedDescription)
        }
        let store = ThumbnailStore(workDirectory: workDirectory, side: options.thumbnailSide)
        var results: [GalleryResult] = []
        for page in pages {
            results.append(try writePage(page, in: folder, thumbnails: store))
        }
        return results
    }

    /// A page to write: its file name (without `.html`), title, subtitle and cards.
    private typealias PageContent = (name: String, title: String, subtitle: String, cards: [GalleryCard])

    /// The pages of `options.kind` with all their cards (stats: one page per metric).
    private mutating func pageContents(_ samples: GallerySamples) throws(GalleryError) -> [PageContent] {
        var pages: [PageContent] = []
        switch options.kind {
        case .duplicates:
            pages.append(("duplicates", "Duplicates", "pairs from similarity.csv, most similar first", try duplicates(samples)))
        case .outliers:
            pages.append(("outliers", "Outliers", "images least similar to any other (outliers.csv), beside their nearest neighbour",
                          try outliers(samples)))
        case .components:
            pages.append(("components", "Components", "clusters from connected_components.csv, largest first", try components(samples)))
        case .similarity:
            pages.append(("similarity", "Similarity", "each image with its most similar images (similarity.csv)", try similarity(samples)))
        case .labels:
            pages.append(("labels", "Suspect labels", "images whose label differs from most of their \(options.neighbors) nearest neighbours'",
                          try labels(samples)))
        case .stats:
            for metric in options.metrics {
                pages.append(("stats_\(metric.rawValue)", "Stats: \(metric.rawValue)", Self.statsSubtitle(metric), try stats(samples, metric)))
            }
        }
        return pages
    }

    /// Writes one page into `folder`: its cards sliced and cut to `numImages`, with their thumbnails.
    private mutating func writePage(_ page: PageContent, in folder: URL,
                                    thumbnails store: ThumbnailStore) throws(GalleryError) -> GalleryResult {
        let sliced = slice(page.cards)
        var cards = options.numImages == 0 ? sliced : Array(sliced.prefix(options.numImages))
        attachThumbnails(to: &cards, from: store)
        let subtitle = page.subtitle + " · \(cards.count) of \(sliced.count)"
            + (options.slice.isEmpty ? "" : " (slice: \(options.slice.joined(separator: ", ")))")
        let url = folder.appendingPathComponent("\(page.name).html")
        do {
            let html = try GalleryPage.html(title: page.title, subtitle: subtitle, cards: cards)
            try AtomicFile.write(html, to: url)
        } catch {
            throw .cannotWrite(url.path, error.localizedDescription)
        }
        return GalleryResult(url: url, cards: cards.count, available: sliced.count)
    }

    /// Makes the cards' thumbnails and sets each image's `src` (a path beside the page when lazy,
    /// else a `data:` URI); a thumbnail that cannot be made becomes a warning and leaves `src` empty.
    private mutating func attachThumbnails(to cards: inout [GalleryCard], from store: ThumbnailStore) {
        let ids = Array(Set(cards.flatMap { $0.images.map(\.index) })).sorted()
        var failed = Set<Int64>()
        for failure in store.makeAll(ids) {
            warnings.append("thumbnail of \(failure.description)")
            failed.insert(failure.index)
        }
        for c in cards.indices {
            for i in cards[c].images.indices {
                let id = cards[c].images[i].index
                guard !failed.contains(id) else { continue }
                if options.lazy {
                    cards[c].images[i].src = "../\(ThumbnailStore.folderName)/\(id).jpg"
                } else if let data = FileManager.default.contents(atPath: store.url(of: id).path) {
                    cards[c].images[i].src = "data:image/jpeg;base64," + data.base64EncodedString()
                }
            }
        }
    }

    private func slice(_ cards: [GalleryCard]) -> [GalleryCard] {
        guard !options.slice.isEmpty else { return cards }
        let wanted = Set(options.slice)
        return cards.filter { !wanted.isDisjoint(with: $0.tags) }
    }

    /// Sorts by `key` in the kind's natural order (descending when `naturalAscending` is false)
    /// unless `ascending` overrides it; ties keep file order.
    private func sorted<T>(_ items: [T], naturalAscending: Bool, key: (T) -> Double) -> [T] {
        let ascending = options.ascending ?? naturalAscending
        return items.enumerated().sorted { a, b in
            let ka = key(a.element), kb = key(b.element)
            if ka != kb { return ascending ? ka < kb : ka > kb }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The rows of a work_dir file a gallery needs (`needed` names the gallery when it is missing);
    /// a damaged row is skipped with a warning naming its file and line.
    private mutating func rows<Row>(_ file: WorkDirCSV<Row>, for needed: String) throws(GalleryError) -> [Row] {
        var skipped: [String] = []
        let read: [Row]?
        do { read = try file.read(in: workDirectory) { skipped.append("\($0); skipped") } } catch {
            throw .unreadable(error.file, error.reason)
        }
        warnings += skipped
        guard let read else { throw .missingFile(file.url(in: workDirectory).path, needed) }
        return read
    }

    /// `from,to,distance` rows (distance is a similarity, as fastdup writes it).
    private mutating func pairs(_ file: WorkDirCSV<PairRow>, for needed: String) throws(GalleryError) -> [(Int64, Int64, Double)] {
        try rows(file, for: needed).map { ($0.from, $0.to, $0.distance) }
    }

    private mutating func duplicates(_ samples: GallerySamples) throws(GalleryError) -> [GalleryCard] {
        var seen = Set<[Int64]>()
        var unique: [(Int64, Int64, Double)] = []
        for (a, b, s) in try pairs(WorkDirFile.similarity, for: "the duplicates gallery") where seen.insert([min(a, b), max(a, b)]).inserted {
            unique.append((min(a, b), max(a, b), s))
        }
        return sorted(unique, naturalAscending: false) { $0.2 }.map { a, b, s in
            GalleryCard(title: String(format: "similarity %.4f", s), fields: [["pair", "\(a) ↔ \(b)"]],
                        images: [samples.image(a), samples.image(b)], tags: samples.tags([a, b]))
        }
    }

    private mutating func outliers(_ samples: GallerySamples) throws(GalleryError) -> [GalleryCard] {
        var first: [Int64: (Int64, Double)] = [:], order: [Int64] = []
        for (a, b, s) in try pairs(WorkDirFile.outliers, for: "the outliers gallery") {
            if let known = first[a] {
                if s > known.1 { first[a] = (b, s) }
            } else {
                first[a] = (b, s); order.append(a)
            }
        }
        return sorted(order, naturalAscending: true) { first[$0]?.1 ?? 0 }.map { a in
            let (b, s) = first[a] ?? (a, 0)
            return GalleryCard(title: (samples.filenames[a].map { ($0 as NSString).lastPathComponent }) ?? "sample \(a)",
                               fields: [["nearest similarity", String(format: "%.4f", s)], ["index", String(a)]],
                               images: [samples.image(a), samples.image(b, caption: "nearest: " + ((samples.filenames[b] ?? "") as NSString).lastPathComponent)],
                               tags: samples.tags([a]))
        }
    }

    private mutating func components(_ samples: GallerySamples) throws(GalleryError) -> [GalleryCard] {
        var groups: [Int64: [Int64]] = [:]
        for member in try rows(WorkDirFile.connectedComponents, for: "the components gallery") {
            groups[member.componentID, default: []].append(member.index)
        }
        var mean: [Int64: Double] = [:]
        for info in (try? WorkDirFile.componentInfo.read(in: workDirectory)) ?? [] { mean[info.componentID] = info.mean }
        let clusters = groups.filter { $0.value.count >= 2 }.sorted { $0.key < $1.key }
        return sorted(clusters, naturalAscending: false) { Double($0.value.count) }.map { key, ids in
            let shown = Array(ids.sorted().prefix(options.maxMembers))
            var fields = [["size", String(ids.count)]]
            if let m = mean[key] { fields.append(["mean similarity", String(format: "%.4f", m)]) }
            if ids.count > shown.count { fields.append(["shown", "\(shown.count) of \(ids.count)"]) }
            return GalleryCard(title: "component \(key)", fields: fields, images: shown.map { samples.image($0) },
                               tags: samples.tags(ids))
        }
    }

    private mutating func similarity(_ samples: GallerySamples) throws(GalleryError) -> [GalleryCard] {
        var neighbors: [Int64: [(Int64, Double)]] = [:], order: [Int64] = []
        for (a, b, s) in try pairs(WorkDirFile.similarity, for: "the similarity gallery") {
            if neighbors[a] == nil { order.append(a) }
            neighbors[a, default: []].append((b, s))
        }
        let queries = order.map { q in (q, (neighbors[q] ?? []).sorted { $0.1 > $1.1 }) }
        return sorted(queries, naturalAscending: false) { $0.1.first?.1 ?? 0 }.map { q, list in
            let shown = list.prefix(options.neighbors)
            return GalleryCard(title: "query: " + ((samples.filenames[q] ?? "sample \(q)") as NSString).lastPathComponent,
                               fields: [["neighbours", String(list.count)], ["best", String(format: "%.4f", list.first?.1 ?? 0)]],
                               images: [samples.image(q, caption: "query")]
                                + shown.map { samples.image($0.0, caption: String(format: "%.4f · ", $0.1)
                                    + ((samples.filenames[$0.0] ?? "") as NSString).lastPathComponent) },
                               tags: samples.tags([q] + shown.map(\.0)))
        }
    }

    /// kNN label vote (fastdup's similarity-based label check): a labelled image whose label
    /// differs from the majority of its labelled nearest neighbours. Score: the share of those
    /// neighbours that disagree.
    private mutating func labels(_ samples: GallerySamples) throws(GalleryError) -> [GalleryCard] {
        guard !samples.labels.isEmpty else { throw .noLabels(options.annotations?.path ?? workDirectory.appendingPathComponent("scores.csv").path) }
        let (ids, graph) = try neighborGraph()
        let k = min(options.neighbors, graph.k)
        func nearest(_ row: Int) -> [Neighbor] { Array(graph.neighbors(of: row).prefix(k)) }
        var suspects: [(row: Int, share: Double, majority: String)] = []
        for (row, id) in ids.enumerated() {
            guard let own = samples.labels[id] else { continue }
            let theirs = nearest(row).compactMap { samples.labels[ids[$0.index]] }
            guard !theirs.isEmpty else { continue }
            var votes: [String: Int] = [:]
            for label in theirs { votes[label, default: 0] += 1 }
            let (majority, count) = votes.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) } ?? (own, 0)
            let disagree = theirs.filter { $0 != own }.count
            if majority != own, count * 2 > theirs.count {
                suspects.append((row, Double(disagree) / Double(theirs.count), majority))
            }
        }
        return sorted(suspects, naturalAscending: false) { $0.share }.map { row, share, majority in
            let id = ids[row]
            let similar = nearest(row).map { n in
                samples.image(ids[n.index], caption: String(format: "%.3f · ", n.similarity(graph.metric))
                    + ((samples.filenames[ids[n.index]] ?? "") as NSString).lastPathComponent)
            }
            return GalleryCard(title: "labelled \(samples.labels[id] ?? "") · neighbours say \(majority)",
                               fields: [["disagreeing neighbours", String(format: "%.0f%%", 100 * share)], ["index", String(id)]],
                               images: [samples.image(id)] + similar, tags: samples.tags([id]))
        }
    }

    /// The embedded samples (rows of `atrain_features.dat.csv`) and their nearest neighbors: the
    /// run's graph with its final scores (`knn_verified.bin`, else `knn.bin`), memory-mapped, or
    /// for work_dirs without one (fastdup's, older runs) a graph built over the vectors.
    mutating func neighborGraph() throws(GalleryError) -> (ids: [Int64], graph: KNNGraph) {
        let ids: [Int64]
        do { ids = try WorkDirFeatures.samples(in: workDirectory).ids } catch { throw .unreadable(workDirectory.path, error.description) }
        let run: KNNGraph?
        do { run = try KNNGraph.ofRun(in: workDirectory, rows: ids.count, scores: .final) } catch {
            throw .unreadable(workDirectory.path, error.description)
        }
        if let run {
            if run.k < min(options.neighbors, ids.count - 1) {
                warnings.append("the run kept \(run.k) neighbours per image: showing \(run.k), not \(options.neighbors) "
                    + "(`winnow run --nearest-neighbors-k \(options.neighbors)` keeps more)")
            }
            return (ids, run)
        }
        let features: WorkDirFeatures
        do { features = try WorkDirFeatures.load(from: workDirectory) } catch { throw .unreadable(workDirectory.path, error.description) }
        do {
            let lists = try buildSimilarityIndex(vectors: features.vectors, metric: features.metric)
                .allNeighbors(k: min(options.neighbors, max(1, features.ids.count - 1)))
            return (features.ids, KNNGraph(lists: lists, metric: features.metric))
        } catch { throw .unreadable(workDirectory.appendingPathComponent("atrain_features.dat").path, error.description) }
    }

    static func statsSubtitle(_ metric: StatsMetric) -> String {
        switch metric {
        case .blur: "sharpness (quality.csv), blurriest first"
        case .dark: "99th-percentile brightness (quality.csv), darkest first"
        case .bright: "5th-percentile brightness (quality.csv), brightest first"
        }
    }

    private mutating func stats(_ samples: GallerySamples, _ metric: StatsMetric) throws(GalleryError) -> [GalleryCard] {
        let (columnName, issue, naturalAscending, value): (String, QualityIssue, Bool, (QualityRow) -> Double) = switch metric {
        case .blur: (QualityRow.Measurement.sharpness.rawValue, .blurry, true, \.sharpness)
        case .dark: (QualityRow.Measurement.brightnessP99.rawValue, .dark, true, \.brightnessP99)
        case .bright: (QualityRow.Measurement.brightnessP5.rawValue, .bright, false, \.brightnessP5)
        }
        let rows = try self.rows(WorkDirFile.quality, for: "the stats gallery").map { ($0.index, value($0), $0.issues.contains(issue)) }
        return sorted(rows, naturalAscending: naturalAscending) { $0.1 }.map { id, v, flagged in
            GalleryCard(title: ((samples.filenames[id] ?? "sample \(id)") as NSString).lastPathComponent,
                        fields: [[columnName, String(format: "%.4g", v)]] + (flagged ? [["flagged", issue.rawValue]] : []),
                        images: [samples.image(id)], tags: samples.tags([id]))
        }
    }
}
