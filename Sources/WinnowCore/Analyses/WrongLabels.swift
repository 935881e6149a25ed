import COpenBLAS
import Foundation

/// Wrong labels from embeddings alone: out-of-sample class probabilities from a linear
/// classifier, then confident-learning thresholds per class.
///
/// The classifier is ridge regression of one-hot labels on the embeddings, power-normalised
/// (signed square root), centred and L2-normalised, plus a bias: `W = (XᵀX + λI)⁻¹ XᵀY`. Its
/// exact leave-one-out prediction has a closed form, `f₋ᵢ = (fᵢ − hᵢ yᵢ) / (1 − hᵢ)` with `hᵢ = xᵢᵀ(XᵀX + λI)⁻¹xᵢ`, so every sample is
/// scored by a model that never saw its label, at the cost of one fit. Probabilities are
/// `softmax(f₋ᵢ / T)`. Scores: `wrong_label = 1 − p(given label)`. Confident learning (Northcutt
/// et al., cleanlab): class `j`'s threshold `t_j` is the mean `p_j` over samples labelled `j`; a
/// sample's suggested label is the most probable class with `p_k ≥ t_k`, and it is a likely
/// wrong label when that class differs from the given one. Measured on corpus set D (see
/// README): AUROC 0.994–0.997 on the photos, 0.974 on Fashion-MNIST with MobileNetV2 features.
public enum WrongLabels {
    public struct Result: Sendable, Equatable {
        /// Out-of-sample class probabilities, row-major N × classes.
        public var probabilities: [Float]
        public var classCount: Int
        /// `1 − p(given)` per sample.
        public var scores: [Float]
        /// Confident-learning threshold per class.
        public var thresholds: [Float]
        /// The suggested class per sample (its given class when none clears its threshold).
        public var suggested: [Int]
        /// Whether the suggested class differs from the given one.
        public var likelyWrong: [Bool]

        public func probability(_ row: Int, _ label: Int) -> Float { probabilities[row * classCount + label] }
    }

    /// `vectors`: N × d embeddings (any scale; centred and normalised here); `labels`: the given
    /// class index of each row in `0..<classCount`. `lambda`: ridge strength; `temperature`: softmax.
    public static func compute(_ vectors: FeatureMatrix, labels: [Int], classCount: Int,
                               lambda: Double = 3, temperature: Float = 0.1) -> Result {
        let n = vectors.rows
        precondition(labels.count == n && labels.allSatisfy { $0 >= 0 && $0 < classCount })
        let predictions = leaveOneOutRidge(vectors, labels: labels, classCount: classCount, lambda: lambda)
        var probabilities = [Float](repeating: 0, count: n * classCount)
        for i in 0..<n {
            let row = predictions[(i * classCount)..<((i + 1) * classCount)]
            let top = row.max() ?? 0
            var sum: Float = 0
            for (c, f) in row.enumerated() {
                let e = exp((f - top) / temperature)
                probabilities[i * classCount + c] = e
                sum += e
            }
            for c in 0..<classCount { probabilities[i * classCount + c] /= sum }
        }
        return confidentLearning(probabilities: probabilities, labels: labels, classCount: classCount)
    }

    /// Confident-learning thresholds, suggestions and flags for given out-of-sample probabilities.
    public static func confidentLearning(probabilities: [Float], labels: [Int], classCount: Int) -> Result {
        let n = labels.count
        var sums = [Double](repeating: 0, count: classCount), counts = [Int](repeating: 0, count: classCount)
        for i in 0..<n {
            sums[labels[i]] += Double(probabilities[i * classCount + labels[i]])
            counts[labels[i]] += 1
        }
        let thresholds = (0..<classCount).map { counts[$0] == 0 ? Float(1) : Float(sums[$0] / Double(counts[$0])) }
        var scores = [Float](repeating: 0, count: n), suggested = labels, wrong = [Bool](repeating: false, count: n)
        for i in 0..<n {
            scores[i] = 1 - probabilities[i * classCount + labels[i]]
            var best = -1
            var bestProbability: Float = -1
            for c in 0..<classCount where probabilities[i * classCount + c] >= thresholds[c] {
                if probabilities[i * classCount + c] > bestProbability { best = c; bestProbability = probabilities[i * classCount + c] }
            }
            if best >= 0 { suggested[i] = best; wrong[i] = best != labels[i] }
        }
        return Result(probabilities: probabilities, classCount: classCount, scores: scores, thresholds: thresholds,
                      suggested: suggested, likelyWrong: wrong)
    }

    /// Leave-one-out ridge predictions, N × classes row-major.
    /// `rowBlock`: rows multiplied at a time (bounds memory to rowBlock × D floats).
    static func leaveOneOutRidge(_ vectors: FeatureMatrix, labels: [Int], classCount: Int, lambda: Double,
                                 rowBlock: Int = 4096) -> [Float] {
        let n = vectors.rows, d = vectors.dimension, D = d + 1
        let x = designMatrix(vectors)
        let a = regularizedGram(x, rows: n, columns: D, lambda: lambda)
        let inverse = symmetricInverse(a, dimension: D)
        let inverseF = inverse.map(Float.init)
        // Per block of rows: B = X A⁻¹ (rows × D); h_i = ⟨B_i, X_i⟩; F = B XᵀY.
        var xty = [Float](repeating: 0, count: D * classCount)
        for i in 0..<n { for j in 0..<D { xty[j * classCount + labels[i]] += x[i * D + j] } }
        var f = [Float](repeating: 0, count: n * classCount)
        let block = max(1, rowBlock)
        var b = [Float](repeating: 0, count: min(n, block) * D)
        for start in stride(from: 0, to: n, by: block) {
            let count = min(block, n - start)
            x.withUnsafeBufferPointer { x in
                f.withUnsafeMutableBufferPointer { f in
                    guard let xs = x.baseAddress, let fs = f.baseAddress else { return }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(D), Int32(D), 1, xs + start * D,
                                Int32(D), inverseF, Int32(D), 0, &b, Int32(D))
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(classCount), Int32(D), 1, b,
                                Int32(D), xty, Int32(classCount), 0, fs + start * classCount, Int32(classCount))
                }
            }
            for r in 0..<count {
                let i = start + r
                var h: Float = 0
                for j in 0..<D { h += b[r * D + j] * x[i * D + j] }
                let denominator = max(1 - h, 1e-6)
                f[i * classCount + labels[i]] -= h
                for c in 0..<classCount { f[i * classCount + c] /= denominator }
            }
        }
        return f
    }

    /// The rows of `vectors` power-normalised (signed square root), centred and L2-normalised,
    /// each followed by a bias column of 1 (`rows × (dimension + 1)`, row-major).
    private static func designMatrix(_ vectors: FeatureMatrix) -> [Float] {
        let n = vectors.rows, d = vectors.dimension, D = d + 1
        // Signed square root (power normalisation), centre, normalise, append the bias column.
        var x = [Float](repeating: 0, count: n * D)
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for (j, v) in vectors.row(i).enumerated() {
                let p = Self.powerNormalized(v)
                x[i * D + j] = p
                mean[j] += Double(p)
            }
        }
        for j in 0..<d { mean[j] /= Double(max(n, 1)) }
        for i in 0..<n {
            var norm: Double = 0
            for j in 0..<d { let v = Double(x[i * D + j]) - mean[j]; norm += v * v }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<d { x[i * D + j] = Float((Double(x[i * D + j]) - mean[j]) * scale) }
            x[i * D + d] = 1
        }
        return x
    }

    /// `XᵀX + λI` in double, both triangles, for the `rows × columns` row-major `x`.
    private static func regularizedGram(_ x: [Float], rows n: Int, columns D: Int, lambda: Double) -> [Double] {
        // A = XᵀX + λI (upper triangle from ssyrk, mirrored), in double.
        var gram = [Float](repeating: 0, count: D * D)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(D), Int32(n), 1, x, Int32(D), 0, &gram, Int32(D))
        var a = [Double](repeating: 0, count: D * D)
        for r in 0..<D {
            for c in r..<D { a[r * D + c] = Double(gram[r * D + c]); a[c * D + r] = a[r * D + c] }
            a[r * D + r] += lambda
        }
        return a
    }

    /// `sign(v)·√|v|`: damps the few large activations of pooled CNN features (set D, whole-image
    /// MobileNetV2: Fashion-MNIST AUROC 0.970 → 0.974 and precision@k 0.787 → 0.800 on seed 0,
    /// 0.974 and 0.787 → 0.800 on seed 1; photos 0.995 → 0.994 and 0.996 → 0.997).
    static func powerNormalized(_ v: Float) -> Float { v < 0 ? -(-v).squareRoot() : v.squareRoot() }

    /// The inverse of a symmetric positive-definite matrix: Cholesky `A = LLᵀ`, `L⁻¹` by
    /// triangular solve, `A⁻¹ = L⁻ᵀL⁻¹`.
    static func symmetricInverse(_ matrix: [Double], dimension n: Int) -> [Double] {
        var l = matrix
        l.withUnsafeMutableBufferPointer { l in
            for j in 0..<n {
                var diagonal = l[j * n + j]
                for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
                let root = max(diagonal, 1e-12).squareRoot()
                l[j * n + j] = root
                for i in (j + 1)..<max(j + 1, n) {
                    var s = l[i * n + j]
                    for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                    l[i * n + j] = s / root
                }
                for c in (j + 1)..<max(j + 1, n) { l[j * n + c] = 0 }
            }
        }
        var identity = [Double](repeating: 0, count: n * n)
        for i in 0..<n { identity[i * n + i] = 1 }
        // L · Z = I  →  Z = L⁻¹.
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n), Int32(n), 1, l, Int32(n),
                    &identity, Int32(n))
        var inverse = [Double](repeating: 0, count: n * n)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, identity, Int32(n),
                    identity, Int32(n), 0, &inverse, Int32(n))
        return inverse
    }
}
