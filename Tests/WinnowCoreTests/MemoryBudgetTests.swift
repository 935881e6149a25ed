import Foundation
import Testing
@testable import WinnowCore

@Suite("Memory budget (--max-memory)")
struct MemoryBudgetTests {
    @Test func sizesParseAsUsersWriteThem() {
        let cases: [(String, Int64?)] = [
            ("12G", 12 << 30), ("512M", 512 << 20), ("1.5GB", 3 << 29), ("2GiB", 2 << 30), ("800k", 800 << 10),
            ("1073741824", 1 << 30), (" 3 g ", 3 << 30), ("-1G", nil), ("G", nil), ("4Q", nil), ("nan", nil),
            ("1e3G", nil), ("99999999999T", nil), ("", nil), ("1..5G", nil),
        ]
        for (text, bytes) in cases {
            #expect(MemoryBudget.parse(text)?.bytes == bytes, "\(text)")
        }
    }

    @Test func theDefaultIsHalfTheMachineOrItsCgroup() {
        let half = MemoryBudget.machineDefault.bytes
        #expect(half > 0 && half <= Int64(ProcessInfo.processInfo.physicalMemory) / 2)
    }

    @Test func aRunThatCannotFitIsRefusedInOneLineBeforeTheWorkDirIsMade() throws {
        let folder = try TestData.temporaryDirectory("budget-in")
        _ = try TestData.photoFixtures(in: folder, names: ["coffee", "chelsea"])
        let work = try TestData.temporaryDirectory("budget-work").appendingPathComponent("work")
        let small = try TestData.shell(TestData.winnowExecutable.path,
                                       ["run", folder.path, "-w", work.path, "--quiet", "--max-memory", "200M"])
        #expect(small.status == 64, "\(small.output)")
        let lines = small.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("winnow: --max-memory 0.20 GiB is too small for this run"),
                "\(small.output)")
        #expect(small.output.contains("decoding (") && small.output.contains("--threads"))
        #expect(!FileManager.default.fileExists(atPath: work.path))
        // Fewer workers and smaller decode limits fit the same budget.
        let fits = try TestData.shell(TestData.winnowExecutable.path,
                                      ["run", folder.path, "-w", work.path, "--quiet", "--max-memory", "200M",
                                       "--threads", "1", "--max-image-pixels", "4000000", "--max-file-bytes", "8000000",
                                       "--no-embeddings"])
        #expect(fits.status == 0, "\(fits.output)")
    }

    @Test func theEstimateGrowsWithTheImagesAndTheIndexKind() {
        let limits = DecodeLimits()
        func total(_ n: Int, _ kind: IndexKind) -> Int64 {
            MemoryEstimate.run(images: n, dimension: 1856, workers: 2, limits: limits, index: kind, embeds: true,
                               verifies: true).total
        }
        #expect(total(200_000, .flat) - total(100_000, .flat) == 100_000 * (MemoryEstimate.bytesPerImage + 4))
        #expect(total(100_000, .hnsw) > total(100_000, .ivf) && total(100_000, .ivf) > total(100_000, .flat))
    }
}
