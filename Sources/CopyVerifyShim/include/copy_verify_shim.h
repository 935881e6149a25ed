#ifndef WINNOW_COPY_VERIFY_SHIM_H
#define WINNOW_COPY_VERIFY_SHIM_H
/// Plain C entry points over OpenCV 4.6 (Debian libopencv-*-dev) for copy verification: local
/// features of one image (RootSIFT or ORB on the grey image, and the same for its mirror) and the check
/// of one pair (ratio-test matches, affine RANSAC with sanity checks, normalised cross-correlation of
/// the two images after warping one onto the other).
///
/// Every function that can fail takes `error`/`error_size`: on failure it writes a one-line,
/// NUL-terminated message there and returns NULL or a non-zero status. No C++ exception leaves
/// this shim. Feature objects are immutable after creation: `winnow_cv_verify` may run on many
/// threads at once over shared feature objects.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Local features of one image; release with `winnow_cv_features_free`.
typedef struct winnow_cv_features winnow_cv_features;

/// Parameters of feature extraction.
typedef struct {
    /// Longer side of the grey image the detector runs on: larger images are reduced to it, smaller
    /// ones are enlarged to `min_side` first (small copies have few keypoints otherwise).
    int max_side;
    int min_side;
    /// Keypoints kept per view (the strongest).
    int max_keypoints;
    /// Longer side of the grey image kept for the pixel check.
    int check_side;
    /// Also keep the mirrored image's view (finds mirrored copies); derived from the upright
    /// keypoints and descriptors, not detected again. SIFT only.
    int mirror;
    /// `WINNOW_CV_SIFT` (RootSIFT) or `WINNOW_CV_ORB` (ORB: cheaper, weaker on blur and small
    /// images). Two images are compared only when described by the same detector.
    int detector;
    /// Pixels of the given image per pixel of the original (below 1 when it was decoded
    /// reduced; 0 counts as 1): scales between two images, and content matches, are measured
    /// between the originals.
    float source_scale;
} winnow_cv_extract_options;

enum { WINNOW_CV_SIFT = 0, WINNOW_CV_ORB = 1 };

/// Describes the 8-bit grey image `grey` (`width`×`height`, rows `stride` bytes apart).
/// Fails on images under 16 px a side; a featureless image gives features with no keypoints.
winnow_cv_features *winnow_cv_extract(const uint8_t *grey, int width, int height, int stride,
                                      const winnow_cv_extract_options *options, char *error, size_t error_size);

void winnow_cv_features_free(winnow_cv_features *features);

/// Keypoints found on the upright view.
int winnow_cv_keypoint_count(const winnow_cv_features *features);

/// The detector that described the image (`WINNOW_CV_SIFT` or `WINNOW_CV_ORB`).
int winnow_cv_detector(const winnow_cv_features *features);

/// The upright view's ORB descriptors, 32 bytes each, one after the other (`*count` of them);
/// NULL with a count of 0 for SIFT's features. Valid while `features` is.
const uint8_t *winnow_cv_binary_descriptors(const winnow_cv_features *features, int *count);

/// Bytes the features hold in memory: keypoints and descriptors of both views and the grey image.
size_t winnow_cv_resident_bytes(const winnow_cv_features *features);

/// Serialised form (for a cache file): `winnow_cv_serialize` with `out == NULL` returns the
/// size needed; with a buffer of that size it writes the bytes and returns the size.
size_t winnow_cv_serialize(const winnow_cv_features *features, uint8_t *out, size_t size);

/// Reads what `winnow_cv_serialize` wrote; NULL with a message for anything else.
winnow_cv_features *winnow_cv_deserialize(const uint8_t *bytes, size_t size, char *error, size_t error_size);

/// Parameters of the pair check.
typedef struct {
    /// Lowe's ratio test: best match distance below `ratio` × second best.
    float ratio;
    /// RANSAC reprojection threshold, in pixels of the detector's image.
    float ransac_threshold;
    /// Fewer distinct inliers than this: no model.
    int min_inliers;
    /// Largest ratio between the two singular values of the affine part (non-uniform scale).
    float max_anisotropy;
    /// Largest scale change between the two images (either way).
    float max_scale;
    /// One image must lie this much (fraction of its area) inside the other after the warp.
    float min_containment;
} winnow_cv_verify_options;

/// What the check of one pair measured.
typedef struct {
    /// Ratio-test matches, and distinct inliers of the affine model (0 when none was found).
    int matches;
    int inliers;
    /// Normalised cross-correlation of the grey images over their overlap after the warp
    /// (−1…1; −2 when no model passed the sanity checks).
    float ncc;
    /// The model: scale of `b` relative to `a` (√|det|), rotation in degrees, whether `a`'s
    /// mirror matched, the anisotropy, and the fraction of each image inside the other.
    float scale;
    float rotation;
    int mirrored;
    float anisotropy;
    float covered_a;
    float covered_b;
    /// Median distance of the inliers from where the model puts them, in detector-image pixels of
    /// the smaller view: a fraction of a pixel for copies, more for other photos of a scene
    /// (parallax).
    float residual;
    /// Whether `a`'s mirrored view was compared too (only when the upright views gave no
    /// plausible model).
    int mirror_tried;
    /// Whether the model passed the sanity checks (distinct inliers, no reflection, scale and
    /// anisotropy in range), whatever the containment: the two views are related as they are.
    int plausible;
} winnow_cv_verdict;

/// Checks whether `a` and `b` show the same picture. Returns 0 and fills `verdict` (a failed
/// model is a verdict, not an error), or non-zero with a message.
int winnow_cv_verify(const winnow_cv_features *a, const winnow_cv_features *b, const winnow_cv_verify_options *options,
                     winnow_cv_verdict *verdict, char *error, size_t error_size);

/// Where the smaller of two images (in original pixels) best lines up inside the larger one,
/// compared on their kept grey images: the larger reduced to `side` px, the smaller placed at
/// scales 1, 1.28, 1.28², … up to `largest_scale` (and no larger than fits) of its size relative
/// to the larger, the best of them then refined by √1.28 both ways, each slid over every
/// position (OpenCV's `TM_CCOEFF_NORMED`; windows and templates under 2 grey levels of spread
/// left out). A heavy crop, downscaled or not, lies whole inside its original: its best match is
/// high where local features found too few keypoints to fit a model. Writes the best
/// correlation (−1…1; −2 when nothing could be compared: the smaller does not fit at scale 1, or
/// it is flat) to `score`; returns 0, or non-zero with a message.
int winnow_cv_content_match(const winnow_cv_features *a, const winnow_cv_features *b, int side, float largest_scale,
                            float *score, char *error, size_t error_size);

/// For tests: how many rows of `a`'s upright view have other two nearest rows of `b`'s upright
/// view (rows or distances) with the matcher verification uses than with OpenCV's brute-force
/// matcher (Hamming for ORB, L2 for SIFT). Returns the count, or -1 with a message.
int winnow_cv_matcher_disagreements(const winnow_cv_features *a, const winnow_cv_features *b, char *error, size_t error_size);

/// Threads OpenCV may use inside one call (Winnow parallelises across pairs itself: 1).
void winnow_cv_set_threads(int threads);

/// Frees the disk behind `length` bytes at `offset` of the open file `fd` (the file keeps its
/// size; the range reads as zeros). Returns 0, or -1 with errno set.
int winnow_punch_hole(int fd, int64_t offset, int64_t length);

#ifdef __cplusplus
}
#endif
#endif
