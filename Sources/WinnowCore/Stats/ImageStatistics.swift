import Foundation

/// Per-image measurements: fastdup's `atrain_stats.csv` columns plus the extra signals the
/// quality checks use. All pixel statistics are computed on the *analysis image*: the decoded
/// image area-resized to at most `analysisSide²` pixels (aspect kept), so scores are
/// comparable across image sizes.
public struct ImageStatistics: Sendable, Equatable, Codable {
    /// Full-resolution size in display orientation.
    public var width: Int
    public var height: Int
    /// Distinct grey levels (0…256); fastdup `unique`.
    public var uniqueGreyLevels: Int
    /// Variance of the 4-neighbour Laplacian of the grey analysis image; fastdup `blur`
    /// (low = blurry; fastdup's summary flags < 150).
    public var blur: Double
    /// Grey-level mean, minimum, maximum and standard deviation; fastdup `mean,min,max,stdv`.
    public var mean: Double
    public var minimum: Double
    public var maximum: Double
    public var standardDeviation: Double
    /// Michelson contrast `(max − min) / (max + min)` of the grey levels; fastdup `contrast`.
    public var contrast: Double
    /// Contrast-normalised Laplacian variance: `blur × (255 / (p99 − p1 brightness))²`, so that
    /// darkening or washing out an image does not make it look blurred. Low = blurry.
    public var sharpness: Double
    /// Motion-blur signal: over the x and y axes, the smaller ratio of second-derivative energy
    /// to first-derivative energy (`E[Dxx²] / E[Dx²]`). Blur along one direction lowers it even
    /// when the other direction stays sharp. `nil` when the image has no gradients.
    public var directionalSharpness: Double?
    /// Mean HSV saturation, 0…1.
    public var saturation: Double
    /// Shannon entropy of the grey histogram in bits (0…8).
    public var entropy: Double
    /// Mean of `max(R,G,B) − min(R,G,B)` over pixels, 0…255 (0 for a grey image).
    public var meanChroma: Double
    /// Fraction of pixels whose channels differ by more than 8 levels.
    public var colourfulFraction: Double
    /// Percentiles of perceived brightness `sqrt(.241R² + .691G² + .068B²)` (cleanvision's), 0…255.
    public var brightnessP1: Double
    public var brightnessP5: Double
    public var brightnessP50: Double
    public var brightnessP95: Double
    public var brightnessP99: Double
}

/// Computes `ImageStatistics` from a decoded image.
public struct StatisticsCalculator: Sendable {
    /// The analysis image has at most `analysisSide²` pixels.
    public var analysisSide: Int

    public init(analysisSide: Int = 384) {
        self.analysisSide = analysisSide
    }

    /// `0.241 r²`, `0.691 g²`, `0.068 b²` (the perceived-brightness weights) for every level, in
    /// three runs of 256.
    private static let weightedSquares: [Double] = [0.241, 0.691, 0.068].flatMap { weight in
        (0..<256).map { weight * Double($0 * $0) }
    }
    /// `1 / level` (0 for level 0, whose saturation is 0).
    private static let reciprocals: [Double] = (0..<256).map { $0 == 0 ? 0 : 1 / Double($0) }

    public func statistics(of image: RGBImage, originalWidth: Int, originalHeight: Int) -> ImageStatistics {
        let small = AreaResize.fit(image, area: analysisSide)
        let count = small.width * small.height
        let tallies = Self.pixelTallies(of: small, count: count)
        let greyHistogram = tallies.greyHistogram, brightnessHistogram = tallies.brightnessHistogram
        let n = Double(max(count, 1))
        var sum = 0.0, sumSquares = 0.0, entropy = 0.0
        for (level, c) in greyHistogram.enumerated() where c > 0 {
            sum += Double(level * c)
            sumSquares += Double(level * level) * Double(c)
            let p = Double(c) / n
            entropy -= p * log2(p)
        }
        let mean = sum / n
        let minimum = Double(greyHistogram.firstIndex { $0 > 0 } ?? 0)
        let maximum = Double(greyHistogram.lastIndex { $0 > 0 } ?? 0)
        let blur = laplacianVariance(tallies.grey, width: small.width, height: small.height)
        let p1 = percentile(brightnessHistogram, 0.01, count), p99 = percentile(brightnessHistogram, 0.99, count)
        let range = max(p99 - p1, 1)
        return ImageStatistics(
            width: originalWidth, height: originalHeight,
            uniqueGreyLevels: greyHistogram.reduce(0) { $0 + ($1 > 0 ? 1 : 0) },
            blur: blur,
            mean: mean, minimum: minimum, maximum: maximum,
            standardDeviation: max(0, sumSquares / n - mean * mean).squareRoot(),
            contrast: maximum + minimum > 0 ? (maximum - minimum) / (maximum + minimum) : 0,
            sharpness: blur * (255 / range) * (255 / range),
            directionalSharpness: directionalSharpness(tallies.grey, width: small.width, height: small.height),
            saturation: tallies.saturationSum / n, entropy: entropy,
            meanChroma: Double(tallies.chromaSum) / n, colourfulFraction: Double(tallies.colourful) / n,
            brightnessP1: p1,
            brightnessP5: percentile(brightnessHistogram, 0.05, count),
            brightnessP50: percentile(brightnessHistogram, 0.50, count),
            brightnessP95: percentile(brightnessHistogram, 0.95, count),
            brightnessP99: p99)
    }

    /// The per-pixel sums and histograms of the analysis image that the statistics are derived from.
    private struct PixelTallies {
        var greyHistogram: [Int]
        var brightnessHistogram: [Int]
        var grey: [Float]
        var saturationSum = 0.0
        var chromaSum = 0
        var colourful = 0
    }

    /// Tallies the first `count` pixels of `small`: grey and brightness histograms, grey levels, saturation and chroma.
    private static func pixelTallies(of small: RGBImage, count: Int) -> PixelTallies {
        var greyHistogram = [Int](repeating: 0, count: 256)
        var brightnessHistogram = [Int](repeating: 0, count: 256)
        var grey = [Float](repeating: 0, count: count)
        var saturationSum = 0.0, chromaSum = 0, colourful = 0
        small.pixels.withUnsafeBufferPointer { p in
            greyHistogram.withUnsafeMutableBufferPointer { greyHistogram in
                brightnessHistogram.withUnsafeMutableBufferPointer { brightnessHistogram in
                    grey.withUnsafeMutableBufferPointer { grey in
                        Self.weightedSquares.withUnsafeBufferPointer { squares in
                            Self.reciprocals.withUnsafeBufferPointer { reciprocals in
                                for i in 0..<count {
                                    let r = Int(p[3 * i]), g = Int(p[3 * i + 1]), b = Int(p[3 * i + 2])
                                    let level = (299 * r + 587 * g + 114 * b + 500) / 1000
                                    greyHistogram[level] += 1
                                    grey[i] = Float(level)
                                    let hi = max(r, g, b), lo = min(r, g, b)
                                    chromaSum += hi - lo
                                    if hi - lo > 8 { colourful += 1 }
                                    saturationSum += Double(hi - lo) * reciprocals[hi]
                                    let perceived = (squares[r] + squares[256 + g] + squares[512 + b]).squareRoot()
                                    brightnessHistogram[min(255, Int(perceived + 0.5))] += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return PixelTallies(greyHistogram: greyHistogram, brightnessHistogram: brightnessHistogram, grey: grey,
                            saturationSum: saturationSum, chromaSum: chromaSum, colourful: colourful)
    }

    /// Variance of the 4-neighbour Laplacian over interior pixels (OpenCV's `Laplacian`, ksize 1).
    private func laplacianVariance(_ grey: [Float], width: Int, height: Int) -> Double {
        guard width >= 3 && height >= 3 else { return 0 }
        var sum = 0.0, sumSquares = 0.0
        grey.withUnsafeBufferPointer { g in
            for y in 1..<(height - 1) {
                var rowSum: Float = 0, rowSquares: Float = 0
                let row = y * width
                for x in 1..<(width - 1) {
                    let i = row + x
                    let value = g[i - 1] + g[i + 1] + g[i - width] + g[i + width] - 4 * g[i]
                    rowSum += value
                    rowSquares += value * value
                }
                sum += Double(rowSum)
                sumSquares += Double(rowSquares)
            }
        }
        let n = Double((width - 2) * (height - 2))
        let mean = sum / n
        return max(0, sumSquares / n - mean * mean)
    }

    /// `min(E[Dxx²]/E[Dx²], E[Dyy²]/E[Dy²])` with central second and forward first differences.
    private func directionalSharpness(_ grey: [Float], width: Int, height: Int) -> Double? {
        guard width >= 3 && height >= 3 else { return nil }
        var dx = 0.0, dy = 0.0, dxx = 0.0, dyy = 0.0
        grey.withUnsafeBufferPointer { g in
            for y in 1..<(height - 1) {
                var rowDx: Float = 0, rowDy: Float = 0, rowDxx: Float = 0, rowDyy: Float = 0
                let row = y * width
                for x in 1..<(width - 1) {
                    let i = row + x
                    let forwardX = g[i + 1] - g[i], forwardY = g[i + width] - g[i]
                    let secondX = g[i - 1] + g[i + 1] - 2 * g[i], secondY = g[i - width] + g[i + width] - 2 * g[i]
                    rowDx += forwardX * forwardX; rowDy += forwardY * forwardY
                    rowDxx += secondX * secondX; rowDyy += secondY * secondY
                }
                dx += Double(rowDx); dy += Double(rowDy); dxx += Double(rowDxx); dyy += Double(rowDyy)
            }
        }
        guard dx > 1e-6 && dy > 1e-6 else { return nil }
        return min(dxx / dx, dyy / dy)
    }

    private func percentile(_ histogram: [Int], _ q: Double, _ count: Int) -> Double {
        let target = q * Double(count)
        var running = 0
        for (level, c) in histogram.enumerated() {
            running += c
            if Double(running) >= target && running > 0 { return Double(level) }
        }
        return 255
    }
}
