import COpenBLAS
import Foundation

/// Exact principal components: `y = Vᵀ (x − μ)`, V the `dimensions` leading unit eigenvectors of
/// the covariance `(1/N) Σ (x − μ)(x − μ)ᵀ` of all N rows (fiftyone `method="pca"`, sklearn
/// `PCA(n_components)`, which gets the same axes by SVD). Eigenpairs come from LAPACK `ssyevr`
/// through ``PCAWhitening/fit(_:rows:columns:options:)`` (no shrinkage, every row). Each axis's sign
/// is fixed so that its largest-magnitude loading is positive, so results do not depend on the
/// solver's sign choice.
public enum PCAMap {
    /// The projection of every row of `vectors` on its `dimensions` leading components
    /// (`rows × dimensions`, row-major), and the variance along each component.
    public static func project(_ vectors: FeatureMatrix, dimensions: Int) throws(MapError) -> (points: [Float], variances: [Float]) {
        let basis = try components(vectors, dimensions: dimensions)
        return (apply(basis, to: vectors), basis.variances)
    }

    /// The leading components: mean, unit axes (`dimensions × d`, row-major) and variances.
    public struct Basis: Sendable {
        public var mean: [Float]
        public var axes: [Float]
        public var variances: [Float]
        public var dimensions: Int { variances.count }
    }

    public static func components(_ vectors: FeatureMatrix, dimensions: Int) throws(MapError) -> Basis {
        guard vectors.rows >= 2 else { throw .tooFewPoints(vectors.rows, needed: 2) }
        guard dimensions >= 1, dimensions <= vectors.dimension else {
            throw .invalidParameter("PCA to \(dimensions) dimensions of \(vectors.dimension)-d vectors")
        }
        let options = PCAWhitening.Options(dimensions: dimensions, dimensionsPerVector: nil, ledoitWolf: false,
                                           maximumFitRows: vectors.rows)
        let whitening: PCAWhitening
        do { whitening = try PCAWhitening.fit(vectors, options: options) } catch { throw .failed(error.description) }
        let d = vectors.dimension, k = whitening.outputDimension
        // The whitening's rows are eigenvectors divided by √λ: multiply back.
        var axes = [Float](repeating: 0, count: k * d)
        for c in 0..<k {
            let scale = whitening.eigenvalues[c].squareRoot()
            var largest: Float = 0
            for j in 0..<d {
                let v = whitening.projection[c * d + j] * scale
                axes[c * d + j] = v
                if abs(v) > abs(largest) { largest = v }
            }
            if largest < 0 { for j in 0..<d { axes[c * d + j] = -axes[c * d + j] } }
        }
        // ssyevr found `k` eigenpairs; with N − 1 < k the rest are numerically zero.
        return Basis(mean: whitening.mean, axes: axes, variances: whitening.eigenvalues)
    }

    /// `(x − μ) Vᵀ` for every row.
    public static func apply(_ basis: Basis, to vectors: FeatureMatrix) -> [Float] {
        let d = vectors.dimension, k = basis.dimensions, n = vectors.rows
        var out = [Float](repeating: 0, count: n * k)
        var offset = [Float](repeating: 0, count: k)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(k), Int32(d), 1, basis.axes, Int32(d), basis.mean, 1, 0, &offset, 1)
        vectors.withValues { all in
            guard let input = all.baseAddress else { return }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(k), Int32(d), 1, input, Int32(d),
                        basis.axes, Int32(d), 0, &out, Int32(k))
        }
        for i in 0..<n { for c in 0..<k { out[i * k + c] -= offset[c] } }
        return out
    }
}
