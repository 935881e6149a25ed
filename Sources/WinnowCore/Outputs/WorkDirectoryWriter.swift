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
        try writeFeatureList(embedded, to: WorkDirFile.featureList)
        if let store {
            let rows = embedded.compactMap(\.featureRow)
            try FeatureExport.writeRaw(rows: rows, from: store, to: directory.appendingPathComponent("atrain_features.dat"))
            if configuration.exportNumPy {
                try FeatureExport.writeNumPy(rows: rows, from: store, to: directory.appendingPathComponent("features.npy"))
                try writeFeatureList(embedded, to: WorkDirFile.numPyFeatureList)
            }
        }
        let findings = try writeStatistics(statistics, inspect: inspect)
        // fastdup's four columns, then Winnow's one-line reason.
        try WorkDirFile.badFiles.write(invalid.lazy.map {
            BadFileRow(index: $0.id, filename: $0.filename, errorCode: "ERROR_" + $0.problem.reason.rawValue, fileSize: $0.fileSize,
                       reason: $0.problem.message)
        }, in: directory)
        try writeDuplicates(valid: valid, invalid: invalid, groups: exactDuplicates)
        try AtomicFile.write(try jsonString(configuration) + "\n", to: directory.appendingPathComponent("config.json"))
        return findings
    }

    /// `index,filename` of each sample, in the order of the feature rows.
    private func writeFeatureList(_ samples: [ValidSample], to file: WorkDirCSV<FeatureListRow>) throws {
        try file.write(samples.lazy.map { FeatureListRow(index: $0.id, filename: $0.filename) }, in: directory)
    }

    /// `atrain_stats.csv` (fastdup's columns) and `quality.csv` (every quality measurement and a
    /// 0/1 flag per issue), one row per decoded image, both from one pass over the statistics,
    /// which also gives each sample's findings (`inspect`); returns them all.
    private func writeStatistics(_ statistics: StatisticsPass,
                                 inspect: @escaping (StatisticsRecord) -> [QualityFinding]) throws -> [QualityFinding] {
        var findings: [QualityFinding] = []
        let stats = try WorkDirFile.statistics.writer(in: directory)
        let quality = try WorkDirFile.quality.writer(in: directory)
        try statistics { sample in
            try stats.append(StatisticsRow(sample))
            let found = inspect(sample)
            findings += found
            try quality.append(QualityRow(sample, issues: Set(found.map(\.issue))))
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
        try WorkDirFile.exactDuplicates.write(in: directory) { append in
            for first in groups.keys.sorted() {
                for duplicate in groups[first] ?? [] {
                    try append(ExactDuplicateRow(firstIndex: first, firstFilename: names[first] ?? "", index: duplicate,
                                                 filename: names[duplicate] ?? ""))
                }
            }
        }
    }
}
