import CWebP

extension ImageDecoder {
    /// Still WebP through libwebp's advanced API (for its status codes); animated WebP goes
    /// to libvips, which decodes the first frame.
    func decodeWebP(_ bytes: UnsafeRawBufferPointer) throws(InvalidSample) -> DecodedImage {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw InvalidSample(.zeroSizeFile, "file is empty (0 bytes)")
        }
        var config = WebPDecoderConfig()
        guard WebPInitDecoderConfig(&config) != 0 else {
            throw InvalidSample(.unreadable, "libwebp version mismatch")
        }
        let headerStatus = WebPGetFeatures(base, bytes.count, &config.input)
        guard headerStatus == VP8_STATUS_OK else { throw webPError(headerStatus, bytes) }
        if config.input.has_animation != 0 {
            return try decodeWithVips(bytes, format: .webp)
        }
        let width = Int(config.input.width), height = Int(config.input.height)
        // Lossy WebP decodes row by row through libwebp's scaler; lossless keeps the whole
        // image (backward references reach any earlier row), so it can't be reduced.
        let isLossy = config.input.format == 1
        try checkNotTooLarge(width: width, height: height, reducible: isLossy, format: .webp)
        let (outWidth, outHeight) = fittedSize(width: width, height: height)
        if outWidth != width || outHeight != height {
            config.options.use_scaling = 1
            config.options.scaled_width = Int32(outWidth)
            config.options.scaled_height = Int32(outHeight)
        }

        let hasAlpha = config.input.has_alpha != 0
        let channels = hasAlpha ? 4 : 3
        var status = VP8_STATUS_OK
        let decoded = [UInt8](unsafeUninitializedCapacity: outWidth * outHeight * channels) { buffer, count in
            config.output.colorspace = hasAlpha ? MODE_RGBA : MODE_RGB
            config.output.is_external_memory = 1
            config.output.u.RGBA.rgba = buffer.baseAddress
            config.output.u.RGBA.stride = Int32(outWidth * channels)
            config.output.u.RGBA.size = buffer.count
            status = WebPDecode(base, bytes.count, &config)
            count = status == VP8_STATUS_OK ? buffer.count : 0   // on failure, never touch the rest
        }
        WebPFreeDecBuffer(&config.output)
        guard status == VP8_STATUS_OK else { throw webPError(status, bytes) }

        let pixels = hasAlpha ? compositeRGBAOnWhite(decoded, pixelCount: outWidth * outHeight) : decoded
        try checkNotTooSmall(width: width, height: height)
        return DecodedImage(image: RGBImage(width: outWidth, height: outHeight, pixels: pixels),
                            originalWidth: width, originalHeight: height, format: .webp, isGrayscaleSource: false)
    }

    /// The size to decode at: the full size, or the largest of the same aspect ratio within
    /// `limits.maximumPixels`.
    private func fittedSize(width: Int, height: Int) -> (Int, Int) {
        guard width * height > limits.maximumPixels else { return (width, height) }
        let factor = (Double(limits.maximumPixels) / Double(width * height)).squareRoot()
        return (max(1, Int(Double(width) * factor)), max(1, Int(Double(height) * factor)))
    }

    private func webPError(_ status: VP8StatusCode, _ bytes: UnsafeRawBufferPointer) -> InvalidSample {
        // The RIFF header states the file size; fewer bytes than that means a cut-off file.
        let declared = Int(ByteReader(bytes).uint32LE(4)) + 8
        if declared > bytes.count {
            return InvalidSample(.truncatedImage,
                                 "truncated WebP: \(bytes.count) of the \(declared) bytes the RIFF header announces")
        }
        if status == VP8_STATUS_NOT_ENOUGH_DATA {
            return InvalidSample(.truncatedImage, "truncated WebP: the bitstream ends before the image is complete")
        }
        let reason: String
        switch status {
        case VP8_STATUS_BITSTREAM_ERROR: reason = "bitstream error"
        case VP8_STATUS_UNSUPPORTED_FEATURE: reason = "unsupported feature"
        case VP8_STATUS_INVALID_PARAM: reason = "invalid parameter"
        case VP8_STATUS_OUT_OF_MEMORY: reason = "out of memory"
        default: reason = "libwebp status \(status.rawValue)"
        }
        if status == VP8_STATUS_UNSUPPORTED_FEATURE {
            return InvalidSample(.unsupportedFormat, "unsupported WebP: \(reason)")
        }
        return InvalidSample(.corruptImage, "corrupt WebP: \(reason)")
    }
}
