import Foundation
import Testing
@testable import WinnowCore

/// Values a hostile or careless user gives: non-finite vectors, forged sizes and ids, options
/// out of range. Each ends in one line and the right exit status, never a trap (the built
/// `winnow` runs as a subprocess, so a trap fails the test instead of the test runner).
@Suite(.serialized) struct HostileValuesTests {
    /// Four real photos; their sorted file ids are astronaut, chelsea, coffee, motorcycle_left.
    func photos() throws -> URL {
        let images = try TestData.temporaryDirectory().appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images)
        return images
    }

    func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }

    /// The fields of a CSV file that are NaN or infinite numbers.
    func nonFiniteFields(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(whereSeparator: { $0 == "," || $0.isNewline })
            .filter { Double($0).map { !$0.isFinite } ?? $0.lowercased().contains("nan") }.map(String.init)
    }

    /// Seeded vectors in `d` dimensions, one per row.
    func vectors(_ rows: Int, _ d: Int = 16) -> [[Float]] {
        var random = SplitMix(seed: 7)
        return (0..<rows).map { _ in (0..<d).map { _ in Float.random(in: -1...1, using: &random) } }
    }

    @Test func nonFiniteAndZeroNumPyRowsGetNoVectorAndOneLine() throws {
        let images = try photos()
        var rows = vectors(4)
        rows[1][3] = .nan       // chelsea
        rows[3] = [Float](repeating: 0, count: 16)   // motorcycle_left
        let npy = images.deletingLastPathComponent().appendingPathComponent("vectors.npy")
        try NumPyFile.float32(rows).write(to: npy)
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--embeddings", npy.path, "--threshold", "-1"])
        #expect(run.status == 0, "\(run.output)")
        let lines = run.output.split(separator: "\n").filter { $0.contains("row 1") }
        #expect(lines.count == 1 && lines[0].contains(npy.path) && lines[0].contains("row 3"), "\(run.output)")
        let summary = try String(contentsOf: work.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"embedded\" : 2"), "\(summary)")
        // With every pair listed (threshold -1), none involves the images without a vector.
        // (indices: astronaut 0, chelsea 1, coffee 2, motorcycle_left 3)
        let pairs = try TestData.readCSV(work.appendingPathComponent("similarity.csv")).map { [$0["from"], $0["to"]] }
        #expect(Set(pairs) == [["0", "2"], ["2", "0"]], "\(pairs)")
        for file in ["scores.csv", "similarity.csv", "connected_components.csv"] {
            #expect(try nonFiniteFields(work.appendingPathComponent(file)).isEmpty, "\(file)")
        }

        // Searching with a non-finite vector is a usage error; a finite one finds only embedded images.
        let query = rows[0].map { String($0) }
        let nan = try winnow(["search", work.path, "--vector", (["nan"] + query.dropFirst()).joined(separator: ",")])
        #expect(nan.status == 64 && nan.output.hasPrefix("Error: --vector") && nan.output.contains("'nan'"), "\(nan.output)")
        let found = try winnow(["search", work.path, "--vector", query.joined(separator: ","), "--json"])
        #expect(found.status == 0 && found.output.contains("astronaut") && !found.output.contains("chelsea"), "\(found.output)")
        let search = try SimilaritySearch(workDirectory: work)
        #expect(throws: SearchError.unusableVector) { try search.neighbors(ofVector: [Float](repeating: .infinity, count: 16)) }
    }

    @Test func nonFiniteRowsOfEmbeddingCSVAndFastdupDatAreNamed() throws {
        let folder = try TestData.temporaryDirectory()
        let names = ["a.jpg", "b.jpg", "c.jpg"]
        var rows = vectors(3, 4)
        rows[2][0] = .infinity
        var csv = "filename,v0,v1,v2,v3\n"
        for (name, row) in zip(names, rows) { csv += name + "," + row.map { String($0) }.joined(separator: ",") + "\n" }
        let csvURL = folder.appendingPathComponent("vectors.csv")
        try csv.write(to: csvURL, atomically: false, encoding: .utf8)
        let fromCSV = try PrecomputedEmbeddings.load(csvURL.path)
        #expect(fromCSV.unusableRows.map(\.record) == ["line 4"])
        #expect(fromCSV.unusableRowsMessage?.hasPrefix("line 4 (1 of 3 rows) have NaN") == true)

        let dat = folder.appendingPathComponent("atrain_features.dat")
        try Data(rows.flatMap { $0 }.withUnsafeBufferPointer { Data(buffer: $0) }).write(to: dat)
        try "index,filename\n0,a.jpg\n1,b.jpg\n2,c.jpg\n".write(to: URL(fileURLWithPath: dat.path + ".csv"), atomically: false, encoding: .utf8)
        let fromDat = try PrecomputedEmbeddings.load(dat.path)
        #expect(fromDat.unusableRows.map(\.row) == [2] && !fromDat.isUsable(row: 2) && fromDat.isUsable(row: 0))

        // A file without one usable row is refused.
        try "filename,v0,v1\na.jpg,nan,1\nb.jpg,0,0\n".write(to: csvURL, atomically: false, encoding: .utf8)
        #expect(throws: EmbeddingError.invalidEmbeddings(path: csvURL.path, reason: "every row has NaN or infinite values or is all zero")) {
            try PrecomputedEmbeddings.load(csvURL.path)
        }
    }

    /// A model whose output is log(mean colour): −∞ for a black image, finite for photos.
    @Test func modelOutputsWithNaNOrInfinityGiveNoVector() throws {
        let images = try photos()
        let black = images.appendingPathComponent("black.png")
        #expect(try TestData.shell("vips", ["black", black.path, "64", "64", "--bands", "3"]).status == 0)
        var builder = OnnxModelBuilder(graphName: "log-mean-colour")
        builder.addInput("pixels", dims: [.symbolic("n"), .fixed(3), .fixed(64), .fixed(64)])
        builder.addNode("GlobalAveragePool", name: "pool", inputs: ["pixels"], outputs: ["pooled"])
        builder.addNode("Log", name: "log", inputs: ["pooled"], outputs: ["logged"])
        builder.addNode("Flatten", name: "flatten", inputs: ["logged"], outputs: ["embedding"], attributes: [("axis", .int(1))])
        builder.addOutput("embedding", dims: [.symbolic("n"), .fixed(3)])
        let model = images.deletingLastPathComponent().appendingPathComponent("log.onnx")
        try Data(builder.serialized()).write(to: model)
        let work = images.deletingLastPathComponent().appendingPathComponent("work")
        let run = try winnow(["run", images.path, "-w", work.path, "--model", model.path, "--input-size", "64",
                              "--mean", "0,0,0", "--std", "1,1,1"])
        #expect(run.status == 0, "\(run.output)")
        let warning = run.output.split(separator: "\n").filter { $0.contains("black.png") }
        #expect(warning.count == 1 && warning[0].contains("NaN or infinite"), "\(run.output)")
        let summary = try String(contentsOf: work.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"embedded\" : 4"), "\(summary)")
        #expect(try nonFiniteFields(work.appendingPathComponent("scores.csv")).isEmpty)
    }

    /// Forged sizes and ids end in one line and a clean exit, not a trap.
    @Test func forgedSizesAndIdsAreOneLineErrors() throws {
        let images = try photos()
        let root = images.deletingLastPathComponent()
        // A COCO id past Int64 is just an id.
        let coco = root.appendingPathComponent("huge-id.json")
        try #"{"images": [{"id": 1e19, "file_name": "coffee.jpg"}, {"id": 2, "file_name": "chelsea.jpg"}],"#
            .appending(#""annotations": [{"image_id": 1e19, "category_id": 1e300}, {"image_id": 2, "category_id": 1}],"#)
            .appending(#""categories": [{"id": 1e300, "name": "cup"}, {"id": 1, "name": "cat"}]}"#)
            .write(to: coco, atomically: false, encoding: .utf8)
        let labelled = try winnow(["run", images.path, "-w", root.appendingPathComponent("w-coco").path, "--no-embeddings",
                                   "--annotations", coco.path])
        #expect(labelled.status == 0 && labelled.output.contains("2 labelled images"), "\(labelled.output)")

        // A .npy header whose shape overflows, or asks for terabytes: refused before the work_dir exists.
        for shape in ["(4611686018427387904, 4)", "(9223372036854775807, 9223372036854775807)", "(100000000000, 1280)", "(-4, 4)"] {
            let npy = root.appendingPathComponent("huge.npy")
            try (NumPyFile.header(descr: "<f4", shape: shape) + Data(count: 64)).write(to: npy)
            let work = root.appendingPathComponent("w-npy")
            let result = try winnow(["run", images.path, "-w", work.path, "--embeddings", npy.path])
            #expect(result.status == 65, "\(shape): \(result.output)")
            #expect(result.output.hasPrefix("winnow: cannot use embeddings \(npy.path): ") && result.output.split(separator: "\n").count == 1,
                    "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: work.path), "\(shape) left \(work.path) behind")
        }

    }

    /// A bad vectors or model file is found before the work_dir is created: a data error (65), or 66 when missing.
    @Test func unusableVectorsAndModelsLeaveNoWorkDir() throws {
        let images = try photos()
        let root = images.deletingLastPathComponent()
        let notNumPy = root.appendingPathComponent("bad.npy")
        try Data("not numpy at all".utf8).write(to: notNumPy)
        let wrongRows = root.appendingPathComponent("rows.npy")
        try NumPyFile.float32(vectors(3)).write(to: wrongRows)
        let corrupt = root.appendingPathComponent("corrupt.onnx")
        try Data("definitely not a protobuf".utf8).write(to: corrupt)
        let cases: [([String], Int32, String)] = [
            (["--embeddings", notNumPy.path], 65, "cannot use embeddings \(notNumPy.path): not a NumPy .npy file"),
            (["--embeddings", wrongRows.path], 65, "cannot use embeddings \(wrongRows.path): 3 rows, but the run has 4 files"),
            (["--embeddings", root.appendingPathComponent("none.npy").path], 66, "cannot use embeddings"),
            (["--model", corrupt.path], 65, "cannot load model \(corrupt.path): not a valid ONNX model"),
            (["--model", "/no/such/model.onnx"], 66, "model file not found: /no/such/model.onnx"),
        ]
        for (arguments, status, message) in cases {
            let work = root.appendingPathComponent("work")
            let result = try winnow(["run", images.path, "-w", work.path] + arguments)
            #expect(result.status == status, "\(arguments): \(result.output)")
            #expect(result.output.hasPrefix("winnow: " + message) && result.output.split(separator: "\n").count == 1, "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: work.path), "\(arguments) left the work_dir behind")
        }
    }

    @Test func annotationCSVWithoutTheLabelColumnIsOneLine() throws {
        let images = try photos()
        let csv = images.deletingLastPathComponent().appendingPathComponent("labels.csv")
        try "filename,category,split\ncoffee.jpg,cup,train\nchelsea.jpg,cat,val\n".write(to: csv, atomically: false, encoding: .utf8)
        let result = try winnow(["run", images.path, "-w", images.deletingLastPathComponent().appendingPathComponent("w").path,
                                 "--no-embeddings", "--annotations", csv.path])
        #expect(result.status == 65, "\(result.output)")
        #expect(result.output == "winnow: annotations: \(csv.path), line 1, field 'label': the header has no label column 'label' "
            + "(found: filename,category,split); name the label column with --label-column\n", "\(result.output)")
    }
}

/// `.npy` files written by the tests.
enum NumPyFile {
    /// A version 1 header for `descr` and `shape` (written as given), padded to 64 bytes.
    static func header(descr: String, shape: String) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
            + Data(header.utf8)
    }

    /// Rows as a float32 N×d array.
    static func float32(_ rows: [[Float]]) -> Data {
        header(descr: "<f4", shape: "(\(rows.count), \(rows.first?.count ?? 0))")
            + rows.flatMap { $0 }.withUnsafeBufferPointer { Data(buffer: $0) }
    }
}
