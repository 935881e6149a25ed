#include "vips_shim.h"
#include <vips/vips.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void winnow_silence(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void)domain; (void)level; (void)message; (void)data;
}

static GOnce winnow_once = G_ONCE_INIT;

static gpointer winnow_start_once(gpointer unused) {
    (void)unused;
    // Installed before vips_init so that module-loading warnings are silenced too. If the
    // user sets VIPS_WARNING, vips_init adds its own (also silent) handler; either way
    // nothing of the VIPS domain below ERROR is printed.
    g_log_set_handler("VIPS",
                      G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
                      winnow_silence, NULL);
    if (vips_init("winnow") != 0) {
        return GINT_TO_POINTER(2);
    }
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(1);
    return GINT_TO_POINTER(1);
}

int winnow_vips_start(void) {
    gpointer r = g_once(&winnow_once, winnow_start_once, NULL);
    return GPOINTER_TO_INT(r) == 1 ? 0 : -1;
}

void winnow_vips_free(void *pixels) {
    g_free(pixels);
}

/// Moves the vips error buffer into `result->message` as one line and clears it.
static void winnow_take_error(winnow_vips_result *result, const char *fallback) {
    char *text = vips_error_buffer_copy();
    const char *source = (text && text[0]) ? text : fallback;
    size_t out = 0;
    int pending_separator = 0;
    for (const char *p = source; *p && out + 3 < sizeof(result->message); p++) {
        char c = *p;
        if (c == '\n' || c == '\r' || c == '\t') {
            pending_separator = out > 0;
            continue;
        }
        if (pending_separator) {
            result->message[out++] = ';';
            result->message[out++] = ' ';
            pending_separator = 0;
            if (out + 3 >= sizeof(result->message)) break;
        }
        result->message[out++] = c;
    }
    result->message[out] = '\0';
    g_free(text);
}

static int winnow_load(winnow_vips_loader loader, const void *bytes, size_t length, int fail_on,
                       VipsImage **out) {
    switch (loader) {
    case WINNOW_VIPS_LOADER_GIF:
        return vips_gifload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_TIFF:
        return vips_tiffload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_WEBP:
        return vips_webpload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_HEIF:
        return vips_heifload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_JP2K:
        return vips_jp2kload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_JXL:
        return vips_jxlload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_JPEG:
        return vips_jpegload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_PNG:
        return vips_pngload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    case WINNOW_VIPS_LOADER_PPM: {
        VipsSource *source = vips_source_new_from_memory(bytes, length);
        if (!source) return -1;
        int r = vips_ppmload_source(source, out, "fail_on", fail_on, NULL);
        g_object_unref(source);
        return r;
    }
    case WINNOW_VIPS_LOADER_MAGICK:
        return vips_magickload_buffer((void *)bytes, length, out, "fail_on", fail_on, NULL);
    }
    vips_error("winnow", "unknown loader %d", (int)loader);
    return -1;
}

/// The shrink factor that brings a `width`×`height` image within `max_pixels` when the
/// loader can shrink on load without holding the whole image (JPEG: 2, 4 or 8 in the DCT
/// domain; WebP: any integer, through libwebp's scaler), or 0 when it can't.
static int winnow_shrink_needed(winnow_vips_loader loader, long long width, long long height,
                                long long max_pixels) {
    int limit = loader == WINNOW_VIPS_LOADER_JPEG ? 8 : loader == WINNOW_VIPS_LOADER_WEBP ? 64 : 1;
    for (int shrink = 2; shrink <= limit; shrink *= 2) {
        long long w = (width + shrink - 1) / shrink, h = (height + shrink - 1) / shrink;
        if (w * h <= max_pixels) return shrink;
    }
    return 0;
}

/// Loads the image again, shrunk on load by `shrink` (see `winnow_shrink_needed`).
static int winnow_load_shrunk(winnow_vips_loader loader, const void *bytes, size_t length, int fail_on,
                              int shrink, VipsImage **out) {
    if (loader == WINNOW_VIPS_LOADER_JPEG) {
        return vips_jpegload_buffer((void *)bytes, length, out, "fail_on", fail_on, "shrink", shrink, NULL);
    }
    return vips_webpload_buffer((void *)bytes, length, out, "fail_on", fail_on, "scale", 1.0 / shrink, NULL);
}

/// Replaces *image by `next` (dropping the reference to the old one).
static void winnow_swap(VipsImage **image, VipsImage *next) {
    g_object_unref(*image);
    *image = next;
}

/// Turns any loaded image into 8-bit, 3-band sRGB without alpha.
static int winnow_to_rgb8(VipsImage **image) {
    VipsImage *next = NULL;
    VipsImage *in = *image;

    if (vips_image_hasalpha(in)) {
        // 16-bit images keep alpha in 0..65535; white is the maximum of the format (and no
        // ink at all for CMYK).
        double max_alpha = in->BandFmt == VIPS_FORMAT_USHORT ? 65535.0 : 255.0;
        double white = in->Type == VIPS_INTERPRETATION_CMYK ? 0.0 : max_alpha;
        VipsArrayDouble *background = vips_array_double_newv(1, white);
        int r = vips_flatten(in, &next, "background", background, "max_alpha", max_alpha, NULL);
        vips_area_unref(VIPS_AREA(background));
        if (r) return -1;
        winnow_swap(image, next);
        in = *image;
    }

    if (in->Type != VIPS_INTERPRETATION_sRGB && vips_colourspace_issupported(in)) {
        if (vips_colourspace(in, &next, VIPS_INTERPRETATION_sRGB, NULL)) return -1;
        winnow_swap(image, next);
        in = *image;
    }

    if (in->BandFmt != VIPS_FORMAT_UCHAR) {
        if (in->BandFmt == VIPS_FORMAT_USHORT) {
            if (vips_rshift_const1(in, &next, 8, NULL)) return -1;
            winnow_swap(image, next);
            in = *image;
        }
        if (vips_cast_uchar(in, &next, NULL)) return -1;
        winnow_swap(image, next);
        in = *image;
    }

    if (in->Bands == 1 || in->Bands == 2) {
        VipsImage *gray = NULL;
        if (in->Bands == 2) {
            if (vips_extract_band(in, &gray, 0, NULL)) return -1;
        } else {
            gray = in;
            g_object_ref(gray);
        }
        VipsImage *bands[3] = {gray, gray, gray};
        int r = vips_bandjoin(bands, &next, 3, NULL);
        g_object_unref(gray);
        if (r) return -1;
        winnow_swap(image, next);
        in = *image;
    } else if (in->Bands > 3) {
        if (vips_extract_band(in, &next, 0, "n", 3, NULL)) return -1;
        winnow_swap(image, next);
        in = *image;
    }
    return 0;
}

static winnow_vips_status winnow_vips_decode_quietly(winnow_vips_loader loader,
                                                     const void *bytes, size_t length,
                                                     int fail_on, int max_side, long long max_pixels,
                                                     winnow_vips_result *result);

/// libjxl (0.7, as packaged by Debian) prints JXL_FAILURE traces straight to stderr when a
/// file is damaged, bypassing every logging hook. JPEG XL decodes therefore run with fd 2
/// pointed at /dev/null, one at a time; output other threads write to stderr during such a
/// decode is lost. No other loader writes to stderr.
static GMutex winnow_stderr_lock;

/// libvips has one error buffer for the whole process, so decodes failing at the same time
/// mix (and clear) each other's messages. Decodes run in parallel as readers; a failed one
/// is decoded again as the only writer, alone, for its own message.
static GRWLock winnow_error_lock;

static winnow_vips_status winnow_vips_decode_silenced(winnow_vips_loader loader,
                                                      const void *bytes, size_t length,
                                                      int fail_on, int max_side, long long max_pixels,
                                                      winnow_vips_result *result);

winnow_vips_status winnow_vips_decode(winnow_vips_loader loader,
                                      const void *bytes, size_t length,
                                      int fail_on, int max_side, long long max_pixels,
                                      winnow_vips_result *result) {
    g_rw_lock_reader_lock(&winnow_error_lock);
    winnow_vips_status status =
        winnow_vips_decode_silenced(loader, bytes, length, fail_on, max_side, max_pixels, result);
    g_rw_lock_reader_unlock(&winnow_error_lock);
    if (status != WINNOW_VIPS_HEADER_FAILED && status != WINNOW_VIPS_DECODE_FAILED) return status;
    g_rw_lock_writer_lock(&winnow_error_lock);
    vips_error_clear();
    status = winnow_vips_decode_silenced(loader, bytes, length, fail_on, max_side, max_pixels, result);
    g_rw_lock_writer_unlock(&winnow_error_lock);
    return status;
}

/// `winnow_vips_decode_quietly`, with stderr silenced for JPEG XL.
static winnow_vips_status winnow_vips_decode_silenced(winnow_vips_loader loader,
                                                      const void *bytes, size_t length,
                                                      int fail_on, int max_side, long long max_pixels,
                                                      winnow_vips_result *result) {
    if (loader != WINNOW_VIPS_LOADER_JXL) {
        return winnow_vips_decode_quietly(loader, bytes, length, fail_on, max_side, max_pixels, result);
    }
    g_mutex_lock(&winnow_stderr_lock);
    fflush(stderr);
    int saved = dup(2);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && devnull >= 0) dup2(devnull, 2);
    if (devnull >= 0) close(devnull);
    winnow_vips_status status =
        winnow_vips_decode_quietly(loader, bytes, length, fail_on, max_side, max_pixels, result);
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    g_mutex_unlock(&winnow_stderr_lock);
    return status;
}

/// Loads the header, checks the declared size against the limits (reloading shrunk on load
/// when the loader can), and applies the orientation. On success *out is the image, not yet
/// decoded; otherwise the status says why (and `result` has the size or the message).
static winnow_vips_status winnow_load_within_limits(winnow_vips_loader loader, const void *bytes, size_t length,
                                                    int fail_on, int max_side, long long max_pixels,
                                                    winnow_vips_result *result, VipsImage **out) {
    VipsImage *image = NULL;
    if (winnow_load(loader, bytes, length, fail_on, &image)) {
        winnow_take_error(result, "the loader refused the header");
        return WINNOW_VIPS_HEADER_FAILED;
    }

    result->source_is_gray = image->Bands <= 2 ||
                             image->Type == VIPS_INTERPRETATION_B_W ||
                             image->Type == VIPS_INTERPRETATION_GREY16;

    // The limits apply to the declared size (only the header has been read so far).
    long long width = image->Xsize, height = image->Ysize;
    result->width = result->original_width = (int)width;
    result->height = result->original_height = (int)height;
    if (width > max_side || height > max_side) {
        g_object_unref(image);
        return WINNOW_VIPS_TOO_LARGE;
    }
    if (width * height > max_pixels) {
        int shrink = winnow_shrink_needed(loader, width, height, max_pixels);
        g_object_unref(image);
        image = NULL;
        if (shrink == 0) return WINNOW_VIPS_TOO_LARGE;
        if (winnow_load_shrunk(loader, bytes, length, fail_on, shrink, &image)) {
            winnow_take_error(result, "the loader refused the header");
            return WINNOW_VIPS_HEADER_FAILED;
        }
    }

    // Display orientation. ImageMagick already stores rows top-down but reports the file's
    // origin (e.g. TGA bottom-left) as an orientation, so rotating again would flip it.
    VipsImage *next = NULL;
    if (loader != WINNOW_VIPS_LOADER_MAGICK) {
        int swaps = vips_image_get_orientation_swap(image);
        if (vips_autorot(image, &next, NULL)) {
            g_object_unref(image);
            winnow_take_error(result, "could not apply the EXIF orientation");
            return WINNOW_VIPS_DECODE_FAILED;
        }
        winnow_swap(&image, next);
        if (swaps) {
            result->original_width = (int)height;
            result->original_height = (int)width;
        }
    }

    *out = image;
    return WINNOW_VIPS_OK;
}

static winnow_vips_status winnow_vips_decode_quietly(winnow_vips_loader loader,
                                                     const void *bytes, size_t length,
                                                     int fail_on, int max_side, long long max_pixels,
                                                     winnow_vips_result *result) {
    memset(result, 0, sizeof(*result));
    if (winnow_vips_start() != 0) {
        g_strlcpy(result->message, "libvips could not be started", sizeof(result->message));
        return WINNOW_VIPS_NOT_STARTED;
    }

    VipsImage *image = NULL;
    winnow_vips_status status = winnow_load_within_limits(loader, bytes, length, fail_on, max_side, max_pixels,
                                                          result, &image);
    if (status != WINNOW_VIPS_OK) return status;

    if (winnow_to_rgb8(&image)) {
        g_object_unref(image);
        winnow_take_error(result, "could not convert the pixels to RGB");
        return WINNOW_VIPS_DECODE_FAILED;
    }

    size_t size = 0;
    void *pixels = vips_image_write_to_memory(image, &size);
    int width = image->Xsize, height = image->Ysize, bands = image->Bands;
    g_object_unref(image);
    if (!pixels) {
        winnow_take_error(result, "decoding the pixels failed");
        return WINNOW_VIPS_DECODE_FAILED;
    }
    if (bands != 3 || size != (size_t)width * (size_t)height * 3) {
        g_free(pixels);
        g_strlcpy(result->message, "unexpected pixel layout after conversion", sizeof(result->message));
        return WINNOW_VIPS_DECODE_FAILED;
    }
    result->pixels = pixels;
    result->width = width;
    result->height = height;
    // A successful load can still leave warnings behind; they are not ours to report.
    vips_error_clear();
    return WINNOW_VIPS_OK;
}
