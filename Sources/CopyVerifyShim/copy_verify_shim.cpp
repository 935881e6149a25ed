// OpenCV behind plain C functions for copy verification; see include/copy_verify_shim.h for the
// contract. Every entry point catches all C++ exceptions and turns them into one line.
#include "copy_verify_shim.h"

#include <opencv2/calib3d.hpp>
#include <opencv2/core.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include <fcntl.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <vector>

constexpr int kDescriptorLength = 128;
constexpr int kOrbLength = 32;

/// One view (upright or mirrored): keypoint positions in work-image pixels and their
/// descriptors, one row per keypoint: quantised RootSIFT (128 bytes, compared by L2) or ORB
/// (32 bytes, compared by Hamming distance).
struct View {
    std::vector<cv::Point2f> points;
    cv::Mat descriptors;  // CV_8U, points.size() × (128 or 32)
    bool binary() const { return descriptors.cols == kOrbLength; }
};

struct winnow_cv_features {
    int sift_width = 0, sift_height = 0;
    /// SIFT-image pixels per original pixel, and check-image pixels per SIFT-image pixel.
    float sift_scale = 1, check_scale = 1;
    View upright, mirror;
    bool has_mirror = false;
    /// The grey image kept for the pixel check.
    cv::Mat check;  // CV_8U
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
        body();
        return 0;
    } catch (const cv::Exception &e) {
        set_error(error, error_size, "OpenCV: " + e.err);
    } catch (const std::exception &e) {
        set_error(error, error_size, e.what());
    } catch (...) {
        set_error(error, error_size, "unknown C++ exception");
    }
    return 1;
}

/// RootSIFT components lie in [0, 1] with unit L2 norm; ×400 keeps them within a byte.
constexpr float kQuantisation = 400.0f;

View describe(const cv::Mat &grey, int max_keypoints) {
    View view;
    cv::Ptr<cv::SIFT> sift = cv::SIFT::create(max_keypoints, 3, 0.03, 10, 1.6);
    std::vector<cv::KeyPoint> keypoints;
    cv::Mat descriptors;
    sift->detectAndCompute(grey, cv::noArray(), keypoints, descriptors);
    if (keypoints.empty() || descriptors.empty()) {
        view.descriptors = cv::Mat(0, kDescriptorLength, CV_8U);
        return view;
    }
    // SIFT may return a few more than asked (ties); keep the strongest max_keypoints.
    size_t count = std::min(keypoints.size(), static_cast<size_t>(std::max(max_keypoints, 1)));
    std::vector<int> order(keypoints.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](int x, int y) { return keypoints[x].response > keypoints[y].response; });
    view.descriptors = cv::Mat(static_cast<int>(count), kDescriptorLength, CV_8U);
    view.points.reserve(count);
    for (size_t r = 0; r < count; ++r) {
        int i = order[r];
        view.points.push_back(keypoints[i].pt);
        const float *d = descriptors.ptr<float>(i);
        float l1 = 0;
        for (int k = 0; k < kDescriptorLength; ++k) l1 += std::fabs(d[k]);
        l1 = std::max(l1, 1e-7f);
        uint8_t *q = view.descriptors.ptr<uint8_t>(static_cast<int>(r));
        for (int k = 0; k < kDescriptorLength; ++k) {
            float root = std::sqrt(std::fabs(d[k]) / l1);
            q[k] = static_cast<uint8_t>(std::min(255.0f, std::round(root * kQuantisation)));
        }
    }
    return view;
}

/// ORB keypoints (FAST corners ranked by the Harris score, 8 levels 1.2 apart) with their 32-byte
/// rotated-BRIEF descriptors: an order of magnitude cheaper than SIFT, weaker on blur and small
/// images. With `mirror`, also the view of the mirrored image: the same keypoints mirrored
/// (FAST, the Harris score and the intensity centroid are mirror-symmetric, so only the
/// descriptors are computed again, on the flipped image).
void describe_orb(const cv::Mat &grey, int max_keypoints, bool mirror, View &upright, View &mirrored_view) {
    cv::Ptr<cv::ORB> orb = cv::ORB::create(max_keypoints, 1.2f, 8, 31, 0, 2, cv::ORB::HARRIS_SCORE, 31, 20);
    std::vector<cv::KeyPoint> keypoints;
    cv::Mat descriptors;
    orb->detectAndCompute(grey, cv::noArray(), keypoints, descriptors);
    upright.descriptors = descriptors.empty() ? cv::Mat(0, kOrbLength, CV_8U) : descriptors;
    upright.points.clear();
    for (const auto &k : keypoints) upright.points.push_back(k.pt);
    if (!mirror) return;
    cv::Mat flipped;
    cv::flip(grey, flipped, 1);
    std::vector<cv::KeyPoint> reflected = keypoints;
    for (auto &k : reflected) {
        k.pt.x = static_cast<float>(grey.cols) - 1.0f - k.pt.x;
        k.angle = k.angle < 0 ? k.angle : std::fmod(540.0f - k.angle, 360.0f);
    }
    cv::Mat mirrored_descriptors;
    if (!reflected.empty()) orb->compute(flipped, reflected, mirrored_descriptors);
    mirrored_view.descriptors = mirrored_descriptors.empty() ? cv::Mat(0, kOrbLength, CV_8U) : mirrored_descriptors;
    mirrored_view.points.clear();
    for (const auto &k : reflected) mirrored_view.points.push_back(k.pt);
}

/// The view of the left–right mirrored image, derived from the upright one instead of running
/// SIFT again: the detector finds the same keypoints at x' = width − ½ − x (measured on OpenCV
/// 4.6), and a descriptor's 4×4 grid is laid out in the keypoint's own frame, whose orientation
/// θ becomes 180° − θ, so the mirror flips the grid's rows and maps each gradient-orientation bin
/// o to −o (mod 8). Costs a copy of the descriptor bytes, a fraction of a millisecond.
View mirrored(const View &upright, int width) {
    View view;
    view.points.reserve(upright.points.size());
    for (const auto &p : upright.points) view.points.emplace_back(static_cast<float>(width) - 0.5f - p.x, p.y);
    view.descriptors = cv::Mat(upright.descriptors.rows, kDescriptorLength, CV_8U);
    for (int i = 0; i < upright.descriptors.rows; ++i) {
        const uint8_t *from = upright.descriptors.ptr<uint8_t>(i);
        uint8_t *to = view.descriptors.ptr<uint8_t>(i);
        for (int row = 0; row < 4; ++row) {
            for (int column = 0; column < 4; ++column) {
                for (int o = 0; o < 8; ++o) to[((3 - row) * 4 + column) * 8 + (8 - o) % 8] = from[(row * 4 + column) * 8 + o];
            }
        }
    }
    return view;
}


/// For each row of `query`, its two nearest rows of `train` by Hamming distance (32-byte rows):
/// four 64-bit popcounts a comparison, several times faster than OpenCV's brute-force matcher
/// (which spent 2 ms of a 3 ms pair check on 400 × 400 ORB descriptors).
inline __attribute__((always_inline)) std::vector<std::vector<cv::DMatch>> hamming_two_nearest_body(const cv::Mat &query, const cv::Mat &train) {
    std::vector<std::vector<cv::DMatch>> result(query.rows);
    std::vector<uint64_t> words(static_cast<size_t>(train.rows) * 4);
    for (int t = 0; t < train.rows; ++t) std::memcpy(&words[static_cast<size_t>(t) * 4], train.ptr<uint8_t>(t), kOrbLength);
    for (int q = 0; q < query.rows; ++q) {
        uint64_t w[4];
        std::memcpy(w, query.ptr<uint8_t>(q), kOrbLength);
        int best = INT32_MAX, second = INT32_MAX, best_index = -1, second_index = -1;
        const uint64_t *x = words.data();
        for (int t = 0; t < train.rows; ++t, x += 4) {
            int d = __builtin_popcountll(w[0] ^ x[0]) + __builtin_popcountll(w[1] ^ x[1]) +
                    __builtin_popcountll(w[2] ^ x[2]) + __builtin_popcountll(w[3] ^ x[3]);
            if (d < second) {
                if (d < best) { second = best; second_index = best_index; best = d; best_index = t; }
                else { second = d; second_index = t; }
            }
        }
        if (best_index >= 0) result[q].emplace_back(q, best_index, static_cast<float>(best));
        if (second_index >= 0) result[q].emplace_back(q, second_index, static_cast<float>(second));
    }
    return result;
}

/// The same, compiled for the POPCNT instruction (every x86-64 CPU since 2008; chosen at run time).
__attribute__((target("popcnt"))) std::vector<std::vector<cv::DMatch>> hamming_two_nearest_popcnt(const cv::Mat &query,
                                                                                                 const cv::Mat &train) {
    return hamming_two_nearest_body(query, train);
}

/// The same with AVX-512 VPOPCNTDQ: train rows stored word-major in blocks of eight, so one
/// XOR and popcount per 64-bit word compares a query with eight rows; each lane keeps its two
/// nearest, then the sixteen are merged by (distance, row) — the scalar version's order, so
/// both give the same matches.
__attribute__((target("avx512f,avx512vpopcntdq"))) std::vector<std::vector<cv::DMatch>>
hamming_two_nearest_avx512(const cv::Mat &query, const cv::Mat &train) {
    std::vector<std::vector<cv::DMatch>> result(query.rows);
    const int blocks = (train.rows + 7) / 8;
    std::vector<uint64_t> words(static_cast<size_t>(blocks) * 32, 0);
    for (int t = 0; t < train.rows; ++t) {
        uint64_t w[4];
        std::memcpy(w, train.ptr<uint8_t>(t), kOrbLength);
        for (int k = 0; k < 4; ++k) words[(static_cast<size_t>(t / 8) * 4 + k) * 8 + t % 8] = w[k];
    }
    const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i far = _mm512_set1_epi64(INT32_MAX);
    for (int q = 0; q < query.rows; ++q) {
        uint64_t w[4];
        std::memcpy(w, query.ptr<uint8_t>(q), kOrbLength);
        const __m512i q0 = _mm512_set1_epi64(static_cast<long long>(w[0])), q1 = _mm512_set1_epi64(static_cast<long long>(w[1]));
        const __m512i q2 = _mm512_set1_epi64(static_cast<long long>(w[2])), q3 = _mm512_set1_epi64(static_cast<long long>(w[3]));
        __m512i best = far, second = far, best_row = _mm512_set1_epi64(-1), second_row = best_row;
        for (int b = 0; b < blocks; ++b) {
            const uint64_t *x = &words[static_cast<size_t>(b) * 32];
            __m512i d = _mm512_add_epi64(
                _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(q0, _mm512_loadu_si512(x))),
                                 _mm512_popcnt_epi64(_mm512_xor_si512(q1, _mm512_loadu_si512(x + 8)))),
                _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(q2, _mm512_loadu_si512(x + 16))),
                                 _mm512_popcnt_epi64(_mm512_xor_si512(q3, _mm512_loadu_si512(x + 24)))));
            const __m512i row = _mm512_add_epi64(_mm512_set1_epi64(8LL * b), lanes);
            d = _mm512_mask_blend_epi64(_mm512_cmplt_epi64_mask(row, _mm512_set1_epi64(train.rows)), far, d);
            const __mmask8 below_best = _mm512_cmplt_epi64_mask(d, best), below_second = _mm512_cmplt_epi64_mask(d, second);
            second = _mm512_mask_blend_epi64(below_second, second, d);
            second_row = _mm512_mask_blend_epi64(below_second, second_row, row);
            second = _mm512_mask_blend_epi64(below_best, second, best);
            second_row = _mm512_mask_blend_epi64(below_best, second_row, best_row);
            best = _mm512_mask_blend_epi64(below_best, best, d);
            best_row = _mm512_mask_blend_epi64(below_best, best_row, row);
        }
        long long distance[16], rows[16];
        _mm512_storeu_si512(distance, best);
        _mm512_storeu_si512(distance + 8, second);
        _mm512_storeu_si512(rows, best_row);
        _mm512_storeu_si512(rows + 8, second_row);
        int first = -1, next = -1;
        auto before = [&](int i, int j) { return j < 0 || distance[i] < distance[j] || (distance[i] == distance[j] && rows[i] < rows[j]); };
        for (int i = 0; i < 16; ++i) {
            if (rows[i] < 0) continue;
            if (before(i, first)) { next = first; first = i; }
            else if (before(i, next)) { next = i; }
        }
        if (first >= 0) result[q].emplace_back(q, static_cast<int>(rows[first]), static_cast<float>(distance[first]));
        if (next >= 0) result[q].emplace_back(q, static_cast<int>(rows[next]), static_cast<float>(distance[next]));
    }
    return result;
}

std::vector<std::vector<cv::DMatch>> hamming_two_nearest(const cv::Mat &query, const cv::Mat &train) {
    static const int kind = __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512f") ? 2
                          : __builtin_cpu_supports("popcnt") ? 1 : 0;
    switch (kind) {
        case 2: return hamming_two_nearest_avx512(query, train);
        case 1: return hamming_two_nearest_popcnt(query, train);
        default: return hamming_two_nearest_body(query, train);
    }
}

/// For each row of `query`, its two nearest rows of `train` by L2 distance, in quantised units:
/// OpenCV's brute-force matcher on the byte values as floats. Every squared distance is a sum of
/// integer squares far below 2²⁴, so float arithmetic holds it exactly in any order and every
/// implementation gives the same matches (ties to the lower row).
std::vector<std::vector<cv::DMatch>> l2_two_nearest_reference(const cv::Mat &query, const cv::Mat &train) {
    cv::Mat q, t;
    query.convertTo(q, CV_32F);
    train.convertTo(t, CV_32F);
    std::vector<std::vector<cv::DMatch>> knn;
    cv::BFMatcher(cv::NORM_L2).knnMatch(q, t, knn, 2);
    return knn;
}

/// Train rows for the SIMD matchers below: stored dimension-major in blocks of `lanes` rows
/// (`panel`, zero past the last row), with each row's squared norm.
struct L2Panel {
    int blocks;
    std::vector<float> panel, norm;

    L2Panel(const cv::Mat &train, int lanes) : blocks((train.rows + lanes - 1) / lanes) {
        panel.assign(static_cast<size_t>(blocks) * kDescriptorLength * lanes, 0.0f);
        norm.assign(static_cast<size_t>(blocks) * lanes, 0.0f);
        for (int t = 0; t < train.rows; ++t) {
            const uint8_t *row = train.ptr<uint8_t>(t);
            float *to = &panel[static_cast<size_t>(t / lanes) * kDescriptorLength * lanes + t % lanes];
            int n = 0;
            for (int k = 0; k < kDescriptorLength; ++k) { to[k * lanes] = row[k]; n += row[k] * row[k]; }
            norm[t] = static_cast<float>(n);
        }
    }
};

/// Up to `R` query rows from `first` as floats, with their squared norms; returns how many.
template <int R> int load_queries(const cv::Mat &query, int first, float (&q)[R][kDescriptorLength], float (&norm)[R]) {
    const int rows = std::min(R, query.rows - first);
    for (int r = 0; r < rows; ++r) {
        const uint8_t *row = query.ptr<uint8_t>(first + r);
        int n = 0;
        for (int k = 0; k < kDescriptorLength; ++k) { q[r][k] = row[k]; n += row[k] * row[k]; }
        norm[r] = static_cast<float>(n);
    }
    return rows;
}

/// Query row `row`'s two nearest of the `count` squared distances `d` (ties to the lower row).
void keep_two_nearest(const float *d, int count, int row, std::vector<cv::DMatch> &to) {
    float best = INFINITY, second = INFINITY;
    int best_index = -1, second_index = -1;
    for (int t = 0; t < count; ++t) {
        if (d[t] < second) {
            if (d[t] < best) { second = best; second_index = best_index; best = d[t]; best_index = t; }
            else { second = d[t]; second_index = t; }
        }
    }
    if (best_index >= 0) to.emplace_back(row, best_index, std::sqrt(best));
    if (second_index >= 0) to.emplace_back(row, second_index, std::sqrt(second));
}

/// The same with AVX-512, four times faster than OpenCV's matcher (6.5 → 1.6 ms on 500 × 500
/// SIFT rows, most of a SIFT pair's matching): ‖q‖² + ‖t‖² − 2 q·t, the dot products of 4 query
/// rows with 32 train rows at a time (train rows stored dimension-major in blocks of 32), exact
/// as above; the two nearest found on the squared distances, which are distinct wherever their
/// square roots are (below 2·400², the largest two RootSIFT rows can be apart).
__attribute__((target("avx512f"))) std::vector<std::vector<cv::DMatch>>
l2_two_nearest_avx512(const cv::Mat &query, const cv::Mat &train) {
    constexpr int D = kDescriptorLength, L = 32, R = 4;
    const L2Panel p(train, L);
    std::vector<std::vector<cv::DMatch>> result(query.rows);
    std::vector<float> squared(static_cast<size_t>(R) * p.blocks * L);
    for (int first = 0; first < query.rows; first += R) {
        float q[R][D] = {}, query_norm[R] = {};
        const int rows = load_queries<R>(query, first, q, query_norm);
        for (int b = 0; b < p.blocks; ++b) {
            __m512 dot[R][2];
            for (auto &row : dot) row[0] = row[1] = _mm512_setzero_ps();
            const float *t = &p.panel[static_cast<size_t>(b) * D * L];
            for (int k = 0; k < D; ++k, t += L) {
                const __m512 t0 = _mm512_loadu_ps(t), t1 = _mm512_loadu_ps(t + 16);
                for (int r = 0; r < R; ++r) {
                    const __m512 x = _mm512_set1_ps(q[r][k]);
                    dot[r][0] = _mm512_fmadd_ps(x, t0, dot[r][0]);
                    dot[r][1] = _mm512_fmadd_ps(x, t1, dot[r][1]);
                }
            }
            const __m512 two = _mm512_set1_ps(2.0f);
            for (int r = 0; r < R; ++r) {
                float *to = &squared[(static_cast<size_t>(r) * p.blocks + b) * L];
                const __m512 norms = _mm512_set1_ps(query_norm[r]);
                for (int half = 0; half < 2; ++half) {
                    const __m512 sum = _mm512_add_ps(norms, _mm512_loadu_ps(&p.norm[b * L + half * 16]));
                    _mm512_storeu_ps(to + half * 16, _mm512_fnmadd_ps(two, dot[r][half], sum));
                }
            }
        }
        for (int r = 0; r < rows; ++r) keep_two_nearest(&squared[static_cast<size_t>(r) * p.blocks * L], train.rows, first + r, result[first + r]);
    }
    return result;
}

/// The same with AVX2 and FMA (CPUs without AVX-512): 4 query rows with 16 train rows at a time.
/// Exact like the others, so all three give the same matches.
__attribute__((target("avx2,fma"))) std::vector<std::vector<cv::DMatch>>
l2_two_nearest_avx2(const cv::Mat &query, const cv::Mat &train) {
    constexpr int D = kDescriptorLength, L = 16, R = 4;
    const L2Panel p(train, L);
    std::vector<std::vector<cv::DMatch>> result(query.rows);
    std::vector<float> squared(static_cast<size_t>(R) * p.blocks * L);
    for (int first = 0; first < query.rows; first += R) {
        float q[R][D] = {}, query_norm[R] = {};
        const int rows = load_queries<R>(query, first, q, query_norm);
        for (int b = 0; b < p.blocks; ++b) {
            __m256 dot[R][2];
            for (auto &row : dot) row[0] = row[1] = _mm256_setzero_ps();
            const float *t = &p.panel[static_cast<size_t>(b) * D * L];
            for (int k = 0; k < D; ++k, t += L) {
                const __m256 t0 = _mm256_loadu_ps(t), t1 = _mm256_loadu_ps(t + 8);
                for (int r = 0; r < R; ++r) {
                    const __m256 x = _mm256_set1_ps(q[r][k]);
                    dot[r][0] = _mm256_fmadd_ps(x, t0, dot[r][0]);
                    dot[r][1] = _mm256_fmadd_ps(x, t1, dot[r][1]);
                }
            }
            const __m256 two = _mm256_set1_ps(2.0f);
            for (int r = 0; r < R; ++r) {
                float *to = &squared[(static_cast<size_t>(r) * p.blocks + b) * L];
                const __m256 norms = _mm256_set1_ps(query_norm[r]);
                for (int half = 0; half < 2; ++half) {
                    const __m256 sum = _mm256_add_ps(norms, _mm256_loadu_ps(&p.norm[b * L + half * 8]));
                    _mm256_storeu_ps(to + half * 8, _mm256_fnmadd_ps(two, dot[r][half], sum));
                }
            }
        }
        for (int r = 0; r < rows; ++r) keep_two_nearest(&squared[static_cast<size_t>(r) * p.blocks * L], train.rows, first + r, result[first + r]);
    }
    return result;
}

std::vector<std::vector<cv::DMatch>> l2_two_nearest(const cv::Mat &query, const cv::Mat &train) {
    static const int kind = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    switch (kind) {
        case 2: return l2_two_nearest_avx512(query, train);
        case 1: return l2_two_nearest_avx2(query, train);
        default: return l2_two_nearest_reference(query, train);
    }
}

/// Area of the convex polygon.
double area(const std::vector<cv::Point2f> &polygon) {
    return polygon.size() < 3 ? 0 : std::fabs(cv::contourArea(polygon));
}

/// Where `model` (source → target pixels) puts a frame of size `from` within one of size `to`: 255 inside.
cv::Mat frame_mask(cv::Size from, cv::Size to, const cv::Mat &model) {
    cv::Mat ones(from, CV_8U, cv::Scalar(255)), mask;
    cv::warpAffine(ones, mask, model, to, cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
    return mask;
}

/// NCC of `target` and `source` warped by the 2×3 `model` (source → target pixels), over the
/// pixels both cover; both are smoothed first so recompression and blur matter less.
float warped_ncc(const cv::Mat &source, const cv::Mat &target, const cv::Mat &model) {
    cv::Mat warped, mask = frame_mask(source.size(), target.size(), model);
    cv::warpAffine(source, warped, model, target.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
    cv::erode(mask, mask, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(5, 5)));
    cv::Mat a, b;
    cv::GaussianBlur(warped, a, cv::Size(0, 0), 1.0);
    cv::GaussianBlur(target, b, cv::Size(0, 0), 1.0);
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    long n = 0;
    for (int y = 0; y < b.rows; ++y) {
        const uint8_t *m = mask.ptr<uint8_t>(y), *pa = a.ptr<uint8_t>(y), *pb = b.ptr<uint8_t>(y);
        for (int x = 0; x < b.cols; ++x) {
            if (!m[x]) continue;
            double u = pa[x], v = pb[x];
            sa += u; sb += v; saa += u * u; sbb += v * v; sab += u * v;
            ++n;
        }
    }
    if (n < 200) return -1;
    double va = saa - sa * sa / n, vb = sbb - sb * sb / n, cov = sab - sa * sb / n;
    // Flat overlaps (both under ~2 grey levels of spread) say nothing.
    if (va < 4.0 * n || vb < 4.0 * n) return -1;
    return static_cast<float>(cov / std::sqrt(va * vb));
}

/// Whether the pixels of `image` outside `covered` (a mask of where the other image's frame
/// lands, 255 inside) are padding: one uniform colour (grey spread ≤ 4 levels), as in the corners
/// of a photo rotated inside a frame of the same size and filled. A band of 3 pixels
/// along the frame's edge is left out (interpolation and JPEG ringing); content — the rest of a
/// scene in two overlapping crops — is never this flat.
bool outside_is_padding(const cv::Mat &image, const cv::Mat &covered) {
    cv::Mat outside;
    cv::dilate(covered, outside, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(7, 7)));
    cv::bitwise_not(outside, outside);
    if (cv::countNonZero(outside) < 50) return false;
    cv::Scalar mean, spread;
    cv::meanStdDev(image, mean, spread, outside);
    return spread[0] <= 4.0;
}

struct Attempt {
    int matches = 0, inliers = 0;
    float ncc = -2, scale = 0, rotation = 0, anisotropy = 0, covered_a = 0, covered_b = 0, residual = 0;
    bool mirrored = false;
    /// An affine model passed the sanity checks (enough distinct inliers, no reflection, scale
    /// and anisotropy in range): the views are related as they are, whatever the containment.
    bool plausible = false;
};

Attempt attempt(const winnow_cv_features &a, const winnow_cv_features &b, bool mirrored,
                const winnow_cv_verify_options &o) {
    Attempt result;
    result.mirrored = mirrored;
    const View &va = mirrored ? a.mirror : a.upright;
    const View &vb = b.upright;
    if (va.points.size() < 2 || vb.points.size() < 2) return result;
    if (va.binary() != vb.binary()) throw std::invalid_argument("the two images were described by different detectors");
    std::vector<std::vector<cv::DMatch>> knn;
    if (va.binary()) {
        knn = hamming_two_nearest(va.descriptors, vb.descriptors);
    } else {
        knn = l2_two_nearest(va.descriptors, vb.descriptors);
    }
    // Ratio test, then one match per point of b (the closest).
    std::vector<int> best_for(vb.points.size(), -1);
    std::vector<float> best_distance(vb.points.size(), 1e30f);
    for (const auto &m : knn) {
        if (m.size() < 2 || m[0].distance >= o.ratio * m[1].distance) continue;
        int t = m[0].trainIdx;
        if (m[0].distance < best_distance[t]) { best_distance[t] = m[0].distance; best_for[t] = m[0].queryIdx; }
    }
    std::vector<cv::Point2f> pa, pb;
    for (size_t t = 0; t < best_for.size(); ++t) {
        if (best_for[t] < 0) continue;
        pa.push_back(va.points[best_for[t]]);
        pb.push_back(vb.points[t]);
    }
    result.matches = static_cast<int>(pa.size());
    if (result.matches < std::max(o.min_inliers, 3)) return result;
    std::vector<uchar> inlier_mask;
    cv::Mat model = cv::estimateAffine2D(pa, pb, inlier_mask, cv::RANSAC, o.ransac_threshold, 4000, 0.995, 10);
    if (model.empty()) return result;
    model.convertTo(model, CV_64F);
    // Distinct inliers on both sides (repeated keypoints at one place count once).
    std::set<std::pair<int, int>> seen_a, seen_b;
    for (size_t i = 0; i < inlier_mask.size(); ++i) {
        if (!inlier_mask[i]) continue;
        seen_a.insert({static_cast<int>(std::lround(pa[i].x)), static_cast<int>(std::lround(pa[i].y))});
        seen_b.insert({static_cast<int>(std::lround(pb[i].x)), static_cast<int>(std::lround(pb[i].y))});
    }
    result.inliers = static_cast<int>(std::min(seen_a.size(), seen_b.size()));
    {
        std::vector<float> errors;
        const double *m = model.ptr<double>(0), *n = model.ptr<double>(1);
        for (size_t i = 0; i < inlier_mask.size(); ++i) {
            if (!inlier_mask[i]) continue;
            double x = m[0] * pa[i].x + m[1] * pa[i].y + m[2], y = n[0] * pa[i].x + n[1] * pa[i].y + n[2];
            errors.push_back(static_cast<float>(std::hypot(x - pb[i].x, y - pb[i].y)));
        }
        if (!errors.empty()) {
            std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
            result.residual = errors[errors.size() / 2];
        }
    }
    if (result.inliers < o.min_inliers) return result;
    double m00 = model.at<double>(0, 0), m01 = model.at<double>(0, 1);
    double m10 = model.at<double>(1, 0), m11 = model.at<double>(1, 1);
    double det = m00 * m11 - m01 * m10;
    // The residual was measured in b's pixels; when b is the larger view, express it in a's
    // (the coarser image limits how well keypoints can agree) — and in the coarser image's own
    // pixels when it was enlarged to be described: interpolated pixels locate nothing finer.
    const double into_a = std::max(1.0, std::sqrt(std::fabs(det)));
    const double enlarged = std::max(1.0, static_cast<double>(into_a > 1.0 ? a.sift_scale : b.sift_scale));
    result.residual /= static_cast<float>(into_a * enlarged);
    cv::Mat w;
    cv::SVD::compute(model(cv::Rect(0, 0, 2, 2)), w);
    double s1 = w.at<double>(0), s2 = std::max(w.at<double>(1), 1e-9);
    result.anisotropy = static_cast<float>(s1 / s2);
    // Scale between the original images: SIFT images may have been reduced differently.
    double scale = std::sqrt(std::fabs(det)) * a.sift_scale / b.sift_scale;
    result.scale = static_cast<float>(scale);
    result.rotation = static_cast<float>(std::atan2(m10 - m01, m00 + m11) * 180.0 / M_PI);
    if (det <= 0 || result.anisotropy > o.max_anisotropy || scale > o.max_scale || scale < 1.0 / o.max_scale) return result;
    result.plausible = true;
    // Containment: a's frame mapped into b, intersected with b's frame.
    std::vector<cv::Point2f> corners = {{0, 0}, {static_cast<float>(a.sift_width), 0},
                                        {static_cast<float>(a.sift_width), static_cast<float>(a.sift_height)},
                                        {0, static_cast<float>(a.sift_height)}};
    std::vector<cv::Point2f> mapped;
    cv::transform(corners, mapped, model);
    std::vector<cv::Point2f> frame_b = {{0, 0}, {static_cast<float>(b.sift_width), 0},
                                        {static_cast<float>(b.sift_width), static_cast<float>(b.sift_height)},
                                        {0, static_cast<float>(b.sift_height)}};
    std::vector<cv::Point2f> overlap;
    float common = cv::intersectConvexConvex(mapped, frame_b, overlap, true);
    double area_a_in_b = area(mapped), area_b = static_cast<double>(b.sift_width) * b.sift_height;
    result.covered_a = static_cast<float>(area_a_in_b > 0 ? common / area_a_in_b : 0);
    result.covered_b = static_cast<float>(area_b > 0 ? common / area_b : 0);
    // The pixel check, in check-image pixels, warping into the frame of the image more covered
    // (the crop, when one image is a crop of the other) so that its full detail is used.
    // A flipped copy for the mirrored view: a.check is shared between threads and never written.
    cv::Mat check_a;
    if (mirrored) cv::flip(a.check, check_a, 1); else check_a = a.check;
    cv::Mat to_b = model.clone(), to_a;
    to_b(cv::Rect(0, 0, 2, 2)) *= static_cast<double>(b.check_scale) / a.check_scale;
    to_b.col(2) *= b.check_scale;
    cv::invertAffineTransform(to_b, to_a);
    // Neither inside the other: a copy still, when one is turned inside a frame (≥ 5°) and all
    // it shows besides the other is padding (it then lies whole, its padding aside, inside the
    // other). Upright views are left out: there, uniform parts are sky or backdrop of two photos
    // of one scene, while padding added upright (letterbox bars) keeps the photo inside the copy.
    if (std::max(result.covered_a, result.covered_b) < o.min_containment) {
        if (std::fabs(result.rotation) < 5) return result;
        if (outside_is_padding(b.check, frame_mask(check_a.size(), b.check.size(), to_b))) {
            result.covered_b = 1;
        } else if (outside_is_padding(check_a, frame_mask(b.check.size(), check_a.size(), to_a))) {
            result.covered_a = 1;
        } else {
            return result;
        }
    }
    result.ncc = result.covered_a >= result.covered_b ? warped_ncc(b.check, check_a, to_a)
                                                      : warped_ncc(check_a, b.check, to_b);
    return result;
}

/// The original image's size: its kept grey image over the scales that made it.
cv::Size2d original_size(const winnow_cv_features &f) {
    const double s = static_cast<double>(f.check_scale) * f.sift_scale;
    return {f.check.cols / s, f.check.rows / s};
}

/// Best TM_CCOEFF_NORMED of `pattern` over the positions of `scene` whose window has some
/// spread (OpenCV gives flat windows arbitrary scores).
float best_correlation(const cv::Mat &scene, const cv::Mat &pattern, const cv::Mat &sum, const cv::Mat &squares) {
    cv::Mat result;
    cv::matchTemplate(scene, pattern, result, cv::TM_CCOEFF_NORMED);
    const double n = static_cast<double>(pattern.total());
    float best = -1;
    for (int y = 0; y < result.rows; ++y) {
        const float *r = result.ptr<float>(y);
        for (int x = 0; x < result.cols; ++x) {
            if (!(r[x] > best)) continue;
            const int x1 = x + pattern.cols, y1 = y + pattern.rows;
            const double s = sum.at<double>(y1, x1) - sum.at<double>(y, x1) - sum.at<double>(y1, x) + sum.at<double>(y, x);
            const double q = squares.at<double>(y1, x1) - squares.at<double>(y, x1) - squares.at<double>(y1, x) + squares.at<double>(y, x);
            if (q - s * s / n >= 4.0 * n) best = r[x];
        }
    }
    return best;
}

/// Ratio between two scales a content match tries.
constexpr double kContentScaleStep = 1.28;

/// See `winnow_cv_content_match`.
float content_match(const winnow_cv_features &a, const winnow_cv_features &b, int side, float largest_scale) {
    cv::Size2d size_a = original_size(a), size_b = original_size(b);
    const bool a_smaller = std::max(size_a.width, size_a.height) < std::max(size_b.width, size_b.height);
    const winnow_cv_features &small = a_smaller ? a : b, &large = a_smaller ? b : a;
    const cv::Size2d small_size = a_smaller ? size_a : size_b, large_size = a_smaller ? size_b : size_a;
    const double f = side / std::max(large_size.width, large_size.height);
    cv::Mat scene, sum, squares;
    cv::resize(large.check, scene, cv::Size(std::max(1, (int)std::lround(large_size.width * f)),
                                            std::max(1, (int)std::lround(large_size.height * f))), 0, 0, cv::INTER_AREA);
    cv::integral(scene, sum, squares, CV_64F, CV_64F);
    float best = -2;
    double best_scale = 0;
    bool flat = false;
    // The best correlation at scale k, kept when higher; false when the pattern does not fit or is flat.
    auto match_at = [&](double k) {
        const int w = (int)std::lround(small_size.width * f * k), h = (int)std::lround(small_size.height * f * k);
        if (w < 8 || h < 8 || w > scene.cols || h > scene.rows) return false;
        cv::Mat pattern;
        cv::resize(small.check, pattern, cv::Size(w, h), 0, 0, w < small.check.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
        cv::Scalar mean, spread;
        cv::meanStdDev(pattern, mean, spread);
        if (spread[0] < 2.0) {
            flat = true;
            return false;
        }
        const float c = best_correlation(scene, pattern, sum, squares);
        if (c > best) {
            best = c;
            best_scale = k;
        }
        return true;
    };
    for (double k = 1; k <= largest_scale * 1.001 && match_at(k); k *= kContentScaleStep) {}
    if (flat) return -2;
    // Between two scales tried a copy lines up less well: the best one refined halfway both ways.
    if (best_scale > 0) {
        const double half = std::sqrt(kContentScaleStep);
        match_at(best_scale / half);
        match_at(best_scale * half);
    }
    return flat ? -2 : best;
}

// Serialisation: "WLF3", then int32 sift_width, sift_height, check cols, check rows, flags
// (1: with the mirrored view), float sift_scale, check_scale, then the upright view: int32
// count, int32 descriptor length (128 or 32), count × 2 floats, count × length bytes; for ORB
// with the mirror, the mirrored view the same way (SIFT's is derived on reading); then the
// check pixels.
constexpr char kMagic[4] = {'W', 'L', 'F', '3'};

struct Writer {
    uint8_t *out;
    size_t size, at = 0;
    template <typename T> void put(const T &v) { bytes(&v, sizeof v); }
    void bytes(const void *p, size_t n) {
        if (out != nullptr && at + n <= size) std::memcpy(out + at, p, n);
        at += n;
    }
};

struct Reader {
    const uint8_t *in;
    size_t size, at = 0;
    template <typename T> T get() { T v{}; bytes(&v, sizeof v); return v; }
    void bytes(void *p, size_t n) {
        if (at + n > size) throw std::runtime_error("local feature cache file is truncated");
        std::memcpy(p, in + at, n);
        at += n;
    }
};

void write_view(Writer &w, const View &v) {
    w.put(static_cast<int32_t>(v.points.size()));
    w.put(static_cast<int32_t>(v.descriptors.cols));
    for (const auto &p : v.points) { w.put(p.x); w.put(p.y); }
    for (int i = 0; i < v.descriptors.rows; ++i) w.bytes(v.descriptors.ptr<uint8_t>(i), v.descriptors.cols);
}

View read_view(Reader &r) {
    View v;
    int32_t n = r.get<int32_t>(), length = r.get<int32_t>();
    if (n < 0 || n > 1000000 || (length != kDescriptorLength && length != kOrbLength)) {
        throw std::runtime_error("local feature cache file is corrupt");
    }
    v.points.resize(n);
    for (auto &p : v.points) { p.x = r.get<float>(); p.y = r.get<float>(); }
    v.descriptors = cv::Mat(n, length, CV_8U);
    if (n > 0) r.bytes(v.descriptors.data, static_cast<size_t>(n) * length);
    return v;
}

}  // namespace

extern "C" {

winnow_cv_features *winnow_cv_extract(const uint8_t *grey, int width, int height, int stride,
                                      const winnow_cv_extract_options *options, char *error, size_t error_size) {
    winnow_cv_features *result = nullptr;
    int status = guarded(error, error_size, [&] {
        if (grey == nullptr || options == nullptr) throw std::invalid_argument("no image");
        if (width < 16 || height < 16) {
            throw std::invalid_argument("image is " + std::to_string(width) + "×" + std::to_string(height) +
                                        " px, too small for local features (16 px a side at least)");
        }
        if (stride < width) throw std::invalid_argument("row stride is shorter than a row");
        cv::Mat source(height, width, CV_8U, const_cast<uint8_t *>(grey), static_cast<size_t>(stride));
        auto features = std::make_unique<winnow_cv_features>();
        double longer = std::max(width, height);
        double s = longer > options->max_side ? options->max_side / longer
                 : longer < options->min_side ? options->min_side / longer : 1.0;
        // ORB reduces with bilinear interpolation (a quarter of INTER_AREA's time; its own
        // pyramid is bilinear too), SIFT by area averaging.
        const int shrink = options->detector == WINNOW_CV_ORB ? cv::INTER_LINEAR : cv::INTER_AREA;
        cv::Mat work;
        if (s == 1.0) {
            work = source.clone();
        } else {
            cv::resize(source, work, cv::Size(std::max(1, (int)std::lround(width * s)), std::max(1, (int)std::lround(height * s))),
                       0, 0, s >= 1 ? cv::INTER_CUBIC : shrink);
        }
        features->sift_width = work.cols;
        features->sift_height = work.rows;
        features->sift_scale = static_cast<float>(work.cols) / width * (options->source_scale > 0 ? options->source_scale : 1.0f);
        double c = std::min(1.0, options->check_side / static_cast<double>(std::max(work.cols, work.rows)));
        if (c < 1) {
            cv::resize(work, features->check, cv::Size(std::max(1, (int)std::lround(work.cols * c)), std::max(1, (int)std::lround(work.rows * c))),
                       0, 0, shrink);
        } else {
            features->check = work.clone();
        }
        features->check_scale = static_cast<float>(features->check.cols) / work.cols;
        if (options->detector == WINNOW_CV_ORB) {
            describe_orb(work, options->max_keypoints, options->mirror != 0, features->upright, features->mirror);
            features->has_mirror = options->mirror != 0;
        } else {
            features->upright = describe(work, options->max_keypoints);
            if (options->mirror) {
                features->mirror = mirrored(features->upright, features->sift_width);
                features->has_mirror = true;
            }
        }
        result = features.release();
    });
    return status == 0 ? result : nullptr;
}

void winnow_cv_features_free(winnow_cv_features *features) { delete features; }

int winnow_cv_keypoint_count(const winnow_cv_features *features) {
    return features == nullptr ? 0 : static_cast<int>(features->upright.points.size());
}

size_t winnow_cv_resident_bytes(const winnow_cv_features *features) {
    if (features == nullptr) return 0;
    auto view = [](const View &v) { return v.points.capacity() * sizeof(cv::Point2f) + v.descriptors.total() * v.descriptors.elemSize(); };
    return sizeof(winnow_cv_features) + view(features->upright) + view(features->mirror) +
           features->check.total() * features->check.elemSize();
}

int winnow_cv_detector(const winnow_cv_features *features) {
    return features != nullptr && features->upright.binary() ? WINNOW_CV_ORB : WINNOW_CV_SIFT;
}

const uint8_t *winnow_cv_binary_descriptors(const winnow_cv_features *features, int *count) {
    *count = 0;
    if (features == nullptr || !features->upright.binary() || !features->upright.descriptors.isContinuous()) return nullptr;
    *count = features->upright.descriptors.rows;
    return features->upright.descriptors.ptr<uint8_t>(0);
}

size_t winnow_cv_serialize(const winnow_cv_features *f, uint8_t *out, size_t size) {
    if (f == nullptr) return 0;
    Writer w{out, size};
    w.bytes(kMagic, 4);
    w.put(static_cast<int32_t>(f->sift_width));
    w.put(static_cast<int32_t>(f->sift_height));
    w.put(static_cast<int32_t>(f->check.cols));
    w.put(static_cast<int32_t>(f->check.rows));
    w.put(static_cast<int32_t>(f->has_mirror ? 1 : 0));
    w.put(f->sift_scale);
    w.put(f->check_scale);
    write_view(w, f->upright);
    if (f->has_mirror && f->upright.binary()) write_view(w, f->mirror);
    for (int y = 0; y < f->check.rows; ++y) w.bytes(f->check.ptr<uint8_t>(y), f->check.cols);
    return out == nullptr || w.at <= size ? w.at : 0;
}

winnow_cv_features *winnow_cv_deserialize(const uint8_t *bytes, size_t size, char *error, size_t error_size) {
    winnow_cv_features *result = nullptr;
    int status = guarded(error, error_size, [&] {
        Reader r{bytes, size};
        char magic[4];
        r.bytes(magic, 4);
        if (std::memcmp(magic, kMagic, 4) != 0) throw std::runtime_error("not a local feature cache file");
        auto f = std::make_unique<winnow_cv_features>();
        f->sift_width = r.get<int32_t>();
        f->sift_height = r.get<int32_t>();
        int cols = r.get<int32_t>(), rows = r.get<int32_t>(), flags = r.get<int32_t>();
        if (cols <= 0 || rows <= 0 || cols > 100000 || rows > 100000 || f->sift_width <= 0 || f->sift_height <= 0) {
            throw std::runtime_error("local feature cache file is corrupt");
        }
        f->sift_scale = r.get<float>();
        f->check_scale = r.get<float>();
        f->upright = read_view(r);
        f->has_mirror = flags & 1;
        if (f->has_mirror) f->mirror = f->upright.binary() ? read_view(r) : mirrored(f->upright, f->sift_width);
        f->check = cv::Mat(rows, cols, CV_8U);
        for (int y = 0; y < rows; ++y) r.bytes(f->check.ptr<uint8_t>(y), cols);
        if (r.at != size) throw std::runtime_error("local feature cache file has trailing bytes");
        result = f.release();
    });
    return status == 0 ? result : nullptr;
}

int winnow_cv_verify(const winnow_cv_features *a, const winnow_cv_features *b, const winnow_cv_verify_options *options,
                     winnow_cv_verdict *verdict, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        if (a == nullptr || b == nullptr || options == nullptr || verdict == nullptr) {
            throw std::invalid_argument("missing features");
        }
        Attempt best = attempt(*a, *b, false, *options);
        // The mirror is tried only when the views are not related as they are: a plausible
        // upright model (overlapping crops of one photo, say) is not a mirrored copy.
        verdict->mirror_tried = 0;
        if (best.ncc < 0.5f && !best.plausible && a->has_mirror) {
            verdict->mirror_tried = 1;
            Attempt flipped = attempt(*a, *b, true, *options);
            if (flipped.ncc > best.ncc || (flipped.ncc == best.ncc && flipped.inliers > best.inliers)) best = flipped;
        }
        verdict->matches = best.matches;
        verdict->inliers = best.inliers;
        verdict->ncc = best.ncc;
        verdict->scale = best.scale;
        verdict->rotation = best.rotation;
        verdict->mirrored = best.mirrored ? 1 : 0;
        verdict->anisotropy = best.anisotropy;
        verdict->covered_a = best.covered_a;
        verdict->covered_b = best.covered_b;
        verdict->residual = best.residual;
        verdict->plausible = best.plausible ? 1 : 0;
    });
}

int winnow_cv_content_match(const winnow_cv_features *a, const winnow_cv_features *b, int side, float largest_scale,
                            float *score, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        if (a == nullptr || b == nullptr || score == nullptr || side < 16) throw std::invalid_argument("missing features");
        *score = content_match(*a, *b, side, largest_scale);
    });
}

int winnow_cv_matcher_disagreements(const winnow_cv_features *a, const winnow_cv_features *b, char *error, size_t error_size) {
    int count = -1;
    int status = guarded(error, error_size, [&] {
        if (a == nullptr || b == nullptr) throw std::invalid_argument("missing features");
        const cv::Mat &query = a->upright.descriptors, &train = b->upright.descriptors;
        if (query.cols != train.cols) throw std::invalid_argument("the two images were described by different detectors");
        std::vector<std::vector<cv::DMatch>> used, reference;
        if (a->upright.binary()) {
            used = hamming_two_nearest(query, train);
            cv::BFMatcher(cv::NORM_HAMMING).knnMatch(query, train, reference, 2);
        } else {
            used = l2_two_nearest(query, train);
            reference = l2_two_nearest_reference(query, train);
        }
        auto same = [](const cv::DMatch &x, const cv::DMatch &y) { return x.trainIdx == y.trainIdx && x.distance == y.distance; };
        count = 0;
        for (size_t q = 0; q < used.size(); ++q) {
            const auto &x = used[q], &y = reference[q];
            if (x.size() != y.size() || !std::equal(x.begin(), x.end(), y.begin(), same)) ++count;
        }
    });
    return status == 0 ? count : -1;
}

void winnow_cv_set_threads(int threads) { cv::setNumThreads(threads); }

int winnow_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

}  // extern "C"
