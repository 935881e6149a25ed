import Foundation
import Testing
import WinnowTestSupport
@testable import WinnowCore

@Suite("The work_dir's typed schema")
struct WorkDirSchemaTests {
    @Test func rowsWrittenReadBackEqualWithFastdupsColumnsAndNumbers() throws {
        let folder = try TestData.temporaryDirectory("schema-roundtrip")
        let rows = [
            DuplicateRow(from: 3, to: 17, fromFilename: "a, \"b\".jpg", toFilename: "c\nd.png", score: 0.9123456789,
                         globalSimilarity: 0.5, checked: true, verified: true, matches: 40, inliers: 31, ncc: 0.97654,
                         residual: 0.4321, scale: 1.5, rotation: -90.126, mirrored: false, coveredFrom: 1, coveredTo: 0.25,
                         transform: "crop", detector: .orb),
            DuplicateRow(from: 4, to: 5, fromFilename: "e.jpg", toFilename: "f.jpg", score: 0.8, globalSimilarity: 0.8,
                         checked: false, verified: false),
        ]
        try WorkDirFile.duplicates.write(rows, in: folder)
        let text = try String(contentsOf: WorkDirFile.duplicates.url(in: folder), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "from,to,from_filename,to_filename,score,global_similarity,checked,verified,matches,inliers,ncc,"
                + "residual_px,scale,rotation_deg,mirrored,covered_from,covered_to,transform,detector")
        #expect(text.contains("0.912346,0.500000,1,1,40,31,0.9765,0.432,1.500,-90.13,0,1.000,0.250,crop,orb\n"))
        #expect(text.hasSuffix("4,5,e.jpg,f.jpg,0.800000,0.800000,0,0,,,,,,,,,,,\n"))
        let read = try #require(try WorkDirFile.duplicates.read(in: folder))
        #expect(read.count == 2)
        #expect(read[1] == rows[1])
        #expect(read[0].fromFilename == rows[0].fromFilename && read[0].toFilename == rows[0].toFilename)
        #expect(read[0].detector == .orb && read[0].transform == "crop" && read[0].mirrored == false)
        #expect(read[0].ncc == 0.9765 && read[0].rotation == -90.13, "numbers read back as written (fixed point)")
    }

    @Test func qualityFlagsAreOneColumnPerIssueAndAFileReadThenWrittenIsUnchanged() throws {
        let folder = try TestData.temporaryDirectory("schema-quality")
        let header = QualityRow.columns
        #expect(header.suffix(QualityIssue.allCases.count) == ArraySlice(QualityIssue.allCases.map { "is_" + $0.rawValue }))
        let flags = QualityIssue.allCases.map { [.dark, .tiny].contains($0) ? "1" : "0" }.joined(separator: ",")
        let text = header.joined(separator: ",") + "\n"
            + "1,x.jpg,,10,20,1.2346,,2.0000,3.0000,1,5,50,95,99,0.1000,0.2000,0.3000,\(flags)\n"
            + "2,\"y,z.png\",png,30,40,5.0000,0.5000,6.0000,7.0000,0,0,10,255,255,0.0000,0.0000,0.0000,"
            + QualityIssue.allCases.map { _ in "0" }.joined(separator: ",") + "\n"
        let url = WorkDirFile.quality.url(in: folder)
        try text.write(to: url, atomically: true, encoding: .utf8)
        let rows = try #require(try WorkDirFile.quality.read(in: folder))
        #expect(rows.map(\.issues) == [[.dark, .tiny], []])
        #expect(rows[0].format == nil && rows[0].directionalSharpness == nil && rows[0].brightnessP50 == 50)
        #expect(rows[1].filename == "y,z.png" && rows[1].format == "png" && rows[1].directionalSharpness == 0.5)
        try WorkDirFile.quality.write(rows, in: folder)
        #expect(try String(contentsOf: url, encoding: .utf8) == text)
    }

    @Test func aMissingFileIsNilAndABadValueNamesTheFileLineAndColumn() throws {
        let folder = try TestData.temporaryDirectory("schema-bad")
        #expect(try WorkDirFile.scores.read(in: folder) == nil)
        try "from,to,distance\n1,2,0.5\n3,x,0.4\n".write(to: WorkDirFile.similarity.url(in: folder), atomically: true, encoding: .utf8)
        do {
            _ = try WorkDirFile.similarity.read(in: folder)
            Issue.record("a row with a non-number index was read")
        } catch {
            #expect(error.line == 3)
            #expect(error.description.hasSuffix("similarity.csv:3: column to: \"x\" is not a number"))
        }
        // A column the file lacks reads as nil for an optional value (files of older versions).
        try "index,filename,label\n7,a.jpg,cat\n".write(to: WorkDirFile.labelScores.url(in: folder), atomically: true, encoding: .utf8)
        let scores = try #require(try WorkDirFile.labelScores.read(in: folder))
        #expect(scores == [LabelScoreRow(index: 7, filename: "a.jpg", label: "cat")])
    }

    /// The feature list names the rows of `atrain_features.dat`: read whole (a quoted name may
    /// hold a line break) or not at all — a skipped line would give later rows the wrong names.
    @Test func theFeatureListIsReadWholeOrNotAtAll() throws {
        let folder = try TestData.temporaryDirectory("schema-features")
        try WorkDirFile.featureList.write([FeatureListRow(index: 4, filename: "a\nb.jpg"), FeatureListRow(index: 9, filename: "c.jpg")],
                                          in: folder)
        let read = try WorkDirFeatures.samples(in: folder)
        #expect(read.ids == [4, 9] && read.filenames == ["a\nb.jpg", "c.jpg"])
        try "index,filename\n4,a.jpg\nfour,b.jpg\n5,c.jpg\n".write(to: WorkDirFile.featureList.url(in: folder), atomically: true,
                                                                  encoding: .utf8)
        #expect {
            _ = try WorkDirFeatures.samples(in: folder)
        } throws: { error in
            "\(error)".contains("atrain_features.dat.csv: line 3: column index: \"four\" is not a number")
        }
    }

    @Test func everyFileHasItsOwnNameAndNoRowTypeRepeatsAColumn() {
        let names = [WorkDirFile.featureList.name, WorkDirFile.numPyFeatureList.name, WorkDirFile.statistics.name,
                     WorkDirFile.badFiles.name, WorkDirFile.quality.name, WorkDirFile.exactDuplicates.name,
                     WorkDirFile.similarity.name, WorkDirFile.outliers.name, WorkDirFile.duplicates.name,
                     WorkDirFile.connectedComponents.name, WorkDirFile.componentInfo.name, WorkDirFile.nearDuplicates.name,
                     WorkDirFile.scores.name, WorkDirFile.leaks.name, WorkDirFile.newVsKnown.name, WorkDirFile.crops.name,
                     WorkDirFile.labelPurity.name, WorkDirFile.labelScores.name, WorkDirFile.likelyWrongLabels.name,
                     WorkDirFile.annotationProblems.name, WorkDirFile.detectionMistakenness.name,
                     WorkDirFile.correctedAnnotations.name, WorkDirFile.keep.name, WorkDirFile.remove.name,
                     WorkDirFile.reviewMarks.name, WorkDirFile.referenceMatches.name, WorkDirFile.imagesWithoutCrops.name]
        #expect(Set(names).count == names.count)
        let columnSets = allColumns
        for columns in columnSets { #expect(Set(columns).count == columns.count, "\(columns)") }
        for file in WorkDirFile.sliced {
            #expect(!file.sampleColumns.isEmpty, "\(file.name) is sliced by its sample columns")
        }
    }

    /// The multi-word column names (the distinctive ones) as string literals outside the schema:
    /// only where they name something else — the catalog's SQL columns, the user's annotation format.
    @Test func noOutputColumnNameIsSpelledOutsideTheSchema() throws {
        let columns = Set(allColumns.flatMap { $0 }.filter { $0.contains("_") })
        let elsewhere: Set<String> = [
            "WinnowCore/Outputs/Catalog.swift", "WinnowCore/Actions/CleanPlan.swift", "WinnowApp/WorkDirData.swift",  // SQL
            "WinnowCore/Decode/CropBox.swift", "WinnowCore/Labels/CSVAnnotationReader.swift",                          // annotations
            "WinnowCore/Outputs/Galleries/GalleryData.swift",
            "WinnowCluster/ScanJob.swift",  // the cluster's PostgreSQL columns
        ]
        let sources = TestFiles.repository.appendingPathComponent("Sources")
        let literal = try NSRegularExpression(pattern: "\"([a-z0-9_]+)\"")
        var found: [String] = []
        for case let path as String in FileManager.default.enumerator(atPath: sources.path) ?? NSEnumerator()
        where path.hasSuffix(".swift") && !path.contains("WorkDirSchema/") && !elsewhere.contains(path) {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            for match in literal.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text), columns.contains(String(text[range])) else { continue }
                found.append("\(path): \"\(text[range])\"")
            }
        }
        #expect(found.isEmpty, "\(found)")
    }

    private var allColumns: [[String]] {
        [FeatureListRow.columns, StatisticsRow.columns, BadFileRow.columns, QualityRow.columns, ExactDuplicateRow.columns,
         PairRow.columns, DuplicateRow.columns, ComponentMemberRow.columns, ComponentRow.columns, NearDuplicateRow.columns,
         ScoresRow.columns, LeakRow.columns, NewVsKnownRow.columns, CropRow.columns, LabelPurityRow.columns,
         LabelScoreRow.columns, LikelyWrongLabelRow.columns, AnnotationProblemRow.columns, DetectionMistakennessRow.columns,
         CorrectedAnnotationRow.columns, KeepRow.columns, RemoveRow.columns, ReviewMarkRow.columns, ReferenceMatchRow.columns,
         ImageWithoutCropsRow.columns]
    }
}
