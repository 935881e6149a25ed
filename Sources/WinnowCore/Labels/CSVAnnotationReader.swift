import Foundation

/// fastdup's annotation CSV: a header naming `filename` (or `img_filename`, `file`, `path`),
/// `label` (or the column given; required), `split`, a box as `col_x,row_y,width,height` or a
/// rotated box as `x1,y1,…,x4,y4` (pixels), and for predictions `confidence` (or `score`) and
/// `logits` (numbers separated by spaces or `;`, optionally in `[…]`). A row without a box is an
/// image-level label. Rows that cannot be read are skipped and reported with line and field.
struct CSVAnnotationReader {
    var labelColumn = "label"

    func read(_ url: URL) throws(AnnotationError) -> AnnotationFile {
        let text = try readAnnotationText(url)
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .map { (number: $0.offset + 1, text: $0.element) }
            .filter { !$0.text.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { throw AnnotationError(file: url.path, reason: "empty file: no header") }
        let headerLine = lines.removeFirst()
        guard let header = CSVReader.fields(headerLine.text) else {
            throw AnnotationError(file: url.path, record: "line \(headerLine.number)", reason: "unterminated quote in the header")
        }
        let names = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ candidates: String...) -> Int? { names.firstIndex { candidates.contains($0) } }
        guard let filenameColumn = column("filename", "img_filename", "file", "path") else {
            throw AnnotationError(file: url.path, record: "line \(headerLine.number)", field: "filename",
                                  reason: "the header has no filename column (found: \(names.joined(separator: ",")))")
        }
        // Without labels nothing can be analysed: say so instead of finding "0 labelled images".
        guard let label = column(labelColumn.lowercased()) else {
            throw AnnotationError(file: url.path, record: "line \(headerLine.number)", field: labelColumn,
                                  reason: "the header has no label column '\(labelColumn)' (found: \(names.joined(separator: ","))); "
                                      + "name the label column with --label-column")
        }
        let split = column("split")
        let confidence = column("confidence", "score")
        let logits = column("logits")
        let boxNames = ["col_x", "row_y", "width", "height"]
        let cornerNames = ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"]
        let boxColumns = boxNames.compactMap { column($0) }
        let cornerColumns = cornerNames.compactMap { column($0) }
        if !boxColumns.isEmpty && boxColumns.count < 4 {
            throw AnnotationError(file: url.path, record: "line \(headerLine.number)",
                                  field: boxNames.first { column($0) == nil }, reason: "a box needs all of col_x,row_y,width,height")
        }
        if !cornerColumns.isEmpty && cornerColumns.count < 8 {
            throw AnnotationError(file: url.path, record: "line \(headerLine.number)",
                                  field: cornerNames.first { column($0) == nil }, reason: "a rotated box needs all of x1,y1,…,x4,y4")
        }

        var annotations: [Annotation] = []
        var problems: [AnnotationError] = []
        for line in lines {
            let record = "line \(line.number)"
            func problem(_ field: String?, _ reason: String) {
                problems.append(AnnotationError(file: url.path, record: record, field: field, reason: reason))
            }
            guard let fields = CSVReader.fields(line.text) else { problem(nil, "unterminated quote"); continue }
            guard fields.count == names.count else {
                problem(nil, "\(fields.count) fields where the header has \(names.count)"); continue
            }
            let filename = fields[filenameColumn].trimmingCharacters(in: .whitespaces)
            guard !filename.isEmpty else { problem(names[filenameColumn], "empty file name"); continue }
            var annotation = Annotation(filename: filename, record: record)
            let value = fields[label].trimmingCharacters(in: .whitespaces)
            annotation.label = value.isEmpty ? nil : value
            if let split {
                let value = fields[split].trimmingCharacters(in: .whitespaces)
                annotation.split = value.isEmpty ? nil : value
            }
            var bad = false
            func numbers(_ columns: [Int]) -> [Double]? {
                let raw = columns.map { fields[$0].trimmingCharacters(in: .whitespaces) }
                if raw.allSatisfy(\.isEmpty) { return nil }
                var values: [Double] = []
                for (c, text) in zip(columns, raw) {
                    guard let v = Double(text), v.isFinite else {
                        problem(names[c], text.isEmpty ? "missing number" : "'\(text)' is not a number"); bad = true; return nil
                    }
                    values.append(v)
                }
                return values
            }
            if boxColumns.count == 4, let v = numbers(boxColumns) {
                if v[2] <= 0 || v[3] <= 0 {
                    problem(v[2] <= 0 ? names[boxColumns[2]] : names[boxColumns[3]], "box width and height must be > 0")
                    bad = true
                } else {
                    annotation.box = BoundingBox(x: v[0], y: v[1], width: v[2], height: v[3])
                }
            } else if cornerColumns.count == 8, let v = numbers(cornerColumns) {
                annotation.box = BoundingBox(corners: v)
                if annotation.box?.area == 0 { problem(names[cornerColumns[0]], "rotated box has no area"); bad = true }
            }
            if let confidence {
                let text = fields[confidence].trimmingCharacters(in: .whitespaces)
                if !text.isEmpty {
                    if let v = Double(text), v >= 0, v <= 1 { annotation.confidence = v } else {
                        problem(names[confidence], "'\(text)' is not a confidence in [0, 1]"); bad = true
                    }
                }
            }
            if let logits {
                let text = fields[logits].trimmingCharacters(in: CharacterSet(charactersIn: " []"))
                if !text.isEmpty {
                    let parts = text.split { $0 == " " || $0 == ";" || $0 == "," }
                    let values = parts.compactMap { Double($0) }.filter(\.isFinite)
                    if values.count == parts.count, !values.isEmpty { annotation.logits = values } else {
                        problem(names[logits], "logits must be numbers separated by spaces or ';'"); bad = true
                    }
                }
            }
            if !bad { annotations.append(annotation) }
        }
        return AnnotationFile(url: url, format: .csv, annotations: annotations, classes: [], images: [], problems: problems)
    }
}
