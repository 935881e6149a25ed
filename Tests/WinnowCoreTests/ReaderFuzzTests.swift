import Foundation
import Testing
@testable import WinnowCore

/// Seeded random mutations of small real files fed to the text readers (`.npy` headers,
/// embeddings CSV, COCO JSON, YOLO labels and data yaml, annotation CSV, review marks): none may
/// trap, and every error and every skipped record's reason must be one line. Each reader gets
/// a bounded number of iterations (at most about two seconds).
@Suite struct ReaderFuzzTests {
    /// Changes bytes the way broken or hostile files differ from good ones.
    struct Mutator {
        var random: SplitMix
        static let tokens = ["1e19", "-1", "nan", "inf", "-inf", "1e400", "9223372036854775807", "18446744073709551616",
                             "0", "-0", "\n", "\r\n", "\"", ",", "\\n", "[", "]", "{", "}", ":", "'", "#", " ", "\t", "\u{0}",
                             "(", ")", "4611686018427387904", "é", "\u{2028}", #""a\nb""#, #""""#, "null", "[]", "{}"]
            .map { Array($0.utf8) }

        mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
            var out = bytes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &random)
                let length = out.isEmpty ? 0 : Int.random(in: 0...min(16, out.count - at), using: &random)
                let token = Self.tokens.randomElement(using: &random) ?? []
                switch Int.random(in: 0..<6, using: &random) {
                case 0: if !out.isEmpty { out[at] = UInt8.random(in: 0...255, using: &random) }
                case 1: out.removeSubrange(at..<(at + length))
                case 2: out.insert(contentsOf: out[at..<(at + length)], at: at)
                case 3: out.replaceSubrange(at..<(at + length), with: token)
                case 4: if let value = value(in: out) { out.replaceSubrange(value, with: token) }
                default: out = Array(out.prefix(at))
                }
            }
            return out
        }

        /// A number or a quoted string of `bytes`, at random: where a file's values are.
        mutating func value(in bytes: [UInt8]) -> Range<Int>? {
            func isNumber(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") }
            var values: [Range<Int>] = [], i = 0
            while i < bytes.count {
                var end = i + 1
                if bytes[i] == UInt8(ascii: "\"") {
                    end = (bytes[(i + 1)...].firstIndex(of: UInt8(ascii: "\"")) ?? i) + 1
                } else if isNumber(bytes[i]) {
                    while end < bytes.count && isNumber(bytes[end]) { end += 1 }
                }
                if end > i + 1 || isNumber(bytes[i]) { values.append(i..<end) }
                i = end
            }
            return values.randomElement(using: &random)
        }
    }

    /// Feeds `iterations` mutations of the seeds, written to `file`, to `read`, which returns the
    /// messages it produced (problems, warnings); thrown errors are messages too.
    func fuzz(_ seeds: [[UInt8]], file: URL, seed: UInt64, iterations: Int = 1500,
              read: (URL) throws -> [String]) throws {
        var mutator = Mutator(random: SplitMix(seed: seed))
        let deadline = Date().addingTimeInterval(2)
        for i in 0..<iterations where Date() < deadline {
            let bytes = mutator.mutate(seeds[i % seeds.count])
            try Data(bytes).write(to: file)
            var messages: [String]
            do { messages = try read(file) } catch { messages = ["\(error)"] }
            for message in messages where message.contains(where: \.isNewline) || message.isEmpty {
                Issue.record("\(file.lastPathComponent) mutation \(i): message not one line: \(message.debugDescription)")
                return
            }
        }
    }

    func skimage(_ name: String) throws -> Data { try Data(contentsOf: try TestData.skimageData().appendingPathComponent(name)) }

    @Test func numPyReader() throws {
        let valid = NumPyFile.float32(try hogRows())
        #expect(try PrecomputedEmbeddings.load(try write(valid, "hog.npy").path).matrix.rows == 8)
        // scikit-image's 200×200 uint8 chessboard relabelled as 200×50 float32 (the same 40000 bytes), and its HOG features (float64).
        var board = try skimage("chessboard_GRAY_U8.npy")
        let headerEnd: Int = 10 + Int(board[8]) + (Int(board[9]) << 8)
        let header = String(decoding: board.prefix(headerEnd), as: UTF8.self)
            .replacingOccurrences(of: "'|u1'", with: "'<f4'").replacingOccurrences(of: "(200, 200)", with: "(200,  50)")
        board.replaceSubrange(0..<headerEnd, with: Data(header.utf8))
        let seeds = [[UInt8](valid), [UInt8](board.prefix(2048)), [UInt8](try skimage("astronaut_GRAY_hog_L1.npy").prefix(4096))]
        try fuzz(seeds, file: try TestData.temporaryDirectory().appendingPathComponent("fuzz.npy"), seed: 1) { url in
            [try PrecomputedEmbeddings.load(url.path).unusableRowsMessage ?? "ok"]
        }
    }

    /// Real values: the first non-zero HOG features of scikit-image's astronaut, 8 rows of 6.
    func hogRows() throws -> [[Float]] {
        let hog = [UInt8](try skimage("astronaut_GRAY_hog_L1.npy"))
        let start: Int = 10 + Int(hog[8]) + (Int(hog[9]) << 8)
        var values: [Float] = []
        for offset in stride(from: start, to: hog.count - 7, by: 8) where values.count < 48 {
            let bits = (0..<8).reduce(UInt64(0)) { $0 | UInt64(hog[offset + $1]) << (8 * UInt64($1)) }
            let value = Double(bitPattern: bits)
            if value != 0 { values.append(Float(value)) }
        }
        return (0..<8).map { row in Array(values[(6 * row)..<(6 * row + 6)]) }
    }

    @Test func embeddingsCSVReader() throws {
        var csv = "filename,v0,v1,v2,v3,v4,v5\n"
        for (i, row) in try hogRows().enumerated() { csv += "photos/img_\(i).jpg," + row.map { String($0) }.joined(separator: ",") + "\n" }
        #expect(try PrecomputedEmbeddings.load(try write(Data(csv.utf8), "vectors.csv").path).matrix.rows == 8)
        try fuzz([Array(csv.utf8)], file: try TestData.temporaryDirectory().appendingPathComponent("fuzz.csv"), seed: 2) { url in
            [try PrecomputedEmbeddings.load(url.path).unusableRowsMessage ?? "ok"]
        }
    }

    @Test func cocoReader() throws {
        let coco = """
            {"images": [{"id": 1, "file_name": "photos/coffee.jpg", "split": "train", "width": 600, "height": 400},
                        {"id": 2, "file_name": "photos/chelsea.jpg", "split": "val"}],
             "categories": [{"id": 1, "name": "cup"}, {"id": "2", "name": "cat"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [120.5, 40, 300, 280], "score": 0.93,
                              "logits": [2.5, -1.0]},
                             {"id": 2, "image_id": 2, "category_id": "2"}, {"image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4]}]}
            """
        #expect(try AnnotationFile.read(try write(Data(coco.utf8), "coco.json")).annotations.count == 3)
        try fuzz([Array(coco.utf8)], file: try TestData.temporaryDirectory().appendingPathComponent("fuzz.json"), seed: 3) { url in
            try AnnotationFile.read(url, format: .coco).problems.map(\.description)
        }
    }

    @Test func annotationCSVReader() throws {
        let boxes = """
            filename,label,split,col_x,row_y,width,height,confidence,logits
            photos/coffee.jpg,cup,train,120,40,300,280,0.93,[2.5 -1.0]
            "photos/chelsea, the cat.jpg",cat,val,10,20,200,180,0.5,0.1;0.9
            photos/astronaut.jpg,person,test,,,,,,

            """
        let rotated = "filename,label,x1,y1,x2,y2,x3,y3,x4,y4\nphotos/coffee.jpg,cup,10,10,50,5,55,45,15,50\n"
        #expect(try AnnotationFile.read(try write(Data(boxes.utf8), "boxes.csv")).annotations.count == 3)
        try fuzz([Array(boxes.utf8), Array(rotated.utf8)], file: try TestData.temporaryDirectory().appendingPathComponent("fuzz.csv"),
                 seed: 4) { url in
            try AnnotationFile.read(url, format: .csv).problems.map(\.description)
        }
    }

    @Test func yoloReader() throws {
        // No '/' or '.' in the yaml, so that no mutation can point it at a large folder.
        let root = try TestData.temporaryDirectory()
        for (split, photo) in [("train", "coffee"), ("val", "chelsea")] {
            let folder = root.appendingPathComponent("\(split)_imgs")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            _ = try TestData.photoFixtures(in: folder, names: [photo])
        }
        let yaml = "train: train_imgs  # images\nval: [val_imgs]\nnames:\n  0: cup\n  1: 'cat'\n"
        let labels = "0 0.5 0.5 0.4 0.3\n1 0.2 0.3 0.1 0.1 0.9\n0 0.1 0.1 0.4 0.1 0.45 0.3 0.15 0.35\n"
        let data = root.appendingPathComponent("data.yaml"), labelFile = root.appendingPathComponent("train_imgs/coffee.txt")
        try yaml.write(to: data, atomically: false, encoding: .utf8)
        try labels.write(to: labelFile, atomically: false, encoding: .utf8)
        #expect(try AnnotationFile.read(data).annotations.count == 3)
        try fuzz([Array(labels.utf8)], file: labelFile, seed: 5) { _ in
            try AnnotationFile.read(data, format: .yolo).problems.map(\.description)
        }
        try labels.write(to: labelFile, atomically: false, encoding: .utf8)
        try fuzz([Array(yaml.utf8), Array("names: [cup, cat]\ntrain: train_imgs\n".utf8)], file: data, seed: 6) { url in
            try AnnotationFile.read(url, format: .yolo).problems.map(\.description)
        }
    }

    @Test func reviewMarksReader() throws {
        let marks = "index,filename,mark\n0,photos/coffee.jpg,keep\n1,\"photos/chelsea, the cat.jpg\",remove\n2,photos/astronaut.jpg,KEEP\n"
        #expect(try ReviewMark.read(from: try write(Data(marks.utf8), "marks.csv")).marks.count == 3)
        try fuzz([Array(marks.utf8)], file: try TestData.temporaryDirectory().appendingPathComponent("fuzz.csv"), seed: 7) { url in
            try ReviewMark.read(from: url).warnings
        }
    }

    private func write(_ data: Data, _ name: String) throws -> URL {
        let url = try TestData.temporaryDirectory().appendingPathComponent(name)
        try data.write(to: url)
        return url
    }
}
