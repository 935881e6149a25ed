import ArgumentParser
import Foundation

/// Range checks for numeric options, made in the `validate()` of each options group. A value
/// out of range — NaN and ±∞ included — is a usage error whose one line names the option, the
/// value and the valid range: `--outlier-percentile must be in 0…1 (got 2)`.
///
/// Numeric options are declared with `parsing: .unconditional`, so that a negative value is
/// parsed as the option's value (and then judged here) instead of being taken for an option.
package enum OptionRange {
    /// `value` (when given) must be finite and in `range`.
    package static func check<T: Comparable>(_ name: String, _ value: T?, in range: ClosedRange<T>) throws {
        guard let value else { return }
        guard isFinite(value), range.contains(value) else {
            throw ValidationError("\(name) must be in \(text(range.lowerBound))…\(text(range.upperBound)) (got \(text(value)))")
        }
    }

    /// `value` (when given) must be finite and at least `lowest`.
    package static func check<T: Comparable>(_ name: String, _ value: T?, atLeast lowest: T) throws {
        guard let value else { return }
        guard isFinite(value), value >= lowest else {
            throw ValidationError("\(name) must be a number ≥ \(text(lowest)) (got \(text(value)))")
        }
    }

    /// `value` (when given) must be finite and at most `highest`.
    package static func check<T: Comparable>(_ name: String, _ value: T?, atMost highest: T) throws {
        guard let value else { return }
        guard isFinite(value), value <= highest else {
            throw ValidationError("\(name) must be a number ≤ \(text(highest)) (got \(text(value)))")
        }
    }

    /// `count` comma-separated finite numbers (`0.485,0.456,0.406`), each passing `accept`.
    package static func numbers(_ name: String, _ text: String, count: Int, accept: (Float) -> Bool = { _ in true },
                        expected: String = "numbers") throws -> [Float] {
        let values = commaSeparated(text).map { Float($0) }
        guard values.count == count, values.allSatisfy({ $0.map { $0.isFinite && accept($0) } ?? false }) else {
            throw ValidationError("\(name) needs \(count) comma-separated \(expected) (got \(text))")
        }
        return values.compactMap { $0 }
    }

    /// Comma-separated whole numbers (`10000,50000`), each in `range`; at least one.
    package static func counts(_ name: String, _ text: String, in range: ClosedRange<Int>) throws -> [Int] {
        let values = commaSeparated(text).map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ $0.map(range.contains) ?? false }) else {
            throw ValidationError("\(name) needs comma-separated whole numbers in \(range.lowerBound)…\(range.upperBound) (got \(text))")
        }
        return values.compactMap { $0 }
    }

    private static func isFinite<T>(_ value: T) -> Bool {
        if let value = value as? Double { return value.isFinite }
        if let value = value as? Float { return value.isFinite }
        return true
    }

    /// Whole numbers without a fraction (`64`, not `64.0`).
    private static func text<T>(_ value: T) -> String {
        let number = (value as? Double) ?? (value as? Float).map(Double.init)
        if let number, number.isFinite, number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return "\(value)"
    }
}

/// The items of a comma-separated option value (`a, b,c` → `["a", "b", "c"]`), trimmed.
package func commaSeparated(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
}
