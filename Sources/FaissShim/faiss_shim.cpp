// Faiss behind plain C functions. Every entry point catches all C++ exceptions and turns them
// into a one-line message; see include/faiss_shim.h for the contract.
#include "faiss_shim.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

// compat/omp.h: libgomp's API, as Faiss is built with GCC's OpenMP (see that file).
#include <omp.h>

struct winnow_faiss_index {
    std::unique_ptr<faiss::Index> index;
};

namespace {

/// Threads asked for by `winnow_faiss_set_threads` (0: OpenMP's default). OpenMP's thread
/// count is a per-thread setting, and Swift calls in from many threads, so every call that
/// runs Faiss code applies it on the calling thread first.
std::atomic<int> requested_threads{0};

void apply_threads() {
    int threads = requested_threads.load(std::memory_order_relaxed);
    if (threads > 0) omp_set_num_threads(threads);
}

/// OpenMP on one thread on the calling thread while it lives, then as it was (also when what
/// it guards throws).
struct OneOpenMPThread {
    int saved = omp_get_max_threads();
    OneOpenMPThread() { omp_set_num_threads(1); }
    ~OneOpenMPThread() { omp_set_num_threads(saved); }
    OneOpenMPThread(const OneOpenMPThread &) = delete;
    OneOpenMPThread &operator=(const OneOpenMPThread &) = delete;
};

void set_error(char *error, size_t error_size, const char *message) {
    if (error == nullptr || error_size == 0) return;
    std::string line(message != nullptr ? message : "unknown error");
    for (char &c : line) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    // Faiss prefixes its messages with "Error in <function> at <file>:<line>: "; keep only
    // what it says, not where.
    const std::string marker = ": ";
    if (line.rfind("Error in ", 0) == 0) {
        size_t at = line.find(" at ");
        size_t colon = at == std::string::npos ? std::string::npos : line.find(marker, at);
        if (colon != std::string::npos) line = line.substr(colon + marker.size());
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::snprintf(error, error_size, "%s", line.c_str());
}

/// Runs `body`, returning 0, or 1 with the message of whatever it threw.
template <typename Body>
int guarded(char *error, size_t error_size, Body body) {
    try {
        apply_threads();
        body();
        return 0;
    } catch (const faiss::FaissException &e) {
        set_error(error, error_size, e.msg.empty() ? e.what() : e.msg.c_str());
    } catch (const std::bad_alloc &) {
        set_error(error, error_size, "out of memory");
    } catch (const std::exception &e) {
        set_error(error, error_size, e.what());
    } catch (...) {
        set_error(error, error_size, "unknown C++ exception");
    }
    return 1;
}

// MARK: SIMD distances

// Debian builds libfaiss for baseline x86-64 (SSE2), where Faiss's fvec_L2sqr and
// fvec_inner_product fall back to scalar loops. HNSW and IVF searches spend nearly all their
// time in those, one pair of vectors at a time, so the shim gives HNSW's flat storage a distance
// computer and IVF-flat a list scanner of its own, vectorised with AVX-512 or AVX2+FMA when the
// CPU has them (chosen once, at run time). (BLAS-based parts — IVF training and assignment —
// already run at OpenBLAS speed.)

using distance_function = float (*)(const float *, const float *, size_t);

float inner_product_scalar(const float *a, const float *b, size_t d) {
    float sum = 0;
    for (size_t i = 0; i < d; i++) sum += a[i] * b[i];
    return sum;
}

float l2_squared_scalar(const float *a, const float *b, size_t d) {
    float sum = 0;
    for (size_t i = 0; i < d; i++) {
        float diff = a[i] - b[i];
        sum += diff * diff;
    }
    return sum;
}

__attribute__((target("avx2,fma"))) float horizontal_sum_avx(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    low = _mm_add_ps(low, high);
    low = _mm_add_ps(low, _mm_movehl_ps(low, low));
    low = _mm_add_ss(low, _mm_shuffle_ps(low, low, 1));
    return _mm_cvtss_f32(low);
}

__attribute__((target("avx2,fma"))) float inner_product_avx2(const float *a, const float *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = horizontal_sum_avx(_mm256_add_ps(s0, s1));
    for (; i < d; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma"))) float l2_squared_avx2(const float *a, const float *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float sum = horizontal_sum_avx(_mm256_add_ps(s0, s1));
    for (; i < d; i++) {
        float diff = a[i] - b[i];
        sum += diff * diff;
    }
    return sum;
}

__attribute__((target("avx512f"))) float inner_product_avx512(const float *a, const float *b, size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= d; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < d) {
        __mmask16 mask = static_cast<__mmask16>((1u << (d - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) float l2_squared_avx512(const float *a, const float *b, size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i + 16 <= d; i += 16) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
    }
    if (i < d) {
        __mmask16 mask = static_cast<__mmask16>((1u << (d - i)) - 1);
        __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
        s1 = _mm512_fmadd_ps(d0, d0, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

struct distance_kernels {
    distance_function inner_product;
    distance_function l2_squared;
    const char *name;
};

const distance_kernels &kernels() {
    static const distance_kernels chosen = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return distance_kernels{inner_product_avx512, l2_squared_avx512, "avx512"};
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return distance_kernels{inner_product_avx2, l2_squared_avx2, "avx2"};
        return distance_kernels{inner_product_scalar, l2_squared_scalar, "scalar"};
    }();
    return chosen;
}

/// Distances from one query to flat-stored vectors (inner product or squared L2, as Faiss's
/// own flat distance computers return them).
struct SimdFlatDistanceComputer : faiss::FlatCodesDistanceComputer {
    size_t d;
    distance_function distance;
    const float *query = nullptr;

    SimdFlatDistanceComputer(const faiss::IndexFlat &storage)
            : faiss::FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
              d(static_cast<size_t>(storage.d)),
              distance(storage.metric_type == faiss::METRIC_INNER_PRODUCT ? kernels().inner_product
                                                                           : kernels().l2_squared) {}

    void set_query(const float *x) override { query = x; }

    float distance_to_code(const uint8_t *code) override {
        return distance(query, reinterpret_cast<const float *>(code), d);
    }

    float symmetric_dis(idx_t i, idx_t j) override {
        const float *base = reinterpret_cast<const float *>(codes);
        return distance(base + i * d, base + j * d, d);
    }
};

/// Flat storage whose distance computer is `SimdFlatDistanceComputer`. Faiss writes it as a
/// plain IndexFlat (same data), and reading swaps the plain one for this again.
struct SimdFlat : faiss::IndexFlat {
    SimdFlat(idx_t d, faiss::MetricType metric) : faiss::IndexFlat(d, metric) {}

    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override {
        return new SimdFlatDistanceComputer(*this);
    }
};

/// Gives an HNSW-flat index the SIMD storage (keeping the stored vectors).
void use_simd_storage(faiss::IndexHNSW &hnsw) {
    auto *plain = dynamic_cast<faiss::IndexFlat *>(hnsw.storage);
    if (plain == nullptr || dynamic_cast<SimdFlat *>(plain) != nullptr) return;
    auto fast = std::make_unique<SimdFlat>(plain->d, plain->metric_type);
    fast->codes.swap(plain->codes);
    fast->ntotal = plain->ntotal;
    if (hnsw.own_fields) delete plain;
    hnsw.storage = fast.release();
    hnsw.own_fields = true;
}

// Half-precision storage for HNSW (Faiss's IndexScalarQuantizer with QT_fp16: half the bytes of
// flat storage, values within 2^-11 relative). Faiss decodes it with scalar code in this build,
// so the shim brings F16C kernels (and a portable fallback), as for flat storage.

using half_distance_function = float (*)(const float *, const uint16_t *, size_t);

float half_to_float(uint16_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ffu, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        int shift = 0;
        while ((mantissa & 0x400u) == 0) { mantissa <<= 1; shift++; }
        bits = sign | ((113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

float inner_product_half_scalar(const float *a, const uint16_t *b, size_t d) {
    float sum = 0;
    for (size_t i = 0; i < d; i++) sum += a[i] * half_to_float(b[i]);
    return sum;
}

float l2_squared_half_scalar(const float *a, const uint16_t *b, size_t d) {
    float sum = 0;
    for (size_t i = 0; i < d; i++) {
        float diff = a[i] - half_to_float(b[i]);
        sum += diff * diff;
    }
    return sum;
}

__attribute__((target("avx2,fma,f16c"))) __m256 load_half_avx2(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

__attribute__((target("avx2,fma,f16c"))) float inner_product_half_avx2(const float *a, const uint16_t *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_half_avx2(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_half_avx2(b + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_half_avx2(b + i), s0);
    float sum = horizontal_sum_avx(_mm256_add_ps(s0, s1));
    for (; i < d; i++) sum += a[i] * half_to_float(b[i]);
    return sum;
}

__attribute__((target("avx2,fma,f16c"))) float l2_squared_half_avx2(const float *a, const uint16_t *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        __m256 diff = _mm256_sub_ps(_mm256_loadu_ps(a + i), load_half_avx2(b + i));
        s0 = _mm256_fmadd_ps(diff, diff, s0);
    }
    float sum = horizontal_sum_avx(s0);
    for (; i < d; i++) {
        float diff = a[i] - half_to_float(b[i]);
        sum += diff * diff;
    }
    return sum;
}

void decode_half_scalar(const uint16_t *h, float *out, size_t d) {
    for (size_t i = 0; i < d; i++) out[i] = half_to_float(h[i]);
}

__attribute__((target("avx2,fma,f16c"))) void decode_half_avx2(const uint16_t *h, float *out, size_t d) {
    size_t i = 0;
    for (; i + 8 <= d; i += 8) _mm256_storeu_ps(out + i, load_half_avx2(h + i));
    for (; i < d; i++) out[i] = half_to_float(h[i]);
}

struct half_kernels {
    half_distance_function inner_product;
    half_distance_function l2_squared;
    void (*decode)(const uint16_t *, float *, size_t);
};

const half_kernels &kernels_half() {
    static const half_kernels chosen = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
            return half_kernels{inner_product_half_avx2, l2_squared_half_avx2, decode_half_avx2};
        return half_kernels{inner_product_half_scalar, l2_squared_half_scalar, decode_half_scalar};
    }();
    return chosen;
}

/// Distances from one query to half-precision stored vectors.
struct SimdHalfDistanceComputer : faiss::FlatCodesDistanceComputer {
    size_t d;
    half_distance_function distance;
    const float *query = nullptr;
    std::vector<float> decoded;

    SimdHalfDistanceComputer(const faiss::IndexScalarQuantizer &storage)
            : faiss::FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
              d(static_cast<size_t>(storage.d)),
              distance(storage.metric_type == faiss::METRIC_INNER_PRODUCT ? kernels_half().inner_product
                                                                           : kernels_half().l2_squared),
              decoded(d) {}

    void set_query(const float *x) override { query = x; }

    float distance_to_code(const uint8_t *code) override {
        return distance(query, reinterpret_cast<const uint16_t *>(code), d);
    }

    float symmetric_dis(idx_t i, idx_t j) override {
        const uint16_t *base = reinterpret_cast<const uint16_t *>(codes);
        kernels_half().decode(base + i * d, decoded.data(), d);
        return distance(decoded.data(), base + j * d, d);
    }
};

/// Half-precision storage whose distance computer is `SimdHalfDistanceComputer`. Faiss writes
/// it as a plain fp16 IndexScalarQuantizer, and reading swaps the plain one for this again.
struct SimdHalf : faiss::IndexScalarQuantizer {
    SimdHalf(idx_t d, faiss::MetricType metric)
            : faiss::IndexScalarQuantizer(d, faiss::ScalarQuantizer::QT_fp16, metric) {}

    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override {
        return new SimdHalfDistanceComputer(*this);
    }
};

bool is_half_storage(const faiss::IndexHNSW &hnsw) {
    auto *quantized = dynamic_cast<const faiss::IndexScalarQuantizer *>(hnsw.storage);
    return quantized != nullptr && quantized->sq.qtype == faiss::ScalarQuantizer::QT_fp16;
}

/// Gives an HNSW index over fp16 storage the SIMD storage (keeping the stored codes).
void use_simd_half_storage(faiss::IndexHNSW &hnsw) {
    auto *plain = dynamic_cast<faiss::IndexScalarQuantizer *>(hnsw.storage);
    if (!is_half_storage(hnsw) || dynamic_cast<SimdHalf *>(plain) != nullptr) return;
    auto fast = std::make_unique<SimdHalf>(plain->d, plain->metric_type);
    fast->codes.swap(plain->codes);
    fast->ntotal = plain->ntotal;
    if (hnsw.own_fields) delete plain;
    hnsw.storage = fast.release();
    hnsw.own_fields = true;
}

// The same for IVF-flat: Faiss's own list scanner also calls the scalar fvec_* functions. The
// base InvertedListScanner::scan_codes keeps the k best (a max-heap for L2, a min-heap for
// inner products when keep_max is set) from distance_to_code, so only that is replaced.

struct SimdIVFFlatScanner : faiss::InvertedListScanner {
    size_t d;
    distance_function distance;
    const float *query = nullptr;

    SimdIVFFlatScanner(size_t d, bool inner_product, bool store_pairs, const faiss::IDSelector *sel)
            : faiss::InvertedListScanner(store_pairs, sel),
              d(d),
              distance(inner_product ? kernels().inner_product : kernels().l2_squared) {
        keep_max = inner_product;
        code_size = d * sizeof(float);
    }

    void set_query(const float *x) override { query = x; }

    void set_list(idx_t list, float) override { list_no = list; }

    float distance_to_code(const uint8_t *code) const override {
        return distance(query, reinterpret_cast<const float *>(code), d);
    }
};

/// IVF-flat whose list scanner is `SimdIVFFlatScanner`. Faiss writes it as a plain IndexIVFFlat.
struct SimdIVFFlat : faiss::IndexIVFFlat {
    using faiss::IndexIVFFlat::IndexIVFFlat;
    SimdIVFFlat() = default;

    faiss::InvertedListScanner *get_InvertedListScanner(bool store_pairs,
                                                        const faiss::IDSelector *sel) const override {
        if (sel != nullptr) return faiss::IndexIVFFlat::get_InvertedListScanner(store_pairs, sel);
        return new SimdIVFFlatScanner(static_cast<size_t>(d), metric_type == faiss::METRIC_INNER_PRODUCT,
                                      store_pairs, sel);
    }
};

/// Turns an IVF-flat index read from a file into a SimdIVFFlat, taking over its quantizer,
/// lists and direct map (the plain one is left owning nothing).
std::unique_ptr<faiss::Index> with_simd_scanner(std::unique_ptr<faiss::Index> read) {
    auto *plain = dynamic_cast<faiss::IndexIVFFlat *>(read.get());
    if (plain == nullptr || dynamic_cast<SimdIVFFlat *>(plain) != nullptr) return read;
    // Every data member of Index, Level1Quantizer and IndexIVF in Faiss 1.7.x (IndexIVFFlat
    // adds none); IndexIVF cannot be copy-assigned as a whole (it has a const member).
    auto fast = std::make_unique<SimdIVFFlat>();
    fast->d = plain->d;
    fast->ntotal = plain->ntotal;
    fast->verbose = plain->verbose;
    fast->is_trained = plain->is_trained;
    fast->metric_type = plain->metric_type;
    fast->metric_arg = plain->metric_arg;
    fast->quantizer = plain->quantizer;
    fast->nlist = plain->nlist;
    fast->quantizer_trains_alone = plain->quantizer_trains_alone;
    fast->own_fields = plain->own_fields;
    fast->cp = plain->cp;
    fast->clustering_index = plain->clustering_index;
    fast->invlists = plain->invlists;
    fast->own_invlists = plain->own_invlists;
    fast->code_size = plain->code_size;
    fast->nprobe = plain->nprobe;
    fast->max_codes = plain->max_codes;
    fast->parallel_mode = plain->parallel_mode;
    fast->direct_map = std::move(plain->direct_map);
    plain->quantizer = nullptr;
    plain->own_fields = false;
    plain->invlists = nullptr;
    plain->own_invlists = false;
    plain->clustering_index = nullptr;
    return fast;
}

faiss::MetricType faiss_metric(winnow_faiss_metric metric) {
    return metric == WINNOW_FAISS_METRIC_INNER_PRODUCT ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
}

/// The index as HNSW over flat or half-precision storage (nil for other kinds).
faiss::IndexHNSW *supported_hnsw(faiss::Index *index) {
    auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(index);
    if (hnsw == nullptr) return nullptr;
    return dynamic_cast<faiss::IndexHNSWFlat *>(hnsw) != nullptr || is_half_storage(*hnsw) ? hnsw : nullptr;
}

faiss::IndexHNSW *as_hnsw(const winnow_faiss_index *index) { return supported_hnsw(index->index.get()); }

faiss::IndexIVFFlat *as_ivf(const winnow_faiss_index *index) {
    return dynamic_cast<faiss::IndexIVFFlat *>(index->index.get());
}

bool check_dimension(int dimension, char *error, size_t error_size) {
    if (dimension > 0) return true;
    set_error(error, error_size, "dimension must be positive");
    return false;
}

} // namespace

extern "C" {

winnow_faiss_index *winnow_faiss_new_hnsw(int dimension, int m, int ef_construction, int ef_search, int half_precision,
                                          winnow_faiss_metric metric, char *error, size_t error_size) {
    if (!check_dimension(dimension, error, error_size)) return nullptr;
    if (m < 2 || ef_construction < 1 || ef_search < 1) {
        set_error(error, error_size, "HNSW needs M ≥ 2, efConstruction ≥ 1 and efSearch ≥ 1");
        return nullptr;
    }
    winnow_faiss_index *made = nullptr;
    guarded(error, error_size, [&] {
        std::unique_ptr<faiss::IndexHNSW> hnsw;
        if (half_precision) {
            hnsw = std::make_unique<faiss::IndexHNSWSQ>(dimension, faiss::ScalarQuantizer::QT_fp16, m, faiss_metric(metric));
            hnsw->is_trained = true;  // fp16 needs no training
            use_simd_half_storage(*hnsw);
        } else {
            hnsw = std::make_unique<faiss::IndexHNSWFlat>(dimension, m, faiss_metric(metric));
            use_simd_storage(*hnsw);
        }
        hnsw->hnsw.efConstruction = ef_construction;
        hnsw->hnsw.efSearch = ef_search;
        made = new winnow_faiss_index{std::move(hnsw)};
    });
    return made;
}

winnow_faiss_index *winnow_faiss_new_ivf(int dimension, int nlist, int nprobe, winnow_faiss_metric metric,
                                         char *error, size_t error_size) {
    if (!check_dimension(dimension, error, error_size)) return nullptr;
    if (nlist < 1 || nprobe < 1) {
        set_error(error, error_size, "IVF needs nlist ≥ 1 and nprobe ≥ 1");
        return nullptr;
    }
    winnow_faiss_index *made = nullptr;
    guarded(error, error_size, [&] {
        faiss::Index *quantizer = metric == WINNOW_FAISS_METRIC_INNER_PRODUCT
            ? static_cast<faiss::Index *>(new faiss::IndexFlatIP(dimension))
            : static_cast<faiss::Index *>(new faiss::IndexFlatL2(dimension));
        std::unique_ptr<faiss::IndexIVFFlat> ivf;
        try {
            ivf = std::make_unique<SimdIVFFlat>(quantizer, dimension, nlist, faiss_metric(metric));
        } catch (...) {
            delete quantizer;
            throw;
        }
        ivf->own_fields = true;
        ivf->nprobe = static_cast<size_t>(nprobe);
        ivf->set_direct_map_type(faiss::DirectMap::Array);
        made = new winnow_faiss_index{std::move(ivf)};
    });
    return made;
}

int winnow_faiss_train(winnow_faiss_index *index, int64_t n, const float *vectors, char *error,
                       size_t error_size) {
    return guarded(error, error_size, [&] {
        if (n > 0) index->index->train(n, vectors);
    });
}

int winnow_faiss_add(winnow_faiss_index *index, int64_t n, const float *vectors, char *error,
                     size_t error_size) {
    return guarded(error, error_size, [&] {
        if (!index->index->is_trained) throw std::runtime_error("the index must be trained before vectors are added");
        if (n <= 0) return;
        // Faiss inserts HNSW nodes on all its threads at once, each linking to whatever the
        // others have linked so far, so two builds over the same rows differ. One thread makes
        // the graph a function of the rows and their order (and costs the same CPU).
        std::optional<OneOpenMPThread> one;
        if (as_hnsw(index) != nullptr) one.emplace();
        index->index->add(n, vectors);
    });
}

int winnow_faiss_reserve(winnow_faiss_index *index, int64_t rows, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        auto *hnsw = as_hnsw(index);
        auto *storage = hnsw == nullptr ? nullptr : dynamic_cast<faiss::IndexFlatCodes *>(hnsw->storage);
        if (storage == nullptr || rows <= 0) return;
        // Faiss's HNSW numbers its nodes with 32-bit integers.
        if (rows > INT32_MAX) throw std::runtime_error("an index holds at most 2147483647 vectors");
        auto n = static_cast<size_t>(rows);
        storage->codes.reserve(n * storage->code_size);
        hnsw->hnsw.levels.reserve(n);
        hnsw->hnsw.offsets.reserve(n + 1);
        // A node has 2M links on the bottom layer and M on each layer above; a node reaches
        // layer l with probability M^-l, so the layers above add M/(M - 1) links on average.
        size_t bottom = static_cast<size_t>(hnsw->hnsw.nb_neighbors(0));
        size_t upper = static_cast<size_t>(std::max(hnsw->hnsw.nb_neighbors(1), 2));
        hnsw->hnsw.neighbors.reserve(n * bottom + 2 * n * upper / (upper - 1) + 4096);
    });
}

int winnow_faiss_search(const winnow_faiss_index *index, int64_t n, const float *queries, int64_t k,
                        float *distances, int64_t *labels, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        if (k < 1) throw std::runtime_error("k must be positive");
        if (n <= 0) return;
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "Faiss ids are 64-bit");
        index->index->search(n, queries, k, distances, reinterpret_cast<faiss::Index::idx_t *>(labels));
    });
}

int winnow_faiss_reconstruct(const winnow_faiss_index *index, int64_t first, int64_t n, float *out,
                             char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        if (first < 0 || n < 0 || first + n > index->index->ntotal) throw std::runtime_error("rows out of range");
        if (n > 0) index->index->reconstruct_n(first, n, out);
    });
}

int winnow_faiss_write(const winnow_faiss_index *index, const char *path, char *error, size_t error_size) {
    return guarded(error, error_size, [&] { faiss::write_index(index->index.get(), path); });
}

winnow_faiss_index *winnow_faiss_read(const char *path, char *error, size_t error_size) {
    winnow_faiss_index *made = nullptr;
    guarded(error, error_size, [&] {
        std::unique_ptr<faiss::Index> read(faiss::read_index(path));
        auto *ivf = dynamic_cast<faiss::IndexIVFFlat *>(read.get());
        auto *hnsw = supported_hnsw(read.get());
        bool supported = hnsw != nullptr
            || (ivf != nullptr && dynamic_cast<faiss::IndexIVFFlatDedup *>(read.get()) == nullptr);
        if (!supported) throw std::runtime_error("not an HNSW (flat or fp16) or IVF-flat index");
        if (read->metric_type != faiss::METRIC_L2 && read->metric_type != faiss::METRIC_INNER_PRODUCT)
            throw std::runtime_error("unsupported metric");
        if (ivf != nullptr && ivf->direct_map.type == faiss::DirectMap::NoMap) ivf->make_direct_map(true);
        if (hnsw != nullptr) {
            use_simd_storage(*hnsw);
            use_simd_half_storage(*hnsw);
        }
        made = new winnow_faiss_index{with_simd_scanner(std::move(read))};
    });
    return made;
}

void winnow_faiss_free(winnow_faiss_index *index) { delete index; }

winnow_faiss_kind winnow_faiss_get_kind(const winnow_faiss_index *index) {
    if (auto *hnsw = as_hnsw(index)) return is_half_storage(*hnsw) ? WINNOW_FAISS_KIND_HNSW_HALF : WINNOW_FAISS_KIND_HNSW_FLAT;
    if (as_ivf(index) != nullptr) return WINNOW_FAISS_KIND_IVF_FLAT;
    return WINNOW_FAISS_KIND_OTHER;
}

winnow_faiss_metric winnow_faiss_get_metric(const winnow_faiss_index *index) {
    return index->index->metric_type == faiss::METRIC_INNER_PRODUCT ? WINNOW_FAISS_METRIC_INNER_PRODUCT
                                                                     : WINNOW_FAISS_METRIC_L2;
}

int winnow_faiss_get_dimension(const winnow_faiss_index *index) { return index->index->d; }

int64_t winnow_faiss_get_count(const winnow_faiss_index *index) { return index->index->ntotal; }

int winnow_faiss_get_is_trained(const winnow_faiss_index *index) { return index->index->is_trained ? 1 : 0; }

void winnow_faiss_get_parameters(const winnow_faiss_index *index, int *first, int *second, int *third) {
    int values[3] = {0, 0, 0};
    if (auto *hnsw = as_hnsw(index)) {
        // Level 0 holds 2·M links per node (cum_nb_neighbors(1)); M itself is the level-1 count.
        values[0] = hnsw->hnsw.nb_neighbors(1);
        values[1] = hnsw->hnsw.efConstruction;
        values[2] = hnsw->hnsw.efSearch;
    } else if (auto *ivf = as_ivf(index)) {
        values[0] = static_cast<int>(ivf->nlist);
        values[1] = static_cast<int>(ivf->nprobe);
    }
    if (first != nullptr) *first = values[0];
    if (second != nullptr) *second = values[1];
    if (third != nullptr) *third = values[2];
}

void winnow_faiss_set_effort(winnow_faiss_index *index, int effort) {
    if (effort < 1) return;
    if (auto *hnsw = as_hnsw(index)) hnsw->hnsw.efSearch = effort;
    else if (auto *ivf = as_ivf(index)) ivf->nprobe = static_cast<size_t>(effort);
}

void winnow_faiss_set_threads(int threads) {
    requested_threads.store(threads > 0 ? threads : 0, std::memory_order_relaxed);
    if (threads > 0) omp_set_num_threads(threads);
}

const char *winnow_faiss_distance_kernels(void) { return kernels().name; }

int winnow_faiss_get_threads(void) {
    int threads = requested_threads.load(std::memory_order_relaxed);
    return threads > 0 ? threads : omp_get_max_threads();
}

} // extern "C"
