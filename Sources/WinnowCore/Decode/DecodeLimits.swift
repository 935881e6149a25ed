/// How much memory one image file or archive member may claim before it is refused, so that a
/// small file declaring a huge picture (a decompression bomb) costs neither memory nor time.
///
/// Images larger than `maximumPixels` are decoded shrunk on load when the decoder can do it
/// without holding the full image (baseline JPEG: TurboJPEG's DCT scaling; lossy WebP:
/// libwebp's scaler; libvips' JPEG/WebP loaders), and are otherwise refused as
/// `UNSUPPORTED_FORMAT` from their header, before any pixel memory is allocated.
public struct DecodeLimits: Sendable, Codable, Equatable {
    /// Pillow's `Image.MAX_IMAGE_PIXELS` (1 GiB / 4 / 3: 256 MiB as 8-bit RGB). Pillow warns
    /// above it and refuses above twice as much; Winnow decodes at most this many pixels.
    public static let defaultMaximumPixels = 89_478_485
    /// 256 MiB: far above any single photo, small enough that a few members read ahead by
    /// the pipeline fit in memory.
    public static let defaultMaximumFileBytes: Int64 = 256 << 20

    /// The most pixels one decoded image may have (after any shrink on load).
    public var maximumPixels: Int
    /// The largest image file or archive member (uncompressed) read into memory, in bytes.
    public var maximumFileBytes: Int64

    /// Creates limits; values below 1 are raised to 1.
    public init(maximumPixels: Int = defaultMaximumPixels, maximumFileBytes: Int64 = defaultMaximumFileBytes) {
        self.maximumPixels = max(1, maximumPixels)
        self.maximumFileBytes = max(1, maximumFileBytes)
    }
}

/// "400.0 megapixels" / "0.3 megapixels": pixel counts in messages.
func megapixels(_ pixels: Int) -> String {
    let tenths = (Double(pixels) / 100_000).rounded()
    return "\(Int(tenths) / 10).\(Int(tenths) % 10) megapixels"
}
