// OpenCV's cascade classifier and Tesseract behind plain C functions; see include/detector_shim.h
// for the contract. Every entry point catches all C++ exceptions and turns them into one line.
#include "detector_shim.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <tesseract/capi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <numeric>
#include <string>
#include <vector>

// Tesseract's LSTM uses OpenMP; each worker thread runs one image, so its parallel regions stay on it.
extern "C" void omp_set_num_threads(int);

struct winnow_face_detector {
    cv::CascadeClassifier cascade;
};

struct winnow_text_detector {
    TessBaseAPI *api = nullptr;
};

namespace {

void set_error(char *error, size_t error_size, const std::string &message) {
    if (error == nullptr || error_size == 0) return;
    std::string line = message.empty() ? "unknown error" : message;
    for (char &c : line) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::snprintf(error, error_size, "%s", line.c_str());
}

template <typename Body>
int guarded(char *error, size_t error_size, Body body) {
    try {
        return body();
    } catch (const cv::Exception &e) {
        set_error(error, error_size, "OpenCV: " + e.err);
    } catch (const std::exception &e) {
        set_error(error, error_size, e.what());
    } catch (...) {
        set_error(error, error_size, "unknown C++ exception");
    }
    return -1;
}

/// The grey image reduced to `max_side` (never enlarged), and the factor back to the input's pixels.
cv::Mat bounded_grey(const uint8_t *rgb, int width, int height, int stride, int max_side, double &back) {
    cv::Mat input(height, width, CV_8UC3, const_cast<uint8_t *>(rgb), static_cast<size_t>(stride));
    cv::Mat grey;
    cv::cvtColor(input, grey, cv::COLOR_RGB2GRAY);
    back = 1;
    int longer = std::max(width, height);
    if (max_side > 0 && longer > max_side) {
        double scale = static_cast<double>(max_side) / longer;
        cv::Mat reduced;
        cv::resize(grey, reduced, cv::Size(std::max(1, int(width * scale + 0.5)), std::max(1, int(height * scale + 0.5))),
                   0, 0, cv::INTER_AREA);
        back = static_cast<double>(width) / reduced.cols;
        grey = reduced;
    }
    return grey;
}

/// Writes `rect` (work-image pixels) scaled by `back` and clipped to the input.
void write_box(const cv::Rect &rect, double back, int width, int height, int *out) {
    int x0 = std::clamp(int(rect.x * back + 0.5), 0, width), y0 = std::clamp(int(rect.y * back + 0.5), 0, height);
    int x1 = std::clamp(int((rect.x + rect.width) * back + 0.5), 0, width);
    int y1 = std::clamp(int((rect.y + rect.height) * back + 0.5), 0, height);
    out[0] = x0, out[1] = y0, out[2] = x1 - x0, out[3] = y1 - y0;
}

bool valid_image(const uint8_t *rgb, int width, int height, int stride, char *error, size_t error_size) {
    if (rgb != nullptr && width > 0 && height > 0 && stride >= width * 3) return true;
    set_error(error, error_size, "invalid image buffer");
    return false;
}

/// Letters or digits in a word, and whether they make up at least half of it.
bool readable_word(const char *text) {
    if (text == nullptr) return false;
    int alphanumeric = 0, total = 0;
    for (const char *c = text; *c != 0; ++c) {
        if (*c == ' ') continue;
        ++total;
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) ++alphanumeric;
    }
    return alphanumeric >= 3 && alphanumeric * 2 >= total;
}

}  // namespace

extern "C" winnow_face_detector *winnow_face_detector_open(const char *cascade_path, char *error, size_t error_size) {
    auto *detector = new (std::nothrow) winnow_face_detector();
    if (detector == nullptr) return nullptr;
    int status = guarded(error, error_size, [&] {
        // OpenCV's own log lines would interleave with the run's; failures come back as one message.
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        bool loaded = false;
        try {
            loaded = detector->cascade.load(cascade_path) && !detector->cascade.empty();
        } catch (const cv::Exception &e) {
            set_error(error, error_size, "not an OpenCV cascade (" + e.err + ")");
            return -1;
        }
        if (!loaded) set_error(error, error_size, "not an OpenCV cascade");
        return loaded ? 0 : -1;
    });
    if (status == 0) return detector;
    delete detector;
    return nullptr;
}

extern "C" void winnow_face_detector_free(winnow_face_detector *detector) { delete detector; }

extern "C" int winnow_face_detect(winnow_face_detector *detector, const uint8_t *rgb, int width, int height, int stride,
                                  int max_side, int *boxes, int max_boxes, char *error, size_t error_size) {
    if (!valid_image(rgb, width, height, stride, error, error_size)) return -1;
    return guarded(error, error_size, [&] {
        double back = 1;
        cv::Mat grey = bounded_grey(rgb, width, height, stride, max_side, back);
        cv::equalizeHist(grey, grey);
        // Faces smaller than a twentieth of the shorter side (24 px at least) are not looked for.
        int smallest = std::max(24, std::min(grey.cols, grey.rows) / 20);
        std::vector<cv::Rect> faces;
        std::vector<int> levels;
        std::vector<double> weights;
        detector->cascade.detectMultiScale(grey, faces, levels, weights, 1.1, 5, 0, cv::Size(smallest, smallest), cv::Size(),
                                           true);
        std::vector<size_t> order(faces.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return a < weights.size() && b < weights.size() && weights[a] > weights[b];
        });
        int count = std::min(static_cast<int>(order.size()), max_boxes);
        for (int i = 0; i < count; ++i) write_box(faces[order[i]], back, width, height, boxes + 4 * i);
        return count;
    });
}

extern "C" winnow_text_detector *winnow_text_detector_open(const char *tessdata, const char *language, char *error,
                                                           size_t error_size) {
    auto *detector = new (std::nothrow) winnow_text_detector();
    if (detector == nullptr) return nullptr;
    int status = guarded(error, error_size, [&] {
        detector->api = TessBaseAPICreate();
        if (detector->api == nullptr) return -1;
        // Tesseract's own messages (missing files, resolution guesses) would interleave with the run's lines.
        TessBaseAPISetVariable(detector->api, "debug_file", "/dev/null");
        if (TessBaseAPIInit3(detector->api, tessdata, language) != 0) {
            set_error(error, error_size, std::string("Tesseract cannot load language '") + language + "' from " + tessdata);
            return -1;
        }
        return 0;
    });
    if (status == 0) return detector;
    winnow_text_detector_free(detector);
    return nullptr;
}

extern "C" void winnow_text_detector_free(winnow_text_detector *detector) {
    if (detector == nullptr) return;
    if (detector->api != nullptr) {
        TessBaseAPIEnd(detector->api);
        TessBaseAPIDelete(detector->api);
    }
    delete detector;
}

namespace {

/// Walks the recognised words line by line; a line with one readable, confident word is kept.
int collect_lines(TessBaseAPI *api, double back, int width, int height, int min_confidence, int *boxes, int max_boxes) {
    TessResultIterator *words = TessBaseAPIGetIterator(api);
    if (words == nullptr) return 0;
    TessPageIterator *page = TessResultIteratorGetPageIterator(words);
    int count = 0;
    bool line_kept = false;
    cv::Rect line;
    auto flush = [&] {
        if (line_kept && count < max_boxes && line.area() > 0) write_box(line, back, width, height, boxes + 4 * count++);
        line_kept = false;
    };
    do {
        if (TessPageIteratorIsAtBeginningOf(page, tesseract::RIL_TEXTLINE)) {
            flush();
            int l = 0, t = 0, r = 0, b = 0;
            line = TessPageIteratorBoundingBox(page, tesseract::RIL_TEXTLINE, &l, &t, &r, &b) ? cv::Rect(l, t, r - l, b - t) : cv::Rect();
        }
        char *text = TessResultIteratorGetUTF8Text(words, tesseract::RIL_WORD);
        if (TessResultIteratorConfidence(words, tesseract::RIL_WORD) >= min_confidence && readable_word(text)) line_kept = true;
        TessDeleteText(text);
    } while (count < max_boxes && TessPageIteratorNext(page, tesseract::RIL_WORD));
    flush();
    TessResultIteratorDelete(words);
    return count;
}

}  // namespace

extern "C" int winnow_text_detect(winnow_text_detector *detector, const uint8_t *rgb, int width, int height, int stride,
                                  int max_side, int min_confidence, int deadline_ms, int *boxes, int max_boxes,
                                  char *error, size_t error_size) {
    if (!valid_image(rgb, width, height, stride, error, error_size)) return -1;
    return guarded(error, error_size, [&] {
        omp_set_num_threads(1);
        double back = 1;
        cv::Mat grey = bounded_grey(rgb, width, height, stride, max_side, back);
        TessBaseAPI *api = detector->api;
        TessBaseAPISetImage(api, grey.data, grey.cols, grey.rows, 1, static_cast<int>(grey.step));
        TessBaseAPISetSourceResolution(api, 70);
        ETEXT_DESC *monitor = TessMonitorCreate();
        TessMonitorSetDeadlineMSecs(monitor, deadline_ms);
        int status = TessBaseAPIRecognize(api, monitor);
        TessMonitorDelete(monitor);
        if (status != 0) {
            TessBaseAPIClear(api);
            set_error(error, error_size, "text recognition stopped (over " + std::to_string(deadline_ms) + " ms)");
            return -1;
        }
        int count = collect_lines(api, back, width, height, min_confidence, boxes, max_boxes);
        TessBaseAPIClear(api);
        return count;
    });
}
