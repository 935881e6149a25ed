/// Area-averaging resize (each output pixel is the mean of the source area it covers), the
/// right filter for shrinking: no aliasing, and exact on integer factors. Enlarging falls back
/// to the same weights, which then amount to nearest-neighbour sampling.
public enum AreaResize {
    /// Resizes an interleaved 8-bit image with `channels` samples per pixel.
    public static func resize(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                              toWidth newWidth: Int, height newHeight: Int) -> [UInt8] {
        if newWidth == width && newHeight == height { return pixels }
        guard width > 0, height > 0, newWidth > 0, newHeight > 0, channels > 0, pixels.count >= width * height * channels else {
            return [UInt8](repeating: 0, count: max(0, newWidth) * max(0, newHeight) * max(0, channels))
        }
        let xTaps = FlatTaps(weights(from: width, to: newWidth))
        let yTaps = FlatTaps(weights(from: height, to: newHeight))
        // Horizontal pass into floats, then vertical pass into bytes.
        let rows = horizontalPass(pixels, width: width, height: height, channels: channels, toWidth: newWidth, taps: xTaps)
        return verticalPass(rows, width: newWidth, channels: channels, toHeight: newHeight, taps: yTaps)
    }

    /// Resizes each row of `pixels` to `newWidth`, as floats (`height × newWidth × channels`).
    /// RGB rows are summed a pixel at a time as 4-lane vectors (``RGBFloatRow``).
    private static func horizontalPass(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                                       toWidth newWidth: Int, taps xTaps: FlatTaps) -> [Float] {
        var rows = [Float](repeating: 0, count: height * newWidth * channels)
        var line = RGBFloatRow(width: channels == 3 ? width : 0)
        pixels.withUnsafeBufferPointer { source in
            rows.withUnsafeMutableBufferPointer { target in
                xTaps.withPointers { starts, ends, index, weight in
                    for y in 0..<height {
                        let sourceRow = source.baseAddress! + y * width * channels
                        let out = target.baseAddress! + y * newWidth * channels
                        if channels == 3 {
                            line.withPixels(of: sourceRow) { pixel in
                                for x in 0..<newWidth {
                                    var sum = SIMD4<Float>()
                                    for t in starts[x]..<ends[x] { sum += pixel[index[t]] * weight[t] }
                                    (out[3 * x], out[3 * x + 1], out[3 * x + 2]) = (sum[0], sum[1], sum[2])
                                }
                            }
                        } else {
                            for x in 0..<newWidth {
                                for c in 0..<channels {
                                    var sum: Float = 0
                                    for t in starts[x]..<ends[x] { sum += Float(sourceRow[index[t] * channels + c]) * weight[t] }
                                    out[x * channels + c] = sum
                                }
                            }
                        }
                    }
                }
            }
        }
        return rows
    }

    /// Resizes the columns of the `newWidth`-wide float `rows` to `newHeight`, rounded to bytes.
    private static func verticalPass(_ rows: [Float], width newWidth: Int, channels: Int,
                                     toHeight newHeight: Int, taps yTaps: FlatTaps) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        let rowLength = newWidth * channels
        let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: rowLength)
        defer { accumulator.deallocate() }
        rows.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                yTaps.withPointers { starts, ends, index, weight in
                    for y in 0..<newHeight {
                        accumulator.update(repeating: 0, count: rowLength)
                        for t in starts[y]..<ends[y] {
                            let row = source.baseAddress! + index[t] * rowLength, w = weight[t]
                            for i in 0..<rowLength { accumulator[i] += row[i] * w }
                        }
                        let out = target.baseAddress! + y * rowLength
                        for i in 0..<rowLength { out[i] = UInt8(min(255, max(0, accumulator[i] + 0.5))) }
                    }
                }
            }
        }
        return output
    }

    /// Resizes so that neither side exceeds `maximumSide`, keeping the aspect ratio.
    public static func fit(_ image: RGBImage, within maximumSide: Int) -> RGBImage {
        let longSide = max(image.width, image.height)
        guard longSide > maximumSide else { return image }
        return scaled(image, by: Double(maximumSide) / Double(longSide))
    }

    /// Resizes so that the image has at most `side × side` pixels, keeping the aspect ratio
    /// (a long strip keeps its short side instead of shrinking to a few pixels).
    public static func fit(_ image: RGBImage, area side: Int) -> RGBImage {
        let pixels = Double(image.width) * Double(image.height)
        let target = Double(side) * Double(side)
        guard pixels > target else { return image }
        return scaled(image, by: (target / pixels).squareRoot())
    }

    private static func scaled(_ image: RGBImage, by scale: Double) -> RGBImage {
        let width = max(1, Int((Double(image.width) * scale).rounded()))
        let height = max(1, Int((Double(image.height) * scale).rounded()))
        return RGBImage(width: width, height: height,
                        pixels: resize(image.pixels, width: image.width, height: image.height, channels: 3,
                                       toWidth: width, height: height))
    }

    struct Tap { var index: Int; var weight: Float }

    /// The taps of every output position in flat arrays (output `i` uses taps `starts[i]..<ends[i]`),
    /// for the inner loops.
    private struct FlatTaps {
        var starts: [Int] = [], ends: [Int] = [], index: [Int] = [], weight: [Float] = []

        init(_ taps: [[Tap]]) {
            for position in taps {
                starts.append(index.count)
                index += position.map(\.index)
                weight += position.map(\.weight)
                ends.append(index.count)
            }
        }

        func withPointers<R>(_ body: (UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Float>) -> R) -> R {
            starts.withUnsafeBufferPointer { s in ends.withUnsafeBufferPointer { e in
                index.withUnsafeBufferPointer { i in weight.withUnsafeBufferPointer { w in
                    body(s.baseAddress!, e.baseAddress!, i.baseAddress!, w.baseAddress!)
                } }
            } }
        }
    }

    /// For each output position, the source positions it covers and their share of it.
    static func weights(from size: Int, to newSize: Int) -> [[Tap]] {
        let scale = Double(size) / Double(newSize)
        return (0..<newSize).map { i in
            let start = Double(i) * scale, end = start + scale
            var taps: [Tap] = []
            var position = Int(start)
            while Double(position) < end && position < size {
                let overlap = min(end, Double(position + 1)) - max(start, Double(position))
                if overlap > 1e-9 { taps.append(Tap(index: position, weight: Float(overlap / scale))) }
                position += 1
            }
            if taps.isEmpty { taps = [Tap(index: min(size - 1, Int(start)), weight: 1)] }
            return taps
        }
    }
}
