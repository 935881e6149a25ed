import Foundation

/// Writes selected rows of the feature store as fastdup's `atrain_features.dat` (raw float32,
/// N×d, row-major, no header) or as a NumPy `.npy`, streaming row by row (memory stays flat),
/// into a temporary file renamed over the target.
enum FeatureExport {
    static func writeRaw(rows: [Int], from store: FeatureStore, to url: URL) throws {
        try write(rows: rows, from: store, to: url, header: Data())
    }

    static func writeNumPy(rows: [Int], from store: FeatureStore, to url: URL) throws {
        var text = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(store.dimension)), }"
        // Version 1.0: magic, version, little-endian u16 header length; data 64-byte aligned.
        let unpadded = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var header = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        header.append(UInt8(text.utf8.count & 0xFF))
        header.append(UInt8(text.utf8.count >> 8))
        header.append(contentsOf: Array(text.utf8))
        try write(rows: rows, from: store, to: url, header: header)
    }

    private static func write(rows: [Int], from store: FeatureStore, to url: URL, header: Data) throws {
        try AtomicFile.write(to: url) { output in
            try output.write(contentsOf: header)
            if !rows.isEmpty { try copy(rows: rows, from: store, to: output) }
        }
    }

    /// Appends `rows` of the store to `output` in 4 MB chunks, the mapped pages released as the rows go.
    private static func copy(rows: [Int], from store: FeatureStore, to output: FileHandle) throws {
        let matrix = try FeatureMatrix(mapping: store.url, dimension: store.dimension)
        var chunk = Data()
        try matrix.forEachRow(rows) { _, values in
            chunk.append(contentsOf: UnsafeRawBufferPointer(values))
            if chunk.count > 1 << 22 {
                try output.write(contentsOf: chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try output.write(contentsOf: chunk)
    }
}
