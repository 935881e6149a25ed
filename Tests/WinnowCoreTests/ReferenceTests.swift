import Foundation
import Testing
@testable import WinnowCore

/// `winnow run NEW --reference REF`: the copies of the reference's images among the new ones,
/// and nothing else, without merging the two sets' outputs.
@Suite(.serialized) struct ReferenceTests {
    /// Corpus set A split in two: the reference holds the originals `o00000`…`o000(cut-1)`, the
    /// new set everything else (their copies among them, and other photos with their copies).
    func split(cut: Int) throws -> (reference: URL, new: URL, truth: [String: String]) {
        let corpus = try TestData.corpus("A")
        let root = try TestData.temporaryDirectory("reference-\(cut)")
        let (reference, new) = (root.appendingPathComponent("ref"), root.appendingPathComponent("new"))
        for folder in [reference, new] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        var truth: [String: String] = [:]
        for row in try TestData.readCSV(corpus.appendingPathComponent("ground_truth.csv")) {
            guard let file = row["file"], let original = row["original_id"], let number = Int(original.dropFirst()) else { continue }
            truth[file] = original
            let inReference = row["transform"] == "original" && number < cut
            try FileManager.default.copyItem(at: corpus.appendingPathComponent("images/\(file)"),
                                             to: (inReference ? reference : new).appendingPathComponent(file))
        }
        return (reference, new, truth)
    }

    func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }

    /// A small reference (50 images, too few to whiten) and a larger one (80, whitened): every
    /// match is a copy of its reference image, and nearly every copy is found.
    @Test(arguments: [50, 80]) func theCopiesOfTheReferenceAreFoundAndNothingElse(cut: Int) throws {
        let (reference, new, truth) = try split(cut: cut)
        let (referenceWork, newWork) = (reference.appendingPathComponent("work"), new.appendingPathComponent("work"))
        #expect(try winnow(["run", reference.path, "-w", referenceWork.path, "--quiet"]).status == 0)
        let run = try winnow(["run", new.path, "-w", newWork.path, "--reference", referenceWork.path, "--quiet", "--json"])
        #expect(run.status == 0, "\(run.output)")

        let name = { (path: String) in URL(fileURLWithPath: path).lastPathComponent }
        let matches = try #require(try WorkDirFile.referenceMatches.read(in: newWork))
        let wrong = matches.filter { truth[name($0.filename)] != truth[name($0.referenceFilename)] }
        #expect(wrong.isEmpty, "\(wrong.map { "\(name($0.filename)) ~ \(name($0.referenceFilename)) \($0.similarity)" })")
        let originals = Set(try FileManager.default.contentsOfDirectory(atPath: reference.path).compactMap { truth[$0] })
        let copies = Set(try FileManager.default.contentsOfDirectory(atPath: new.path).filter { truth[$0].map(originals.contains) == true })
        let found = Set(matches.map { name($0.filename) })
        #expect(Double(found.intersection(copies).count) >= 0.9 * Double(copies.count), "found \(found.count) of \(copies.count)")
        // The two sets' own outputs stay apart.
        let ownPairs = try #require(try WorkDirFile.similarity.read(in: newWork))
        let newIndices = Set(try #require(try WorkDirFile.featureList.read(in: newWork)).map(\.index))
        #expect(!ownPairs.isEmpty && Set(ownPairs.flatMap { [$0.from, $0.to] }).isSubset(of: newIndices))
        #expect(Set(matches.map(\.index)).isSubset(of: newIndices))
        #expect(run.output.contains("\"referenceMatches\" : \(matches.count)") || run.output.contains("\"referenceMatches\":\(matches.count)"))
        // Without --reference the next run leaves no stale matches behind.
        #expect(try winnow(["run", new.path, "-w", newWork.path, "--quiet"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: WorkDirFile.referenceMatches.url(in: newWork).path))
    }

    @Test func anUnusableReferenceIsOneLineBeforeTheWorkDirIsMade() throws {
        let (reference, new, _) = try split(cut: 20)
        let work = new.appendingPathComponent("work")
        let missing = try winnow(["run", new.path, "-w", work.path, "--reference", reference.appendingPathComponent("nothing").path])
        #expect(missing.status == 66 && missing.output.contains("--reference") && missing.output.contains("not a Winnow work_dir"),
                "\(missing.output)")
        let features = reference.appendingPathComponent("work")
        #expect(try winnow(["run", reference.path, "-w", features.path, "--model", "mobilenet_v2", "--quiet"]).status == 0)
        let other = try winnow(["run", new.path, "-w", work.path, "--reference", features.path])
        #expect(other.status == 64 && other.output.contains("mobilenet_v2") && other.output.contains("copy descriptor"), "\(other.output)")
        #expect(!FileManager.default.fileExists(atPath: work.path), "nothing is made before the reference is checked")
    }
}
