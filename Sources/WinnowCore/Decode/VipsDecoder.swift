import VipsShim

extension ImageDecoder {
    /// Decodes any format libvips handles (first page/frame), in display orientation.
    func decodeWithVips(_ bytes: UnsafeRawBufferPointer, format: ImageFormat) throws(InvalidSample) -> DecodedImage {
        guard let base = bytes.baseAddress else { throw InvalidSample(.zeroSizeFile, "file is empty (0 bytes)") }
        let loader: winnow_vips_loader
        switch format {
        case .gif: loader = WINNOW_VIPS_LOADER_GIF
        case .tiff: loader = WINNOW_VIPS_LOADER_TIFF
        case .webp: loader = WINNOW_VIPS_LOADER_WEBP
        case .heif, .avif: loader = WINNOW_VIPS_LOADER_HEIF
        case .jpeg2000: loader = WINNOW_VIPS_LOADER_JP2K
        case .jxl: loader = WINNOW_VIPS_LOADER_JXL
        case .jpeg: loader = WINNOW_VIPS_LOADER_JPEG
        case .png: loader = WINNOW_VIPS_LOADER_PNG
        case .ppm: loader = WINNOW_VIPS_LOADER_PPM
        case .bmp, .tga, .ico, .pcx, .other: loader = WINNOW_VIPS_LOADER_MAGICK
        }
        if format == .gif { try checkGIFCanHoldItsFirstFrame(bytes) }
        var result = winnow_vips_result()
        // VIPS_FAIL_ON_ERROR: fail on truncation and on damaged data, not on mere warnings.
        let status = winnow_vips_decode(loader, base, bytes.count, Int32(VIPS_FAIL_ON_ERROR_VALUE),
                                        Int32(Self.maximumSide), Int64(limits.maximumPixels), &result)
        let message = withUnsafeBytes(of: result.message) { raw in
            oneLine(String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self))
        }
        switch status {
        case WINNOW_VIPS_OK:
            break
        case WINNOW_VIPS_TOO_LARGE:
            let width = Int(result.width), height = Int(result.height)
            try checkNotTooLarge(width: width, height: height, reducible: true, format: format)
            throw tooManyPixels(width: width, height: height, why: format == .jpeg || format == .webp
                                ? "even decoded shrunk it would be over the limit"
                                : "\(format.displayName) cannot be decoded shrunk without holding it whole")
        case WINNOW_VIPS_NOT_STARTED:
            throw InvalidSample(.unreadable, "could not start libvips to decode \(format.displayName)")
        default:
            throw classifyLoaderError(message, format: format, bytes: bytes)
        }
        let width = Int(result.width), height = Int(result.height)
        guard let source = result.pixels else {
            throw InvalidSample(.corruptImage, "corrupt \(format.displayName): no pixels decoded")
        }
        defer { winnow_vips_free(source) }
        let count = width * height * 3
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.baseAddress?.initialize(from: source, count: count)
            initialized = count
        }
        let originalWidth = Int(result.original_width), originalHeight = Int(result.original_height)
        try checkNotTooSmall(width: originalWidth, height: originalHeight)
        return DecodedImage(image: RGBImage(width: width, height: height, pixels: pixels),
                            originalWidth: originalWidth, originalHeight: originalHeight, format: format,
                            isGrayscaleSource: result.source_is_gray != 0)
    }

    /// Refuses a GIF too short for the first frame its image descriptor declares (libnsgif
    /// would decode the missing rest as background): an LZW code takes at least 3 bits and
    /// stands for at most 4096 pixels.
    private func checkGIFCanHoldItsFirstFrame(_ bytes: UnsafeRawBufferPointer) throws(InvalidSample) {
        guard let (width, height) = gifFirstFrameSize(ByteReader(bytes)) else { return }
        let needed = width * height / (4096 * 8 / 3)
        guard bytes.count < needed else { return }
        let claim = "\(bytes.count) bytes cannot hold the \(width)×\(height) first frame the header declares "
            + "(its LZW data needs at least \(needed) bytes)"
        if dataEndsEarly(.gif, bytes) { throw InvalidSample(.truncatedImage, "truncated GIF: \(claim)") }
        throw InvalidSample(.corruptImage, "corrupt GIF: \(claim)")
    }

    /// Loader messages name truncation in many ways ("Truncated GIF", "Premature end of",
    /// libtiff's "Read error on strip", "unexpected end of file", ...).
    private func classifyLoaderError(_ message: String, format: ImageFormat,
                                     bytes: UnsafeRawBufferPointer) -> InvalidSample {
        let text = message.isEmpty ? "the decoder gave no reason" : message
        let lower = text.lowercased()
        let truncationHints = ["truncat", "premature end", "unexpected end", "end of file", "end of data",
                               "not enough data", "read error", "insufficient", "eof", "short read",
                               "out of data", "end of stream", "bytes expected", "unexpected eof", "bad seek"]
        if truncationHints.contains(where: { lower.contains($0) }) || dataEndsEarly(format, bytes) {
            return InvalidSample(.truncatedImage, "truncated \(format.displayName): \(text)")
        }
        let unsupportedHints = ["unsupported", "not supported", "no decode delegate"]
        if unsupportedHints.contains(where: { lower.contains($0) }) {
            return InvalidSample(.unsupportedFormat, "unsupported \(format.displayName) variant: \(text)")
        }
        return InvalidSample(.corruptImage, "corrupt \(format.displayName): \(text)")
    }
}

/// Whether the file's own structure says the data stops before its end: sizes and offsets
/// in the header point past the last byte. Used to tell truncation from damage when a
/// libvips loader fails; `false` when the format gives no way to tell.
func dataEndsEarly(_ format: ImageFormat, _ bytes: UnsafeRawBufferPointer) -> Bool {
    let b = ByteReader(bytes)
    let n = bytes.count
    switch format {
    case .gif:
        // A GIF ends with the trailer byte 0x3B (possibly followed by padding).
        return !bytes.suffix(16).contains(0x3B)
    case .bmp:
        let declaredSize = Int(b.uint32LE(2)), pixelOffset = Int(b.uint32LE(10))
        if declaredSize > n { return true }
        let dibSize = b.uint32LE(14)
        let width: Int, height: Int, bitsPerPixel: Int, compression: UInt32
        if dibSize == 12 {
            (width, height, bitsPerPixel, compression) = (Int(b.uint16LE(18)), Int(b.uint16LE(20)), Int(b.uint16LE(24)), 0)
        } else {
            width = Int(Int32(bitPattern: b.uint32LE(18)))
            height = abs(Int(Int32(bitPattern: b.uint32LE(22))))
            bitsPerPixel = Int(b.uint16LE(28))
            compression = b.uint32LE(30)
        }
        guard compression == 0 || compression == 3 || compression == 6, (1..<1 << 20).contains(width),
              height < 1 << 20, (1...64).contains(bitsPerPixel) else { return false }
        let rowBytes = (bitsPerPixel * width + 31) / 32 * 4
        return pixelOffset + rowBytes * height > n
    case .tga:
        let imageType = b[2]
        guard imageType < 9 else { return false }   // RLE: the size is not known up front
        let mapBytes = b[1] == 1 ? Int(b.uint16LE(5)) * ((Int(b[7]) + 7) / 8) : 0
        let pixelBytes = Int(b.uint16LE(12)) * Int(b.uint16LE(14)) * ((Int(b[16]) + 7) / 8)
        return 18 + Int(b[0]) + mapBytes + pixelBytes > n
    case .ppm:
        return netpbmDataEndsEarly(bytes)
    case .ico:
        let count = Int(b.uint16LE(4))
        for k in 0..<count {
            let entry = 6 + 16 * k
            if entry + 16 > n { return true }
            if Int(b.uint32LE(entry + 12)) + Int(b.uint32LE(entry + 8)) > n { return true }
        }
        return false
    case .tiff:
        return tiffDataEndsEarly(b)
    case .jpeg2000, .heif, .avif, .jxl:
        return isoBoxesEndEarly(b)
    default:
        return false
    }
}

/// The size in the first image descriptor, after the colour table and any extensions.
func gifFirstFrameSize(_ b: ByteReader) -> (Int, Int)? {
    var i = 13 + (b[10] & 0x80 != 0 ? 3 << (Int(b[10] & 7) + 1) : 0)
    while i < b.count, b[i] == 0x21 {                   // extension: introducer, label, sub-blocks
        i += 2
        while i < b.count, b[i] != 0 { i += Int(b[i]) + 1 }
        i += 1
    }
    guard i + 9 < b.count, b[i] == 0x2C else { return nil }
    return (Int(b.uint16LE(i + 5)), Int(b.uint16LE(i + 7)))
}

/// ISO base media / JP2 boxes: a box whose declared size runs past the end.
private func isoBoxesEndEarly(_ b: ByteReader) -> Bool {
    let n = b.count
    guard b.matches(Array("ftyp".utf8), at: 4) || b.matches(Array("jP  ".utf8), at: 4)
            || b.matches(Array("JXL ".utf8), at: 4) else { return false }
    var offset = 0
    while offset + 8 <= n {
        var size = Int(b.uint32BE(offset))
        if size == 1 {
            guard offset + 16 <= n else { return true }
            size = Int(truncatingIfNeeded: UInt64(b.uint32BE(offset + 8)) << 32 | UInt64(b.uint32BE(offset + 12)))
        } else if size == 0 {
            return false   // last box, runs to the end of the file
        }
        guard size >= 8 else { return false }
        if offset + size > n { return true }
        offset += size
    }
    return offset < n
}

/// Binary PBM/PGM/PPM (P4/P5/P6): fewer sample bytes than width × height need.
private func netpbmDataEndsEarly(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let b = ByteReader(bytes)
    let kind = b[1]
    guard kind == 0x34 || kind == 0x35 || kind == 0x36 else { return false }
    var i = 2
    var numbers: [Int] = []
    let needed = kind == 0x34 ? 2 : 3
    while numbers.count < needed, i < b.count {
        let c = b[i]
        if c == 0x23 {                                    // comment to end of line
            while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
        } else if c >= 0x30, c <= 0x39 {
            var value = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39, value < 1 << 40 {
                value = value * 10 + Int(b[i] - 0x30)
                i += 1
            }
            numbers.append(value)
            continue
        } else if !(c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D) {
            return false
        }
        i += 1
    }
    guard numbers.count == needed else { return true }
    guard numbers.allSatisfy({ $0 < 1 << 24 }) else { return false }
    let dataStart = i + 1                                 // one whitespace byte after the header
    let width = numbers[0], height = numbers[1]
    let sampleBytes = kind == 0x34 ? 0 : (numbers[2] > 255 ? 2 : 1)
    let expected = kind == 0x34 ? (width + 7) / 8 * height
        : width * height * sampleBytes * (kind == 0x36 ? 3 : 1)
    return dataStart + expected > b.count
}

/// Classic TIFF: IFD0 or the strips/tiles it lists lie past the end of the data.
private func tiffDataEndsEarly(_ b: ByteReader) -> Bool {
    let little = b[0] == 0x49
    guard b[2] == (little ? 0x2A : 0x00) else { return false }   // BigTIFF: not checked
    func u16(_ i: Int) -> Int { Int(little ? b.uint16LE(i) : b.uint16BE(i)) }
    func u32(_ i: Int) -> Int { Int(little ? b.uint32LE(i) : b.uint32BE(i)) }
    let ifd = u32(4)
    guard ifd + 2 <= b.count else { return true }
    let entries = u16(ifd)
    guard ifd + 2 + 12 * entries <= b.count else { return true }
    var offsets: [Int] = [], counts: [Int] = []
    for k in 0..<entries {
        let entry = ifd + 2 + 12 * k
        let tag = u16(entry), type = u16(entry + 2), count = u32(entry + 4)
        guard tag == 273 || tag == 279 || tag == 324 || tag == 325, type == 3 || type == 4,
              count > 0, count < 1 << 24 else { continue }
        let size = type == 3 ? 2 : 4
        let start = count * size <= 4 ? entry + 8 : u32(entry + 8)
        guard start + count * size <= b.count else { return true }
        let values = (0..<count).map { type == 3 ? u16(start + $0 * 2) : u32(start + $0 * 4) }
        if tag == 273 || tag == 324 { offsets = values } else { counts = values }
    }
    guard offsets.count == counts.count else { return false }
    return zip(offsets, counts).contains { $0 + $1 > b.count }
}

/// `VIPS_FAIL_ON_ERROR` as an integer (the C enum is imported as a struct).
private let VIPS_FAIL_ON_ERROR_VALUE = 2
