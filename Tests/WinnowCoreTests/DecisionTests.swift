import Foundation
import Testing
@testable import WinnowCore

/// Decisions that last (`winnow mark`): applied by every later run and `clean`, through
/// incremental runs and reruns with other thresholds, until undone.
@Suite(.serialized) struct DecisionTests {
    /// The bundled example with its near copy `astronaut_q30.jpg` moved to `canonical/`, analysed.
    func analysedExample() throws -> (images: URL, work: URL) {
        let root = try TestData.temporaryDirectory()
        let images = root.appendingPathComponent("images")
        #expect(try TestData.shell("bash", ["scripts/make-example.sh", try TestData.skimageData().path, images.path]).status == 0)
        let canonical = images.appendingPathComponent("canonical")
        try FileManager.default.createDirectory(at: canonical, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: images.appendingPathComponent("photos/astronaut_q30.jpg"),
                                         to: canonical.appendingPathComponent("astronaut_q30.jpg"))
        let work = root.appendingPathComponent("work")
        try run([images], work)
        return (images, work)
    }

    func run(_ inputs: [URL], _ work: URL, threshold: Float? = nil) throws {
        var configuration = RunConfiguration(inputs: inputs.map(\.path), workDirectory: work.path, embedding: .mobileNetV2(squash: false))
        if let threshold { configuration.analysis.threshold = threshold }
        _ = try Run(configuration: configuration).execute()
    }

    @Test func aPairMarkedNotACopyLeavesThePairsAndComponentsOfEveryLaterRunUntilUndone() throws {
        let (images, work) = try analysedExample()
        let index = try indices(work)
        let (a, b) = (try #require(index["astronaut.jpg"]), try #require(index["astronaut_q30.jpg"]))
        #expect(try pairs(work).contains([a, b]) && component(work)[a] == component(work)[b], "the copy is found before the mark")

        let marked = try winnow("mark", work.path, "--not-copy", "\(a),\(b)")
        #expect(marked.status == 0 && marked.output.contains("not a copy: \(min(a, b)) \(max(a, b))"), "\(marked.output)")
        try run([images], work)
        #expect(try !pairs(work).contains([a, b]) && component(work)[a] != component(work)[b], "the mark applies to the next run")
        #expect(try pairs(work).count > 0, "other pairs are still found")

        // An incremental run (a new image in the folder) and a rerun with another threshold keep it.
        let more = images.appendingPathComponent("more")
        try FileManager.default.createDirectory(at: more, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: more, names: ["camera"])
        try run([images], work)
        #expect(try indices(work)["camera.jpg"] != nil && indices(work)["astronaut.jpg"] == a && !pairs(work).contains([a, b]))
        try run([images], work, threshold: 0.5)
        #expect(try !pairs(work).contains([a, b]) && component(work)[a] != component(work)[b])

        let listed = try winnow("marks", work.path)
        #expect(listed.status == 0 && listed.output.hasPrefix("1  ") && listed.output.contains("not a copy"), "\(listed.output)")
        #expect(try winnow("marks", work.path, "--undo", "1").status == 0)
        #expect(try winnow("marks", work.path, "--undo", "1").status == 64, "a number that is no longer recorded")
        try run([images], work)
        #expect(try pairs(work).contains([a, b]), "undone, the pair is found again")
    }

    @Test func cleanKeepsProtectedFoldersAndAppliesKeepAndRemoveDecisions() throws {
        let (images, work) = try analysedExample()
        let index = try indices(work)
        let (original, copy, rocket) = (try #require(index["astronaut.jpg"]), try #require(index["astronaut_q30.jpg"]),
                                        try #require(index["rocket.jpg"]))
        let removed = { Set(try CleanPlan.make(workDirectory: work).removed.map(\.id)) }
        #expect(try removed().contains(copy) && !removed().contains(original), "the rules keep the better file")

        let protect = try winnow("mark", work.path, "--protect", images.appendingPathComponent("canonical").path + "/")
        #expect(protect.status == 0, "\(protect.output)")
        #expect(try !removed().contains(copy) && removed().contains(original), "nothing in a protected folder is removed")
        #expect(try winnow("mark", work.path, "--remove", "\(copy)").status == 0)
        #expect(try !removed().contains(copy), "protection wins over a remove decision")

        #expect(try winnow("mark", work.path, "--remove", "\(rocket)").status == 0)
        #expect(try CleanPlan.make(workDirectory: work).reviewed.map(\.id).contains(rocket), "removed outside any group")
        // A marks file given to clean overrides the recorded decision.
        let marks = work.appendingPathComponent("marks.csv")
        try "index,mark\n\(rocket),keep\n".write(to: marks, atomically: true, encoding: .utf8)
        let cleaned = try winnow("clean", work.path, "--marks", marks.path)
        let removeList = try TestData.readCSV(work.appendingPathComponent("remove.csv"))
        #expect(cleaned.status == 0 && !removeList.contains { $0["index"] == "\(rocket)" }, "\(cleaned.output)")
    }

    @Test func badDecisionsAreOneLineAndChangeNothing() throws {
        let (_, work) = try analysedExample()
        let cases: [([String], Int32, String)] = [
            (["--not-copy", "3,3"], 64, "two different image indices"),
            (["--not-copy", "3"], 64, "two different image indices"),
            (["--keep", "999999"], 64, "no image with index 999999"),
            (["--keep", "2", "--remove", "2"], 64, "both --keep and --remove"),
            (["--protect", "/nonexistent/folder"], 66, "no such folder"),
            ([], 64, "nothing to record"),
        ]
        for (arguments, status, message) in cases {
            let result = try TestData.shell(TestData.winnowExecutable.path, ["mark", work.path] + arguments)
            #expect(result.status == status && result.output.contains(message), "\(arguments): \(result.output)")
        }
        #expect(try winnow("marks", work.path).output.contains("no decisions"))
        #expect(try winnow("mark", "/nonexistent/work", "--keep", "1").status == 66)
    }

    /// Sample index by file name (last path component) from `atrain_features.dat.csv`.
    func indices(_ work: URL) throws -> [String: Int64] {
        Dictionary(try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { row in
            guard let index = Int64(row["index"] ?? ""), let name = row["filename"] else { return nil }
            return (URL(fileURLWithPath: name).lastPathComponent, index)
        }, uniquingKeysWith: { a, _ in a })
    }

    /// The pairs of `similarity.csv`, each as a set of two indices.
    func pairs(_ work: URL) throws -> Set<Set<Int64>> {
        Set(try TestData.readCSV(work.appendingPathComponent("similarity.csv")).compactMap { row in
            guard let a = Int64(row["from"] ?? ""), let b = Int64(row["to"] ?? "") else { return nil }
            return [a, b]
        })
    }

    /// Component id by sample index from `connected_components.csv`.
    func component(_ work: URL) throws -> [Int64: String] {
        Dictionary(try TestData.readCSV(work.appendingPathComponent("connected_components.csv")).compactMap { row in
            guard let index = Int64(row["__id"] ?? ""), let component = row["component_id"] else { return nil }
            return (index, component)
        }, uniquingKeysWith: { a, _ in a })
    }

    func winnow(_ arguments: String...) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }
}
