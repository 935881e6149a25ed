import Foundation

/// YOLO: a data yaml (`path`, `train` / `val` / `test` as image folders or image-list files,
/// `names` as a list or an index map) and, for each image `…/images/…/x.jpg`, a label file
/// `…/labels/…/x.txt` whose lines are `class x_center y_center width height [confidence]`
/// (normalised to the image) or oriented boxes `class x1 y1 … x4 y4 [confidence]`. An image
/// without a label file has no objects. Bad lines are skipped and reported with their field.
struct YOLOAnnotationReader {
    func read(_ url: URL) throws(AnnotationError) -> AnnotationFile {
        let yaml = try Self.parseYAML(try readAnnotationText(url), file: url.path)
        let classes = yaml.names
        guard !classes.isEmpty else {
            throw AnnotationError(file: url.path, field: "names", reason: "missing: the class names are needed")
        }
        let folder = url.deletingLastPathComponent()
        var root = folder
        if let path = yaml.scalars["path"], !path.isEmpty {
            root = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
        }
        var annotations: [Annotation] = []
        var images: [String] = []
        var problems: [AnnotationError] = []
        var anySplit = false
        for split in ["train", "val", "test"] {
            for entry in yaml.lists[split] ?? [] where !entry.isEmpty {
                anySplit = true
                let location = entry.hasPrefix("/") ? URL(fileURLWithPath: entry) : root.appendingPathComponent(entry)
                let files: [URL]
                do { files = try Self.imageFiles(at: location) } catch {
                    throw AnnotationError(file: url.path, field: split, reason: error.reason)
                }
                for image in files {
                    let path = image.standardizedFileURL.path
                    images.append(path)
                    let labelURL = Self.labelFile(for: image)
                    guard FileManager.default.fileExists(atPath: labelURL.path) else { continue }
                    let text: String
                    do { text = try readAnnotationText(labelURL) } catch { problems.append(error); continue }
                    for (n, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                        let line = rawLine.trimmingCharacters(in: .whitespaces)
                        if line.isEmpty { continue }
                        switch Self.parseLine(line, classes: classes) {
                        case .success(let (label, box, confidence)):
                            annotations.append(Annotation(filename: path, label: label, split: split, box: box,
                                                          confidence: confidence, record: "\(labelURL.path) line \(n + 1)"))
                        case .failure(let failure):
                            problems.append(AnnotationError(file: labelURL.path, record: "line \(n + 1)", field: failure.field,
                                                            reason: failure.reason))
                        }
                    }
                }
            }
        }
        guard anySplit else { throw AnnotationError(file: url.path, field: "train", reason: "no train, val or test images given") }
        return AnnotationFile(url: url, format: .yolo, annotations: annotations, classes: classes, images: images,
                              problems: problems)
    }

    struct LineError: Error { var field: String; var reason: String }

    /// One label line → class name, normalised box, confidence.
    static func parseLine(_ line: String, classes: [String]) -> Result<(String, BoundingBox, Double?), LineError> {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard [5, 6, 9, 10].contains(parts.count) else {
            return .failure(LineError(field: "line", reason: "\(parts.count) values; expected 5 (class x y w h), 6 (+ confidence), 9 or 10 (oriented box)"))
        }
        guard let index = Int(parts[0]) else { return .failure(LineError(field: "class", reason: "'\(parts[0])' is not a class index")) }
        guard classes.indices.contains(index) else {
            return .failure(LineError(field: "class", reason: "class \(index) is not in names (0…\(classes.count - 1))"))
        }
        let oriented = parts.count >= 9
        let fieldNames = oriented ? ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"] : ["x_center", "y_center", "width", "height"]
        var values: [Double] = []
        for (name, text) in zip(fieldNames, parts[1...]) {
            guard let v = Double(text), v.isFinite else { return .failure(LineError(field: name, reason: "'\(text)' is not a number")) }
            guard v >= -0.01, v <= 1.01 else { return .failure(LineError(field: name, reason: "\(text) is outside the normalised range [0, 1]")) }
            values.append(v)
        }
        var confidence: Double?
        if parts.count == 6 || parts.count == 10 {
            guard let c = Double(parts[parts.count - 1]), c >= 0, c <= 1 else {
                return .failure(LineError(field: "confidence", reason: "'\(parts[parts.count - 1])' is not in [0, 1]"))
            }
            confidence = c
        }
        let box: BoundingBox
        if oriented {
            box = BoundingBox(corners: values, normalized: true)
        } else {
            guard values[2] > 0, values[3] > 0 else { return .failure(LineError(field: values[2] > 0 ? "height" : "width", reason: "must be > 0")) }
            box = BoundingBox(x: values[0] - values[2] / 2, y: values[1] - values[3] / 2, width: values[2], height: values[3],
                              normalized: true)
        }
        guard box.area > 0 else { return .failure(LineError(field: fieldNames[0], reason: "box has no area")) }
        return .success((classes[index], box, confidence))
    }

    /// `…/images/a/b.jpg` → `…/labels/a/b.txt` (the last `images` folder); beside the image otherwise.
    static func labelFile(for image: URL) -> URL {
        var parts = image.standardizedFileURL.pathComponents
        if let i = parts.lastIndex(of: "images"), i < parts.count - 1 { parts[i] = "labels" }
        let path = NSString.path(withComponents: parts)
        return URL(fileURLWithPath: (path as NSString).deletingPathExtension + ".txt")
    }

    struct FolderError: Error { var reason: String }

    /// The images of a folder (recursive, by extension) or of a list file (one path a line, relative to it).
    static func imageFiles(at location: URL) throws(FolderError) -> [URL] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isFolder) else {
            throw FolderError(reason: "\(location.path) not found")
        }
        if !isFolder.boolValue {
            guard let text = try? String(contentsOf: location, encoding: .utf8) else {
                throw FolderError(reason: "\(location.path) is not a readable image list")
            }
            let base = location.deletingLastPathComponent()
            return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                .map { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : base.appendingPathComponent($0) }
        }
        guard let walker = FileManager.default.enumerator(at: location, includingPropertiesForKeys: nil) else {
            throw FolderError(reason: "\(location.path) cannot be listed")
        }
        var files: [URL] = []
        for case let file as URL in walker where imageExtensions.contains(file.pathExtension.lowercased()) {
            files.append(file)
        }
        return files.sorted { $0.path < $1.path }
    }

    struct YAML {
        var scalars: [String: String] = [:]
        var lists: [String: [String]] = [:]
        var names: [String] = []
    }

    /// The subset of YAML a YOLO data file uses: top-level `key: value`, flow lists `[a, b]`,
    /// block lists `- a` and index maps `0: a` under a key.
    static func parseYAML(_ text: String, file: String) throws(AnnotationError) -> YAML {
        var yaml = YAML()
        var currentKey: String?
        var children: [String: [YAMLEntry]] = [:]
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = stripComment(String(raw))
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indented = line.first == " " || line.first == "\t"
            let content = line.trimmingCharacters(in: .whitespaces)
            if indented || content.hasPrefix("- ") {
                guard let key = currentKey else {
                    throw AnnotationError(file: file, record: "line \(n + 1)", reason: "indented entry outside a key")
                }
                let entry = try blockEntry(content, record: "line \(n + 1)", file: file)
                children[key, default: []].append(entry)
                continue
            }
            guard let colon = content.firstIndex(of: ":") else {
                throw AnnotationError(file: file, record: "line \(n + 1)", reason: "expected 'key: value'")
            }
            let key = String(content[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = String(content[content.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            currentKey = key
            if value.hasPrefix("[") {
                guard value.hasSuffix("]") else {
                    throw AnnotationError(file: file, record: "line \(n + 1)", field: key, reason: "unclosed '['")
                }
                yaml.lists[key] = value.dropFirst().dropLast().split(separator: ",").map { unquote(String($0)) }
            } else if value.hasPrefix("{") {
                guard value.hasSuffix("}") else {
                    throw AnnotationError(file: file, record: "line \(n + 1)", field: key, reason: "unclosed '{'")
                }
                children[key] = flowMapEntries(value)
            } else if !value.isEmpty {
                yaml.scalars[key] = unquote(value)
                yaml.lists[key] = [unquote(value)]
            }
        }
        for (key, entries) in children {
            if entries.allSatisfy({ $0.key == nil }) {
                yaml.lists[key] = entries.map(\.value)
            } else if key == "names" {
                yaml.lists[key] = try indexedNames(entries, file: file)
            }
        }
        yaml.names = yaml.lists["names"] ?? []
        return yaml
    }

    /// An entry nested under a key: `- value` (no key) or `key: value`.
    private typealias YAMLEntry = (key: String?, value: String)

    /// The entry of an indented line or a `- ` item (`content` is the line without its indentation).
    private static func blockEntry(_ content: String, record: String, file: String) throws(AnnotationError) -> YAMLEntry {
        if content.hasPrefix("-") {
            return (nil, unquote(String(content.dropFirst())))
        } else if let colon = content.firstIndex(of: ":") {
            return (unquote(String(content[..<colon])), unquote(String(content[content.index(after: colon)...])))
        }
        throw AnnotationError(file: file, record: record, reason: "expected '- value' or 'key: value'")
    }

    /// The `key: value` pairs of a flow map `{a: b, c: d}` (pairs without a colon are skipped).
    private static func flowMapEntries(_ value: String) -> [YAMLEntry] {
        value.dropFirst().dropLast().split(separator: ",").compactMap { (pair: Substring) -> YAMLEntry? in
            guard let c = pair.firstIndex(of: ":") else { return nil }
            return (unquote(String(pair[..<c])), unquote(String(pair[pair.index(after: c)...])))
        }
    }

    /// Class names given as an index map (`0: cat`), in index order; throws unless the indices run 0…count − 1.
    private static func indexedNames(_ entries: [YAMLEntry], file: String) throws(AnnotationError) -> [String] {
        var byIndex: [Int: String] = [:]
        for entry in entries {
            guard let k = entry.key, let index = Int(k), index >= 0 else {
                throw AnnotationError(file: file, field: "names", reason: "'\(entry.key ?? "-")' is not a class index")
            }
            byIndex[index] = entry.value
        }
        // Distinct indices ≥ 0 whose largest is count − 1 run 0…count − 1 (no `max + 1`: it may overflow).
        let count = byIndex.count
        guard byIndex.keys.max() == count - 1 else {
            throw AnnotationError(file: file, field: "names", reason: "class indices must run 0…\(count - 1) without gaps")
        }
        return (0..<count).map { byIndex[$0] ?? "" }
    }

    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        for (i, c) in line.enumerated() {
            if let q = quote { if c == q { quote = nil } } else if c == "'" || c == "\"" { quote = c } else if c == "#" {
                if i == 0 || line[line.index(line.startIndex, offsetBy: i - 1)] == " " { return String(line.prefix(i)) }
            }
        }
        return line
    }

    private static func unquote(_ text: String) -> String {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.count >= 2, let f = t.first, f == t.last, f == "'" || f == "\"" { return String(t.dropFirst().dropLast()) }
        return t
    }
}
