import Foundation

/// How a cost grows with the input size: the power law `y ≈ a·N^b` fitted by least squares on
/// log–log axes, `b = Σ(ln Nᵢ − m_N)(ln yᵢ − m_y) / Σ(ln Nᵢ − m_N)²`, `a = exp(m_y − b·m_N)`
/// (m: the means of the logs). b ≈ 1 is linear growth, b ≈ 2 quadratic, b ≈ 0 a fixed cost.
package struct GrowthFit: Sendable, Equatable {
    package var coefficient: Double
    package var exponent: Double

    /// The fit of `values` measured at `sizes`; nil unless there are two distinct sizes and
    /// every size and value is positive and finite.
    package init?(sizes: [Double], values: [Double]) {
        guard sizes.count == values.count, Set(sizes).count >= 2,
              (sizes + values).allSatisfy({ $0.isFinite && $0 > 0 }) else { return nil }
        let x = sizes.map { log($0) }, y = values.map { log($0) }
        let meanX = x.reduce(0, +) / Double(x.count), meanY = y.reduce(0, +) / Double(y.count)
        let covariance = zip(x, y).reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        let variance = x.reduce(0) { $0 + ($1 - meanX) * ($1 - meanX) }
        exponent = covariance / variance
        coefficient = exp(meanY - exponent * meanX)
    }
}
