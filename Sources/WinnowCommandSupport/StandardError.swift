import Foundation

/// Writes one line to standard error.
package func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
