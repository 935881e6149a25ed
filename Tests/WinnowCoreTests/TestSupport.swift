import Foundation
import Testing
@testable import WinnowCore

/// Where the tests find real photos and generated corpora. `scripts/test.sh` (run by CI)
/// prepares both; a missing folder fails the test with a message saying so.
enum TestData {
    static var cache: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["WINNOW_CACHE"] ?? (NSHomeDirectory() + "/.cache/winnow"))
    }

    /// scikit-image's sample photos, unpacked from Debian's python3-skimage by `scripts/setup.sh`.
    static func skimageData() throws -> URL {
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

    /// A corpus set made by `../shared/corpus/make_corpus.py` (prepared by `scripts/test.sh`).
    static func corpus(_ set: String) throws -> URL {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["WINNOW_CORPUS"]
            ?? cache.appendingPathComponent("corpus").path)
        let url = root.appendingPathComponent(set)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("images").path) else {
            throw TestDataMissing("corpus set \(set) not found at \(url.path); run scripts/test.sh")
        }
        return url
    }

    /// A fresh empty folder, removed by the caller when done (or left in /tmp).
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("winnow-tests-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The `winnow` executable built beside the test bundle.
    static var winnowExecutable: URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: folder.appendingPathComponent("winnow").path) {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent("winnow")
    }

    /// Runs a command line tool and returns its exit status and standard output + error.
    @discardableResult
    static func shell(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Makes real-photo JPEG fixtures (scikit-image photos via the vips CLI) in `folder`.
    static func photoFixtures(in folder: URL, names: [String] = ["coffee", "chelsea", "astronaut", "motorcycle_left"]) throws -> [URL] {
        let data = try skimageData()
        return try names.map { name in
            let out = folder.appendingPathComponent("\(name).jpg")
            let result = try shell("vips", ["copy", data.appendingPathComponent("\(name).png").path, out.path + "[Q=90]"])
            guard result.status == 0 else { throw TestDataMissing("vips failed on \(name): \(result.output)") }
            return out
        }
    }

    /// Reads `atrain_features.dat` with its `.dat.csv`: file name (last path component) → vector.
    static func features(_ work: URL) throws -> [String: [Float]] {
        let rows = try readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        let data = try Data(contentsOf: work.appendingPathComponent("atrain_features.dat"))
        guard !rows.isEmpty, data.count % (rows.count * 4) == 0 else {
            throw TestDataMissing("\(work.path): atrain_features.dat does not match its .dat.csv")
        }
        let d = data.count / (rows.count * 4)
        var out: [String: [Float]] = [:]
        data.withUnsafeBytes { raw in
            for (i, row) in rows.enumerated() {
                out[URL(fileURLWithPath: row["filename"] ?? "").lastPathComponent] =
                    (0..<d).map { raw.loadUnaligned(fromByteOffset: 4 * (i * d + $0), as: Float.self) }
            }
        }
        return out
    }

    /// Reads a CSV file written by Winnow into rows of column → value.
    static func readCSV(_ url: URL) throws -> [[String: String]] {
        CSVReader.records(try String(contentsOf: url, encoding: .utf8))
    }
}

struct TestDataMissing: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Deterministic test numbers.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}
