import Foundation

/// Writes a run's results into the work_dir: fastdup-compatible files (same names, columns and
/// order as fastdup 2.x) plus Winnow's own `quality.csv` and `exact_duplicates.csv`.
/// Each file is replaced atomically.
struct WorkDirectoryWriter {
    var directory: URL

    func write(valid: [ValidSample], invalid: [InvalidRecord], findings: [QualityFinding],
               exactDuplicates: [Int64: [Int64]], configuration: RunConfiguration, features store: FeatureStore?) throws {
        var features = CSVTable(header: ["index", "filename"])
        // With embeddings, `.dat.csv` lists exactly the rows of `atrain_features.dat`.
        let embedded = store == nil ? valid : valid.filter { $0.featureRow != nil }
        for sample in embedded { features.append([String(sample.id), sample.filename]) }
        var stats = CSVTable(header: ["index", "width", "height", "unique", "blur", "mean", "min", "max", "stdv",
                                      "file_size", "contrast"])
        for sample in valid {
            let s = sample.statistics
            stats.append([String(sample.id), String(s.width), String(s.height), String(s.uniqueGreyLevels),
                          decimal(s.blur), decimal(s.mean), decimal(s.minimum), decimal(s.maximum),
                          decimal(s.standardDeviation), String(sample.fileSize), decimal(s.contrast)])
        }
        // fastdup's four columns, then Winnow's one-line reason.
        var bad = CSVTable(header: ["index", "filename", "error_code", "filesize", "reason"])
        for record in invalid {
            bad.append([String(record.id), record.filename, "ERROR_" + record.problem.reason.rawValue,
                        String(record.fileSize), record.problem.message])
        }
        try save(features, "atrain_features.dat.csv")
        if let store {
            let rows = embedded.compactMap(\.featureRow)
            try FeatureExport.writeRaw(rows: rows, from: store, to: directory.appendingPathComponent("atrain_features.dat"))
            if configuration.exportNumPy {
                try FeatureExport.writeNumPy(rows: rows, from: store, to: directory.appendingPathComponent("features.npy"))
                try save(features, "features.npy.csv")
            }
        }
        try save(stats, "atrain_stats.csv")
        try save(bad, "atrain_features.bad.csv")
        try save(qualityTable(valid: valid, findings: findings), "quality.csv")
        try save(duplicatesTable(valid: valid, invalid: invalid, groups: exactDuplicates), "exact_duplicates.csv")
        try AtomicFile.write(try jsonString(configuration) + "\n", to: directory.appendingPathComponent("config.json"))
    }

    private func save(_ table: CSVTable, _ name: String) throws {
        try AtomicFile.write(table.contents, to: directory.appendingPathComponent(name))
    }

    /// One row per decoded image: every quality measurement and a 0/1 flag per issue.
    private func qualityTable(valid: [ValidSample], findings: [QualityFinding]) -> CSVTable {
        var flagged: [Int64: Set<QualityIssue>] = [:]
        for finding in findings { flagged[finding.sampleID, default: []].insert(finding.issue) }
        let issues = QualityIssue.allCases
        var table = CSVTable(header: ["index", "filename", "format", "width", "height", "sharpness", "directional_sharpness", "blur",
                                     "entropy", "brightness_p1", "brightness_p5", "brightness_p50",
                                     "brightness_p95", "brightness_p99", "saturation", "mean_chroma",
                                     "colourful_fraction"] + issues.map { "is_" + $0.rawValue })
        for sample in valid {
            let s = sample.statistics
            let flags = flagged[sample.id] ?? []
            table.append([String(sample.id), sample.filename, sample.format ?? "", String(s.width), String(s.height),
                          decimal(s.sharpness), s.directionalSharpness.map { decimal($0) } ?? "", decimal(s.blur), decimal(s.entropy),
                          decimal(s.brightnessP1, 0), decimal(s.brightnessP5, 0), decimal(s.brightnessP50, 0),
                          decimal(s.brightnessP95, 0), decimal(s.brightnessP99, 0), decimal(s.saturation),
                          decimal(s.meanChroma), decimal(s.colourfulFraction)]
                         + issues.map { flags.contains($0) ? "1" : "0" })
        }
        return table
    }

    /// `first_index,first_filename,index,filename`: each byte-identical copy beside its first instance.
    private func duplicatesTable(valid: [ValidSample], invalid: [InvalidRecord], groups: [Int64: [Int64]]) -> CSVTable {
        var names: [Int64: String] = [:]
        for sample in valid { names[sample.id] = sample.filename }
        for record in invalid { names[record.id] = record.filename }
        var table = CSVTable(header: ["first_index", "first_filename", "index", "filename"])
        for first in groups.keys.sorted() {
            for duplicate in groups[first] ?? [] {
                table.append([String(first), names[first] ?? "", String(duplicate), names[duplicate] ?? ""])
            }
        }
        return table
    }
}
