#ifndef WINNOW_VIPS_SHIM_H
#define WINNOW_VIPS_SHIM_H
#include <stddef.h>

/// Starts libvips once (thread-safe) with its warnings silenced. Returns 0 on success.
///
/// Besides `vips_init`, this sets process-wide policy for how Winnow uses libvips:
/// - every log message of the "VIPS" domain below ERROR is dropped (warnings of loaders,
///   libtiff/openjpeg/ImageMagick messages that vips forwards), so nothing reaches stderr;
/// - the operation cache is off (buffer loaders must never hand back an image decoded from
///   an earlier buffer that happened to live at the same address);
/// - `vips_concurrency` is 1: Winnow decodes many files in parallel, one per thread, so
///   vips' own worker threads would only oversubscribe the cores.
int winnow_vips_start(void);

/// Which libvips loader `winnow_vips_decode` uses. The caller sniffs the format; libvips'
/// own sniffing is never used, so SVG/PDF/... can't be loaded by accident.
typedef enum {
    WINNOW_VIPS_LOADER_GIF = 1,
    WINNOW_VIPS_LOADER_TIFF,
    WINNOW_VIPS_LOADER_WEBP,
    WINNOW_VIPS_LOADER_HEIF,
    WINNOW_VIPS_LOADER_JP2K,
    WINNOW_VIPS_LOADER_JXL,
    WINNOW_VIPS_LOADER_JPEG,
    WINNOW_VIPS_LOADER_PNG,
    WINNOW_VIPS_LOADER_PPM,
    /// ImageMagick (BMP, TGA, ICO, PCX). vips sniffs TGA/ICO itself for magick.
    WINNOW_VIPS_LOADER_MAGICK,
} winnow_vips_loader;

typedef enum {
    WINNOW_VIPS_OK = 0,
    /// The loader refused the header (`message` holds its error text).
    WINNOW_VIPS_HEADER_FAILED = 1,
    /// The image is larger than the given limits; `width`/`height` hold its size.
    WINNOW_VIPS_TOO_LARGE = 2,
    /// Decoding or converting the pixels failed (`message` holds the error text).
    WINNOW_VIPS_DECODE_FAILED = 3,
    /// libvips could not be started.
    WINNOW_VIPS_NOT_STARTED = 4,
} winnow_vips_status;

/// Result of `winnow_vips_decode`.
typedef struct {
    /// `width * height * 3` bytes of 8-bit sRGB, allocated by glib; release with
    /// `winnow_vips_free`. NULL unless the status is WINNOW_VIPS_OK.
    unsigned char *pixels;
    /// Size of the decoded pixels, in display orientation (after EXIF auto-rotation).
    int width;
    int height;
    /// Full size in display orientation; larger than width/height when shrunk on load.
    int original_width;
    int original_height;
    /// The source stores gray samples (1 or 2 bands, or a B_W/GREY16 interpretation).
    int source_is_gray;
    /// One line (no newlines), NUL-terminated; empty when there is nothing to say.
    char message[400];
} winnow_vips_result;

/// Decodes the first page/frame of an image held in memory with the given loader and
/// returns it as 8-bit RGB in display orientation: EXIF orientation applied
/// (`vips_autorot`; not for ImageMagick, which already delivers rows top-down), alpha
/// flattened on white, any colour space (CMYK with its ICC profile, gray, 16-bit, Lab, ...)
/// converted to sRGB, and exactly 3 bands. JPEG XL decodes run one at a time with stderr
/// sent to /dev/null, because libjxl prints failure traces there directly. A failed decode
/// is repeated with no other decode running, so that its message is its own (libvips has a
/// single, process-wide error buffer).
///
/// `fail_on` is a `VipsFailOn` value (0 none, 1 truncated, 2 error, 3 warning).
/// Images wider or taller than `max_side` are not decoded: the status is
/// WINNOW_VIPS_TOO_LARGE and only width/height are set (the declared, stored size). Nor are
/// images with more than `max_pixels` pixels, unless the loader can shrink them on load
/// within that (JPEG by 2/4/8, WebP by any integer): then `width`/`height` are the reduced
/// size and `original_width`/`original_height` the full one.
/// Thread-safe; `bytes` must stay valid for the duration of the call.
winnow_vips_status winnow_vips_decode(winnow_vips_loader loader,
                                      const void *bytes, size_t length,
                                      int fail_on, int max_side, long long max_pixels,
                                      winnow_vips_result *result);

/// Frees the pixel buffer of a result (NULL is allowed).
void winnow_vips_free(void *pixels);

#endif
