#ifndef WINNOW_FAISS_SHIM_H
#define WINNOW_FAISS_SHIM_H
/// Plain C entry points over Faiss's C++ API (Debian libfaiss-dev 1.7.x, static), for Swift.
///
/// Only two index types are made: HNSW over flat (or half-precision) storage, and IVF over flat lists, each with
/// the L2 or the inner-product metric. Every function that can fail takes `error`/`error_size`:
/// on failure it writes a one-line, NUL-terminated message there (a Faiss or C++ exception's
/// text, newlines folded) and returns a non-zero status or NULL. No C++ exception ever leaves
/// this shim.
///
/// Thread safety follows Faiss: `winnow_faiss_search` and `winnow_faiss_reconstruct` only read
/// the index and may run concurrently; everything else that takes a non-const index must not
/// overlap with any other call on the same index. Faiss parallelises inside each call with
/// OpenMP (see `winnow_faiss_set_threads`).
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An index owned by the caller; release with `winnow_faiss_free`.
typedef struct winnow_faiss_index winnow_faiss_index;

typedef enum {
    /// Squared L2 distances (Faiss's convention: smaller is nearer).
    WINNOW_FAISS_METRIC_L2 = 0,
    /// Inner products (larger is nearer).
    WINNOW_FAISS_METRIC_INNER_PRODUCT = 1,
} winnow_faiss_metric;

typedef enum {
    WINNOW_FAISS_KIND_OTHER = 0,
    WINNOW_FAISS_KIND_HNSW_FLAT = 1,
    WINNOW_FAISS_KIND_IVF_FLAT = 2,
    /// HNSW over half-precision (fp16) storage.
    WINNOW_FAISS_KIND_HNSW_HALF = 3,
} winnow_faiss_kind;

/// HNSW over flat storage (or, with `half_precision`, fp16 storage: half the bytes, values
/// within 2^-11 relative): `m` links per node, `ef_construction` candidates while building,
/// `ef_search` the default candidate list length when searching (at least k is used).
winnow_faiss_index *winnow_faiss_new_hnsw(int dimension, int m, int ef_construction, int ef_search, int half_precision,
                                          winnow_faiss_metric metric, char *error, size_t error_size);

/// IVF with `nlist` inverted lists over a flat coarse quantizer, probing `nprobe` lists per
/// query. Must be trained (`winnow_faiss_train`) before vectors are added. Keeps a direct map
/// (id → list position) so stored vectors can be reconstructed.
winnow_faiss_index *winnow_faiss_new_ivf(int dimension, int nlist, int nprobe, winnow_faiss_metric metric,
                                         char *error, size_t error_size);

/// Trains the index on `n` row-major vectors (IVF: k-means for the lists; HNSW: nothing).
int winnow_faiss_train(winnow_faiss_index *index, int64_t n, const float *vectors, char *error,
                       size_t error_size);

/// Appends `n` row-major vectors; they get the ids `count … count + n − 1`. HNSW inserts them
/// on one thread, so that the same rows in the same order always make the same graph.
int winnow_faiss_add(winnow_faiss_index *index, int64_t n, const float *vectors, char *error,
                     size_t error_size);

/// Makes room for `rows` vectors in all (HNSW: its codes and links; nothing for IVF), so that
/// adding them in many calls never moves what is stored (a moved vector is held twice while
/// it is copied).
int winnow_faiss_reserve(winnow_faiss_index *index, int64_t rows, char *error, size_t error_size);

/// The `k` nearest stored vectors of each of `n` queries: `distances` and `labels` hold
/// `n × k` entries, row by row, nearest first; missing results have label −1. Searches with
/// the index's own effort (HNSW efSearch, at least k; IVF nprobe): Faiss 1.7.3's HNSW ignores
/// per-call search parameters, so a different effort means `winnow_faiss_set_effort` first.
int winnow_faiss_search(const winnow_faiss_index *index, int64_t n, const float *queries, int64_t k,
                        float *distances, int64_t *labels, char *error, size_t error_size);

/// Copies stored vectors `first … first + n − 1` into `out` (`n × dimension` floats).
int winnow_faiss_reconstruct(const winnow_faiss_index *index, int64_t first, int64_t n, float *out,
                             char *error, size_t error_size);

/// Writes the index to `path` (Faiss's own format).
int winnow_faiss_write(const winnow_faiss_index *index, const char *path, char *error, size_t error_size);

/// Reads an index written by `winnow_faiss_write`; refuses index types other than HNSW (flat
/// or fp16) and IVF-flat.
winnow_faiss_index *winnow_faiss_read(const char *path, char *error, size_t error_size);

void winnow_faiss_free(winnow_faiss_index *index);

/// Facts about an index. `parameter` values: HNSW → M, efConstruction, efSearch;
/// IVF → nlist, nprobe, 0.
winnow_faiss_kind winnow_faiss_get_kind(const winnow_faiss_index *index);
winnow_faiss_metric winnow_faiss_get_metric(const winnow_faiss_index *index);
int winnow_faiss_get_dimension(const winnow_faiss_index *index);
int64_t winnow_faiss_get_count(const winnow_faiss_index *index);
int winnow_faiss_get_is_trained(const winnow_faiss_index *index);
void winnow_faiss_get_parameters(const winnow_faiss_index *index, int *first, int *second, int *third);

/// Sets the default search effort stored in the index (HNSW: efSearch, IVF: nprobe).
void winnow_faiss_set_effort(winnow_faiss_index *index, int effort);

/// OpenMP threads Faiss uses in later calls (process-wide: `omp_set_num_threads`).
void winnow_faiss_set_threads(int threads);
int winnow_faiss_get_threads(void);

/// The distance kernels HNSW and IVF searches use here: "avx512", "avx2" or "scalar".
/// (Debian's libfaiss is built for baseline x86-64, so the shim brings its own vectorised ones.)
const char *winnow_faiss_distance_kernels(void);

#ifdef __cplusplus
}
#endif
#endif
