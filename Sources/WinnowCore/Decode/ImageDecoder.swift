/// A decoded image plus what Winnow needs to know about its source.
public struct DecodedImage: Sendable {
    /// The pixels in display orientation (EXIF orientation applied), 8-bit RGB: alpha is
    /// composited on white, 16-bit samples are reduced to 8 bits, CMYK and gray are
    /// converted to RGB. May be smaller than the original when `ImageDecoder.minimumSide`
    /// allowed a reduced JPEG decode.
    public var image: RGBImage
    /// Full-resolution width in display orientation (after EXIF rotation), even if `image`
    /// was decoded at a reduced size.
    public var originalWidth: Int
    /// Full-resolution height in display orientation.
    public var originalHeight: Int
    /// The format sniffed from the bytes (never from the file name).
    public var format: ImageFormat
    /// The source stores gray samples (1–2 channels), as opposed to RGB that happens to be gray.
    public var isGrayscaleSource: Bool

    /// Creates a decoded image from its parts (decoders and tests).
    public init(image: RGBImage, originalWidth: Int, originalHeight: Int, format: ImageFormat,
                isGrayscaleSource: Bool) {
        self.image = image
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        self.format = format
        self.isGrayscaleSource = isGrayscaleSource
    }
}

/// Decodes image files from memory into 8-bit RGB, or says precisely why it can't.
///
/// JPEG (TurboJPEG), PNG (libpng) and still WebP (libwebp) are decoded directly; every other
/// accepted format (GIF, TIFF, BMP, HEIF/AVIF, JPEG 2000, JPEG XL, PPM, TGA, ICO, PCX,
/// animated WebP, CMYK JPEGs with an ICC profile) goes through libvips.
///
/// Failures are `InvalidSample` errors with a one-line message:
/// - `ZERO_SIZE_FILE`: no bytes at all.
/// - `UNSUPPORTED_FORMAT`: not a raster image we decode — text, SVG, PDF, PostScript,
///   HTML/XML and other known non-image signatures; valid images of a variant the decoders
///   can't handle (e.g. 12-bit JPEG); and images wider or taller than `maximumSide`, or with
///   more pixels than `limits.maximumPixels` that no decoder can shrink on load (see
///   `DecodeLimits`), refused from the header before any pixel memory is allocated (valid
///   files, so not "corrupt").
/// - `TRUNCATED_IMAGE`: the data ends early: a JPEG without an EOI marker after its first
///   scan (libjpeg's "Premature end of JPEG file"; the message estimates the decoded rows),
///   a PNG ending before IEND (even when the pixel data is complete), a WebP shorter than its
///   RIFF size, or sizes/offsets in a header pointing past the end (BMP, TGA, PNM, TIFF,
///   ICO, ISO boxes), or a loader message about truncation. PNG, Huffman-coded JPEG and
///   GIF files too short to hold the pixels their header declares (even at the codec's best
///   compression ratio) are refused from the header, before decoding: as truncated when the
///   data ends early, else as `CORRUPT_IMAGE` (the header lies).
/// - `CORRUPT_IMAGE`: binary data without a known signature, or a decoder rejecting the
///   data. For JPEG this includes libjpeg *warnings* on complete files that mean damaged scan
///   data ("bad Huffman code", "premature end of data segment", and "N extraneous bytes
///   before marker" unless those bytes are 0x00/0xFF padding or lie in the headers); warnings
///   that leave every pixel intact (unknown JFIF revision, bad ICC marker, ...) pass.
/// - `TOO_SMALL`: decodes fine, but a side is below `minimumUsableSide` (fastdup's rule).
///   Damaged tiny files report the damage instead.
///
/// Thread-safe: a value can be shared by any number of threads decoding at once.
public struct ImageDecoder: Sendable {
    /// Images narrower or shorter than this are rejected as `TOO_SMALL` (fastdup's rule).
    public static let minimumUsableSide = 10
    /// Images wider or taller than this (in pixels) are refused as `UNSUPPORTED_FORMAT`.
    public static let maximumSide = 20_000

    /// When > 0, JPEGs may be decoded at a reduced size (TurboJPEG DCT scaling) using the
    /// strongest reduction that keeps both sides >= min(original side, minimumSide). Only the
    /// SIMD-accelerated factors 1/2, 1/4 and 1/8 are used (the others are slower than a full
    /// decode). Other formats are always decoded at full size. 0 means always full resolution.
    public var minimumSide: Int
    /// The most pixels a decoded image may have; larger ones are shrunk on load or refused.
    public var limits: DecodeLimits

    /// Creates a decoder.
    /// - Parameters:
    ///   - minimumSide: see `minimumSide`; 0 (the default) decodes at full resolution.
    ///   - limits: the decompression-bomb limits (Pillow's pixel limit by default).
    public init(minimumSide: Int = 0, limits: DecodeLimits = DecodeLimits()) {
        self.minimumSide = max(0, minimumSide)
        self.limits = limits
    }

    /// Decodes the first image (page, frame) in `bytes`.
    /// - Throws: `InvalidSample` describing why the bytes are not a usable image.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(InvalidSample) -> DecodedImage {
        guard !bytes.isEmpty else { throw InvalidSample(.zeroSizeFile, "file is empty (0 bytes)") }
        guard let format = sniffImageFormat(bytes) else { throw notAnImage(bytes) }
        switch format {
        case .jpeg: return try decodeJPEG(bytes)
        case .png: return try decodePNG(bytes)
        case .webp: return try decodeWebP(bytes)
        default: return try decodeWithVips(bytes, format: format)
        }
    }

    /// Decodes the first image (page, frame) in `data`.
    /// - Throws: `InvalidSample` describing why the bytes are not a usable image.
    public func decode(_ data: [UInt8]) throws(InvalidSample) -> DecodedImage {
        let result = data.withUnsafeBytes { bytes -> Result<DecodedImage, InvalidSample> in
            do throws(InvalidSample) {
                return .success(try decode(bytes))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: - Shared checks

    /// Refuses a declared size with a side over `maximumSide`, or, unless the decoder can
    /// shrink it on load (`reducible`), more pixels than `limits.maximumPixels`.
    func checkNotTooLarge(width: Int, height: Int, reducible: Bool = false,
                          format: ImageFormat) throws(InvalidSample) {
        if width > Self.maximumSide || height > Self.maximumSide {
            throw InvalidSample(.unsupportedFormat,
                                "image too large: \(width)×\(height) (limit \(Self.maximumSide) px per side)")
        }
        if !reducible && width * height > limits.maximumPixels {
            throw tooManyPixels(width: width, height: height,
                                why: "\(format.displayName) cannot be decoded shrunk without holding it whole")
        }
    }

    /// An image over the pixel limit; `why` says why it could not be decoded shrunk.
    func tooManyPixels(width: Int, height: Int, why: String) -> InvalidSample {
        InvalidSample(.unsupportedFormat,
                      "image too large: \(width)×\(height) is \(megapixels(width * height)), over the limit of "
                      + "\(megapixels(limits.maximumPixels)) (--max-image-pixels); \(why)")
    }

    func checkNotTooSmall(width: Int, height: Int) throws(InvalidSample) {
        if width < Self.minimumUsableSide || height < Self.minimumUsableSide {
            throw InvalidSample(.tooSmall,
                                "image too small: \(width)×\(height) (minimum \(Self.minimumUsableSide) px per side)")
        }
    }

    private func notAnImage(_ bytes: UnsafeRawBufferPointer) -> InvalidSample {
        switch classifyNonImage(bytes) {
        case .document(let kind):
            return InvalidSample(.unsupportedFormat, "unsupported format: \(kind), not a raster image")
        case .text:
            return InvalidSample(.unsupportedFormat, "unsupported format: text, not an image")
        case .unknown:
            let head = bytes.prefix(8).map { byte in
                let hex = String(byte, radix: 16, uppercase: true)
                return byte < 16 ? "0" + hex : hex
            }.joined(separator: " ")
            return InvalidSample(.corruptImage, "no image signature: the file starts with \(head)")
        }
    }
}

extension ImageFormat {
    /// The name used in messages ("JPEG", "WebP", "JPEG 2000", ...).
    var displayName: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .webp: "WebP"
        case .gif: "GIF"
        case .tiff: "TIFF"
        case .bmp: "BMP"
        case .heif: "HEIF"
        case .avif: "AVIF"
        case .jpeg2000: "JPEG 2000"
        case .ppm: "PPM"
        case .tga: "TGA"
        case .ico: "ICO"
        case .pcx: "PCX"
        case .jxl: "JPEG XL"
        case .other: "image"
        }
    }
}

/// Collapses a message to one line: control characters become spaces, runs of spaces one.
func oneLine(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    var pendingSpace = false
    for scalar in text.unicodeScalars {
        if scalar.properties.generalCategory == .control || scalar == " " {
            pendingSpace = !out.isEmpty
            continue
        }
        if pendingSpace { out.append(" ") }
        pendingSpace = false
        out.unicodeScalars.append(scalar)
    }
    return out
}

// MARK: - Orientation

/// Applies an EXIF orientation (1...8) to stored pixels, returning the display image.
///
/// 1 normal, 2 mirrored left-right, 3 rotated 180°, 4 mirrored top-bottom, 5 transposed,
/// 6 needs 90° clockwise rotation, 7 transversed, 8 needs 90° counter-clockwise rotation.
func orient(_ stored: RGBImage, orientation: Int) -> RGBImage {
    guard (2...8).contains(orientation) else { return stored }
    let ws = stored.width, hs = stored.height
    let swaps = orientation >= 5
    let wd = swaps ? hs : ws, hd = swaps ? ws : hs
    // Display pixel (x, y) comes from stored pixel index start + x·stepX + y·stepY.
    let (start, stepX, stepY): (Int, Int, Int)
    switch orientation {
    case 2: (start, stepX, stepY) = (ws - 1, -1, ws)
    case 3: (start, stepX, stepY) = ((hs - 1) * ws + ws - 1, -1, -ws)
    case 4: (start, stepX, stepY) = ((hs - 1) * ws, 1, -ws)
    case 5: (start, stepX, stepY) = (0, ws, 1)
    case 6: (start, stepX, stepY) = ((hs - 1) * ws, -ws, 1)
    case 7: (start, stepX, stepY) = ((hs - 1) * ws + ws - 1, -ws, -1)
    default: (start, stepX, stepY) = (ws - 1, ws, -1)   // 8
    }
    let pixels = [UInt8](unsafeUninitializedCapacity: wd * hd * 3) { out, count in
        stored.pixels.withUnsafeBufferPointer { src in
            var o = 0
            for y in 0..<hd {
                var s = start + y * stepY
                for _ in 0..<wd {
                    out[o] = src[3 * s]
                    out[o + 1] = src[3 * s + 1]
                    out[o + 2] = src[3 * s + 2]
                    o += 3
                    s += stepX
                }
            }
        }
        count = wd * hd * 3
    }
    return RGBImage(width: wd, height: hd, pixels: pixels)
}
