import Foundation
import GRDB

/// The work_dir's SQLite catalog (`winnow.sqlite`): samples, their stats and issues, and the
/// runs that produced them. Every write is a transaction, so a killed run leaves it consistent
/// and the next run resumes from what was committed.
public final class Catalog: Sendable {
    /// The catalog's file name inside a work_dir.
    public static let fileName = "winnow.sqlite"
    let database: DatabaseQueue

    /// Opens (creating if needed) the catalog at `url` and brings its schema up to date.
    public init(url: URL) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        }
        directory = url.deletingLastPathComponent().path
        do {
            database = try DatabaseQueue(path: url.path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw Self.translated(error, directory: directory)
        }
    }

    /// The work_dir, for messages.
    private let directory: String

    /// A write transaction; a catalog that cannot be written (read-only, full, I/O error)
    /// becomes ``WorkDirectoryError/notWritable(path:reason:)``.
    func write<T>(_ updates: (Database) throws -> T) throws -> T {
        do { return try database.write(updates) } catch { throw Self.translated(error, directory: directory) }
    }

    private static func translated(_ error: Error, directory: String) -> Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_PERM:
            return WorkDirectoryError.notWritable(path: directory, reason: "\(Catalog.fileName): \(error.message ?? "\(error.resultCode)")")
        default:
            return error
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    started_at TEXT NOT NULL, finished_at TEXT, version TEXT NOT NULL,
                    configuration TEXT NOT NULL, state TEXT NOT NULL, summary TEXT);
                CREATE TABLE samples (
                    id INTEGER PRIMARY KEY,
                    path TEXT NOT NULL UNIQUE,
                    filename TEXT NOT NULL,
                    archive TEXT, member TEXT,
                    file_size INTEGER NOT NULL, mtime REAL NOT NULL,
                    listed INTEGER NOT NULL DEFAULT 1,
                    state TEXT NOT NULL DEFAULT 'pending',
                    content_hash TEXT, format TEXT, width INTEGER, height INTEGER,
                    error_code TEXT, error_message TEXT, processed_run INTEGER,
                    feature_row INTEGER, added_run INTEGER, location TEXT);
                CREATE INDEX samples_state ON samples(state, listed);
                CREATE TABLE stats (
                    sample_id INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
                    unique_levels INTEGER, blur REAL, mean REAL, min REAL, max REAL, stdv REAL,
                    contrast REAL, sharpness REAL, directional_sharpness REAL, saturation REAL, entropy REAL, mean_chroma REAL,
                    colourful_fraction REAL, brightness_p1 REAL, brightness_p5 REAL,
                    brightness_p50 REAL, brightness_p95 REAL, brightness_p99 REAL);
                CREATE TABLE issues (
                    sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
                    issue TEXT NOT NULL, score REAL NOT NULL,
                    PRIMARY KEY (sample_id, issue));
                CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE scores (
                    sample_id INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
                    uniqueness REAL, representativeness REAL, nn_similarity REAL,
                    component_id INTEGER, is_outlier INTEGER);
                CREATE TABLE similar_pairs (
                    from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, similarity REAL NOT NULL,
                    PRIMARY KEY (from_id, to_id));
                CREATE TABLE exact_duplicates (
                    sample_id INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
                    first_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE);
                """)
        }
        // The row of the user's vectors (`--embeddings`) of each sample, kept with the sample
        // rather than in a table beside the decode stage.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE samples ADD COLUMN vector_row INTEGER")
        }
        migrator.registerMigration("v3") { db in try db.execute(sql: decisionsTable) }
        // Video frames: the video is `location`, the frame its timestamp in the stream's time base.
        migrator.registerMigration("v4") { db in try db.execute(sql: "ALTER TABLE samples ADD COLUMN frame_pts INTEGER") }
        return migrator
    }

    /// A person's decisions that every later run applies (``Decision``); each recorded once.
    private static let decisionsTable = """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('not_copy', 'keep', 'remove', 'protect')),
            first_id INTEGER NOT NULL DEFAULT 0, second_id INTEGER NOT NULL DEFAULT 0,
            folder TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            UNIQUE (kind, first_id, second_id, folder));
        """

    // MARK: Runs

    /// Records the start of a run and returns its id.
    public func beginRun(configurationJSON: String) throws -> Int64 {
        try write { db in
            try db.execute(sql: "UPDATE runs SET state = 'interrupted' WHERE state = 'running'")
            try db.execute(sql: "INSERT INTO runs (started_at, version, configuration, state) VALUES (?, ?, ?, 'running')",
                           arguments: [timestamp(), Winnow.version, configurationJSON])
            return db.lastInsertedRowID
        }
    }

    /// The setting naming the staging folder whose files are being moved into place (see
    /// ``StagedOutputs``); set with the findings, cleared once the files are in place.
    static let publishingKey = "publishing"

    /// Stores a run's findings, marks the run finished and records that its staged files
    /// (`staging`, a folder in the work_dir) are being moved into place, in one transaction.
    func commit(_ findings: Findings, finishing run: Int64, summaryJSON: String, publishing staging: String) throws {
        try write { db in
            try Self.replace(findings, in: db)
            try db.execute(sql: "UPDATE runs SET finished_at = ?, state = 'finished', summary = ? WHERE id = ?",
                           arguments: [timestamp(), summaryJSON, run])
            try db.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", arguments: [Self.publishingKey, staging])
        }
    }

    /// Forgets the staging folder recorded by ``commit(_:finishing:summaryJSON:publishing:)``.
    func clearPublishing() throws {
        try write { db in try db.execute(sql: "DELETE FROM settings WHERE key = ?", arguments: [Self.publishingKey]) }
    }

    /// Whether a run before `run` finished (so this run adds to an existing dataset).
    public func hasEarlierFinishedRun(than run: Int64) throws -> Bool {
        try database.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE state = 'finished' AND id < ?", arguments: [run]) ?? 0) > 0
        }
    }

    /// Number of runs recorded, by state.
    public func runCount(state: String) throws -> Int {
        try database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE state = ?", arguments: [state]) ?? 0
        }
    }

    private func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }

    // MARK: Samples

    /// Brings the catalog in line with the current listing `sources` (shown in outputs by their
    /// display names; `vectorRows`: each one's row of the user's vectors): new inputs get the next free ids
    /// (in listing order), changed files (size or mtime) go back to pending, inputs no longer
    /// listed are kept but marked unlisted. Returns how many samples are still to process (read
    /// them with ``pendingSamples(after:limit:needingFeatures:archive:)``). With
    /// `needingFeatures`, decoded samples that have no feature row yet count as pending too.
    /// Samples whose file is gone (not listed, and no longer on disk) are removed with everything
    /// stored about them. New samples record `run` as the run that added them. Samples that
    /// share a feature row lose it (and are pending with `needingFeatures`). Each listing is
    /// looked up by its path (an index), so nothing is held beside the listing.
    @discardableResult
    public func register(_ sources: [SampleSource], vectorRows: [Int?] = [], run: Int64, needingFeatures: Bool = false) throws -> Int {
        try write { db in
            // Samples sharing a feature row (left by runs that overlapped before the work_dir was
            // locked) lose it, so that each is embedded again into a row of its own.
            try db.execute(sql: """
                UPDATE samples SET feature_row = NULL WHERE feature_row IN
                (SELECT feature_row FROM samples WHERE feature_row IS NOT NULL GROUP BY feature_row HAVING COUNT(*) > 1)
                """)
            var nextID = (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM samples") ?? -1) + 1
            try db.execute(sql: "UPDATE samples SET listed = 0")
            let lookup = try db.makeStatement(sql: "SELECT id, file_size, mtime FROM samples WHERE path = ?")
            for (index, source) in sources.enumerated() {
                let vectorRow = index < vectorRows.count ? vectorRows[index] : nil
                var archive: String?, member: String?, location: String?, frame: Int64?
                switch source.location {
                case .archiveMember(let url, let name): archive = url.path; member = name
                case .file(let path): location = path
                case .videoFrame(let video): (location, frame) = (video.video, video.timestamp)
                }
                if let known = try Row.fetchOne(lookup, arguments: [source.id]) {
                    let id: Int64 = known["id"]
                    if known["file_size"] != source.byteCount || known["mtime"] != source.modificationTime {
                        try db.execute(sql: "DELETE FROM stats WHERE sample_id = ?", arguments: [id])
                        try db.execute(sql: """
                            UPDATE samples SET state = 'pending', file_size = ?, mtime = ?, content_hash = NULL,
                            format = NULL, width = NULL, height = NULL, error_code = NULL, error_message = NULL,
                            feature_row = NULL WHERE id = ?
                            """, arguments: [source.byteCount, source.modificationTime, id])
                    }
                    try db.execute(sql: "UPDATE samples SET listed = 1, filename = ?, location = ?, vector_row = ?, frame_pts = ? WHERE id = ?",
                                   arguments: [source.displayName, location, vectorRow, frame, id])
                } else {
                    try db.execute(sql: """
                        INSERT INTO samples (id, path, filename, archive, member, file_size, mtime, added_run, location, vector_row, frame_pts)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [nextID, source.id, source.displayName, archive, member,
                                         source.byteCount, source.modificationTime, run, location, vectorRow, frame])
                    nextID += 1
                }
            }
            var gone: [Int64] = []
            let unlisted = try Row.fetchCursor(db, sql: "SELECT id, location, archive FROM samples WHERE listed = 0")
            while let row = try unlisted.next() {
                let path: String = (row["archive"] as String?) ?? (row["location"] as String?) ?? ""
                if !FileManager.default.fileExists(atPath: path) { gone.append(row["id"]) }
            }
            for id in gone {
                try db.execute(sql: "DELETE FROM similar_pairs WHERE from_id = ? OR to_id = ?", arguments: [id, id])
                try db.execute(sql: "DELETE FROM samples WHERE id = ?", arguments: [id])
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM samples WHERE \(Self.pendingCondition)",
                                    arguments: [needingFeatures]) ?? 0
        }
    }

    /// A listed sample still to read, as registered.
    public struct PendingSample: Sendable {
        public var id: Int64
        public var source: SampleSource
        /// Its row of the user's vectors (`--embeddings`), if any.
        public var vectorRow: Int?

        public init(id: Int64, source: SampleSource, vectorRow: Int? = nil) {
            (self.id, self.source, self.vectorRow) = (id, source, vectorRow)
        }
    }

    /// Listed samples not yet processed (or, `?` = needing features, decoded without a feature row).
    private static let pendingCondition = """
        listed = 1 AND (state = 'pending' OR (? AND state = 'valid' AND feature_row IS NULL))
        """

    /// Up to `limit` pending samples with ids above `id`, in id order: the plain files when
    /// `archive` and `video` are nil, else the members of that archive or the frames of that
    /// video. Pages are read by id, so samples processed meanwhile do not shift them.
    public func pendingSamples(after id: Int64, limit: Int, needingFeatures: Bool, archive: String?,
                               video: String? = nil) throws -> [PendingSample] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, path, filename, archive, member, file_size, mtime, location, vector_row, frame_pts FROM samples
                WHERE \(Self.pendingCondition) AND archive IS ? AND (frame_pts IS NULL) = (? IS NULL)
                AND (? IS NULL OR location = ?) AND id > ? ORDER BY id LIMIT ?
                """, arguments: [needingFeatures, archive, video, video, video, id, limit]).map { row in
                let location: SampleLocation = if let archive: String = row["archive"] {
                    .archiveMember(archive: URL(fileURLWithPath: archive), member: row["member"] ?? "")
                } else if let frame: Int64 = row["frame_pts"] {
                    .videoFrame(VideoFrame(video: row["location"] ?? "", timestamp: frame))
                } else {
                    .file(row["location"] ?? row["path"])
                }
                return PendingSample(id: row["id"], source: SampleSource(id: row["path"], location: location, byteCount: row["file_size"],
                                                                          modificationTime: row["mtime"], displayName: row["filename"]),
                                     vectorRow: row["vector_row"])
            }
        }
    }

    /// The videos that have pending frames, by path.
    public func videosWithPendingFrames(needingFeatures: Bool) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT location FROM samples WHERE \(Self.pendingCondition) AND frame_pts IS NOT NULL
                AND location IS NOT NULL ORDER BY location
                """, arguments: [needingFeatures])
        }
    }

    /// The archives that hold pending samples, by path.
    public func archivesWithPendingSamples(needingFeatures: Bool) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT archive FROM samples WHERE \(Self.pendingCondition) AND archive IS NOT NULL ORDER BY archive
                """, arguments: [needingFeatures])
        }
    }

    /// Stores a batch of processed samples in one transaction; `featureRows` gives the row of
    /// each sample's embedding in the feature store.
    public func store(_ outcomes: [SampleOutcome], run: Int64, featureRows: [Int64: Int] = [:]) throws {
        guard !outcomes.isEmpty else { return }
        try write { db in
            for outcome in outcomes {
                switch outcome.result {
                case .success(let decoded):
                    let s = decoded.statistics
                    try db.execute(sql: """
                        UPDATE samples SET state = 'valid', content_hash = ?, format = ?, width = ?, height = ?,
                        error_code = NULL, error_message = NULL, processed_run = ?, feature_row = ? WHERE id = ?
                        """, arguments: [outcome.contentHash, decoded.format.rawValue, s.width, s.height, run,
                                         featureRows[outcome.sampleID], outcome.sampleID])
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO stats (sample_id, unique_levels, blur, mean, min, max, stdv, contrast,
                        sharpness, directional_sharpness, saturation, entropy, mean_chroma, colourful_fraction,
                        brightness_p1, brightness_p5, brightness_p50, brightness_p95, brightness_p99)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [outcome.sampleID, s.uniqueGreyLevels, s.blur, s.mean, s.minimum, s.maximum,
                                         s.standardDeviation, s.contrast, s.sharpness, s.directionalSharpness, s.saturation, s.entropy,
                                         s.meanChroma, s.colourfulFraction, s.brightnessP1, s.brightnessP5,
                                         s.brightnessP50, s.brightnessP95, s.brightnessP99])
                case .failure(let invalid):
                    try db.execute(sql: """
                        UPDATE samples SET state = 'invalid', content_hash = ?, format = NULL, width = NULL,
                        height = NULL, error_code = ?, error_message = ?, processed_run = ?, feature_row = NULL
                        WHERE id = ?
                        """, arguments: [outcome.contentHash, invalid.reason.rawValue, invalid.message, run, outcome.sampleID])
                    try db.execute(sql: "DELETE FROM stats WHERE sample_id = ?", arguments: [outcome.sampleID])
                }
            }
        }
    }

    /// The id of each sample, by its path (its source's stable id).
    func sampleIDs() throws -> [String: Int64] {
        try database.read { db in
            var ids: [String: Int64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT id, path FROM samples")
            while let row = try rows.next() { ids[row["path"]] = row["id"] }
            return ids
        }
    }

    /// The listed samples that decoded, in id order.
    public func validSamples() throws -> [ValidSample] {
        try database.read { db in
            // A cursor: one database row at a time, never a table of rows beside the samples.
            let rows = try Row.fetchCursor(db, sql: """
                SELECT s.id, s.path, s.filename, s.file_size, s.content_hash, s.width, s.height, s.feature_row,
                       s.added_run, s.location, s.archive, s.member, s.frame_pts
                FROM samples s JOIN stats t ON t.sample_id = s.id
                WHERE s.listed = 1 AND s.state = 'valid' ORDER BY s.id
                """)
            var samples: [ValidSample] = []
            samples.reserveCapacity(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM samples WHERE listed = 1 AND state = 'valid'") ?? 0)
            var archives: [String: URL] = [:]
            while let row = try rows.next() {
                var sample = Self.validSample(row)
                if let archive: String = row["archive"], let member: String = row["member"] {
                    let url = archives[archive] ?? URL(fileURLWithPath: archive)
                    archives[archive] = url
                    sample.location = .archiveMember(archive: url, member: member)
                } else if let location: String = row["location"], let frame: Int64 = row["frame_pts"] {
                    sample.location = .videoFrame(VideoFrame(video: location, timestamp: frame))
                } else if let location: String = row["location"] {
                    sample.location = .file(location == sample.filename ? sample.filename : location)
                }
                samples.append(sample)
            }
            return samples
        }
    }

    private static func validSample(_ row: Row) -> ValidSample {
        let filename: String = row["filename"], path: String = row["path"]
        // Listed files often have the same path, file name and location: one string then, not three.
        return ValidSample(id: row["id"], path: path == filename ? filename : path, filename: filename,
                           featureRow: row["feature_row"], addedRun: row["added_run"], fileSize: row["file_size"],
                           contentHash: row["content_hash"], width: row["width"] ?? 0, height: row["height"] ?? 0)
    }

    /// Calls `body` with the statistics of each listed sample that decoded, in id order, read
    /// through a cursor (the statistics of every sample are never held together).
    public func forEachValidStatistics(_ body: (StatisticsRecord) throws -> Void) throws {
        try database.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT s.id, s.filename, s.file_size, s.format, s.width, s.height, t.*
                FROM samples s JOIN stats t ON t.sample_id = s.id
                WHERE s.listed = 1 AND s.state = 'valid' ORDER BY s.id
                """)
            while let row = try rows.next() {
                try body(StatisticsRecord(
                    id: row["id"], filename: row["filename"], fileSize: row["file_size"], format: row["format"],
                    statistics: ImageStatistics(
                        width: row["width"], height: row["height"], uniqueGreyLevels: row["unique_levels"],
                        blur: row["blur"], mean: row["mean"], minimum: row["min"], maximum: row["max"],
                        standardDeviation: row["stdv"], contrast: row["contrast"], sharpness: row["sharpness"],
                        directionalSharpness: row["directional_sharpness"],
                        saturation: row["saturation"], entropy: row["entropy"], meanChroma: row["mean_chroma"],
                        colourfulFraction: row["colourful_fraction"], brightnessP1: row["brightness_p1"],
                        brightnessP5: row["brightness_p5"], brightnessP50: row["brightness_p50"],
                        brightnessP95: row["brightness_p95"], brightnessP99: row["brightness_p99"])))
            }
        }
    }

    /// The listed samples that could not be used, in id order.
    public func invalidSamples() throws -> [InvalidRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, filename, file_size, content_hash, error_code, error_message FROM samples
                WHERE listed = 1 AND state = 'invalid' ORDER BY id
                """).map { row in
                let code: String = row["error_code"]
                return InvalidRecord(id: row["id"], filename: row["filename"], fileSize: row["file_size"],
                                     contentHash: row["content_hash"],
                                     problem: InvalidSample(InvalidReason(rawValue: code) ?? .unreadable, row["error_message"] ?? ""))
            }
        }
    }

    /// What a run found, stored when its files are written (``commit(_:finishing:summaryJSON:publishing:)``).
    struct Findings: Sendable {
        var issues: [QualityFinding]
        var exactDuplicates: [Int64: [Int64]]
        /// The embedding-based scores and similar pairs (each pair once, lower id first); nil
        /// when the run computed none, which leaves the stored ones as they are.
        var scores: (scores: [SampleScores], pairs: [(Int64, Int64, Float)])?
    }

    private static func replace(_ findings: Findings, in db: Database) throws {
        try db.execute(sql: "DELETE FROM issues")
        try db.execute(sql: "DELETE FROM exact_duplicates")
        for finding in findings.issues {
            try db.execute(sql: "INSERT INTO issues (sample_id, issue, score) VALUES (?, ?, ?)",
                           arguments: [finding.sampleID, finding.issue.rawValue, finding.score])
        }
        for (first, duplicates) in findings.exactDuplicates {
            for duplicate in duplicates {
                try db.execute(sql: "INSERT INTO exact_duplicates (sample_id, first_id) VALUES (?, ?)", arguments: [duplicate, first])
            }
        }
        guard let (scores, pairs) = findings.scores else { return }
        try db.execute(sql: "DELETE FROM scores")
        try db.execute(sql: "DELETE FROM similar_pairs")
        for s in scores {
            try db.execute(sql: """
                INSERT INTO scores (sample_id, uniqueness, representativeness, nn_similarity, component_id, is_outlier)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [s.sampleID, s.uniqueness, s.representativeness, s.nearestSimilarity, s.componentID, s.isOutlier])
        }
        for (a, b, similarity) in pairs {
            try db.execute(sql: "INSERT OR REPLACE INTO similar_pairs (from_id, to_id, similarity) VALUES (?, ?, ?)",
                           arguments: [a, b, similarity])
        }
    }

    /// A stored setting (such as the identity of the embedding model), if any.
    public func setting(_ key: String) throws -> String? {
        try database.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

    /// Forgets every sample's feature row (the embedding model changed).
    public func clearFeatureRows() throws {
        try write { db in try db.execute(sql: "UPDATE samples SET feature_row = NULL") }
    }

    /// One past the highest committed feature row (the feature store is cut back to this).
    public func committedFeatureRows() throws -> Int {
        try database.read { db in (try Int.fetchOne(db, sql: "SELECT MAX(feature_row) FROM samples") ?? -1) + 1 }
    }

    /// Counts of samples by state among the listed ones (for tests and summaries).
    public func stateCounts() throws -> [String: Int] {
        try database.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM samples WHERE listed = 1 GROUP BY state") {
                counts[row["state"]] = row["n"]
            }
            return counts
        }
    }

    /// Runs a read-only SQL query and returns its rows as string dictionaries (for tests and tools).
    public func query(_ sql: String) throws -> [[String: String]] {
        try database.read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                var values: [String: String] = [:]
                for (column, value) in row {
                    switch value.storage {
                    case .null: values[column] = ""
                    case .int64(let number): values[column] = String(number)
                    case .double(let number): values[column] = String(number)
                    case .string(let text): values[column] = text
                    case .blob(let data): values[column] = data.map { String(format: "%02x", $0) }.joined()
                    }
                }
                return values
            }
        }
    }
}

/// A decoded sample as stored in the catalog. Every run holds one per image, so the numbers are
/// kept in their smallest exact form (112 bytes and the path's text, where plain fields
/// and a hex string took over 200).
public struct ValidSample: Sendable {
    public var id: Int64
    public var fileSize: Int64
    private var hashBits: UInt64
    private var row: Int32
    private var run: Int32
    private var pixels: SIMD2<Int32>
    /// The stable id (path relative to its input).
    public var path: String
    public var filename: String
    /// Where its bytes are read from, as the last run that listed it found them (nil: not recorded).
    public var location: SampleLocation?
    private var hasHash: Bool

    public init(id: Int64, path: String, filename: String, featureRow: Int?, addedRun: Int64?, fileSize: Int64,
                contentHash: String?, width: Int, height: Int, location: SampleLocation? = nil) {
        (self.id, self.path, self.filename, self.fileSize, self.location) = (id, path, filename, fileSize, location)
        (hashBits, hasHash, row, run, pixels) = (0, false, -1, -1, .zero)
        (self.featureRow, self.addedRun, self.contentHash, self.width, self.height) = (featureRow, addedRun, contentHash, width, height)
    }

    /// Row of its embedding in the feature store, when it has one.
    public var featureRow: Int? {
        get { row < 0 ? nil : Int(row) }
        set { row = newValue.map { Int32(clamping: $0) } ?? -1 }
    }

    /// The run that first listed it.
    public var addedRun: Int64? {
        get { run < 0 ? nil : Int64(run) }
        set { run = newValue.map { Int32(clamping: $0) } ?? -1 }
    }

    /// XXH64 of its bytes as 16 hex digits (``ContentHash``), kept as its 64 bits; a value that
    /// is not 16 hex digits reads back as nil.
    public var contentHash: String? {
        get { hasHash ? ContentHash.hex(hashBits) : nil }
        set {
            let bits = newValue.flatMap { $0.utf8.count == 16 ? UInt64($0, radix: 16) : nil }
            (hashBits, hasHash) = (bits ?? 0, bits != nil)
        }
    }

    /// Pixels as decoded (the rest of its statistics: ``Catalog/forEachValidStatistics(_:)``).
    public var width: Int {
        get { Int(pixels.x) }
        set { pixels.x = Int32(clamping: newValue) }
    }

    public var height: Int {
        get { Int(pixels.y) }
        set { pixels.y = Int32(clamping: newValue) }
    }
}

/// A decoded sample's statistics as stored in the catalog, read one at a time.
public struct StatisticsRecord: Sendable {
    public var id: Int64
    public var filename: String
    public var fileSize: Int64
    public var format: String?
    public var statistics: ImageStatistics
}

/// Embedding-based scores of one sample.
public struct SampleScores: Sendable {
    public var sampleID: Int64
    public var uniqueness: Float
    public var representativeness: Float
    public var nearestSimilarity: Float
    public var componentID: Int64
    public var isOutlier: Bool
}

/// A sample that could not be used, as stored in the catalog.
public struct InvalidRecord: Sendable {
    public var id: Int64
    public var filename: String
    public var fileSize: Int64
    public var contentHash: String?
    public var problem: InvalidSample
}

/// What processing one sample produced.
public struct SampleOutcome: Sendable {
    public var sampleID: Int64
    /// The sample's name in outputs and messages.
    public var name: String
    /// XXH64 of the file's bytes (hex), nil when they could not be read.
    public var contentHash: String?
    public var result: Result<ProcessedImage, InvalidSample>
    /// The decoded image's embedding, computed on the decode worker when the run embeds
    /// (written to the feature store, not to the catalog); a failure is the model's, not the file's.
    public var embedding: Result<[Float], EmbeddingError>? = nil
    /// The sample's row of the user's vectors (`--embeddings`), if any.
    public var vectorRow: Int? = nil

    init(_ sample: Catalog.PendingSample, contentHash: String?, result: Result<ProcessedImage, InvalidSample>,
         embedding: Result<[Float], EmbeddingError>? = nil) {
        (sampleID, name, vectorRow) = (sample.id, sample.source.displayName, sample.vectorRow)
        (self.contentHash, self.result, self.embedding) = (contentHash, result, embedding)
    }
}

/// A decoded image's measurements.
public struct ProcessedImage: Sendable {
    public var format: ImageFormat
    public var statistics: ImageStatistics

    public init(format: ImageFormat, statistics: ImageStatistics) {
        (self.format, self.statistics) = (format, statistics)
    }
}
