import CTurboJPEG

/// What a walk over a JPEG's marker segments found (everything up to the first scan, plus
/// whether an end-of-image marker follows it).
struct JPEGStructure {
    /// EXIF orientation 1...8 from the first APP1 Exif segment; 1 when absent or invalid.
    var orientation = 1
    /// An Adobe APP14 segment is present: CMYK samples are stored inverted.
    var hasAdobeMarker = false
    /// An APP2 ICC_PROFILE segment is present.
    var hasICCProfile = false
    /// Offset just past the first SOS header, nil when no scan was reached.
    var firstScanData: Int?
    /// A segment length points past the end of the data (the file ends inside the headers).
    var endsInsideHeaders = false
    /// An EOI marker (FF D9) occurs after the first scan.
    var hasEndOfImage = false
    /// The start-of-frame marker (C0 baseline, C2 progressive, C9… arithmetic), nil if none.
    var frameMarker: UInt8?
    /// Components in the frame, and in the first scan.
    var frameComponents = 0
    var firstScanComponents = 0

    /// Arithmetic coding (SOF9–SOF15): no lower bound on the bits a block takes.
    var isArithmetic: Bool { frameMarker.map { $0 >= 0xC9 } ?? false }

    /// libjpeg keeps every DCT coefficient of the whole image (2 bytes per sample) when the
    /// image has several scans: progressive, or components in separate scans.
    var buffersWholeImage: Bool {
        [0xC2, 0xC6, 0xCA, 0xCE].contains(frameMarker) || firstScanComponents < frameComponents
    }

    init(_ bytes: UnsafeRawBufferPointer) {
        let b = ByteReader(bytes)
        let n = bytes.count
        var i = 2
        var stoppedEarly = false
        walk: while i + 1 < n {
            guard b[i] == 0xFF else { stoppedEarly = true; break }   // junk between segments: libjpeg decides
            let marker = b[i + 1]
            switch marker {
            case 0xFF:                                 // fill byte
                i += 1
                continue walk
            case 0x01, 0xD0...0xD8:                    // markers without a length
                i += 2
                continue walk
            case 0xD9:                                 // EOI before any scan
                stoppedEarly = true
                break walk
            default:
                break
            }
            guard i + 4 <= n else { endsInsideHeaders = true; break }
            let length = Int(b.uint16BE(i + 2))
            let dataStart = i + 4
            let next = i + 2 + length
            guard length >= 2, next <= n else { endsInsideHeaders = true; break }
            let segment = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<next])
            switch marker {
            case 0xE1 where orientation == 1:
                orientation = exifOrientation(segment) ?? 1
            case 0xE2:
                if ByteReader(segment).matches(Array("ICC_PROFILE\0".utf8)) { hasICCProfile = true }
            case 0xEE:
                if ByteReader(segment).matches(Array("Adobe".utf8)) { hasAdobeMarker = true }
            case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                if frameMarker == nil {
                    frameMarker = marker
                    frameComponents = Int(ByteReader(segment)[5])
                }
            case 0xDA:
                firstScanData = next
                firstScanComponents = Int(ByteReader(segment)[0])
                break walk
            default:
                break
            }
            i = next
        }
        if let scan = firstScanData {
            hasEndOfImage = Self.containsEndOfImage(bytes, from: scan)
        } else if !stoppedEarly {
            endsInsideHeaders = true                   // ran out of bytes before the first scan
        }
    }

    /// Searches backwards from the end for FF D9. Inside entropy-coded data FF is always
    /// followed by 00 or a marker, so FF D9 after the first scan can only be the EOI.
    private static func containsEndOfImage(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Bool {
        var i = bytes.count - 1
        while i > start {
            if bytes[i] == 0xD9, bytes[i - 1] == 0xFF { return true }
            i -= 1
        }
        return false
    }
}

/// Reads tag 0x0112 (Orientation) of IFD0 from an APP1 segment body ("Exif\0\0" + TIFF).
func exifOrientation(_ segment: UnsafeRawBufferPointer) -> Int? {
    let s = ByteReader(segment)
    guard s.matches(Array("Exif".utf8)), s[4] == 0, s[5] == 0 else { return nil }
    let tiff = 6
    let littleEndian: Bool
    if s[tiff] == 0x49, s[tiff + 1] == 0x49 { littleEndian = true }
    else if s[tiff] == 0x4D, s[tiff + 1] == 0x4D { littleEndian = false }
    else { return nil }
    func u16(_ at: Int) -> Int { Int(littleEndian ? s.uint16LE(tiff + at) : s.uint16BE(tiff + at)) }
    func u32(_ at: Int) -> Int { Int(littleEndian ? s.uint32LE(tiff + at) : s.uint32BE(tiff + at)) }
    guard u16(2) == 42 else { return nil }
    let ifd = u32(4)
    guard ifd >= 8, tiff + ifd + 2 <= s.count else { return nil }
    let entries = u16(ifd)
    for k in 0..<entries {
        let entry = ifd + 2 + 12 * k
        guard tiff + entry + 12 <= s.count else { return nil }
        guard u16(entry) == 0x0112 else { continue }
        let type = u16(entry + 2)
        let value: Int
        switch type {
        case 3: value = u16(entry + 8)                 // SHORT, the normal case
        case 4: value = u32(entry + 8)                 // LONG, seen in the wild
        default: return nil
        }
        return (1...8).contains(value) ? value : nil
    }
    return nil
}

/// One TurboJPEG scaling factor `numerator / denominator`.
struct JPEGScale: Sendable, Equatable {
    var numerator: Int
    var denominator: Int
    static let identity = JPEGScale(numerator: 1, denominator: 1)

    /// TJSCALED: the scaled size of one dimension.
    func scaled(_ dimension: Int) -> Int { (dimension * numerator + denominator - 1) / denominator }

    /// The reductions used, smallest output first: the power-of-two factors 1/8, 1/4, 1/2
    /// among those TurboJPEG reports. The other factors (3/8, 5/8, 3/4, ...) run libjpeg's
    /// plain-C scaled IDCTs and were measured *slower* than a full-size decode (512×341 q90:
    /// 1.06 ms full, 1.40 ms at 6/8, 0.97 ms at 1/2), so they would defeat the purpose.
    static let available: [JPEGScale] = {
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count), count > 0 else { return [.identity] }
        let all = (0..<Int(count)).map { JPEGScale(numerator: Int(factors[$0].num), denominator: Int(factors[$0].denom)) }
        let reductions = all.filter { scale in
            scale.numerator < scale.denominator && scale.denominator % scale.numerator == 0
                && [2, 4, 8].contains(scale.denominator / scale.numerator)
        }.sorted { $0.numerator * $1.denominator < $1.numerator * $0.denominator }
        return reductions + [.identity]
    }()

    /// The weakest reduction whose output has at most `maximumPixels`, nil if none does.
    static func fitting(width: Int, height: Int, maximumPixels: Int) -> JPEGScale? {
        available.reversed().first { $0.scaled(width) * $0.scaled(height) <= maximumPixels }
    }

    /// Whether this factor reduces more than `other`.
    func isStronger(than other: JPEGScale) -> Bool {
        numerator * other.denominator < other.numerator * denominator
    }

    /// The strongest reduction that keeps both sides >= min(side, minimumSide).
    static func choose(width: Int, height: Int, minimumSide: Int) -> JPEGScale {
        guard minimumSide > 0 else { return .identity }
        let needW = min(width, minimumSide), needH = min(height, minimumSide)
        for scale in available where scale.scaled(width) >= needW && scale.scaled(height) >= needH {
            return scale
        }
        return .identity
    }
}

/// libjpeg warnings that do not change a single decoded pixel. Any other warning on a file
/// that has its EOI marker means the entropy-coded data is damaged (gray or smeared blocks).
/// "N extraneous bytes before marker" is judged separately (`extraneousBytesAreHarmless`).
private let harmlessJPEGWarnings = [
    "unknown jfif revision",
    "unknown adobe color transform",
    "invalid sos parameters for sequential", // sloppy encoders; data decodes normally
    "inconsistent progression sequence",     // sloppy progressive scan scripts
    "bad icc marker",                        // metadata only
    "thumbnail image size does not match",   // JFIF thumbnail metadata only
]

/// libjpeg fatal errors that mean "valid JPEG of a kind we can't decode", not damage.
private let unsupportedJPEGErrors = [
    "unsupported jpeg data precision",       // 12/16-bit JPEG
    "unsupported jpeg process",              // lossless / hierarchical SOF types
    "requested feature was omitted at compile time",
]

/// What TurboJPEG's header read reports: the stored size and the colour space.
private struct JPEGHeader {
    var width: Int
    var height: Int
    /// A TurboJPEG `TJCS` colour space.
    var colorspace: Int32

    /// Four-channel samples (CMYK or YCCK), decoded as CMYK.
    var isCMYK: Bool { colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) }
}

/// One TurboJPEG decompression of a whole file (valid only while `base` is): the decoder, the
/// compressed bytes, and the output's size and pixel format (CMYK or RGB).
private struct TurboJPEGDecompression {
    let handle: tjhandle
    let base: UnsafePointer<UInt8>
    let size: UInt
    let width: Int
    let height: Int
    let isCMYK: Bool

    /// Samples per output pixel.
    var channels: Int { isCMYK ? 4 : 3 }

    /// Decodes into `buffer` with TurboJPEG `flags`, returning TurboJPEG's status (0 on success).
    func decode(into buffer: UnsafeMutableBufferPointer<UInt8>, flags: Int32) -> Int32 {
        let pixelFormat = isCMYK ? TJPF_CMYK : TJPF_RGB
        return tjDecompress2(handle, base, size, buffer.baseAddress, Int32(width), 0, Int32(height),
                             Int32(pixelFormat.rawValue), flags)
    }

    /// Decodes the whole image into new pixels, with the status of the decode.
    func decodePixels() -> (pixels: [UInt8], status: Int32) {
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * channels) { buffer, count in
            status = decode(into: buffer, flags: TJFLAG_LIMITSCANS)
            if status != 0 {
                // A fatal error can stop libjpeg before every row is written (and TurboJPEG
                // reports it as a warning when a warning came first), so on this rare path
                // start from zeros and decode again to get the same outcome deterministically.
                buffer.initialize(repeating: 0)
                status = decode(into: buffer, flags: TJFLAG_LIMITSCANS)
            }
            count = width * height * channels
        }
        return (pixels, status)
    }
}

extension ImageDecoder {
    func decodeJPEG(_ bytes: UnsafeRawBufferPointer) throws(InvalidSample) -> DecodedImage {
        let structure = JPEGStructure(bytes)
        guard let handle = tjInitDecompress() else {
            throw InvalidSample(.unreadable, "could not start the JPEG decoder")
        }
        defer { tjDestroy(handle) }
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw InvalidSample(.zeroSizeFile, "file is empty (0 bytes)")
        }
        let size = UInt(bytes.count)
        let header = try readJPEGHeader(handle, base, size, structure: structure)

        let storedWidth = header.width, storedHeight = header.height
        let swapsSides = structure.orientation >= 5
        let displayWidth = swapsSides ? storedHeight : storedWidth
        let displayHeight = swapsSides ? storedWidth : storedHeight
        try checkJPEGCanHoldItsPixels(bytes, structure, width: storedWidth, height: storedHeight)
        try checkNotTooLarge(width: displayWidth, height: displayHeight, reducible: true, format: .jpeg)
        let scale = try jpegScale(width: storedWidth, height: storedHeight, structure: structure)

        let isCMYK = header.isCMYK
        if isCMYK && structure.hasICCProfile {
            // Colour-managed conversion with the embedded profile: libvips + lcms.
            var decoded = try decodeWithVips(bytes, format: .jpeg)
            decoded.isGrayscaleSource = false
            return decoded
        }

        let decompression = TurboJPEGDecompression(handle: handle, base: base, size: size, width: scale.scaled(storedWidth),
                                                   height: scale.scaled(storedHeight), isCMYK: isCMYK)
        let output = decompression.decodePixels()
        var pixels = output.pixels
        try checkJPEGIsComplete(structure, pixels: pixels, decompression)
        if output.status != 0 {
            try checkJPEGWarnings(decompression, pixels: &pixels, bytes, structure)
        }

        if isCMYK {
            pixels = cmykToRGB(pixels, pixelCount: decompression.width * decompression.height, inverted: structure.hasAdobeMarker)
        }
        try checkNotTooSmall(width: displayWidth, height: displayHeight)
        let oriented = orient(RGBImage(width: decompression.width, height: decompression.height, pixels: pixels),
                              orientation: structure.orientation)
        return DecodedImage(image: oriented, originalWidth: displayWidth, originalHeight: displayHeight,
                            format: .jpeg, isGrayscaleSource: header.colorspace == Int32(TJCS_GRAY.rawValue))
    }

    /// Reads the stored size and colour space; a warning is accepted when the size could still be read.
    private func readJPEGHeader(_ handle: tjhandle, _ base: UnsafePointer<UInt8>, _ size: UInt,
                                structure: JPEGStructure) throws(InvalidSample) -> JPEGHeader {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, base, size, &width, &height, &subsampling, &colorspace) != 0
            && !(tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) && width > 0 && height > 0) {
            throw classifiedJPEGError(turboJPEGMessage(handle), structure: structure)
        }
        return JPEGHeader(width: Int(width), height: Int(height), colorspace: colorspace)
    }

    /// Refuses a file that ends inside its headers or before its end-of-image marker (saying how much of a
    /// baseline RGB image decoded).
    private func checkJPEGIsComplete(_ structure: JPEGStructure, pixels: [UInt8],
                                     _ decompression: TurboJPEGDecompression) throws(InvalidSample) {
        if structure.endsInsideHeaders {
            throw InvalidSample(.truncatedImage, "truncated JPEG: data ends inside the headers, before any image data")
        }
        if !structure.hasEndOfImage {
            var detail = "data ends before the end-of-image marker"
            if !decompression.isCMYK,
               let fraction = decodedRowFraction(pixels, width: decompression.width, height: decompression.height) {
                detail += " (about \(Int((fraction * 100).rounded()))% of rows decoded)"
            }
            throw InvalidSample(.truncatedImage, "truncated JPEG: \(detail)")
        }
    }

    /// Judges a decode that returned a nonzero status: refuses a fatal error or a warning that damages pixels
    /// (decoding again into `pixels` up to the first warning when the last one looks harmless).
    private func checkJPEGWarnings(_ decompression: TurboJPEGDecompression, pixels: inout [UInt8],
                                   _ bytes: UnsafeRawBufferPointer, _ structure: JPEGStructure) throws(InvalidSample) {
        let handle = decompression.handle
        let message = turboJPEGMessage(handle)
        if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) {
            throw classifiedJPEGError(message, structure: structure)
        }
        // TurboJPEG keeps only the last warning. Damaged entropy data often ends in a
        // harmless-looking "extraneous bytes before marker 0xd9", so when the last one
        // looks harmless, decode again up to the first warning and judge that one too.
        var messages = [message]
        if isHarmlessJPEGWarning(message, bytes, structure) {
            pixels.withUnsafeMutableBufferPointer { buffer in
                _ = decompression.decode(into: buffer, flags: TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING)
            }
            messages.insert(turboJPEGMessage(handle), at: 0)
        }
        if let harmful = messages.first(where: { !isHarmlessJPEGWarning($0, bytes, structure) }) {
            var detail = harmful
            if detail.lowercased().hasPrefix("corrupt jpeg data: ") { detail.removeFirst("corrupt jpeg data: ".count) }
            if detail.lowercased().contains("extraneous bytes") { detail += " (the decoder lost sync)" }
            throw InvalidSample(.corruptImage, "corrupt JPEG data: \(detail)")
        }
    }

    /// The reduction to decode at: the stronger of the one `minimumSide` allows and the one
    /// the pixel limit needs. Multi-scan JPEGs over the limit are refused: libjpeg would hold
    /// all their coefficients whatever the output size.
    private func jpegScale(width: Int, height: Int, structure: JPEGStructure) throws(InvalidSample) -> JPEGScale {
        let wanted = JPEGScale.choose(width: width, height: height, minimumSide: minimumSide)
        guard width * height > limits.maximumPixels else { return wanted }
        if structure.buffersWholeImage {
            throw tooManyPixels(width: width, height: height,
                                why: "a progressive or multi-scan JPEG cannot be decoded shrunk without holding it whole")
        }
        guard let fitting = JPEGScale.fitting(width: width, height: height, maximumPixels: limits.maximumPixels) else {
            throw tooManyPixels(width: width, height: height, why: "even decoded at 1/8 it would be over the limit")
        }
        return fitting.isStronger(than: wanted) ? fitting : wanted
    }

    /// Refuses a Huffman-coded file too short for the pixels its frame header declares: the
    /// first scan codes every block of its components in at least one bit, and no component
    /// has fewer blocks than one per 32×32 pixels (sampling factors are at most 4).
    private func checkJPEGCanHoldItsPixels(_ bytes: UnsafeRawBufferPointer, _ structure: JPEGStructure,
                                           width: Int, height: Int) throws(InvalidSample) {
        guard !structure.isArithmetic else { return }
        let needed = ((width + 31) / 32) * ((height + 31) / 32) / 8
        guard bytes.count < needed else { return }
        let claim = "\(bytes.count) bytes cannot hold the \(width)×\(height) image the header declares "
            + "(its scan data needs at least \(needed) bytes)"
        if structure.hasEndOfImage { throw InvalidSample(.corruptImage, "corrupt JPEG: \(claim)") }
        throw InvalidSample(.truncatedImage, "truncated JPEG: \(claim)")
    }

    private func classifiedJPEGError(_ message: String, structure: JPEGStructure) -> InvalidSample {
        let lower = message.lowercased()
        if unsupportedJPEGErrors.contains(where: { lower.contains($0) }) {
            return InvalidSample(.unsupportedFormat, "unsupported JPEG variant: \(message)")
        }
        if structure.endsInsideHeaders {
            return InvalidSample(.truncatedImage, "truncated JPEG: data ends inside the headers (\(message))")
        }
        if structure.firstScanData != nil && !structure.hasEndOfImage {
            return InvalidSample(.truncatedImage, "truncated JPEG: data ends before the end-of-image marker (\(message))")
        }
        return InvalidSample(.corruptImage, "corrupt JPEG: \(message)")
    }
}

/// Whether a libjpeg warning leaves every pixel intact (see `harmlessJPEGWarnings`).
private func isHarmlessJPEGWarning(_ message: String, _ bytes: UnsafeRawBufferPointer,
                                   _ structure: JPEGStructure) -> Bool {
    let lower = message.lowercased()
    if lower.contains("extraneous bytes before marker") {
        return extraneousBytesAreHarmless(lower, bytes, structure)
    }
    return harmlessJPEGWarnings.contains { lower.contains($0) }
}

/// "Corrupt JPEG data: N extraneous bytes before marker 0xMM" means N bytes were skipped
/// before a marker. Harmless when that happens in the headers (junk between segments) or
/// when the skipped bytes are padding (0x00/0xFF, which some encoders put before EOI).
/// Otherwise the entropy decoder finished its blocks before the data did: it lost sync on
/// damaged data and the picture is garbage from that point.
func extraneousBytesAreHarmless(_ lowercasedMessage: String, _ bytes: UnsafeRawBufferPointer,
                                _ structure: JPEGStructure) -> Bool {
    let words = lowercasedMessage.split(whereSeparator: { $0 == " " || $0 == ":" })
    guard let index = words.firstIndex(of: "extraneous"), index > words.startIndex,
          let count = Int(words[words.index(before: index)]),
          let markerWord = words.last(where: { $0.hasPrefix("0x") }),
          let marker = UInt8(markerWord.dropFirst(2), radix: 16) else { return false }
    let firstScan = structure.firstScanData ?? bytes.count
    var p = 0
    while p + 1 < bytes.count {
        defer { p += 1 }
        guard bytes[p] == 0xFF, bytes[p + 1] == marker else { continue }
        if p < firstScan { return true }
        // The skipped bytes end right before the marker (after any 0xFF fill bytes).
        var end = p
        while end > 0, bytes[end - 1] == 0xFF { end -= 1 }
        let start = end - count
        if start >= firstScan, (start..<end).allSatisfy({ bytes[$0] == 0x00 || bytes[$0] == 0xFF }) {
            return true
        }
    }
    return false
}

/// The handle's last error or warning as one line.
private func turboJPEGMessage(_ handle: tjhandle) -> String {
    guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
    return oneLine(String(cString: text))
}

/// Fraction of rows that hold decoded data in a truncated baseline JPEG: libjpeg fills the
/// missing blocks with zero coefficients, i.e. exact mid-gray (128,128,128) rows at the
/// bottom. Returns nil when the bottom row is not such a row (e.g. progressive files, where
/// missing scans only lower the quality).
func decodedRowFraction(_ pixels: [UInt8], width: Int, height: Int) -> Double? {
    guard width > 0, height > 0 else { return nil }
    let rowBytes = width * 3
    return pixels.withUnsafeBufferPointer { p -> Double? in
        var grayRows = 0
        var row = height - 1
        while row >= 0 {
            let start = row * rowBytes
            var allGray = true
            for k in start..<(start + rowBytes) where p[k] != 128 {
                allGray = false
                break
            }
            if !allGray { break }
            grayRows += 1
            row -= 1
        }
        return grayRows == 0 ? nil : Double(height - grayRows) / Double(height)
    }
}

/// Naive CMYK → RGB for JPEGs without an ICC profile. Adobe (APP14) files store the samples
/// inverted (255 = no ink), which is what Photoshop, Pillow and libvips write.
func cmykToRGB(_ cmyk: [UInt8], pixelCount: Int, inverted: Bool) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { out, count in
        cmyk.withUnsafeBufferPointer { src in
            for p in 0..<pixelCount {
                var c = UInt32(src[4 * p]), m = UInt32(src[4 * p + 1])
                var y = UInt32(src[4 * p + 2]), k = UInt32(src[4 * p + 3])
                if !inverted { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k }
                out[3 * p] = UInt8((c * k + 127) / 255)
                out[3 * p + 1] = UInt8((m * k + 127) / 255)
                out[3 * p + 2] = UInt8((y * k + 127) / 255)
            }
        }
        count = pixelCount * 3
    }
}
