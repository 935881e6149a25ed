import Foundation
import WinnowCore

/// Raw copy descriptors for every image of a ``ScaleImageSet``, so that `winnow run --model copy
/// --embeddings` can run every stage but the network on a set too large to embed here (the
/// 1M-image run: the network's ~12 ms a 224² image would take hours on two cores).
///
/// The first `sampleCount` images get their real descriptors (a default run over them, without
/// verification). Beyond them, a planted copy gets its source's descriptor with 2 % noise, so the
/// pair is a candidate and verification compares the two real images. Any other image is a crop
/// of a pool photo, and gets the mean of the real descriptors of that photo's crops plus a random
/// signed mix of ``mixedRows`` of their deviations from it, `μₚ + Σ sₖwₖ(xₖ − μₚ) / √Σwₖ²`
/// (sₖ = ±1, wₖ in 0.2–1): it lies among its photo's crops as they lie among themselves, so its
/// nearest neighbours are, as with real descriptors, mostly other crops of its photo — pairs the
/// verification's screen settles as they would be settled — without copying any one descriptor.
/// A photo with fewer than two real crops takes the same mix over all real descriptors.
/// Rows follow the image order, which is the run's sorted file list.
///
/// The second recipe mixed every made image from the real descriptors of any photos: it had
/// their mean and covariance, but a made image's neighbours were then crops of other photos,
/// which no local feature matches, and the screen sent 61 % of the candidate pairs at 200,000
/// (47 % at 1M) to SIFT against 5.8 % with real descriptors at 20,000; this one sends 10.7 % at
/// 50,000 against 4.6 % with real ones (docs/benchmarks.md, "… made descriptors that keep their
/// photo").
struct ScaleDescriptors {
    let set: ScaleImageSet
    let sampleCount: Int
    /// Real descriptors mixed into each made one.
    static let mixedRows = 5
    /// Part of the file name: files made by another recipe are not reused.
    static let recipe = "v3"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The `.npy` for the first `count` images, made once and kept beside the images.
    func file(count: Int, scratch: String) throws -> URL {
        let url = set.folder.appendingPathComponent("descriptors-\(Self.recipe)-from\(sampleCount)-\(count).npy")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let real = try realDescriptors(scratch: scratch)
        let partial = url.appendingPathExtension("partial")
        try write(count: count, real: real, to: partial)
        try FileManager.default.moveItem(at: partial, to: url)
        return url
    }

    /// The raw descriptors of the first `sampleCount` images, in image order, from a default run over them.
    private func realDescriptors(scratch: String) throws -> [[Float]] {
        let list = try set.make(count: sampleCount, workers: ProcessInfo.processInfo.activeProcessorCount)
        let work = scratch + "/descriptors-\(sampleCount)"
        _ = try BenchSupport.winnowRun([list.path, "--work-dir", work, "--no-verify"])
        let store = try FeatureMatrix(mapping: URL(fileURLWithPath: work + "/features.f32"), dimension: CopyDescriptor.dimension)
        let rows = try Catalog(url: URL(fileURLWithPath: work + "/" + Catalog.fileName))
            .query("SELECT path, feature_row FROM samples WHERE feature_row IS NOT NULL ORDER BY path")
        guard rows.count == sampleCount else {
            throw Failure(description: "\(work): \(rows.count) of the first \(sampleCount) images have descriptors, not all")
        }
        return rows.compactMap { $0["feature_row"].flatMap { Int($0) } }.map { Array(store.row($0)) }
    }

    /// Writes the rows block by block; a copy's source row is read back from the file.
    private func write(count: Int, real: [[Float]], to url: URL) throws {
        let dimension = CopyDescriptor.dimension
        try NumPyHeader.float32(rows: count, columns: dimension).write(to: url)
        let handle = try FileHandle(forUpdating: url)
        defer { try? handle.close() }
        let headerLength = try handle.seekToEnd()
        let crops = RealCrops(real, set: set)
        var block: [Float] = []
        for index in 0..<count {
            var random = SplitMix64(seed: 0x5CA1E ^ UInt64(index))
            let row: [Float], recipe = set.recipe(index)
            if index < real.count {
                row = real[index]
            } else if let copy = recipe.copy {
                try handle.write(contentsOf: block.withUnsafeBytes { Data($0) })
                block.removeAll(keepingCapacity: true)
                try handle.seek(toOffset: headerLength + UInt64(copy.source * dimension * 4))
                let source = try handle.read(upToCount: dimension * 4) ?? Data()
                try handle.seekToEnd()
                let values = source.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                guard values.count == dimension else { throw Failure(description: "\(url.path): row \(copy.source) not readable") }
                let scale = 0.02 * (values.reduce(0) { $0 + $1 * $1 } / Float(dimension)).squareRoot()
                row = values.map { $0 + scale * Float(random.nextUnit() * 2 - 1) * 1.73 }
            } else {
                row = crops.made(photo: recipe.original, &random)
            }
            block += row
            if block.count >= 4096 * dimension {
                try handle.write(contentsOf: block.withUnsafeBytes { Data($0) })
                block.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: block.withUnsafeBytes { Data($0) })
    }
}

/// The real descriptors grouped by the pool photo their image was cropped from (planted copies
/// left out), with each group's mean and the mean of all.
private struct RealCrops {
    let real: [[Float]]
    let rowsOfPhoto: [Int: [Int]]
    let meanOfPhoto: [Int: [Float]]
    let mean: [Float]

    init(_ real: [[Float]], set: ScaleImageSet) {
        self.real = real
        let recipes = real.indices.map(set.recipe)
        rowsOfPhoto = Dictionary(grouping: real.indices.filter { recipes[$0].copy == nil }) { recipes[$0].original }
            .filter { $0.value.count >= 2 }
        mean = Self.mean(of: Array(real.indices), in: real)
        meanOfPhoto = rowsOfPhoto.mapValues { Self.mean(of: $0, in: real) }
    }

    private static func mean(of rows: [Int], in real: [[Float]]) -> [Float] {
        var mean = [Float](repeating: 0, count: real.first?.count ?? 0)
        for row in rows { for j in mean.indices { mean[j] += real[row][j] / Float(rows.count) } }
        return mean
    }

    /// A made descriptor for a crop of `photo`: its photo's real crops' mean plus a random signed
    /// mix of ``ScaleDescriptors/mixedRows`` of their deviations (all real rows when the photo has
    /// fewer than two).
    func made(photo: Int, _ random: inout SplitMix64) -> [Float] {
        let rows = rowsOfPhoto[photo] ?? Array(real.indices), center = meanOfPhoto[photo] ?? mean
        var mixed = [Float](repeating: 0, count: center.count), squares: Float = 0
        for _ in 0..<ScaleDescriptors.mixedRows {
            let sign: Float = random.next() & 1 == 0 ? 1 : -1
            let weight = Float(0.2 + 0.8 * random.nextUnit()), base = real[rows[Int(random.next() % UInt64(rows.count))]]
            squares += weight * weight
            for j in mixed.indices { mixed[j] += sign * weight * (base[j] - center[j]) }
        }
        let norm = squares.squareRoot()
        return zip(center, mixed).map { $0 + $1 / norm }
    }
}

/// A NumPy `.npy` version 1.0 header for a C-order little-endian float32 matrix, padded so that
/// the values start on a 64-byte boundary (NumPy's own alignment).
enum NumPyHeader {
    static func float32(rows: Int, columns: Int) -> Data {
        let dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        let padding = (64 - (10 + dictionary.utf8.count + 1) % 64) % 64
        let length = dictionary.utf8.count + padding + 1
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)])
            + Data((dictionary + String(repeating: " ", count: padding) + "\n").utf8)
    }
}
