import Foundation

/// A user's annotation table (CSV) read into rows, with its header.
struct AnnotationTable {
    var url: URL
    var header: [String]
    /// Rows with their 1-based line numbers.
    var rows: [(line: Int, fields: [String])]

    /// nil when the file does not exist.
    static func read(_ url: URL) throws(GalleryError) -> AnnotationTable? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw .unreadable(url.path, "cannot read the file as UTF-8") }
        var lines = CSVReader.numberedLines(text)
        guard !lines.isEmpty else { throw .unreadable(url.path, "empty file (no header)") }
        let header = CSVReader.fields(lines.removeFirst().text) ?? []
        return AnnotationTable(url: url, header: header, rows: lines.map { ($0.number, CSVReader.fields($0.text) ?? []) })
    }

    func column(_ names: String...) -> Int? {
        for name in names { if let i = header.firstIndex(of: name) { return i } }
        return nil
    }
}

/// What the galleries know about each sample: file name, size, label, split and boxes.
struct GallerySamples {
    var filenames: [Int64: String] = [:]
    var sizes: [Int64: (width: Int, height: Int)] = [:]
    var labels: [Int64: String] = [:]
    var splits: [Int64: String] = [:]
    /// Boxes in pixels of the original image: x, y, width, height, label.
    var pixelBoxes: [Int64: [(Double, Double, Double, Double, String)]] = [:]
    var warnings: [String] = []

    static func load(workDirectory: URL, annotations: URL?) throws(GalleryError) -> GallerySamples {
        var samples = GallerySamples()
        func rows<Row>(_ file: WorkDirCSV<Row>) throws(GalleryError) -> [Row] {
            do { return try file.read(in: workDirectory) { _ in } ?? [] } catch { throw .unreadable(error.file, error.reason) }
        }
        for row in try rows(WorkDirFile.featureList) { samples.filenames[row.index] = row.filename }
        for row in try rows(WorkDirFile.statistics) { samples.sizes[row.index] = (row.width, row.height) }
        for row in try rows(WorkDirFile.quality) {
            samples.filenames[row.index] = row.filename
            samples.sizes[row.index] = (row.width, row.height)
        }
        for row in try rows(WorkDirFile.scores) {
            samples.filenames[row.index] = row.filename
            if let split = row.split { samples.splits[row.index] = split }
        }
        // The given labels and splits of `winnow run --annotations`.
        for row in try rows(WorkDirFile.labelScores) {
            samples.filenames[row.index] = row.filename
            if let label = row.label { samples.labels[row.index] = label }
            if let split = row.split { samples.splits[row.index] = split }
        }
        if let annotations { try samples.readAnnotations(annotations) }
        return samples
    }

    /// fastdup's annotation table: `filename` (or `file`/`path`), `label` (or `given_label`),
    /// optional `split` and box `col_x,row_y,width,height` in pixels. Files are matched to
    /// samples by exact name or by trailing path components (`bird/x.jpg` ↔ `…/images/bird/x.jpg`).
    mutating func readAnnotations(_ url: URL) throws(GalleryError) {
        guard let table = try AnnotationTable.read(url) else { throw .missingFile(url.path, "the annotations") }
        guard let file = table.column("filename", "file", "path") else {
            throw .unreadable(url.path, "line 1: no filename / file / path column")
        }
        let label = table.column("label", "given_label"), split = table.column("split")
        let x = table.column("col_x"), y = table.column("row_y"), w = table.column("width"), h = table.column("height")
        var bySuffix: [String: Int64?] = [:]
        for (id, name) in filenames {
            var parts = name.split(separator: "/", omittingEmptySubsequences: false)[...]
            while !parts.isEmpty {
                let suffix = parts.joined(separator: "/")
                if let existing = bySuffix[suffix], existing != id { bySuffix[suffix] = .some(nil) } else { bySuffix[suffix] = id }
                parts = parts.dropFirst()
            }
        }
        var unmatched = 0
        for (line, fields) in table.rows {
            guard file < fields.count else { warnings.append("\(url.path):\(line): missing filename"); continue }
            let key = fields[file].hasPrefix("./") ? String(fields[file].dropFirst(2)) : fields[file]
            guard let match = bySuffix[key], let id = match else { unmatched += 1; continue }
            let text = label.flatMap { $0 < fields.count ? fields[$0] : nil } ?? ""
            if let split, split < fields.count, !fields[split].isEmpty { splits[id] = fields[split] }
            if let x, let y, let w, let h, [x, y, w, h].allSatisfy({ $0 < fields.count }) {
                guard let bx = Double(fields[x]), let by = Double(fields[y]), let bw = Double(fields[w]), let bh = Double(fields[h]),
                      bw > 0, bh > 0 else {
                    warnings.append("\(url.path):\(line): box col_x,row_y,width,height are not positive numbers")
                    continue
                }
                pixelBoxes[id, default: []].append((bx, by, bw, bh, text))
            } else if !text.isEmpty {
                labels[id] = text
            }
            if !text.isEmpty, labels[id] == nil { labels[id] = text }
        }
        if unmatched > 0 { warnings.append("\(url.path): \(unmatched) rows name files that are not in this work_dir") }
    }

    /// A gallery image of sample `id`.
    func image(_ id: Int64, caption: String? = nil) -> GalleryImage {
        let name = filenames[id] ?? "sample \(id)"
        var boxes: [GalleryBox] = []
        if let size = sizes[id], size.width > 0, size.height > 0 {
            let w = Double(size.width), h = Double(size.height)
            boxes = (pixelBoxes[id] ?? []).map {
                GalleryBox(x: $0.0 / w, y: $0.1 / h, width: $0.2 / w, height: $0.3 / h, label: $0.4)
            }
        }
        return GalleryImage(index: id, filename: name, caption: caption ?? (name as NSString).lastPathComponent,
                            label: labels[id] ?? splits[id].map { "split: \($0)" }, boxes: boxes)
    }

    /// Labels and splits of the samples, for `--slice` and the filter.
    func tags(_ ids: [Int64]) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for id in ids {
            for tag in [labels[id], splits[id]].compactMap({ $0 }) where seen.insert(tag).inserted { out.append(tag) }
        }
        return out
    }
}

/// Why a gallery cannot be made; one line naming the file.
public enum GalleryError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case notAWorkDirectory(String)
    case missingFile(String, String)
    case unreadable(String, String)
    case noLabels(String)
    case invalidOption(String)
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case .notAWorkDirectory(let path): "\(path) is not a Winnow work_dir (no atrain_features.dat.csv): run `winnow run` first"
        case .missingFile(let path, let needed): "\(path) not found (needed for \(needed))"
        case .unreadable(let path, let why): "\(path): \(why)"
        case .noLabels(let path): "no labels in \(path): give --annotations FILE (filename,label), or run `winnow run --annotations` first (label_scores.csv)"
        case .invalidOption(let why): "invalid gallery option: \(why)"
        case .cannotWrite(let path, let why): "cannot write \(path): \(why)"
        }
    }

    public var errorDescription: String? { description }
}
