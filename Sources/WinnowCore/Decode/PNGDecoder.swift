import CPNG

extension ImageDecoder {
    /// PNG through libpng's simplified API (no setjmp on our side). It handles every bit
    /// depth, palette, gray and tRNS; 16-bit samples without gAMA/sRGB are taken as sRGB
    /// (like every other decoder) and reduced to 8 bits. Alpha is composited on white here,
    /// with the same plain sRGB blend as the WebP and libvips paths.
    func decodePNG(_ bytes: UnsafeRawBufferPointer) throws(InvalidSample) -> DecodedImage {
        guard let base = bytes.baseAddress else { throw InvalidSample(.zeroSizeFile, "file is empty (0 bytes)") }
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_memory(&image, base, bytes.count) != 0 else {
            throw pngError(image, bytes)   // libpng has already released its state
        }
        let width = Int(image.width), height = Int(image.height)
        let isGray = image.format & PNG_FORMAT_FLAG_COLOR == 0
        let hasAlpha = image.format & PNG_FORMAT_FLAG_ALPHA != 0
        do throws(InvalidSample) {
            try checkPNGCanHoldItsPixels(bytes, width: width, height: height)
            try checkNotTooLarge(width: width, height: height, format: .png)
        } catch {
            png_image_free(&image)
            throw error
        }
        image.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
        image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR) | (hasAlpha ? png_uint_32(PNG_FORMAT_FLAG_ALPHA) : 0)
        let channels = hasAlpha ? 4 : 3

        var ok: Int32 = 0
        let decoded = [UInt8](unsafeUninitializedCapacity: width * height * channels) { buffer, count in
            ok = png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil)
            count = ok != 0 ? buffer.count : 0                   // on failure, never touch the rest
        }
        guard ok != 0 else { throw pngError(image, bytes) }   // finish_read frees on error too
        png_image_free(&image)
        // libpng stops reading after the image data, so a file cut right after its last IDAT
        // decodes; like a JPEG without EOI it is still an incomplete file.
        if case .truncated(let place) = pngChunkWalk(bytes) {
            throw InvalidSample(.truncatedImage, "truncated PNG: data ends \(place) (the pixel data is complete)")
        }
        let pixels = hasAlpha ? compositeRGBAOnWhite(decoded, pixelCount: width * height) : decoded
        try checkNotTooSmall(width: width, height: height)
        return DecodedImage(image: RGBImage(width: width, height: height, pixels: pixels),
                            originalWidth: width, originalHeight: height, format: .png, isGrayscaleSource: isGray)
    }

    /// Refuses a file too short to hold the pixels its IHDR declares: deflate packs at most
    /// 258 bytes into 2 bits (1032:1), so a 69-byte file cannot hold a 20000×20000 image.
    private func checkPNGCanHoldItsPixels(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int) throws(InvalidSample) {
        let b = ByteReader(bytes)
        let channels: Int
        switch b[25] {                                     // IHDR colour type
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: channels = 1                              // gray, palette
        }
        let rowBytes = 1 + (width * channels * max(1, Int(b[24])) + 7) / 8
        let needed = height * rowBytes / 1032
        guard bytes.count < needed else { return }
        let claim = "\(bytes.count) bytes cannot hold the \(width)×\(height) image the header declares "
            + "(its compressed pixel data needs at least \(needed) bytes)"
        if case .truncated = pngChunkWalk(bytes) {
            throw InvalidSample(.truncatedImage, "truncated PNG: \(claim)")
        }
        throw InvalidSample(.corruptImage, "corrupt PNG: \(claim)")
    }

    private func pngError(_ image: png_image, _ bytes: UnsafeRawBufferPointer) -> InvalidSample {
        let message = withUnsafeBytes(of: image.message) { raw in
            oneLine(String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self))
        }
        let text = message.isEmpty ? "libpng gave no reason" : message
        switch pngChunkWalk(bytes) {
        case .complete:
            return InvalidSample(.corruptImage, "corrupt PNG: \(text)")
        case .truncated(let place):
            return InvalidSample(.truncatedImage, "truncated PNG: data ends \(place) (\(text))")
        case .malformed(let reason):
            return InvalidSample(.corruptImage, "corrupt PNG: \(reason) (\(text))")
        }
    }
}

enum PNGChunkWalk: Equatable {
    /// All chunks up to and including IEND are present.
    case complete
    /// The data ends early; the associated text says where ("inside the IDAT chunk").
    case truncated(String)
    /// A chunk header makes no sense.
    case malformed(String)
}

/// Walks the chunk list (length, type, data, CRC) to tell a cut-off file from a damaged one.
func pngChunkWalk(_ bytes: UnsafeRawBufferPointer) -> PNGChunkWalk {
    let b = ByteReader(bytes)
    var offset = 8
    var last = "signature"
    while true {
        guard offset + 8 <= b.count else { return .truncated("after the \(last) chunk, before IEND") }
        let length = Int(b.uint32BE(offset))
        let type = b.fourCC(offset + 4)
        guard length <= 0x7FFF_FFFF, type.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) else {
            return .malformed("invalid chunk header after the \(last) chunk")
        }
        guard offset + 12 + length <= b.count else { return .truncated("inside the \(type) chunk, before IEND") }
        if type == "IEND" { return .complete }
        last = type
        offset += 12 + length
    }
}

/// Blends 8-bit RGBA (straight alpha) on white: out = c·a + 255·(1 − a), rounded.
func compositeRGBAOnWhite(_ rgba: [UInt8], pixelCount: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { out, count in
        rgba.withUnsafeBufferPointer { src in
            for p in 0..<pixelCount {
                let a = UInt32(src[4 * p + 3])
                let background = 255 * (255 - a) + 127
                out[3 * p] = UInt8((UInt32(src[4 * p]) * a + background) / 255)
                out[3 * p + 1] = UInt8((UInt32(src[4 * p + 1]) * a + background) / 255)
                out[3 * p + 2] = UInt8((UInt32(src[4 * p + 2]) * a + background) / 255)
            }
        }
        count = pixelCount * 3
    }
}
