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
        let layout = try columnLayout(header, record: "line \(headerLine.number)", file: url.path)

        var annotations: [Annotation] = []
        var problems: [AnnotationError] = []
        for line in lines {
            let record = "line \(line.number)"
            guard let fields = CSVReader.fields(line.text) else {
                problems.append(AnnotationError(file: url.path, record: record, field: nil, reason: "unterminated quote"))
                continue
            }
            var row = CSVRow(fields: fields, layout: layout, file: url.path, record: record)
            let annotation = row.readAnnotation()
            problems += row.problems
            if let annotation { annotations.append(annotation) }
        }
        return AnnotationFile(url: url, format: .csv, annotations: annotations, classes: [], images: [], problems: problems)
    }

    /// Finds the columns named in `header`; throws when the filename or label column is missing or a box is incomplete.
    private func columnLayout(_ header: [String], record: String, file: String) throws(AnnotationError) -> CSVColumnLayout {
        let names = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ candidates: String...) -> Int? { names.firstIndex { candidates.contains($0) } }
        guard let filenameColumn = column("filename", "img_filename", "file", "path") else {
            throw AnnotationError(file: file, record: record, field: "filename",
                                  reason: "the header has no filename column (found: \(names.joined(separator: ",")))")
        }
        // Without labels nothing can be analysed: say so instead of finding "0 labelled images".
        guard let label = column(labelColumn.lowercased()) else {
            throw AnnotationError(file: file, record: record, field: labelColumn,
                                  reason: "the header has no label column '\(labelColumn)' (found: \(names.joined(separator: ","))); "
                                      + "name the label column with --label-column")
        }
        let boxNames = ["col_x", "row_y", "width", "height"]
        let cornerNames = ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"]
        let boxColumns = boxNames.compactMap { column($0) }
        let cornerColumns = cornerNames.compactMap { column($0) }
        if !boxColumns.isEmpty && boxColumns.count < 4 {
            throw AnnotationError(file: file, record: record,
                                  field: boxNames.first { column($0) == nil }, reason: "a box needs all of col_x,row_y,width,height")
        }
        if !cornerColumns.isEmpty && cornerColumns.count < 8 {
            throw AnnotationError(file: file, record: record,
                                  field: cornerNames.first { column($0) == nil }, reason: "a rotated box needs all of x1,y1,…,x4,y4")
        }
        return CSVColumnLayout(names: names, filename: filenameColumn, label: label, split: column("split"),
                               confidence: column("confidence", "score"), logits: column("logits"),
                               box: boxColumns, corners: cornerColumns)
    }
}

/// Where the header puts each column the reader uses (indices into a row's fields).
private struct CSVColumnLayout {
    /// The header's column names, trimmed and lowercased.
    var names: [String]
    var filename: Int
    var label: Int
    var split: Int?
    var confidence: Int?
    var logits: Int?
    /// `col_x,row_y,width,height` (all four or none) and `x1,y1,…,x4,y4` (all eight or none).
    var box: [Int]
    var corners: [Int]
}

/// One data row being read into an annotation, with the problems found in it.
private struct CSVRow {
    let fields: [String]
    let layout: CSVColumnLayout
    let file: String
    let record: String
    var problems: [AnnotationError] = []

    /// Records a problem with `field` (nil for the whole row).
    mutating func problem(_ field: String?, _ reason: String) {
        problems.append(AnnotationError(file: file, record: record, field: field, reason: reason))
    }

    /// The row's annotation, or nil when it has a problem (and must be skipped).
    mutating func readAnnotation() -> Annotation? {
        guard fields.count == layout.names.count else {
            problem(nil, "\(fields.count) fields where the header has \(layout.names.count)"); return nil
        }
        let filename = fields[layout.filename].trimmingCharacters(in: .whitespaces)
        guard !filename.isEmpty else { problem(layout.names[layout.filename], "empty file name"); return nil }
        var annotation = Annotation(filename: filename, record: record)
        let value = fields[layout.label].trimmingCharacters(in: .whitespaces)
        annotation.label = value.isEmpty ? nil : value
        if let split = layout.split {
            let value = fields[split].trimmingCharacters(in: .whitespaces)
            annotation.split = value.isEmpty ? nil : value
        }
        annotation.box = readBox()
        annotation.confidence = readConfidence()
        annotation.logits = readLogits()
        return problems.isEmpty ? annotation : nil
    }

    /// The numbers in `columns`: nil when all are empty, or (with a problem recorded) when one is not a number.
    mutating func readNumbers(_ columns: [Int]) -> [Double]? {
        let raw = columns.map { fields[$0].trimmingCharacters(in: .whitespaces) }
        if raw.allSatisfy(\.isEmpty) { return nil }
        var values: [Double] = []
        for (c, text) in zip(columns, raw) {
            guard let v = Double(text), v.isFinite else {
                problem(layout.names[c], text.isEmpty ? "missing number" : "'\(text)' is not a number"); return nil
            }
            values.append(v)
        }
        return values
    }

    /// The axis-aligned or rotated box, nil when the row has none or a bad one (then with a problem recorded).
    mutating func readBox() -> BoundingBox? {
        let boxColumns = layout.box, cornerColumns = layout.corners
        if boxColumns.count == 4, let v = readNumbers(boxColumns) {
            if v[2] <= 0 || v[3] <= 0 {
                problem(v[2] <= 0 ? layout.names[boxColumns[2]] : layout.names[boxColumns[3]], "box width and height must be > 0")
                return nil
            }
            return BoundingBox(x: v[0], y: v[1], width: v[2], height: v[3])
        } else if cornerColumns.count == 8, let v = readNumbers(cornerColumns) {
            let rotated = BoundingBox(corners: v)
            if rotated.area == 0 { problem(layout.names[cornerColumns[0]], "rotated box has no area") }
            return rotated
        }
        return nil
    }

    /// The confidence in [0, 1], nil when absent or empty, or (with a problem recorded) out of range.
    mutating func readConfidence() -> Double? {
        guard let column = layout.confidence else { return nil }
        let text = fields[column].trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if let v = Double(text), v >= 0, v <= 1 { return v }
        problem(layout.names[column], "'\(text)' is not a confidence in [0, 1]")
        return nil
    }

    /// The logits, nil when absent or empty, or (with a problem recorded) when they are not all numbers.
    mutating func readLogits() -> [Double]? {
        guard let column = layout.logits else { return nil }
        let text = fields[column].trimmingCharacters(in: CharacterSet(charactersIn: " []"))
        guard !text.isEmpty else { return nil }
        let parts = text.split { $0 == " " || $0 == ";" || $0 == "," }
        let values = parts.compactMap { Double($0) }.filter(\.isFinite)
        if values.count == parts.count, !values.isEmpty { return values }
        problem(layout.names[column], "logits must be numbers separated by spaces or ';'")
        return nil
    }
}
