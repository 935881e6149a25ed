import Foundation
import WinnowCore

/// The images `winnow-bench scale` measures on: distinct crops of the photo pool's originals
/// made the way corpus set C makes them (30–100 % of the area, aspect ratio within ×4/3, JPEG
/// quality 75–95), here 128–640 px on the long side (or `sides`), and a share of planted copies of earlier
/// images (resized, cropped or re-encoded at low quality), listed in `ground_truth.csv`.
///
/// Image `i` depends only on the seed and `i`, and a copy only on an earlier image, so the first
/// N images of a larger set are the set for N. Images are kept in `folder` and made only when
/// missing: a second run reuses them.
struct ScaleImageSet: Sendable {
    struct Original: Sendable {
        var id: String
        var path: String
        var width: Int
        var height: Int
        var isAstro: Bool
    }

    enum Transform: String, Sendable, CaseIterable { case resize, crop, jpeg }

    /// A planted copy: `transform` of image `source` (`amount`: the scale for resize, the side
    /// kept for crop, the JPEG quality for jpeg; `offset`: where a crop starts, 0…1 per axis).
    struct Copy: Sendable {
        var source: Int
        var transform: Transform
        var amount: Double
        var offset: (x: Double, y: Double)
    }

    /// How image `index` is made: `box` of pool original `original` resized to `size`, saved at `quality`.
    struct Recipe: Sendable {
        var index: Int
        var original: Int
        var box: (x: Int, y: Int, width: Int, height: Int)
        var size: (width: Int, height: Int)
        var quality: Int
        var copy: Copy?
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let defaultSides = 128...640
    /// Long sides of the made images, in pixels.
    let sides: ClosedRange<Int>
    let pool: [Original]
    /// Rows of `pool` that are astro photos, and the others.
    let astroRows: [Int], otherRows: [Int]
    let seed: UInt64
    let copyFraction: Double
    let folder: URL

    /// The set for `seed` and `copyFraction` made from the pool in `poolFolder` (its `pool.csv`),
    /// kept under `cache`.
    init(poolFolder: URL, seed: UInt64, copyFraction: Double, sides: ClosedRange<Int> = defaultSides,
         cache: URL) throws(Failure) {
        let csv = poolFolder.appendingPathComponent("pool.csv")
        let records: [[String: String]]?
        do { records = try CSVReader.records(at: csv) } catch { throw Failure(description: "photo pool: \(error)") }
        guard let records else {
            throw Failure(description: "photo pool not found: \(csv.path) (make it with make_corpus.py --set pool)")
        }
        let originals = records.compactMap { record -> Original? in
            guard let id = record["pool_id"], let file = record["file"], let width = record["w"].flatMap({ Int($0) }),
                  let height = record["h"].flatMap({ Int($0) }), width >= 16, height >= 16 else { return nil }
            return Original(id: id, path: poolFolder.appendingPathComponent(file).path, width: width, height: height,
                            isAstro: record["kind"] == "astro")
        }
        guard !originals.isEmpty else { throw Failure(description: "photo pool \(csv.path) lists no usable originals") }
        pool = originals
        astroRows = originals.indices.filter { originals[$0].isAstro }
        otherRows = originals.indices.filter { !originals[$0].isAstro }
        self.seed = seed
        self.copyFraction = copyFraction
        self.sides = sides
        let sideTag = sides == Self.defaultSides ? "" : "-sides\(sides.lowerBound)-\(sides.upperBound)"
        folder = cache.appendingPathComponent("scale-v1-seed\(seed)-copies\(String(format: "%.3f", copyFraction))\(sideTag)")
    }

    /// The images' folder and the name of image `index` in it (1,000 per subfolder).
    var images: URL { folder.appendingPathComponent("images") }
    static func fileName(_ index: Int) -> String { String(format: "%04d/%07d.jpg", index / 1000, index) }
}

// MARK: - Recipes

extension ScaleImageSet {
    /// A generator for one decision about image `index` (`purpose` keeps decisions independent).
    private func random(_ index: Int, _ purpose: UInt64) -> SplitMix64 {
        var generator = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03 &+ purpose)
        _ = generator.next()
        return generator
    }

    func isCopy(_ index: Int) -> Bool {
        var generator = random(index, 1)
        return index > 0 && generator.nextUnit() < copyFraction
    }

    func recipe(_ index: Int) -> Recipe {
        guard isCopy(index) else { return originalRecipe(index) }
        var generator = random(index, 2)
        var source = Int(generator.nextUnit() * Double(index))
        for _ in 0..<16 where isCopy(source) { source = Int(generator.nextUnit() * Double(index)) }
        if isCopy(source) { source = 0 }
        let transform = Transform.allCases[Int(generator.nextUnit() * 3)]
        let amount = switch transform {
        case .resize: 0.5 + 0.3 * generator.nextUnit()
        case .crop: 0.7 + 0.2 * generator.nextUnit()
        case .jpeg: Double(25 + Int(generator.nextUnit() * 26))
        }
        var made = originalRecipe(source)
        made.index = index
        made.copy = Copy(source: source, transform: transform, amount: amount, offset: (generator.nextUnit(), generator.nextUnit()))
        return made
    }

    /// Set C's crop of a pool original (astro photos weighted down to 15 %), resized to 128–640 px.
    private func originalRecipe(_ index: Int) -> Recipe {
        var generator = random(index, 3)
        let original = pickOriginal(&generator)
        let width = Double(pool[original].width), height = Double(pool[original].height)
        let area = 0.30 + 0.70 * generator.nextUnit()
        let aspect = width / height * exp(log(3.0 / 4) + log(16.0 / 9) * generator.nextUnit())
        let cropWidth = max(16, Int(min(width, (area * width * height * aspect).squareRoot().rounded())))
        let cropHeight = max(16, Int(min(height, (Double(cropWidth) / aspect).rounded())))
        let x = Int(generator.nextUnit() * Double(max(0, Int(width) - cropWidth) + 1))
        let y = Int(generator.nextUnit() * Double(max(0, Int(height) - cropHeight) + 1))
        let longSide = max(cropWidth, cropHeight)
        // No larger than the crop (a crop under 128 px, from a small original, is enlarged).
        let lower = sides.lowerBound, upper = max(lower, min(sides.upperBound, longSide))
        let side = lower + Int(generator.nextUnit() * Double(upper - lower + 1))
        let scale = Double(side) / Double(longSide)
        return Recipe(index: index, original: original, box: (x, y, cropWidth, cropHeight),
                      size: (max(8, Int((Double(cropWidth) * scale).rounded())), max(8, Int((Double(cropHeight) * scale).rounded()))),
                      quality: 75 + Int(generator.nextUnit() * 21), copy: nil)
    }

    private func pickOriginal(_ generator: inout SplitMix64) -> Int {
        let useAstro = !astroRows.isEmpty && (otherRows.isEmpty || generator.nextUnit() < 0.15)
        let choices = useAstro ? astroRows : otherRows
        return choices[min(choices.count - 1, Int(generator.nextUnit() * Double(choices.count)))]
    }
}

// MARK: - Images

extension ScaleImageSet {
    typealias Box = (x: Int, y: Int, width: Int, height: Int)

    /// Makes those of the first `count` images that are missing on `workers` threads, writes
    /// `ground_truth.csv` for the first `count`, and returns their file list (absolute paths,
    /// one a line: the input both `winnow run` and fastdup take).
    func make(count: Int, workers: Int) throws(Failure) -> URL {
        for folder in 0..<(count + 999) / 1000 {
            let url = images.appendingPathComponent(String(format: "%04d", folder))
            do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw Failure(description: "cannot create \(url.path): \(error.localizedDescription)")
            }
        }
        let missing = (0..<count).filter { !FileManager.default.fileExists(atPath: url(of: $0).path) }
        let queue = WorkQueue(count: missing.count)
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            while let next = queue.take() {
                do throws(Failure) { try write(missing[next]) } catch { queue.fail(error) }
            }
        }
        if let failure = queue.failure { throw failure }
        // The truth of the first N images is a prefix of a larger set's: keep the longest made.
        if madeTruthRows() < count { try save(groundTruth(count), "ground_truth.csv") }
        try save((0..<count).map { url(of: $0).path + "\n" }.joined(), "list-\(count).txt")
        return folder.appendingPathComponent("list-\(count).txt")
    }

    func url(of index: Int) -> URL { images.appendingPathComponent(Self.fileName(index)) }

    /// Rows of the `ground_truth.csv` already written (0 when there is none).
    private func madeTruthRows() -> Int {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("ground_truth.csv"), options: .alwaysMapped) else { return 0 }
        return max(0, data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 } - 1)
    }

    /// One row per image: its file, pool original and crop box, size and JPEG quality, and for a
    /// planted copy the image it copies, the transform and its parameters.
    func groundTruth(_ count: Int) -> String {
        var table = CSVTable(header: ["file", "index", "pool_id", "box", "width", "height", "quality", "copy_of", "transform", "params"])
        for index in 0..<count {
            let recipe = recipe(index), box = recipe.box
            var row = [Self.fileName(index), String(index), pool[recipe.original].id,
                       "\(box.x),\(box.y),\(box.x + box.width),\(box.y + box.height)"]
            guard let copy = recipe.copy else {
                table.append(row + [String(recipe.size.width), String(recipe.size.height), String(recipe.quality), "", "", ""])
                continue
            }
            let made = Self.geometry(copy, source: recipe.size)
            let params = switch copy.transform {
            case .resize: String(format: "scale=%.3f", copy.amount)
            case .crop: "box=\(made.box.x),\(made.box.y),\(made.box.x + made.box.width),\(made.box.y + made.box.height)"
            case .jpeg: "quality=\(made.quality)"
            }
            row += [String(made.size.width), String(made.size.height), String(made.quality), Self.fileName(copy.source),
                    copy.transform.rawValue, params]
            table.append(row)
        }
        return table.contents
    }

    /// The region of its source a copy keeps, its size, and its JPEG quality.
    static func geometry(_ copy: Copy, source size: (width: Int, height: Int)) -> (box: Box, size: (width: Int, height: Int), quality: Int) {
        let whole: Box = (0, 0, size.width, size.height)
        switch copy.transform {
        case .resize:
            return (whole, (max(8, Int((Double(size.width) * copy.amount).rounded())),
                            max(8, Int((Double(size.height) * copy.amount).rounded()))), 90)
        case .crop:
            let width = max(8, Int(Double(size.width) * copy.amount)), height = max(8, Int(Double(size.height) * copy.amount))
            let x = min(size.width - width, Int(copy.offset.x * Double(size.width - width + 1)))
            let y = min(size.height - height, Int(copy.offset.y * Double(size.height - height + 1)))
            return ((x, y, width, height), (width, height), 90)
        case .jpeg:
            return (whole, size, Int(copy.amount))
        }
    }

    private func write(_ index: Int) throws(Failure) {
        let recipe = recipe(index)
        var image = try originalPixels(recipe)
        var quality = recipe.quality
        if let copy = recipe.copy {
            let made = Self.geometry(copy, source: recipe.size)
            image = Self.resized(Self.cropped(image, made.box), made.size)
            quality = made.quality
        }
        let data: Data
        do { data = try JPEGEncoder.encode(image, quality: quality) } catch {
            throw Failure(description: "\(url(of: index).path): \(error)")
        }
        do { try AtomicFile.write(data, to: url(of: index), durable: false) } catch {
            throw Failure(description: "cannot write \(url(of: index).path): \(error.localizedDescription)")
        }
    }

    /// The crop of the pool original, resized: the pixels of an image that is not a copy.
    private func originalPixels(_ recipe: Recipe) throws(Failure) -> RGBImage {
        let original = pool[recipe.original]
        guard let data = FileManager.default.contents(atPath: original.path) else {
            throw Failure(description: "cannot read pool image \(original.path)")
        }
        let decoded: RGBImage
        do { decoded = try ImageDecoder().decode([UInt8](data)).image } catch {
            throw Failure(description: "pool image \(original.path): \(error.message)")
        }
        guard decoded.width == original.width, decoded.height == original.height else {
            throw Failure(description: "pool image \(original.path) is \(decoded.width)×\(decoded.height), pool.csv says \(original.width)×\(original.height)")
        }
        return Self.resized(Self.cropped(decoded, recipe.box), recipe.size)
    }

    static func cropped(_ image: RGBImage, _ box: Box) -> RGBImage {
        var pixels = [UInt8]()
        pixels.reserveCapacity(box.width * box.height * 3)
        for row in box.y..<box.y + box.height {
            let start = (row * image.width + box.x) * 3
            pixels += image.pixels[start..<start + box.width * 3]
        }
        return RGBImage(width: box.width, height: box.height, pixels: pixels)
    }

    static func resized(_ image: RGBImage, _ size: (width: Int, height: Int)) -> RGBImage {
        RGBImage(width: size.width, height: size.height,
                 pixels: AreaResize.resize(image.pixels, width: image.width, height: image.height, channels: 3,
                                           toWidth: size.width, height: size.height))
    }

    private func save(_ text: String, _ name: String) throws(Failure) {
        do { try AtomicFile.write(text, to: folder.appendingPathComponent(name)) } catch {
            throw Failure(description: "cannot write \(folder.appendingPathComponent(name).path): \(error.localizedDescription)")
        }
    }
}

/// Hands out `0..<count` to worker threads until done or one of them fails.
private final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var next = 0
    private var firstFailure: ScaleImageSet.Failure?

    init(count: Int) { self.count = count }

    var failure: ScaleImageSet.Failure? {
        lock.lock(); defer { lock.unlock() }
        return firstFailure
    }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard firstFailure == nil, next < count else { return nil }
        next += 1
        return next - 1
    }

    func fail(_ error: ScaleImageSet.Failure) {
        lock.lock(); defer { lock.unlock() }
        if firstFailure == nil { firstFailure = error }
    }
}
