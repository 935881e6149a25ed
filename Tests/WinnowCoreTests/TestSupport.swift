import Foundation
import Testing
import WinnowTestSupport
@testable import WinnowCore

/// The shared helpers (``TestFiles``) plus what only these tests use: corpora, photo fixtures
/// and reading a work_dir's features.
typealias TestData = TestFiles
typealias TestDataMissing = WinnowTestSupport.TestDataMissing

extension TestFiles {
    /// The summary of `winnow run --json` in a command's output (nil: none printed).
    static func runSummary(_ output: String) throws -> RunSummary? {
        struct Report: Decodable { var summary: RunSummary }
        guard let start = output.firstIndex(of: "{") else { return nil }
        return try JSONDecoder().decode(Report.self, from: Data(output[start...].utf8)).summary
    }

    /// A corpus set made by `../shared/corpus/make_corpus.py` (prepared by `scripts/test.sh`).
    static func corpus(_ set: String) throws -> URL {
        let url = corpusRoot.appendingPathComponent(set)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("images").path) else {
            throw TestDataMissing("corpus set \(set) not found at \(url.path); run scripts/test.sh")
        }
        return url
    }

    /// The photo pool the corpus sets are made from (`_pool`, made with set A).
    static func photoPool() throws -> URL {
        let pool = corpusRoot.appendingPathComponent("_pool")
        guard FileManager.default.fileExists(atPath: pool.appendingPathComponent("pool.csv").path) else {
            throw TestDataMissing("photo pool not found at \(pool.path); run scripts/test.sh (set A makes it)")
        }
        return pool
    }

    private static var corpusRoot: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["WINNOW_CORPUS"] ?? cache.appendingPathComponent("corpus").path)
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
}

/// Deterministic test numbers.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}
