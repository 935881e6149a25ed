import Foundation

/// COCO JSON: `images` (`id`, `file_name`, optional `split`), `categories` (`id`, `name`) and
/// `annotations` (`image_id`, `category_id`, optional `bbox` `[x, y, width, height]` in pixels;
/// predictions add `score` and optionally `logits`). An annotation without `bbox` labels the
/// whole image. A malformed annotation is skipped and reported as `annotations[i]` with its field.
struct COCOAnnotationReader {
    func read(_ url: URL) throws(AnnotationError) -> AnnotationFile {
        let object = try Self.jsonObject(at: url)
        guard let images = object["images"] as? [Any] else {
            throw AnnotationError(file: url.path, field: "images", reason: "missing or not a list")
        }
        guard let annotationList = object["annotations"] as? [Any] else {
            throw AnnotationError(file: url.path, field: "annotations", reason: "missing or not a list")
        }
        var problems: [AnnotationError] = []

        var categoryNames: [String: String] = [:]
        var classes: [String] = []
        for (i, element) in ((object["categories"] as? [Any]) ?? []).enumerated() {
            guard let category = Self.named(element, "categories", i, "name", file: url.path, problems: &problems) else {
                continue
            }
            categoryNames[category.id] = category.name
            classes.append(category.name)
        }

        var fileNames: [String: String] = [:]
        var splits: [String: String] = [:]
        var declared: [String] = []
        for (i, element) in images.enumerated() {
            guard let image = Self.named(element, "images", i, "file_name", file: url.path, problems: &problems) else {
                continue
            }
            fileNames[image.id] = image.name
            declared.append(image.name)
            if let split = image.fields["split"] as? String { splits[image.id] = split }
        }

        var annotations: [Annotation] = []
        for (i, element) in annotationList.enumerated() {
            do throws(AnnotationError) {
                annotations.append(try Self.annotation(element, record: "annotations[\(i)]", file: url.path, fileNames: fileNames,
                                                       splits: splits, categoryNames: categoryNames))
            } catch {
                problems.append(error)
            }
        }
        return AnnotationFile(url: url, format: .coco, annotations: annotations, classes: classes, images: declared,
                              problems: problems)
    }

    /// The file's top-level JSON object; throws when the file cannot be read, is not JSON or holds no object.
    private static func jsonObject(at url: URL) throws(AnnotationError) -> [String: Any] {
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
        return object
    }

    /// The `id` and `nameField` of `list[i]`, or nil (reported in `problems`) when either is missing.
    private static func named(_ element: Any, _ list: String, _ i: Int, _ nameField: String, file: String,
                              problems: inout [AnnotationError]) -> (id: String, name: String, fields: [String: Any])? {
        guard let fields = element as? [String: Any], let id = key(fields["id"]) else {
            problems.append(AnnotationError(file: file, record: "\(list)[\(i)]", field: "id", reason: "missing or not a number/string"))
            return nil
        }
        guard let name = fields[nameField] as? String, !name.isEmpty else {
            problems.append(AnnotationError(file: file, record: "\(list)[\(i)]", field: nameField, reason: "missing or not a string"))
            return nil
        }
        return (id, name, fields)
    }

    /// The annotation `element` describes; throws the problem that makes it unusable (the record is then skipped).
    private static func annotation(_ element: Any, record: String, file: String, fileNames: [String: String],
                                   splits: [String: String],
                                   categoryNames: [String: String]) throws(AnnotationError) -> Annotation {
        func problem(_ field: String?, _ reason: String) -> AnnotationError {
            AnnotationError(file: file, record: record, field: field, reason: reason)
        }
        guard let item = element as? [String: Any] else { throw problem(nil, "not an object") }
        guard let imageID = key(item["image_id"]) else { throw problem("image_id", "missing") }
        guard let filename = fileNames[imageID] else { throw problem("image_id", "no image with id \(imageID) in images") }
        var annotation = Annotation(filename: filename, split: splits[imageID], record: record)
        if let category = item["category_id"] {
            guard let id = key(category), let name = categoryNames[id] else {
                throw problem("category_id", "no category with id \(String(describing: category))")
            }
            annotation.label = name
        }
        if let raw = item["bbox"] {
            guard let values = numbers(raw), values.count == 4 else { throw problem("bbox", "needs [x, y, width, height] numbers") }
            guard values[2] > 0, values[3] > 0 else { throw problem("bbox", "width and height must be > 0") }
            annotation.box = BoundingBox(x: values[0], y: values[1], width: values[2], height: values[3])
        }
        if let raw = item["score"] ?? item["confidence"] {
            guard let score = (raw as? NSNumber)?.doubleValue, score >= 0, score <= 1 else {
                throw problem("score", "needs a number in [0, 1]")
            }
            annotation.confidence = score
        }
        if let raw = item["logits"] {
            guard let values = numbers(raw), !values.isEmpty else { throw problem("logits", "needs a list of numbers") }
            annotation.logits = values
        }
        return annotation
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
