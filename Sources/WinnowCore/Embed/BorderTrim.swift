/// Finds uniform borders around an image — letterbox bars, a frame, the plain background
/// around a cut-out — so that a framed or letterboxed copy and its original are described by
/// the same content.
///
/// The search runs on a copy reduced by area averaging to about `analysisSide` pixels on the
/// short side (which also averages out sensor noise and JPEG ringing). Each side is walked
/// inwards one line (row or column) at a time: the side's colour is the per-channel median of
/// its outermost line, and a line belongs to the border while at least `minimumMatchingFraction`
/// of its pixels lie within `tolerance` (every channel) of that colour. Borders are peeled
/// repeatedly (a frame around letterbox bars, a frame around a cut-out on white), at most
/// `maximumTrimFraction` of each direction in all; a direction that would lose more is mostly
/// plain (a small object on a blank background) and keeps its extent.
public struct BorderTrim: Sendable, Equatable, Codable {
    /// Largest per-channel difference (0…255) from the side's colour that still counts as border.
    public var tolerance: Int = 16
    /// Share of a line's pixels that must match the side's colour.
    public var minimumMatchingFraction: Double = 0.98
    /// At most this share of the width (height) is removed from the left and right (top and
    /// bottom) together; when the borders are wider, that direction is not trimmed.
    public var maximumTrimFraction: Double = 0.6
    /// Borders thinner than this share of the side are kept (a line or two of JPEG edge noise
    /// is no frame).
    public var minimumBorderFraction: Double = 0.01
    /// Short side of the reduced copy the borders are searched on.
    public var analysisSide: Int = 128
    /// Rounds of peeling.
    public var maximumRounds: Int = 3

    public init(tolerance: Int = 16, minimumMatchingFraction: Double = 0.98, maximumTrimFraction: Double = 0.6,
                minimumBorderFraction: Double = 0.01, analysisSide: Int = 128, maximumRounds: Int = 3) {
        self.tolerance = tolerance
        self.minimumMatchingFraction = minimumMatchingFraction
        self.maximumTrimFraction = maximumTrimFraction
        self.minimumBorderFraction = minimumBorderFraction
        self.analysisSide = analysisSide
        self.maximumRounds = maximumRounds
    }

    /// The content rectangle of `image` (the whole image when it has no border).
    public func contentBounds(of image: RGBImage) -> (x: Int, y: Int, width: Int, height: Int) {
        let block = max(1, min(image.width, image.height) / max(analysisSide, 8))
        let reduced = block == 1 ? image : Self.reduced(image, block: block)
        let width = reduced.width, height = reduced.height
        guard width >= 8, height >= 8 else { return (0, 0, image.width, image.height) }
        let (x0, y0, x1, y1) = reduced.pixels.withUnsafeBufferPointer { pixels in
            peeledBounds(of: pixels, width: width, height: height)
        }
        // Back to the image's pixels; the last (partial) block belongs to the side it is on.
        let left = x0 * block, top = y0 * block
        let right = x1 == width ? image.width : x1 * block
        let bottom = y1 == height ? image.height : y1 * block
        return (left, top, right - left, bottom - top)
    }

    /// The content of the reduced `width × height` image `pixels` after peeling its borders, as
    /// the half-open ranges `x0..<x1`, `y0..<y1` in the tuple (x0, y0, x1, y1).
    private func peeledBounds(of pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int)
        -> (Int, Int, Int, Int)
    {
        var (x0, y0, x1, y1) = (0, 0, width, height)
        let maxRows = Int(Double(height) * maximumTrimFraction)
        let maxColumns = Int(Double(width) * maximumTrimFraction)
        let minimumRows = max(1, Int((Double(height) * minimumBorderFraction).rounded(.up)))
        let minimumColumns = max(1, Int((Double(width) * minimumBorderFraction).rounded(.up)))
        let row = width * 3
        let scanner = BorderLineScanner(pixels: pixels, tolerance: tolerance,
                                        minimumMatchingFraction: minimumMatchingFraction)
        for _ in 0..<max(1, maximumRounds) {
            let before = (x0, y0, x1, y1)
            // A direction whose borders would take more than the limit is mostly plain: it is
            // left alone rather than cut at an arbitrary place.
            let rowLimit = maxRows - (height - (y1 - y0))
            let top = scanner.depth(limit: rowLimit + 1, minimum: minimumRows, step: 3, count: x1 - x0) {
                (y0 + $0) * row + x0 * 3
            }
            let bottom = scanner.depth(limit: rowLimit + 1, minimum: minimumRows, step: 3, count: x1 - x0) {
                (y1 - 1 - $0) * row + x0 * 3
            }
            if top + bottom <= rowLimit { y0 += top; y1 -= bottom }
            // Columns over the rows that remain, so that bars of another colour don't count against a frame.
            let columnLimit = maxColumns - (width - (x1 - x0))
            let left = scanner.depth(limit: columnLimit + 1, minimum: minimumColumns, step: row, count: y1 - y0) {
                y0 * row + (x0 + $0) * 3
            }
            let right = scanner.depth(limit: columnLimit + 1, minimum: minimumColumns, step: row, count: y1 - y0) {
                y0 * row + (x1 - 1 - $0) * 3
            }
            if left + right <= columnLimit { x0 += left; x1 -= right }
            if before == (x0, y0, x1, y1) { break }
        }
        return (x0, y0, x1, y1)
    }

    /// `image` without its uniform borders (the image itself when it has none).
    public func trimmed(_ image: RGBImage) -> RGBImage {
        let bounds = contentBounds(of: image)
        guard bounds.width != image.width || bounds.height != image.height else { return image }
        return image.cropped(x: bounds.x, y: bounds.y, width: bounds.width, height: bounds.height)
    }

    /// `image` shrunk by averaging `block × block` squares (a partial last row/column of
    /// squares is dropped).
    static func reduced(_ image: RGBImage, block: Int) -> RGBImage {
        let width = image.width / block, height = image.height / block
        var out = [UInt8](repeating: 0, count: width * height * 3)
        var sums = [Int](repeating: 0, count: width * 3)
        let area = block * block
        image.pixels.withUnsafeBufferPointer { source in
            for y in 0..<height {
                for i in sums.indices { sums[i] = 0 }
                for dy in 0..<block {
                    let base = (y * block + dy) * image.width * 3
                    for x in 0..<width {
                        var p = base + x * block * 3
                        var r = 0, g = 0, b = 0
                        for _ in 0..<block {
                            r += Int(source[p]); g += Int(source[p + 1]); b += Int(source[p + 2])
                            p += 3
                        }
                        sums[x * 3] += r; sums[x * 3 + 1] += g; sums[x * 3 + 2] += b
                    }
                }
                for i in 0..<(width * 3) { out[y * width * 3 + i] = UInt8((sums[i] + area / 2) / area) }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

/// Measures uniform lines (rows or columns) of a reduced RGB image's pixels; only used inside
/// the `withUnsafeBufferPointer` call that provides `pixels`.
private struct BorderLineScanner {
    /// Interleaved RGB bytes of the reduced image.
    let pixels: UnsafeBufferPointer<UInt8>
    /// Largest per-channel difference from the side's colour that still counts as border.
    let tolerance: Int
    /// Share of a line's pixels that must match the side's colour.
    let minimumMatchingFraction: Double

    /// The per-channel median colour of the `count` pixels at `start`, `start + step`, ….
    func median(start: Int, step: Int, count: Int) -> (Int, Int, Int) {
        var r = [Int](repeating: 0, count: 256), g = r, b = r
        var p = start
        for _ in 0..<count {
            r[Int(pixels[p])] += 1; g[Int(pixels[p + 1])] += 1; b[Int(pixels[p + 2])] += 1
            p += step
        }
        func middle(_ histogram: [Int]) -> Int {
            var seen = 0
            for (value, n) in histogram.enumerated() {
                seen += n
                if 2 * seen >= count { return value }
            }
            return 255
        }
        return (middle(r), middle(g), middle(b))
    }

    /// Whether enough of the `count` pixels at `start`, `start + step`, … lie within the
    /// tolerance of `colour`.
    func matches(start: Int, step: Int, count: Int, colour: (Int, Int, Int)) -> Bool {
        let allowedMisses = Int(Double(count) * (1 - minimumMatchingFraction))
        var misses = 0
        var p = start
        for _ in 0..<count {
            if abs(Int(pixels[p]) - colour.0) > tolerance || abs(Int(pixels[p + 1]) - colour.1) > tolerance
                || abs(Int(pixels[p + 2]) - colour.2) > tolerance
            {
                misses += 1
                if misses > allowedMisses { return false }
            }
            p += step
        }
        return true
    }

    /// Lines of border from one side, at most `limit`: `line(i)` starts the i-th line inwards.
    /// The outermost line may be skipped when it is a blend of two borders (a frame
    /// around a plain background, averaged into one reduced line) or of border and
    /// content; what follows must then be border on its own.
    func depth(limit: Int, minimum: Int, step: Int, count: Int, line: (Int) -> Int) -> Int {
        guard count > 0 else { return 0 }
        for skip in 0...1 where limit > skip {
            let colour = median(start: line(skip), step: step, count: count)
            var n = skip
            while n < limit, matches(start: line(n), step: step, count: count, colour: colour) { n += 1 }
            if n - skip >= minimum { return n }
        }
        return 0
    }
}

extension RGBImage {
    /// The rectangle `x, y, width, height` (which must lie inside the image).
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "crop rectangle outside the image")
        var out = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in 0..<height {
                    let from = ((y + row) * self.width + x) * 3
                    let to = row * width * 3
                    for i in 0..<(width * 3) { target[to + i] = source[from + i] }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// The image in grey (ITU-R 601 luma, PIL's `convert("L")`), repeated in all three channels.
    public func grayscale() -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                var p = 0
                while p < source.count {
                    let luma = (Int(source[p]) * 19595 + Int(source[p + 1]) * 38470 + Int(source[p + 2]) * 7471 + 0x8000) >> 16
                    let value = UInt8(min(luma, 255))
                    target[p] = value; target[p + 1] = value; target[p + 2] = value
                    p += 3
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
