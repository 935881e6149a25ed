import Foundation
import Testing

/// The benchmarks are an executable of their own: `winnow --help` lists only what users run,
/// `winnow-bench` has the eight benchmarks, and those that time `winnow run` use the `winnow`
/// built beside it.
@Suite struct BenchExecutableTests {
    /// The names in the SUBCOMMANDS section of a `--help` text, in order.
    static func subcommands(inHelp help: String) -> [String] {
        guard let start = help.range(of: "SUBCOMMANDS:\n") else { return [] }
        return help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
            .prefix { !$0.isEmpty }
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    @Test func winnowHelpDoesNotListBench() throws {
        let help = try TestData.shell(TestData.winnowExecutable.path, ["--help"])
        let names = Self.subcommands(inHelp: help.output)
        #expect(help.status == 0)
        #expect(names == ["run", "search", "clean", "undo", "models", "visualize", "gallery", "serve", "mark", "marks",
                          "cluster", "worker"], "\(help.output)")
        #expect(!help.output.contains("bench"), "\(help.output)")
    }

    @Test func benchHelpListsTheEightBenchmarks() throws {
        let help = try TestData.shell(TestData.benchExecutable.path, ["--help"])
        #expect(help.status == 0)
        #expect(Self.subcommands(inHelp: help.output) == ["decode", "embed", "copies", "index", "labels", "maps", "scale", "resume"], "\(help.output)")
        #expect(help.output.contains("winnow-bench decode --corpus"), "\(help.output)")
    }

    /// The shared option range checks give `winnow-bench` the same one-line usage errors as `winnow`.
    @Test(arguments: [
        (["index", "--k", "0"], "--k must be in 1…1000 (got 0)"),
        (["index", "--rows", "-5"], "--rows must be in 2…50000000 (got -5)"),
        (["maps", "--images", "0"], "--images must be in 1…10000000 (got 0)"),
        (["scale", "--sizes", "10k,20000"], "--sizes needs comma-separated whole numbers in 2…50000000 (got 10k,20000)"),
        (["scale", "--sizes", "1"], "--sizes needs comma-separated whole numbers in 2…50000000 (got 1)"),
        (["scale", "--copies", "0.9"], "--copies must be in 0…0.5 (got 0.9)"),
    ])
    func benchOptionsAreValidatedInOneLine(arguments: [String], message: String) throws {
        let result = try TestData.shell(TestData.benchExecutable.path, arguments)
        #expect(result.status == 64, "\(arguments): \(result.output)")
        #expect(result.output.hasPrefix("Error: " + message), "\(arguments): \(result.output)")
    }

    /// An exact index compared with the exact answer: every neighbour found; OpenBLAS runs this
    /// CPU's kernels (the bench starts again with them where OpenBLAS's detection falls back).
    @Test func indexBenchmarkRuns() throws {
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["index", "--rows", "2000", "--dimension", "16", "--clusters", "20", "--queries", "50",
                                         "--kind", "flat"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("winnow-bench index: 2000 × 16 cosine"), "\(result.output)")
        #expect(result.output.contains("recall@10 1.0000"), "\(result.output)")
        #expect(!result.output.contains("note: OpenBLAS chose"), "\(result.output)")
    }

    /// `winnow-bench decode` times the `winnow` beside it on the photos.
    @Test func decodeBenchmarkRunsTheWinnowBesideIt() throws {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images)
        let scratch = root.appendingPathComponent("scratch")
        let result = try TestData.shell(TestData.benchExecutable.path,
                                        ["decode", "--corpus", images.path, "--sizes", "4", "--scratch", scratch.path, "--skip-anchors"])
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.contains { $0.first == "4" && $0.count == 6 }, "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("decode-4/winnow.sqlite").path))
    }
}
