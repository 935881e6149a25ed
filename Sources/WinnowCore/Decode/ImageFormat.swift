/// A raster image format Winnow can decode, as identified from a file's leading bytes.
///
/// JPEG, PNG and still WebP are decoded by their reference libraries directly; all other
/// formats through libvips (ImageMagick for BMP, TGA, ICO and PCX).
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    /// JPEG/JFIF/Exif (`FF D8 FF`), baseline, progressive, gray, CMYK/YCCK.
    case jpeg
    /// PNG, any bit depth and colour type.
    case png
    /// WebP (RIFF/WEBP), lossy or lossless, still or animated (first frame).
    case webp
    /// GIF87a/GIF89a (first frame).
    case gif
    /// TIFF and BigTIFF (first page).
    case tiff
    /// Windows/OS2 bitmap (`BM` with a known DIB header size).
    case bmp
    /// HEIF/HEIC (ISO media with a HEIF brand).
    case heif
    /// AVIF (ISO media with an `avif`/`avis` brand).
    case avif
    /// JPEG 2000, JP2 container or raw codestream.
    case jpeg2000
    /// Netpbm PBM/PGM/PPM (P1–P6) and PFM.
    case ppm
    /// Truevision TGA (no signature: recognised by a self-consistent header).
    case tga
    /// Windows icon or cursor (first image).
    case ico
    /// ZSoft PCX.
    case pcx
    /// JPEG XL, container or raw codestream.
    case jxl
    /// A raster format without a case of its own. `sniffImageFormat` never returns it;
    /// it exists so that stored results stay decodable when formats are added.
    case other
}

/// Identifies the raster image format of `bytes` from its signature ("magic bytes").
///
/// The file name plays no part: a PNG named `.jpg` is a PNG. Formats without a signature
/// (TGA) or with a weak one (ICO, PCX, BMP, PNM) are only accepted when their header is
/// self-consistent, so random bytes are practically never mistaken for an image.
///
/// Works on a prefix of the file: the first 64 bytes give the same answer as the whole file.
///
/// - Returns: the format, or `nil` when the bytes start with no known raster signature
///   (this includes SVG, PDF, PostScript, text and other documents, which Winnow does not
///   decode by design).
public func sniffImageFormat(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
    let b = ByteReader(bytes)
    let n = bytes.count
    if n >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return .jpeg }
    if n < 4 { return nil }
    if n >= 8, b.matches([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
    if n >= 6, b.matches(Array("GIF87a".utf8)) || b.matches(Array("GIF89a".utf8)) { return .gif }
    if n >= 12, b.matches(Array("RIFF".utf8)), b.matches(Array("WEBP".utf8), at: 8) { return .webp }
    if b.matches([0x49, 0x49, 0x2A, 0x00]) || b.matches([0x4D, 0x4D, 0x00, 0x2A])
        || b.matches([0x49, 0x49, 0x2B, 0x00]) || b.matches([0x4D, 0x4D, 0x00, 0x2B]) {
        return .tiff
    }
    if let brand = isoMediaImageBrand(b) { return brand }
    if n >= 12, b.matches([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) {
        return .jpeg2000
    }
    if b.matches([0xFF, 0x4F, 0xFF, 0x51]) { return .jpeg2000 }   // raw J2K codestream
    if n >= 12, b.matches([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) {
        return .jxl
    }
    if b[0] == 0xFF, b[1] == 0x0A { return .jxl }                 // raw JXL codestream
    if isBMP(b) { return .bmp }
    if isNetpbm(b) { return .ppm }
    if isICO(b) { return .ico }
    if isPCX(b) { return .pcx }
    if isTGA(b) { return .tga }
    return nil
}

/// What a file that is not a raster image we decode looks like, for the error message.
enum NonImageKind: Equatable {
    /// A known document/vector/container format, by name ("PDF", "SVG", ...).
    case document(String)
    /// Mostly printable text.
    case text
    /// Nothing recognisable.
    case unknown
}

/// Classifies bytes that `sniffImageFormat` did not recognise.
func classifyNonImage(_ bytes: UnsafeRawBufferPointer) -> NonImageKind {
    let b = ByteReader(bytes)
    let signatures: [(String, [UInt8])] = [
        ("PDF", Array("%PDF".utf8)),
        ("PostScript", Array("%!PS".utf8)),
        ("PostScript", [0xC5, 0xD0, 0xD3, 0xC6]),
        ("Photoshop PSD", Array("8BPS".utf8)),
        ("OpenEXR", [0x76, 0x2F, 0x31, 0x01]),
        ("DDS", Array("DDS ".utf8)),
        ("ZIP archive", [0x50, 0x4B, 0x03, 0x04]),
        ("gzip archive", [0x1F, 0x8B]),
    ]
    for (name, magic) in signatures where b.matches(magic) { return .document(name) }
    if bytes.count >= 12, b.matches(Array("ftyp".utf8), at: 4) { return .document("ISO media (video)") }
    if bytes.count >= 12, b.matches(Array("RIFF".utf8)) { return .document("RIFF (audio/video)") }

    // Markup: look at the first non-blank, non-BOM characters.
    let head = leadingText(bytes, limit: 1024).lowercased()
    if head.hasPrefix("<") {
        if head.contains("<svg") { return .document("SVG") }
        if head.contains("<html") || head.contains("<!doctype html") { return .document("HTML") }
        if head.hasPrefix("<?xml") { return .document("XML") }
    }
    return looksLikeText(bytes) ? .text : .unknown
}

/// The first `limit` bytes as text with a UTF-8 BOM and leading whitespace removed.
private func leadingText(_ bytes: UnsafeRawBufferPointer, limit: Int) -> String {
    var slice = bytes.prefix(limit)[...]
    if slice.starts(with: [0xEF, 0xBB, 0xBF]) { slice = slice.dropFirst(3) }
    let text = String(decoding: slice, as: UTF8.self)
    return String(text.drop(while: { $0.isWhitespace }))
}

/// True when the first 4 KiB are text: no NUL bytes and at least 95% printable ASCII,
/// whitespace or bytes of valid UTF-8 sequences.
private func looksLikeText(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let sample = bytes.prefix(4096)
    if sample.isEmpty { return false }
    var good = 0
    var i = sample.startIndex
    while i < sample.endIndex {
        let c = sample[i]
        if c == 0 { return false }
        if c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C || (c >= 0x20 && c < 0x7F) {
            good += 1
            i += 1
            continue
        }
        // A valid multi-byte UTF-8 sequence counts as text.
        let length = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0
        if length > 0, i + length <= sample.endIndex,
           sample[(i + 1)..<(i + length)].allSatisfy({ $0 & 0xC0 == 0x80 }) {
            good += length
            i += length
        } else {
            i += 1
        }
    }
    return good * 100 >= sample.count * 95
}

// MARK: - Header checks for formats with weak or no signatures

private func isoMediaImageBrand(_ b: ByteReader) -> ImageFormat? {
    guard b.count >= 16, b.matches(Array("ftyp".utf8), at: 4) else { return nil }
    let boxSize = Int(b.uint32BE(0))
    let end = min(b.count, max(16, boxSize))
    var brands: [String] = [b.fourCC(8)]
    var offset = 16
    while offset + 4 <= end {
        brands.append(b.fourCC(offset))
        offset += 4
    }
    if brands.contains(where: { $0 == "avif" || $0 == "avis" }) { return .avif }
    let heifBrands: Set<String> = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"]
    if brands.contains(where: { heifBrands.contains($0) }) { return .heif }
    return nil
}

private func isBMP(_ b: ByteReader) -> Bool {
    guard b.count >= 26, b[0] == 0x42, b[1] == 0x4D else { return false }
    // DIB header sizes of BITMAPCOREHEADER, OS/2 v2, BITMAPINFOHEADER and its successors.
    let dibSize = b.uint32LE(14)
    return [12, 16, 40, 52, 56, 64, 108, 124].contains(dibSize)
}

private func isNetpbm(_ b: ByteReader) -> Bool {
    guard b.count >= 3, b[0] == 0x50 else { return false }
    let kind = b[1]
    let isPNM = kind >= 0x31 && kind <= 0x36      // P1 ... P6
    let isPFM = kind == 0x46 || kind == 0x66      // PF, Pf
    guard isPNM || isPFM else { return false }
    // Whitespace, then (after optional comment lines) the width's first digit.
    func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
    guard isSpace(b[2]) || b[2] == 0x23 else { return false }
    var i = 2
    while i < min(b.count, 4096) {
        if isSpace(b[i]) {
            i += 1
        } else if b[i] == 0x23 {
            while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
        } else {
            return b[i] >= 0x31 && b[i] <= 0x39
        }
    }
    return i >= b.count   // the prefix ended inside a comment: can't tell, assume PNM
}

private func isICO(_ b: ByteReader) -> Bool {
    // ICONDIR: reserved 0, type 1 (icon) or 2 (cursor), count > 0; then 16-byte entries.
    guard b.count >= 22, b[0] == 0, b[1] == 0, b[2] == 1 || b[2] == 2, b[3] == 0 else { return false }
    let count = Int(b.uint16LE(4))
    guard (1...512).contains(count) else { return false }
    // First entry: reserved byte 0, image data after the directory.
    let reserved = b[6 + 3]
    let size = Int(b.uint32LE(6 + 8))
    let offset = Int(b.uint32LE(6 + 12))
    return (reserved == 0 || reserved == 255) && size > 0 && offset >= 6 + 16 * count
}

private func isPCX(_ b: ByteReader) -> Bool {
    guard b.count >= 12, b[0] == 0x0A else { return false }
    let version = b[1], encoding = b[2], bitsPerPixel = b[3]
    guard [0, 2, 3, 4, 5].contains(version), encoding == 1 || encoding == 0,
          [1, 2, 4, 8].contains(bitsPerPixel) else { return false }
    let xMin = b.uint16LE(4), yMin = b.uint16LE(6), xMax = b.uint16LE(8), yMax = b.uint16LE(10)
    guard xMax >= xMin, yMax >= yMin else { return false }
    // The plane count sits at offset 65, beyond a 64-byte prefix.
    return b.count <= 65 || (1...4).contains(b[65])
}

private func isTGA(_ b: ByteReader) -> Bool {
    guard b.count >= 18 else { return false }
    let colorMapType = b[1], imageType = b[2]
    let mapFirst = Int(b.uint16LE(3)), mapLength = Int(b.uint16LE(5)), mapEntryBits = Int(b[7])
    let width = Int(b.uint16LE(12)), height = Int(b.uint16LE(14))
    let depth = Int(b[16]), descriptor = b[17]
    guard width > 0, height > 0, descriptor & 0xC0 == 0, Int(descriptor & 0x0F) <= 8,
          !b.matches(Array("ftyp".utf8), at: 4) else { return false }
    switch imageType {
    case 1, 9:   // colour-mapped
        guard colorMapType == 1, depth == 8 || depth == 16, mapLength > 0,
              [15, 16, 24, 32].contains(mapEntryBits), mapFirst < mapLength else { return false }
    case 2, 10:  // true colour
        guard colorMapType == 0 || colorMapType == 1, [15, 16, 24, 32].contains(depth) else { return false }
        if colorMapType == 0, mapLength != 0 || mapFirst != 0 { return false }
    case 3, 11:  // gray
        guard colorMapType == 0, depth == 8 || depth == 16, mapLength == 0 else { return false }
    default:
        return false
    }
    return true
}

// MARK: - Byte access

/// Bounds-checked reads from a raw buffer; out-of-range reads return 0.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var count: Int { bytes.count }

    subscript(_ i: Int) -> UInt8 { i >= 0 && i < bytes.count ? bytes[i] : 0 }

    func matches(_ magic: [UInt8], at offset: Int = 0) -> Bool {
        guard offset >= 0, offset + magic.count <= bytes.count else { return false }
        for (k, m) in magic.enumerated() where bytes[offset + k] != m { return false }
        return true
    }

    func uint16LE(_ i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    func uint16BE(_ i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }
    func uint32LE(_ i: Int) -> UInt32 { UInt32(uint16LE(i)) | UInt32(uint16LE(i + 2)) << 16 }
    func uint32BE(_ i: Int) -> UInt32 { UInt32(uint16BE(i)) << 16 | UInt32(uint16BE(i + 2)) }
    func fourCC(_ i: Int) -> String {
        String(decoding: [self[i], self[i + 1], self[i + 2], self[i + 3]], as: UTF8.self)
    }
}
