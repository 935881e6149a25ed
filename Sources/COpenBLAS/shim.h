#include <cblas.h>
#include <stddef.h>

// LAPACK's symmetric eigensolver (selected eigenpairs, MRRR), which libopenblas also exports
// (Debian builds it with LAPACK, without the LAPACKE C wrappers). Fortran calling convention:
// every argument by pointer, column-major arrays, and the lengths of the three character
// arguments appended (gfortran's hidden arguments).
void ssyevr_(const char *jobz, const char *range, const char *uplo, const int *n, float *a, const int *lda,
             const float *vl, const float *vu, const int *il, const int *iu, const float *abstol, int *m,
             float *w, float *z, const int *ldz, int *isuppz, float *work, const int *lwork, int *iwork,
             const int *liwork, int *info, size_t jobz_len, size_t range_len, size_t uplo_len);
