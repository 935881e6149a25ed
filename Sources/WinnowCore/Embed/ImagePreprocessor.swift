/// Turns an ``RGBImage`` into the normalised CHW float tensor a vision model expects.
///
/// The default (``imageNet``) reproduces torchvision's evaluation transform: resize the short
/// side to 256 (bilinear with antialiasing, like PIL), center-crop 224×224, scale to [0, 1],
/// subtract the ImageNet mean and divide by its standard deviation, RGB channel order.
public struct ImagePreprocessor: Sendable, Equatable {
    /// How the image is fitted to the model's input size.
    public enum ResizeMode: Sendable, Equatable {
        /// Resize so the short side is `shortSide` (keeping the aspect ratio), then crop the
        /// centre `width × height` (torchvision's `Resize(256)` + `CenterCrop(224)`).
        case centerCrop(shortSide: Int)
        /// Resize the whole image to `width × height`, ignoring the aspect ratio.
        case squash
    }

    /// Resampling filter.
    public enum Filter: Sendable, Equatable {
        /// Triangle filter; when shrinking its support widens with the scale, so every source
        /// pixel contributes (PIL's antialiased BILINEAR, what torchvision models are trained with).
        case bilinear
        /// Box filter: exact area averaging when shrinking (OpenCV's INTER_AREA); bilinear when
        /// enlarging.
        case area
    }

    /// Order of the colour planes in the tensor.
    public enum ChannelOrder: Sendable, Equatable {
        case rgb
        case bgr
    }

    /// Output width in pixels.
    public var width: Int
    /// Output height in pixels.
    public var height: Int
    public var resizeMode: ResizeMode
    public var filter: Filter
    /// Per-channel mean, in the tensor's channel order, on the [0, 1] scale.
    public var mean: [Float]
    /// Per-channel standard deviation, in the tensor's channel order, on the [0, 1] scale.
    public var std: [Float]
    public var channelOrder: ChannelOrder

    /// ImageNet statistics (RGB).
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// torchvision's evaluation transform: short side 256, centre crop 224, ImageNet mean/std.
    public static let imageNet = ImagePreprocessor(
        width: 224, height: 224, resizeMode: .centerCrop(shortSide: 256))

    /// - Parameters:
    ///   - width, height: model input size.
    ///   - resizeMode: centre crop (default: short side = size × 256/224) or squash.
    ///   - mean, std: three values each, in `channelOrder`.
    public init(width: Int = 224, height: Int = 224, resizeMode: ResizeMode? = nil, filter: Filter = .bilinear,
                mean: [Float] = ImagePreprocessor.imageNetMean, std: [Float] = ImagePreprocessor.imageNetStd,
                channelOrder: ChannelOrder = .rgb)
    {
        precondition(width > 0 && height > 0, "ImagePreprocessor needs a positive size")
        precondition(mean.count == 3 && std.count == 3, "ImagePreprocessor needs three mean and std values")
        self.width = width
        self.height = height
        self.resizeMode = resizeMode ?? .centerCrop(shortSide: (min(width, height) * 256 + 112) / 224)
        self.filter = filter
        self.mean = mean
        self.std = std
        self.channelOrder = channelOrder
    }

    /// Number of floats in one image's tensor (`3 × height × width`).
    public var tensorCount: Int { 3 * width * height }

    /// The image as a `[3, height, width]` float tensor.
    public func tensor(from image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: tensorCount)
        out.withUnsafeMutableBufferPointer { write(image, into: $0) }
        return out
    }

    /// The images as one `[count, 3, height, width]` batch tensor.
    public func batchTensor(from images: [RGBImage]) -> [Float] {
        var out = [Float](repeating: 0, count: tensorCount * images.count)
        out.withUnsafeMutableBufferPointer { buffer in
            for (index, image) in images.enumerated() {
                let slice = UnsafeMutableBufferPointer(rebasing: buffer[(index * tensorCount)..<((index + 1) * tensorCount)])
                write(image, into: slice)
            }
        }
        return out
    }

    /// Resizes `image` to `width × height` with `filter` (no crop), as an RGB image. Useful to
    /// make scaled copies and to inspect what the model sees.
    public static func resized(_ image: RGBImage, width: Int, height: Int, filter: Filter = .bilinear) -> RGBImage {
        let plan = ResamplePlan(source: image, outWidth: width, outHeight: height, cropX: 0, cropY: 0,
                                cropWidth: width, cropHeight: height, filter: filter)
        let planes = plan.run(image)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            for c in 0..<3 {
                pixels[i * 3 + c] = UInt8(max(0, min(255, (planes[c * width * height + i]).rounded())))
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The crop rectangle within the resized image and the resized size.
    func geometry(for image: RGBImage) -> (resizedWidth: Int, resizedHeight: Int, cropX: Int, cropY: Int) {
        switch resizeMode {
        case .squash:
            return (width, height, 0, 0)
        case .centerCrop(let shortSide):
            // torchvision Resize(int): short side -> shortSide, long side truncated.
            var resizedWidth: Int, resizedHeight: Int
            if image.width <= image.height {
                resizedWidth = shortSide
                resizedHeight = Int(Double(shortSide) * Double(image.height) / Double(max(1, image.width)))
            } else {
                resizedHeight = shortSide
                resizedWidth = Int(Double(shortSide) * Double(image.width) / Double(max(1, image.height)))
            }
            // The crop must fit (short side smaller than the crop, or extreme aspect ratios).
            resizedWidth = max(resizedWidth, width)
            resizedHeight = max(resizedHeight, height)
            let cropX = Int((Double(resizedWidth - width) / 2).rounded(.toNearestOrEven))
            let cropY = Int((Double(resizedHeight - height) / 2).rounded(.toNearestOrEven))
            return (resizedWidth, resizedHeight, cropX, cropY)
        }
    }

    private func write(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>) {
        let plane = width * height
        guard image.width > 0, image.height > 0 else {
            // Nothing to see: the normalised value of black.
            for c in 0..<3 {
                let value = (0 - mean[c]) / std[c]
                for i in 0..<plane { out[c * plane + i] = value }
            }
            return
        }
        let g = geometry(for: image)
        let plan = ResamplePlan(source: image, outWidth: g.resizedWidth, outHeight: g.resizedHeight,
                                cropX: g.cropX, cropY: g.cropY, cropWidth: width, cropHeight: height, filter: filter)
        let rgb = plan.run(image)  // RGB planes on the 0...255 scale
        for c in 0..<3 {
            let sourcePlane = channelOrder == .rgb ? c : 2 - c
            let scale = 1 / (255 * std[c])
            let offset = -mean[c] / std[c]
            for i in 0..<plane {
                out[c * plane + i] = rgb[sourcePlane * plane + i] * scale + offset
            }
        }
    }
}

/// Separable resampling of an RGB image to `outWidth × outHeight`, computing only the crop
/// window. Weights follow PIL's convolution resampler: output pixel `i` is centred at
/// `(i + 0.5) × scale` in source coordinates and, when shrinking, the filter support is
/// stretched by `scale` so the result is an (antialiased) area-weighted average. Each pass
/// is rounded to 8 bits, as in PIL.
struct ResamplePlan {
    struct Taps {
        /// First source index for each output index.
        var start: [Int]
        /// Number of taps for each output index.
        var count: [Int]
        /// `maxTaps` weights per output index (zero-padded).
        var weights: [Float]
        var maxTaps: Int

        func withPointers<R>(_ body: (UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Float>, Int) -> R) -> R {
            start.withUnsafeBufferPointer { s in count.withUnsafeBufferPointer { c in
                weights.withUnsafeBufferPointer { w in body(s.baseAddress!, c.baseAddress!, w.baseAddress!, maxTaps) }
            } }
        }
    }

    let cropWidth: Int
    let cropHeight: Int
    let horizontal: Taps
    let vertical: Taps

    init(source: RGBImage, outWidth: Int, outHeight: Int, cropX: Int, cropY: Int, cropWidth: Int, cropHeight: Int,
         filter: ImagePreprocessor.Filter)
    {
        self.cropWidth = cropWidth
        self.cropHeight = cropHeight
        horizontal = Self.taps(inSize: source.width, outSize: outWidth, first: cropX, count: cropWidth, filter: filter)
        vertical = Self.taps(inSize: source.height, outSize: outHeight, first: cropY, count: cropHeight, filter: filter)
    }

    /// Resamples `image`; returns three planes (R, G, B) of `cropWidth × cropHeight` floats on
    /// the 0...255 scale.
    func run(_ image: RGBImage) -> [Float] {
        let inWidth = image.width
        // Only the source rows the vertical pass reads.
        let (firstRow, lastRow) = sourceRowSpan(imageHeight: image.height)
        var planes = [Float](repeating: 0, count: 3 * cropWidth * cropHeight)
        guard lastRow >= firstRow else { return planes }
        let rows = lastRow - firstRow + 1

        // Horizontal pass: rows × cropWidth, interleaved RGB.
        var temp = [Float](repeating: 0, count: rows * cropWidth * 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            temp.withUnsafeMutableBufferPointer { temp in
                resampleRows(of: pixels, inWidth: inWidth, firstRow: firstRow, rows: rows, into: temp)
            }
        }

        // Vertical pass into planar output.
        temp.withUnsafeBufferPointer { temp in
            planes.withUnsafeMutableBufferPointer { planes in
                resampleColumns(of: temp, firstRow: firstRow, into: planes)
            }
        }
        return planes
    }

    /// The first and last source rows the vertical pass reads (last < first when it reads none).
    private func sourceRowSpan(imageHeight: Int) -> (first: Int, last: Int) {
        var firstRow = imageHeight, lastRow = -1
        for y in 0..<cropHeight where vertical.count[y] > 0 {
            firstRow = min(firstRow, vertical.start[y])
            lastRow = max(lastRow, vertical.start[y] + vertical.count[y] - 1)
        }
        return (firstRow, lastRow)
    }

    /// Horizontal pass: resamples source rows `firstRow ..< firstRow + rows` of the interleaved
    /// RGB `pixels` (`inWidth` wide) into `temp`, `rows × cropWidth` interleaved RGB, a row of
    /// floats at a time (``RGBFloatRow``).
    private func resampleRows(of pixels: UnsafeBufferPointer<UInt8>, inWidth: Int, firstRow: Int, rows: Int,
                              into temp: UnsafeMutableBufferPointer<Float>) {
        var line = RGBFloatRow(width: inWidth)
        horizontal.withPointers { starts, counts, weights, taps in
            for r in 0..<rows {
                line.withPixels(of: pixels.baseAddress! + (firstRow + r) * inWidth * 3) { pixel in
                    var out = temp.baseAddress! + r * cropWidth * 3
                    for x in 0..<cropWidth {
                        var sum = SIMD4<Float>()
                        let w = weights + x * taps
                        for k in 0..<counts[x] { sum += w[k] * pixel[starts[x] + k] }
                        out[0] = Self.quantize(sum[0])
                        out[1] = Self.quantize(sum[1])
                        out[2] = Self.quantize(sum[2])
                        out += 3
                    }
                }
            }
        }
    }

    /// Vertical pass: resamples `temp` (the horizontal pass's rows from `firstRow` on,
    /// interleaved RGB) into `planes`, three planes (R, G, B) of `cropWidth × cropHeight`. Each
    /// output row is a weighted sum of whole source rows (contiguous, so the loops vectorise),
    /// accumulated tap by tap in the same order per value as a loop over one column would.
    private func resampleColumns(of temp: UnsafeBufferPointer<Float>, firstRow: Int,
                                 into planes: UnsafeMutableBufferPointer<Float>) {
        let plane = cropWidth * cropHeight
        let rowStride = cropWidth * 3
        var sums = [Float](repeating: 0, count: rowStride)
        vertical.withPointers { starts, counts, weights, taps in
            sums.withUnsafeMutableBufferPointer { sums in
                let sum = sums.baseAddress!
                let red = planes.baseAddress!, green = red + plane, blue = green + plane
                for y in 0..<cropHeight {
                    let source = temp.baseAddress! + (starts[y] - firstRow) * rowStride
                    let w = weights + y * taps
                    for i in 0..<rowStride { sum[i] = 0 }
                    for k in 0..<counts[y] {
                        let weight = w[k], row = source + k * rowStride
                        for i in 0..<rowStride { sum[i] += weight * row[i] }
                    }
                    let o = y * cropWidth
                    for x in 0..<cropWidth {
                        red[o + x] = Self.quantize(sum[3 * x])
                        green[o + x] = Self.quantize(sum[3 * x + 1])
                        blue[o + x] = Self.quantize(sum[3 * x + 2])
                    }
                }
            }
        }
    }

    /// Rounds to the nearest 8-bit level, like PIL, whose resampler stores each pass in 8
    /// bits. Matching it keeps the tensor within rounding of torchvision's (PIL) pipeline.
    @inline(__always)
    static func quantize(_ value: Float) -> Float {
        // floor(value + 0.5) clamped to 0...255, without Swift's overflow-checked conversion to
        // an integer or libm's floor: adding and subtracting 2²³ rounds to the nearest integer,
        // one step down where that went up (measured alone: 1.68 → 1.64 ms per image for both
        // views' inputs, within noise).
        let clamped = min(max(value + 0.5, 0), 255)
        let nearest = (clamped + 8_388_608) - 8_388_608
        return nearest > clamped ? nearest - 1 : nearest
    }

    /// Filter taps mapping `inSize` source pixels to output indices `first ..< first + count`
    /// of an `outSize` resize.
    static func taps(inSize: Int, outSize: Int, first: Int, count: Int, filter: ImagePreprocessor.Filter) -> Taps {
        let scale = Double(inSize) / Double(outSize)
        let shrinking = scale > 1
        let filterScale = max(scale, 1)
        // Triangle support is 1 (in filter units); box support is 0.5.
        let useBox = filter == .area && shrinking
        let support = (useBox ? 0.5 : 1.0) * filterScale
        let maxTaps = Int(support.rounded(.up)) * 2 + 1
        var starts = [Int](repeating: 0, count: count)
        var counts = [Int](repeating: 0, count: count)
        var weights = [Float](repeating: 0, count: count * maxTaps)
        var kernel = [Double](repeating: 0, count: maxTaps)
        for i in 0..<count {
            let outIndex = first + i
            let center = (Double(outIndex) + 0.5) * scale
            // Source pixels whose centres fall in the support (PIL); for the box filter, every
            // pixel the footprint touches.
            var lo = useBox ? Int((center - support).rounded(.down)) : Int((center - support + 0.5).rounded(.down))
            var hi = useBox ? Int((center + support).rounded(.up)) : Int((center + support + 0.5).rounded(.down))
            lo = max(lo, 0)
            hi = min(hi, inSize)
            if hi - lo > maxTaps { hi = lo + maxTaps }
            var total = 0.0
            for j in lo..<max(lo, hi) {
                // Distance from the output pixel centre to the source pixel centre, in filter units.
                let distance = (Double(j) - center + 0.5) / filterScale
                let weight: Double
                if useBox {
                    // Overlap of source pixel [j, j+1) with the output footprint, normalised later.
                    let left = max(Double(j), center - support)
                    let right = min(Double(j + 1), center + support)
                    weight = max(0, right - left)
                } else {
                    weight = max(0, 1 - abs(distance))
                }
                kernel[j - lo] = weight
                total += weight
            }
            if hi <= lo || total <= 0 {
                // Degenerate (outside the image): take the nearest pixel.
                let nearest = min(max(Int(center), 0), inSize - 1)
                starts[i] = nearest
                counts[i] = 1
                weights[i * maxTaps] = 1
                continue
            }
            starts[i] = lo
            counts[i] = hi - lo
            for k in 0..<(hi - lo) { weights[i * maxTaps + k] = Float(kernel[k] / total) }
        }
        return Taps(start: starts, count: counts, weights: weights, maxTaps: maxTaps)
    }
}
