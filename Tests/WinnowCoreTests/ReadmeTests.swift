import Foundation
import Testing
@testable import WinnowCore

/// The README is for users: its quality-rule table must state the defaults the code uses.
@Suite struct ReadmeTests {
    /// The default numbers of each issue's rule, in the order the README's table gives them.
    static func defaults(_ t: QualityThresholds) -> [QualityIssue: [Double]] {
        [.dark: [t.darkBrightnessP99], .bright: [t.brightBrightnessP5],
         .blurry: [t.blurrySharpness, t.blurryDirectionalSharpness],
         .lowInformation: [t.lowInformationEntropy, t.lowInformationRange],
         .oddAspectRatio: [t.oddAspectRatio], .grayscale: [t.grayscaleChroma],
         .oddSize: [t.oddSizeIQRFactor], .tiny: [Double(t.tinySide)]]
    }

    /// `| issue | rule | default |` rows of the README's "Quality issues" section: issue → numbers.
    static func readmeQualityTable() throws -> [String: [Double]] {
        let text = try readme()
        guard let start = text.range(of: "\n## Quality issues\n") else { return [:] }
        let section = text[start.upperBound...]
        let body = section.range(of: "\n## ").map { section[..<$0.lowerBound] } ?? section
        var table: [String: [Double]] = [:]
        for line in body.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3, let issue = cells.first, let last = cells.last else { continue }
            let numbers = last.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            if !numbers.isEmpty { table[issue] = numbers }
        }
        return table
    }

    static func readme() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md")
        return try String(contentsOf: url.standardizedFileURL, encoding: .utf8)
    }

    /// A user reads the README through; measurement history belongs in docs/benchmarks.md.
    @Test func readmeStaysUnderThreeHundredLines() throws {
        let lines = try Self.readme().filter { $0 == "\n" }.count
        #expect(lines < 300, "README.md has \(lines) lines")
    }

    @Test func qualityTableStatesTheDefaultThresholds() throws {
        let table = try Self.readmeQualityTable()
        for (issue, numbers) in Self.defaults(QualityThresholds()) {
            #expect(table[issue.rawValue] == numbers, "README quality table, \(issue.rawValue): \(table[issue.rawValue] ?? []) vs code \(numbers)")
        }
        #expect(table.count == QualityIssue.allCases.count, "\(table.keys.sorted())")
    }
}
