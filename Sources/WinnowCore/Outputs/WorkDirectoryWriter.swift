import Foundation

/// Writes a run's results into the work_dir: fastdup-compatible files (same names, columns and
/// order as fastdup 2.x) plus Winnow's own `quality.csv` and `exact_duplicates.csv`.
/// Each file is replaced atomically.
struct WorkDirectoryWriter {
    var directory: URL

    /// A pass over every decoded sample's statistics, in id order (``Catalog/forEachValidStatistics(_:)``).
    typealias StatisticsPass = ((StatisticsRecord) throws -> Void) throws -> Void

    /// Writes the files and returns the quality findings `inspect` gives each decoded sample
    /// as its statistics are read (one pass, in id order).
    func write(valid: [ValidSample], invalid: [InvalidRecord], statistics: StatisticsPass,
               inspect: @escaping (StatisticsRecord) -> [QualityFinding], exactDuplicates: [Int64: [Int64]],
               configuration: RunConfiguration, features store: FeatureStore?) throws -> [QualityFinding] {
        // With embeddings, `.dat.csv` lists exactly the rows of `atrain_features.dat`.
        let embedded = store == nil ? valid : valid.filter { $0.featureRow != nil }
        try writeFeatureList(embedded, to: "atrain_features.dat.csv")
        if let store {
            let rows = embedded.compactMap(\.featureRow)
            try FeatureExport.writeRaw(rows: rows, from: store, to: directory.appendingPathComponent("atrain_features.dat"))
            if configuration.exportNumPy {
                try FeatureExport.writeNumPy(rows: rows, from: store, to: directory.appendingPathComponent("features.npy"))
                try writeFeatureList(embedded, to: "features.npy.csv")
            }
        }
        let findings = try writeStatistics(statistics, inspect: inspect)
        // fastdup's four columns, then Winnow's one-line reason.
        try write("atrain_features.bad.csv", header: ["index", "filename", "error_code", "filesize", "reason"]) { append in
            for record in invalid {
                try append([String(record.id), record.filename, "ERROR_" + record.problem.reason.rawValue,
                            String(record.fileSize), record.problem.message])
            }
        }
        try writeDuplicates(valid: valid, invalid: invalid, groups: exactDuplicates)
        try AtomicFile.write(try jsonString(configuration) + "\n", to: directory.appendingPathComponent("config.json"))
        return findings
    }

    private func write(_ name: String, header: [String],
                       rows: (_ append: ([String]) throws -> Void) throws -> Void) throws {
        try CSVFileWriter.write(directory.appendingPathComponent(name), header: header, rows: rows)
    }

    /// `index,filename` of each sample, in the order of the feature rows.
    private func writeFeatureList(_ samples: [ValidSample], to name: String) throws {
        try write(name, header: ["index", "filename"]) { append in
            for sample in samples { try append([String(sample.id), sample.filename]) }
        }
    }

    /// `atrain_stats.csv` (fastdup's columns) and `quality.csv` (every quality measurement and a
    /// 0/1 flag per issue), one row per decoded image, both from one pass over the statistics,
    /// which also gives each sample's findings (`inspect`); returns them all.
    private func writeStatistics(_ statistics: StatisticsPass,
                                 inspect: @escaping (StatisticsRecord) -> [QualityFinding]) throws -> [QualityFinding] {
        var findings: [QualityFinding] = []
        let issues = QualityIssue.allCases
        let stats = try CSVFileWriter(url: directory.appendingPathComponent("atrain_stats.csv"),
                                      header: ["index", "width", "height", "unique", "blur", "mean", "min", "max", "stdv",
                                               "file_size", "contrast"])
        let quality = try CSVFileWriter(url: directory.appendingPathComponent("quality.csv"), header: [
            "index", "filename", "format", "width", "height", "sharpness", "directional_sharpness", "blur", "entropy",
            "brightness_p1", "brightness_p5", "brightness_p50", "brightness_p95", "brightness_p99", "saturation",
            "mean_chroma", "colourful_fraction"] + issues.map { "is_" + $0.rawValue })
        try statistics { sample in
            let s = sample.statistics
            try stats.append([String(sample.id), String(s.width), String(s.height), String(s.uniqueGreyLevels),
                              decimal(s.blur), decimal(s.mean), decimal(s.minimum), decimal(s.maximum),
                              decimal(s.standardDeviation), String(sample.fileSize), decimal(s.contrast)])
            let found = inspect(sample)
            findings += found
            let flags = Set(found.map(\.issue))
            try quality.append([String(sample.id), sample.filename, sample.format ?? "", String(s.width), String(s.height),
                                decimal(s.sharpness), s.directionalSharpness.map { decimal($0) } ?? "", decimal(s.blur),
                                decimal(s.entropy), decimal(s.brightnessP1, 0), decimal(s.brightnessP5, 0),
                                decimal(s.brightnessP50, 0), decimal(s.brightnessP95, 0), decimal(s.brightnessP99, 0),
                                decimal(s.saturation), decimal(s.meanChroma), decimal(s.colourfulFraction)]
                               + issues.map { flags.contains($0) ? "1" : "0" })
        }
        try stats.finish()
        try quality.finish()
        return findings
    }

    /// `first_index,first_filename,index,filename`: each byte-identical copy beside its first instance.
    private func writeDuplicates(valid: [ValidSample], invalid: [InvalidRecord], groups: [Int64: [Int64]]) throws {
        let members = Set(groups.flatMap { [$0.key] + $0.value })
        var names: [Int64: String] = [:]
        for sample in valid where members.contains(sample.id) { names[sample.id] = sample.filename }
        for record in invalid where members.contains(record.id) { names[record.id] = record.filename }
        try write("exact_duplicates.csv", header: ["first_index", "first_filename", "index", "filename"]) { append in
            for first in groups.keys.sorted() {
                for duplicate in groups[first] ?? [] {
                    try append([String(first), names[first] ?? "", String(duplicate), names[duplicate] ?? ""])
                }
            }
        }
    }
}
