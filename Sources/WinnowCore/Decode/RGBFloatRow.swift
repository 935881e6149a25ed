/// One row of 8-bit RGB as floats, for the resamplers' horizontal passes: converted once per
/// row, with one float of padding after the last pixel so that every pixel reads as one 4-lane
/// vector (R, G, B, next). A tap then adds weight × pixel for the three channels at once: the
/// same products and sums per channel as one channel at a time.
struct RGBFloatRow {
    private var floats: [Float]
    let width: Int

    init(width: Int) {
        self.width = width
        floats = [Float](repeating: 0, count: width * 3 + 1)
    }

    /// Converts the `width` pixels at `row`, then calls `body` with them.
    mutating func withPixels<Result>(of row: UnsafePointer<UInt8>, _ body: (Pixels) -> Result) -> Result {
        let count = width * 3
        return floats.withUnsafeMutableBufferPointer { floats in
            let line = floats.baseAddress!
            for i in 0..<count { line[i] = Float(row[i]) }
            return body(Pixels(raw: UnsafeRawPointer(line)))
        }
    }

    /// The converted row's pixels.
    struct Pixels {
        let raw: UnsafeRawPointer

        /// Pixel `x` as (R, G, B, the next value).
        @inline(__always) subscript(x: Int) -> SIMD4<Float> {
            raw.loadUnaligned(fromByteOffset: x * 12, as: SIMD4<Float>.self)
        }
    }
}
