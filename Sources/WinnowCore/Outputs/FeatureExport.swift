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
            if !rows.isEmpty { try FeatureMatrix(mapping: store.url, dimension: store.dimension).write(rows: rows, to: output) }
        }
    }
}
