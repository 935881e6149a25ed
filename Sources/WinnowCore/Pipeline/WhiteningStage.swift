import Foundation

/// Whitening of the stored vectors over the collection (for ``EmbeddingChoice/copyDescriptor``),
/// between the embedding and the analyses. The feature store keeps the raw descriptors, so runs
/// stay resumable and incremental; each run refits the whitening on all embedded samples, saves
/// it as `whitening.bin` (for `winnow search` queries) and gives the analyses and
/// `atrain_features.dat` the whitened vectors.
enum WhiteningStage {
    static let fileName = "whitening.bin"
    /// The whitened copy of the store, removed after the analyses.
    static let whitenedStoreName = "features.whitened.f32"
    /// With fewer embedded images the descriptors are only centred: a covariance from so few
    /// images whitens noise (measured on subsets of corpus set A: from about 100 images on,
    /// whitening beats centring).
    static let minimumWhiteningRows = 64
    /// With fewer still, the descriptors are used as they are (centring two images makes them
    /// opposite).
    static let minimumCentringRows = 8

    /// `store` whitened over the samples at `rows`: a new store (same row numbers; the rows at
    /// `rows` whitened, the others zero), or `store` itself when there are too few samples. Writes or removes
    /// `whitening.bin` in `directory` accordingly.
    static func whiten(_ store: FeatureStore, rows: [Int], blockLengths: [Int], directory: URL,
                       options: PCAWhitening.Options = PCAWhitening.Options()) throws -> FeatureStore {
        let saved = directory.appendingPathComponent(fileName)
        guard rows.count >= minimumCentringRows, store.rowCount > 0 else {
            try? FileManager.default.removeItem(at: saved)
            return store
        }
        let matrix = try FeatureMatrix(mapping: store.url, dimension: store.dimension)
        let whitening = try BlockWhitening.fit(matrix, blockLengths: blockLengths, rows: rows, options: options,
                                               minimumWhiteningRows: minimumWhiteningRows)
        try whitening.write(to: saved)
        let url = directory.appendingPathComponent(whitenedStoreName)
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
        return try FeatureStore(url: url, dimension: whitening.outputDimension, committedRows: matrix.rows)
    }

    private static func write(_ bytes: UnsafeRawPointer, count: Int, at offset: Int, to handle: FileHandle,
                              _ url: URL) throws {
        guard pwrite(handle.fileDescriptor, bytes, count, off_t(offset)) == count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey:
                "cannot write \(url.path): \(String(cString: strerror(errno)))"])
        }
    }

    /// Removes what ``whiten(_:rows:blockLengths:directory:options:)`` leaves for the analyses only.
    static func cleanUp(directory: URL) {
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(whitenedStoreName))
    }
}
