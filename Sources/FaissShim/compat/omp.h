#ifndef WINNOW_FAISS_SHIM_OMP_H
#define WINNOW_FAISS_SHIM_OMP_H
/* The part of the OpenMP API that Faiss's public headers (impl/HNSW.h) and the shim use.
 *
 * Debian's libfaiss is built with GCC and links GCC's OpenMP runtime (libgomp), whose omp.h
 * lives in GCC's private include directory where Swift's clang does not look (and which must
 * not be put on clang's path: it also holds GCC's own intrinsics headers). These declarations
 * follow the OpenMP 4.5 API with libgomp's lock layout on x86-64 Linux (4 bytes, 4-aligned).
 * The shim never touches a lock itself; Faiss's headers only name the type. */
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    unsigned char _x[4] __attribute__((__aligned__(4)));
} omp_lock_t;

void omp_set_num_threads(int);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_in_parallel(void);
void omp_init_lock(omp_lock_t *);
void omp_destroy_lock(omp_lock_t *);
void omp_set_lock(omp_lock_t *);
void omp_unset_lock(omp_lock_t *);

#ifdef __cplusplus
}
#endif
#endif
