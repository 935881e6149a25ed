import Foundation

/// `--bounding-box face|ocr` (fastdup `bounding_box='face'` / `'ocr'`): before the run decodes
/// its samples, each image is decoded once at a bounded size and the detector run on it; every
/// region found becomes an object sample as `--data-type bbox` makes them
/// (``LabelStage/objectSource(_:number:crop:)``), grown by the run's margins. As in fastdup, an
/// image without a region gives no sample: it is listed in `images_without_crops.csv`. An image
/// that cannot be read or decoded stays a whole-image sample, so the decode stage records it in
/// `atrain_features.bad.csv` once, with its reason.
struct DetectionStage: Sendable {
    var options: DetectorOptions
    var limits: DecodeLimits
    var workers: Int

    /// The object samples (and undecodable images), each object's box by sample id, and the
    /// images that gave none.
    struct Detected: Sendable {
        var sources: [SampleSource] = []
        var objects: [String: Annotation] = [:]
        var withoutCrops: [ImageWithoutCropsRow] = []
    }

    /// What one image gave.
    private enum Outcome: Sendable {
        /// Regions in full-resolution pixels.
        case regions([CropBox])
        case unusable
        case detectorFailed(String)
    }

    /// Detects in `images` (in any order); `progress` counts images done. Throws only when the
    /// detector's model cannot be loaded (before any image is read).
    func run(_ images: [SampleSource], progress: ProgressHandler?) throws -> Detected {
        let pool = try DetectorPool(options)
        let listed = images.enumerated().map { Catalog.PendingSample(id: Int64($0.offset), source: $0.element) }
        let pending = PendingSamples(catalog: nil, listed: listed, needingFeatures: false, options: PendingSamples.Options())
        let decoder = ImageDecoder(minimumSide: options.kind.workingSide, limits: limits)
        var detected = Detected()
        var done = 0
        progress?("detect \(options.kind.rawValue)", 0, images.count)
        try SampleProcessor.forEachRead(pending, workers: workers, limits: limits,
                                        work: { job in (job.sample.id, Self.detect(job, decoder: decoder, pool: pool)) }) { id, outcome in
            record(outcome, of: images[Int(id)], into: &detected)
            done += 1
            progress?("detect \(options.kind.rawValue)", done, images.count)
        }
        detected.sources.sort(by: SampleSource.areInOrder)
        return detected
    }

    private func record(_ outcome: Outcome, of image: SampleSource, into detected: inout Detected) {
        switch outcome {
        case .unusable:
            detected.sources.append(image)
        case .detectorFailed(let message):
            detected.withoutCrops.append(ImageWithoutCropsRow(filename: image.displayName, detector: options.kind.rawValue,
                                                              reason: "detector failed: \(message)"))
        case .regions(let regions) where regions.isEmpty:
            let what = options.kind == .face ? "no face found" : "no text found"
            detected.withoutCrops.append(ImageWithoutCropsRow(filename: image.displayName, detector: options.kind.rawValue,
                                                              reason: what))
        case .regions(let regions):
            for (number, region) in regions.enumerated() {
                let box = BoundingBox(x: Double(region.colX), y: Double(region.rowY), width: Double(region.width),
                                      height: Double(region.height))
                let object = LabelStage.objectSource(image, number: number, crop: ObjectCrop(box: box, margins: options.margins))
                detected.sources.append(object)
                detected.objects[object.id] = Annotation(filename: image.displayName, label: options.kind.label, box: box,
                                                         record: "\(options.kind.rawValue) detector")
            }
        }
    }

    /// Decodes one image (reduced when its format allows) and runs a detector on it.
    private static func detect(_ job: SampleProcessor.Job, decoder: ImageDecoder, pool: DetectorPool) -> Outcome {
        guard case .success(let content) = job.content, let decoded = try? content.decoded(by: decoder) else { return .unusable }
        do throws(DetectorError) {
            let found = try pool.withDetector { detector throws(DetectorError) in try detector.regions(in: decoded.image) }
            let scaleX = Double(decoded.originalWidth) / Double(max(1, decoded.image.width))
            let scaleY = Double(decoded.originalHeight) / Double(max(1, decoded.image.height))
            return .regions(found.map { box in
                let x0 = Int((Double(box.colX) * scaleX).rounded()), y0 = Int((Double(box.rowY) * scaleY).rounded())
                let x1 = min(decoded.originalWidth, Int((Double(box.colX + box.width) * scaleX).rounded()))
                let y1 = min(decoded.originalHeight, Int((Double(box.rowY + box.height) * scaleY).rounded()))
                return CropBox(rowY: y0, colX: x0, height: y1 - y0, width: x1 - x0)
            }.filter { $0.width > 0 && $0.height > 0 })
        } catch {
            return .detectorFailed(error.description)
        }
    }
}
