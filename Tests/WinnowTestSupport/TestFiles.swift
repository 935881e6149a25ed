import Foundation
import WinnowCore

/// What both test targets need: the cache with the real photos and corpora, the built `winnow`
/// and `winnow-bench` executables, scratch folders, and running commands. `scripts/test.sh`
/// (run by CI) prepares the cache; a missing folder fails the test with a message saying so.
public enum TestFiles {
    public static var cache: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["WINNOW_CACHE"] ?? (NSHomeDirectory() + "/.cache/winnow"))
    }

    /// scikit-image's sample photos, unpacked from Debian's python3-skimage by `scripts/setup.sh`.
    public static func skimageData() throws -> URL {
        let relative = "python3-skimage/usr/lib/python3/dist-packages/skimage/data"
        var roots: [String] = []
        if let sources = ProcessInfo.processInfo.environment["WINNOW_SOURCES"] { roots.append(sources) }
        roots += [cache.appendingPathComponent("sources").path, NSHomeDirectory() + "/.cache/winnow-corpus/src"]
        for root in roots {
            let url = URL(fileURLWithPath: root).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("coffee.png").path) { return url }
        }
        throw TestDataMissing("scikit-image photos not found under \(roots); run scripts/setup.sh")
    }

    /// A fresh empty folder `/tmp/winnow-tests-<name>-<random>`, removed when the test process
    /// exits (kept when `WINNOW_KEEP_TEST_FILES` is set, to look at after a failure).
    public static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("winnow-tests-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        ScratchFolders.shared.add(url)
        return url
    }

    /// The `winnow` executable built beside the test bundle.
    public static var winnowExecutable: URL { builtExecutable("winnow") }

    /// The `winnow-bench` executable (the benchmarks) built beside the test bundle.
    public static var benchExecutable: URL { builtExecutable("winnow-bench") }

    /// The executable product `name` built beside the test bundle.
    public static func builtExecutable(_ name: String) -> URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path) {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent(name)
    }

    /// The repository root (for scripts/).
    public static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs a command line tool (in `directory`, if given) and returns its exit status and
    /// standard output + error.
    @discardableResult
    public static func shell(_ executable: String, _ arguments: [String],
                             in directory: URL? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Whether this process runs tests alone for ``runAlone(_:)``.
    public static var isAlone: Bool { ProcessInfo.processInfo.environment[aloneVariable] != nil }

    private static let aloneVariable = "WINNOW_TEST_ALONE"

    /// Runs the one test `name` (by default the caller) of this test binary in a process of its
    /// own, where it finds ``isAlone`` true: for checks of process-wide state (the heap, the peak
    /// resident memory) that the tests running beside it in this process would spoil. True when
    /// it passed.
    public static func runAlone(_ name: String = #function) throws -> (passed: Bool, output: String) {
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let filter = NSRegularExpression.escapedPattern(for: name)
        let result = try shell("/usr/bin/env", ["\(aloneVariable)=1", binary, "--testing-library", "swift-testing", "--filter", filter])
        return (result.status == 0 && result.output.contains("with 1 test in 1 suite passed"), result.output)
    }

    /// The records of a CSV file, keyed by its header.
    public static func readCSV(_ url: URL) throws -> [[String: String]] {
        CSVReader.records(try String(contentsOf: url, encoding: .utf8))
    }
}

/// The scratch folders this process made, removed at exit.
private final class ScratchFolders: @unchecked Sendable {
    static let shared: ScratchFolders = {
        let folders = ScratchFolders()
        if ProcessInfo.processInfo.environment["WINNOW_KEEP_TEST_FILES"] == nil {
            atexit { ScratchFolders.shared.removeAll() }
        }
        return folders
    }()

    private let lock = NSLock()
    private var urls: [URL] = []

    func add(_ url: URL) {
        lock.withLock { urls.append(url) }
    }

    func removeAll() {
        lock.withLock {
            for url in urls { try? FileManager.default.removeItem(at: url) }
            urls.removeAll()
        }
    }
}

/// A fixture the tests need is missing (run scripts/test.sh).
public struct TestDataMissing: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
