#ifndef WINNOW_DETECTOR_SHIM_H
#define WINNOW_DETECTOR_SHIM_H
/// Plain C entry points over the region detectors of `--bounding-box face|ocr`: OpenCV 4.6's
/// cascade classifier (Debian libopencv-objdetect-dev, cascades from opencv-data) for faces, and
/// Tesseract 5's C API (Debian libtesseract-dev, tesseract-ocr-eng) for lines of text.
///
/// Each detector runs on a grey copy of the given RGB image reduced so that its longer side is
/// at most `max_side`; boxes come back in pixels of the given image, 4 ints each (x, y, width,
/// height). A detector object is used by one thread at a time. Every function that can fail
/// takes `error`/`error_size`: on failure it writes a one-line message there and returns NULL or
/// -1. No C++ exception leaves this shim.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct winnow_face_detector winnow_face_detector;
typedef struct winnow_text_detector winnow_text_detector;

/// Loads a Haar or LBP cascade (OpenCV XML); NULL with a message when it cannot be used.
winnow_face_detector *winnow_face_detector_open(const char *cascade_path, char *error, size_t error_size);
void winnow_face_detector_free(winnow_face_detector *detector);

/// Faces in `rgb` (`width`×`height`, rows `stride` bytes apart): at most `max_boxes`, the most
/// certain first. Returns how many were written to `boxes`, or -1.
int winnow_face_detect(winnow_face_detector *detector, const uint8_t *rgb, int width, int height, int stride,
                       int max_side, int *boxes, int max_boxes, char *error, size_t error_size);

/// Starts Tesseract with `language` from the `tessdata` folder; NULL with a message on failure.
winnow_text_detector *winnow_text_detector_open(const char *tessdata, const char *language, char *error,
                                                size_t error_size);
void winnow_text_detector_free(winnow_text_detector *detector);

/// Lines of text in `rgb`: a line counts when it holds at least one word read with confidence
/// ≥ `min_confidence` (0–100) that has three or more letters or digits. Recognition stops after
/// `deadline_ms` milliseconds (-1 with a message then). Returns how many boxes were written, or -1.
int winnow_text_detect(winnow_text_detector *detector, const uint8_t *rgb, int width, int height, int stride,
                       int max_side, int min_confidence, int deadline_ms, int *boxes, int max_boxes,
                       char *error, size_t error_size);

#ifdef __cplusplus
}
#endif
#endif
