import Foundation

/// COCO JSON: `images` (`id`, `file_name`, optional `split`), `categories` (`id`, `name`) and
/// `annotations` (`image_id`, `category_id`, optional `bbox` `[x, y, width, height]` in pixels;
/// predictions add `score` and optionally `logits`). An annotation without `bbox` labels the
/// whole image. A malformed annotation is skipped and reported as `annotations[i]` with its field.
struct COCOAnnotationReader {
    func read(_ url: URL) throws(AnnotationError) -> AnnotationFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AnnotationError(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw AnnotationError(file: url.path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = root as? [String: Any] else {
            throw AnnotationError(file: url.path, reason: "expected a JSON object with images, annotations and categories")
        }
        guard let images = object["images"] as? [Any] else {
            throw AnnotationError(file: url.path, field: "images", reason: "missing or not a list")
        }
        guard let annotationList = object["annotations"] as? [Any] else {
            throw AnnotationError(file: url.path, field: "annotations", reason: "missing or not a list")
        }
        var problems: [AnnotationError] = []
        func problem(_ record: String, _ field: String?, _ reason: String) {
            problems.append(AnnotationError(file: url.path, record: record, field: field, reason: reason))
        }

        /// The `id` and `nameField` of `list[i]`, or nil (reported) when either is missing.
        func named(_ element: Any, _ list: String, _ i: Int, _ nameField: String) -> (id: String, name: String, fields: [String: Any])? {
            guard let fields = element as? [String: Any], let id = Self.key(fields["id"]) else {
                problem("\(list)[\(i)]", "id", "missing or not a number/string"); return nil
            }
            guard let name = fields[nameField] as? String, !name.isEmpty else {
                problem("\(list)[\(i)]", nameField, "missing or not a string"); return nil
            }
            return (id, name, fields)
        }

        var categoryNames: [String: String] = [:]
        var classes: [String] = []
        for (i, element) in ((object["categories"] as? [Any]) ?? []).enumerated() {
            guard let category = named(element, "categories", i, "name") else { continue }
            categoryNames[category.id] = category.name
            classes.append(category.name)
        }

        var fileNames: [String: String] = [:]
        var splits: [String: String] = [:]
        var declared: [String] = []
        for (i, element) in images.enumerated() {
            guard let image = named(element, "images", i, "file_name") else { continue }
            fileNames[image.id] = image.name
            declared.append(image.name)
            if let split = image.fields["split"] as? String { splits[image.id] = split }
        }

        var annotations: [Annotation] = []
        for (i, element) in annotationList.enumerated() {
            let record = "annotations[\(i)]"
            guard let item = element as? [String: Any] else { problem(record, nil, "not an object"); continue }
            guard let imageID = Self.key(item["image_id"]) else { problem(record, "image_id", "missing"); continue }
            guard let filename = fileNames[imageID] else {
                problem(record, "image_id", "no image with id \(imageID) in images"); continue
            }
            var annotation = Annotation(filename: filename, split: splits[imageID], record: record)
            if let category = item["category_id"] {
                guard let id = Self.key(category), let name = categoryNames[id] else {
                    problem(record, "category_id", "no category with id \(String(describing: category))"); continue
                }
                annotation.label = name
            }
            if let raw = item["bbox"] {
                guard let values = Self.numbers(raw), values.count == 4 else {
                    problem(record, "bbox", "needs [x, y, width, height] numbers"); continue
                }
                guard values[2] > 0, values[3] > 0 else { problem(record, "bbox", "width and height must be > 0"); continue }
                annotation.box = BoundingBox(x: values[0], y: values[1], width: values[2], height: values[3])
            }
            if let raw = item["score"] ?? item["confidence"] {
                guard let score = (raw as? NSNumber)?.doubleValue, score >= 0, score <= 1 else {
                    problem(record, "score", "needs a number in [0, 1]"); continue
                }
                annotation.confidence = score
            }
            if let raw = item["logits"] {
                guard let values = Self.numbers(raw), !values.isEmpty else {
                    problem(record, "logits", "needs a list of numbers"); continue
                }
                annotation.logits = values
            }
            annotations.append(annotation)
        }
        return AnnotationFile(url: url, format: .coco, annotations: annotations, classes: classes, images: declared,
                              problems: problems)
    }

    /// COCO ids are numbers (sometimes strings); both become the same key.
    private static func key(_ value: Any?) -> String? {
        if let number = value as? NSNumber {
            // Whole numbers as integers; any other (1e19, 2.5, NaN) as written by Double.
            let double = number.doubleValue
            return Int64(exactly: double).map { String($0) } ?? String(double)
        }
        if let string = value as? String, !string.isEmpty { return string }
        return nil
    }

    private static func numbers(_ value: Any) -> [Double]? {
        guard let list = value as? [Any] else { return nil }
        var values: [Double] = []
        for element in list {
            guard let number = element as? NSNumber, number.doubleValue.isFinite else { return nil }
            values.append(number.doubleValue)
        }
        return values
    }
}
