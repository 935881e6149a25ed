import Foundation
import Testing
@testable import WinnowCore

/// Per-stage figures: the meter on work it can see, and `winnow run`'s `stages` in summary.json.
@Suite struct StageMeterTests {
    /// A stage that touches 256 MB has that in its peak; the next stage, after it is freed, does
    /// not (the high-water mark is reset at each stage's start); the stages' CPU seconds add up
    /// to the process's over them; a stage entered twice adds up.
    @Test func eachStageHasItsOwnPeakAndCPU() throws {
        guard TestData.isAlone else {
            let alone = try TestData.runAlone()
            return #expect(alone.passed, "\(alone.output)")
        }
        let meter = StageMeter()
        let cpuBefore = StageMeter.processCPUSeconds()
        let bytes = 256 << 20
        meter.enter("decode")
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        block.deallocate()
        meter.enter("index")
        var sum: UInt64 = 0
        let started = Date()
        while Date().timeIntervalSince(started) < 0.3 { for i in 0..<100_000 { sum &+= UInt64(i) ^ sum } }
        meter.enter("decode")
        let stages = meter.finish()
        let cpu = StageMeter.processCPUSeconds() - cpuBefore
        #expect(sum != 1)
        #expect(stages.map(\.name) == ["decode", "index"], "\(stages)")
        let decode = try #require(stages.first), index = try #require(stages.last)
        #expect(decode.peakRSSBytes >= Int64(bytes), "\(stages)")
        if StageMeter.resetPeak() {
            #expect(index.peakRSSBytes < decode.peakRSSBytes - Int64(bytes / 2), "\(stages)")
        }
        #expect(index.wallSeconds >= 0.3 && index.cpuSeconds > 0 && decode.cpuSeconds > 0, "\(stages)")
        #expect(abs(decode.cpuSeconds + index.cpuSeconds - cpu) < 0.05, "\(stages), \(cpu) s of CPU in all")
    }

    /// The figures go to summary.json as `stages` with snake_case keys, and a summary written
    /// before them still reads.
    @Test func summaryJSONCarriesStagesAndOldSummariesStillRead() throws {
        let stage = StageFigures(name: "decode", wallSeconds: 1.5, cpuSeconds: 2.5, peakRSSBytes: 1 << 30)
        let json = String(decoding: try JSONEncoder().encode(stage), as: UTF8.self)
        for key in ["\"name\"", "\"wall_seconds\"", "\"cpu_seconds\"", "\"peak_rss_bytes\""] { #expect(json.contains(key), "\(json)") }
        #expect(try JSONDecoder().decode(StageFigures.self, from: Data(json.utf8)) == stage)
        let old = """
            {"exactDuplicateFiles":0,"exactDuplicateGroups":0,"files":3,"invalid":0,"invalidByCode":{},"issues":{},
             "processedThisRun":3,"reused":0,"seconds":1.25,"skippedNonImages":0,"skippedSmallFiles":0,"valid":3,
             "embedded":3,"featureDimension":8,"similarPairs":0,"components":0,"imagesInComponents":0,"outliers":0,
             "nearDuplicates":0,"leaks":0,"addedImages":0,"addedAlreadyKnown":0,"skippedEntries":0}
            """
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(old.utf8))
        #expect(summary.stages == nil && summary.files == 3)
    }

    /// `winnow run` measures every stage of the default pipeline; `--stages` prints them (each
    /// as it ends, and as a table), the default output does not.
    @Test func winnowRunWritesEveryStage() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images)
        let work = root.appendingPathComponent("work")
        let result = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "--work-dir", work.path, "--stages", "--quiet"])
        #expect(result.status == 0, "\(result.output)")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: work.appendingPathComponent("summary.json")))
        let stages = try #require(summary.stages)
        #expect(stages.map(\.name) == StageMeter.stageNames)
        for stage in stages {
            #expect(stage.wallSeconds >= 0 && stage.wallSeconds <= summary.seconds, "\(stage)")
            #expect(stage.cpuSeconds >= 0, "\(stage)")
            #expect(stage.peakRSSBytes > 4 << 20 && stage.peakRSSBytes < 64 << 30, "\(stage)")
        }
        #expect(stages.reduce(0) { $0 + $1.wallSeconds } <= summary.seconds + 0.01)
        #expect(try #require(stages.first { $0.name == "decode" }).cpuSeconds > 0, "\(stages)")
        let printed = result.output.split(separator: "\n").drop { $0 != "Stages:" }
        #expect(printed.count == 2 + StageMeter.stageNames.count, "\(result.output)")
        #expect(printed.dropFirst(2).map { $0.split(separator: " ").first.map(String.init) } == StageMeter.stageNames.map { $0 })
        // Each stage is also told as it ends (a long run shows them before it finishes or is killed).
        let told = result.output.split(separator: "\n").filter { $0.hasPrefix("winnow: stage ") }
            .compactMap { $0.dropFirst("winnow: stage ".count).split(separator: " ").first.map(String.init) }
        #expect(Set(told) == Set(StageMeter.stageNames) && told.first == "ingest" && told.last == "outputs", "\(told)")

        let plain = try TestData.shell(TestData.winnowExecutable.path, ["run", images.path, "--work-dir", work.path, "--quiet"])
        #expect(plain.status == 0 && !plain.output.contains("Stages:"), "\(plain.output)")

        // The stages reset the kernel's high-water mark: --json's process peak is still the highest,
        // and the run's own: started by a process that holds 1.5 GB, the run does not report it.
        struct Report: Decodable {
            struct Resources: Decodable { var peakRSSMegabytes: Double }
            var summary: RunSummary
            var resources: Resources
        }
        let held = 1_536 << 20, ballast = UnsafeMutableRawPointer.allocate(byteCount: held, alignment: 4096)
        defer { ballast.deallocate() }
        memset(ballast, 1, held)
        let json = try TestData.shell(TestData.winnowExecutable.path,
                                      ["run", images.path, "--work-dir", root.appendingPathComponent("fresh").path, "--quiet", "--json"])
        let report = try JSONDecoder().decode(Report.self, from: Data(json.output.utf8))
        let highest = try #require(report.summary.stages?.map(\.peakRSSBytes).max())
        #expect(report.resources.peakRSSMegabytes * 1_048_576 >= Double(highest), "\(json.output)")
        #expect(report.resources.peakRSSMegabytes < 1_000, "the parent's 1.5 GB counted as the run's: \(json.output)")
    }
}

/// `FreedMemory.returnLargeBlocks`: glibc otherwise serves a block from its heap (kept resident
/// when freed) once a larger one has been freed.
@Suite struct FreedMemoryTests {
    /// glibc marks a block that has a mapping of its own in its chunk header (`IS_MMAPPED`).
    private func isMapped(_ block: UnsafeMutableRawPointer) -> Bool {
        (block - MemoryLayout<UInt>.size).load(as: UInt.self) & 2 != 0
    }

    /// In a process of its own: blocks freed by the tests beside it could serve the request.
    @Test func blocksAboveFourMegabytesAreMappedEvenAfterALargerOneWasFreed() throws {
        guard TestData.isAlone else {
            let alone = try TestData.runAlone()
            return #expect(alone.passed, "\(alone.output)")
        }
        FreedMemory.returnLargeBlocks()
        free(malloc(24 << 20))
        let block = try #require(malloc(6 << 20))
        defer { free(block) }
        #expect(isMapped(block))
        let small = try #require(malloc(64 << 10))
        defer { free(small) }
        #expect(!isMapped(small))
    }

    /// Blocks under 4 MB freed together (an image's scratch: 20 MB in 256 KB blocks) stay in
    /// the heap for the next image: made again, they fault in few pages (with a kept top of 8 MB,
    /// every page again).
    @Test func aFreedHeapTopOfTwentyMegabytesIsKeptForTheNextImage() throws {
        guard TestData.isAlone else {
            let alone = try TestData.runAlone()
            return #expect(alone.passed, "\(alone.output)")
        }
        FreedMemory.returnLargeBlocks()
        func faults(_ body: () -> Void) -> Int {
            var before = rusage(), after = rusage()
            getrusage(RUSAGE_SELF.rawValue, &before)
            body()
            getrusage(RUSAGE_SELF.rawValue, &after)
            return after.ru_minflt - before.ru_minflt
        }
        func scratch() {
            let blocks = (0..<80).compactMap { _ in malloc(256 << 10) }
            for block in blocks { memset(block, 1, 256 << 10) }
            blocks.reversed().forEach { free($0) }
        }
        let pages = (20 << 20) / Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = faults(scratch)
        let again = faults(scratch)
        #expect(first >= pages / 2 && again < pages / 10, "page faults: first \(first), again \(again) of \(pages) pages")
    }
}
