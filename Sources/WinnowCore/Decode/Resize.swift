/// Area-averaging resize (each output pixel is the mean of the source area it covers), the
/// right filter for shrinking: no aliasing, and exact on integer factors. Enlarging falls back
/// to the same weights, which then amount to nearest-neighbour sampling.
public enum AreaResize {
    /// Resizes an interleaved 8-bit image with `channels` samples per pixel.
    public static func resize(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                              toWidth newWidth: Int, height newHeight: Int) -> [UInt8] {
        if newWidth == width && newHeight == height { return pixels }
        let xWeights = weights(from: width, to: newWidth)
        let yWeights = weights(from: height, to: newHeight)
        // Horizontal pass into floats, then vertical pass into bytes.
        var rows = [Float](repeating: 0, count: height * newWidth * channels)
        pixels.withUnsafeBufferPointer { source in
            rows.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let sourceRow = y * width * channels
                    let targetRow = y * newWidth * channels
                    for (x, taps) in xWeights.enumerated() {
                        for c in 0..<channels {
                            var sum: Float = 0
                            for tap in taps { sum += Float(source[sourceRow + tap.index * channels + c]) * tap.weight }
                            target[targetRow + x * channels + c] = sum
                        }
                    }
                }
            }
        }
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        let rowLength = newWidth * channels
        rows.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                var accumulator = [Float](repeating: 0, count: rowLength)
                for (y, taps) in yWeights.enumerated() {
                    for i in 0..<rowLength { accumulator[i] = 0 }
                    for tap in taps {
                        let base = tap.index * rowLength
                        for i in 0..<rowLength { accumulator[i] += source[base + i] * tap.weight }
                    }
                    let base = y * rowLength
                    for i in 0..<rowLength { target[base + i] = UInt8(min(255, max(0, accumulator[i] + 0.5))) }
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
