import Foundation

/// Whitening of the stored vectors over the collection (for ``EmbeddingChoice/copyDescriptor``),
/// between the embedding and the analyses. The feature store keeps the raw descriptors, so runs
/// stay resumable and incremental; each run refits the whitening on all embedded samples, saves
/// it as `whitening.bin` (for `winnow search` queries) and gives the analyses and
/// `atrain_features.dat` the whitened vectors. The whitened copy lives in a hidden folder of the
/// work_dir named after everything it depends on, so a run killed after this stage finds it
/// there and does not whiten again; a run that ends removes it.
enum WhiteningStage {
    static let fileName = "whitening.bin"
    /// The whitened copy of the store, removed after the analyses.
    static let whitenedStoreName = "features.whitened.f32"
    static let folderPrefix = ".whitening-"
    /// With fewer embedded images the descriptors are only centred: a covariance from so few
    /// images whitens noise (measured on subsets of corpus set A: from about 100 images on,
    /// whitening beats centring).
    static let minimumWhiteningRows = 64
    /// With fewer still, the descriptors are used as they are (centring two images makes them
    /// opposite).
    static let minimumCentringRows = 8

    /// `store` whitened over the samples at `rows`: a new store (same row numbers; the rows at
    /// `rows` whitened, the others zero), or `store` itself when there are too few samples. Writes or removes
    /// `whitening.bin` in `directory` accordingly; the new store is kept in `workDirectory`
    /// (found there again by a resumed run) until ``cleanUp(workDirectory:)``.
    static func whiten(_ store: FeatureStore, rows: [Int], blockLengths: [Int], directory: URL, workDirectory: URL,
                       options: PCAWhitening.Options = PCAWhitening.Options()) throws -> FeatureStore {
        let saved = directory.appendingPathComponent(fileName)
        guard rows.count >= minimumCentringRows, store.rowCount > 0 else {
            try? FileManager.default.removeItem(at: saved)
            return store
        }
        let matrix = try FeatureMatrix(mapping: store.url, dimension: store.dimension)
        let folder = workDirectory.appendingPathComponent(folderPrefix + key(matrix, rows: rows, blockLengths: blockLengths, options: options))
        let whitened = folder.appendingPathComponent(whitenedStoreName)
        let whitening: BlockWhitening
        if let finished = try? BlockWhitening.read(from: folder.appendingPathComponent(fileName)),
           FileManager.default.fileExists(atPath: whitened.path) {
            whitening = finished
        } else {
            cleanUp(workDirectory: workDirectory)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            whitening = try BlockWhitening.fit(matrix, blockLengths: blockLengths, rows: rows, options: options,
                                               minimumWhiteningRows: minimumWhiteningRows)
            let partial = folder.appendingPathComponent(whitenedStoreName + ".partial")
            try apply(whitening, to: matrix, rows: rows, writingTo: partial)
            try FileManager.default.moveItem(at: partial, to: whitened)
            // Written last: with it, the folder is complete.
            try whitening.write(to: folder.appendingPathComponent(fileName))
        }
        try whitening.write(to: saved)
        return try FeatureStore(url: whitened, dimension: whitening.outputDimension, committedRows: matrix.rows)
    }

    /// XXH64 of the whitening's options, the rows it is fitted on and the raw vectors' bytes.
    private static func key(_ matrix: FeatureMatrix, rows: [Int], blockLengths: [Int], options: PCAWhitening.Options) -> String {
        let header = "winnow-whitening-v1 \(blockLengths) \(options) \(matrix.rows)×\(matrix.dimension)"
        let seed = (Array(header.utf8) + rows.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) })
            .withUnsafeBytes { ContentHash.xxh64($0) }
        return ContentHash.hex(matrix.contentHash(seed: seed))
    }

    /// Writes the rows at `rows` of `matrix` whitened to `url`, at their store rows (others zero).
    private static func apply(_ whitening: BlockWhitening, to matrix: FeatureMatrix, rows: [Int], writingTo url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot create \(url.path)"])
        }
        let output = try FileHandle(forWritingTo: url)
        defer { try? output.close() }
        let rowBytes = whitening.outputDimension * 4
        try output.truncate(atOffset: UInt64(matrix.rows * rowBytes))
        // Rows are whitened in the samples' order, not the store's (the order decoding finished
        // in), and written to their store rows: a row's result depends on its place in the
        // matrix product's tiles, so the same images then give the same bytes on every run.
        let chunk = 4096
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let block = Array(rows[start..<min(start + chunk, rows.count)])
            var gathered = [Float]()
            gathered.reserveCapacity(block.count * matrix.dimension)
            matrix.forEachRow(block) { _, values in gathered.append(contentsOf: values) }
            let values = whitening.apply(FeatureMatrix(rows: block.count, dimension: matrix.dimension, values: gathered),
                                         rows: 0..<block.count)
            try values.withUnsafeBytes { bytes in
                for (i, row) in block.enumerated() {
                    try write(bytes.baseAddress! + i * rowBytes, count: rowBytes, at: row * rowBytes, to: output, url)
                }
            }
        }
        try output.synchronize()
    }

    private static func write(_ bytes: UnsafeRawPointer, count: Int, at offset: Int, to handle: FileHandle,
                              _ url: URL) throws {
        guard pwrite(handle.fileDescriptor, bytes, count, off_t(offset)) == count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey:
                "cannot write \(url.path): \(String(cString: strerror(errno)))"])
        }
    }

    /// Removes the whitened copies ``whiten(_:rows:blockLengths:directory:workDirectory:options:)`` keeps.
    static func cleanUp(workDirectory: URL) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workDirectory.path)) ?? []
        where name.hasPrefix(folderPrefix) {
            try? FileManager.default.removeItem(at: workDirectory.appendingPathComponent(name))
        }
    }
}
