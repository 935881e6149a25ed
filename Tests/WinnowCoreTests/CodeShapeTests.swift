import Foundation
import Testing
import WinnowTestSupport

/// The code stays readable whole: no function in `Sources/` is longer than a screen.
@Suite struct CodeShapeTests {
    static let longestFunction = 60

    @Test func noFunctionInSourcesIsLongerThanSixtyLines() throws {
        let sources = TestFiles.repository.appendingPathComponent("Sources")
        var long: [String] = []
        for case let path as String in FileManager.default.enumerator(atPath: sources.path) ?? NSEnumerator()
        where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            for function in Self.functions(in: text) where function.lines > Self.longestFunction {
                long.append("\(path):\(function.line) \(function.lines) lines")
            }
        }
        #expect(long.isEmpty, "\(long)")
    }

    /// The measure itself: a function's lines run from its declaration to its closing brace,
    /// braces in strings and comments not counted.
    @Test func functionLengthsAreCountedFromDeclarationToClosingBrace() {
        let text = """
            struct S {
                func short() {
                    let s = "}"  // }
                }
                init(x: Int) {
                    let t = \"\"\"
                        }}}
                        \"\"\"
                    _ = t
                }
            }
            """
        #expect(Self.functions(in: text).map(\.lines) == [3, 6])
    }

    /// The functions, initialisers and computed properties with a body: first line and length.
    static func functions(in text: String) -> [(line: Int, lines: Int)] {
        let lines = code(text)
        let declaration = /^\s*(@\w+(\([^)]*\))?\s+)*((public|private|fileprivate|internal|static|override|mutating|nonisolated|final|class|convenience|required)\s+)*(func\s|init[?!]?[(<]|deinit\b|subscript\b)/
        var found: [(line: Int, lines: Int)] = []
        for start in lines.indices where lines[start].firstMatch(of: declaration) != nil {
            var depth = 0, opened = false
            for end in start..<lines.count {
                for character in lines[end] {
                    if character == "{" { depth += 1; opened = true } else if character == "}" { depth -= 1 }
                }
                if opened && depth <= 0 { found.append((start + 1, end - start + 1)); break }
                if !opened && lines[end].contains("}") { break }  // a requirement in a protocol, no body
            }
        }
        return found
    }

    /// The lines with string literals' contents and comments blanked.
    static func code(_ text: String) -> [String] {
        var inMultilineString = false
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            if inMultilineString {
                if line.contains("\"\"\"") { inMultilineString = false }
                return ""
            }
            if line.components(separatedBy: "\"\"\"").count == 2 { inMultilineString = true }
            var kept = "", inString = false, escaped = false, previous: Character = " "
            for character in line {
                if inString {
                    if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                } else if character == "\"" {
                    inString = true
                } else if character == "/" && previous == "/" {
                    kept.removeLast()
                    break
                } else {
                    kept.append(character)
                }
                previous = character
            }
            return kept
        }
    }
}
