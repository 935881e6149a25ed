import Foundation

/// Makes the local features of one image for copy verification: read back from the per-image
/// cache folder when an earlier run stored them there (`allowance` set: SIFT's), else decoded
/// from the image's bytes, cropped to `crop`, described, and stored for a later run while the
/// allowance lasts.
struct FeatureMaker: Sendable {
    /// The name ending of each image's cache file.
    static let fileExtension = ".lf"
    /// The cache folder (`local_features/`).
    let cache: URL
    /// Names the options in each cached file's name.
    let tag: String
    let options: LocalFeatures.Options
    let crop: CropBox?
    /// The disk the cache may take (nil: nothing is cached per image).
    let allowance: DiskAllowance?
    private let decoder: ImageDecoder

    init(cache: URL, tag: String, options: LocalFeatures.Options, crop: CropBox?, allowance: DiskAllowance?) {
        (self.cache, self.tag, self.options, self.crop, self.allowance) = (cache, tag, options, crop, allowance)
        decoder = ImageDecoder(minimumSide: options.maximumSide)
        if allowance != nil { try? FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true) }
    }

    /// Why an image has no features: the line the verification report gives.
    struct Problem: Error {
        var line: String
    }

    /// The features of `sample`, with whether they came from the cache; `bytes` reads the
    /// image when they did not.
    func features(of sample: ValidSample, bytes: () -> Result<[UInt8], InvalidSample>)
        -> Result<(features: LocalFeatures, fromCache: Bool), Problem> {
        let key = (sample.contentHash ?? Array(sample.path.utf8).withUnsafeBytes { ContentHash.hex($0) }) + "-" + tag
        let file = cache.appendingPathComponent(key + Self.fileExtension)
        if allowance != nil, let data = FileManager.default.contents(atPath: file.path),
           let cached = try? LocalFeatures.deserialize([UInt8](data), name: sample.filename) {
            return .success((cached, true))
        }
        do {
            let made = try extract(from: try bytes().get(), name: sample.filename)
            // A cache (reads are checked, a bad file is made again): no flush to disk per image.
            if let allowance {
                let serialized = made.serialized()
                if allowance.claim(serialized.count) { try? AtomicFile.write(Data(serialized), to: file, durable: false) }
            }
            return .success((made, false))
        } catch let error as InvalidSample {
            return .failure(Problem(line: "\(sample.filename): local features: \(error.message)"))
        } catch let error as LocalFeatureError {
            return .failure(Problem(line: "local features: \(error.message)"))
        } catch {
            return .failure(Problem(line: "\(sample.filename): local features: \(error)"))
        }
    }

    /// The features of an image's bytes, decoded for `options` and cropped to `crop`.
    private func extract(from bytes: [UInt8], name: String) throws -> LocalFeatures {
        let decoded = try decoder.decode(bytes)
        var image = decoded.image
        if let crop {
            guard let cropped = crop.crop(decoded.image, originalWidth: decoded.originalWidth,
                                          originalHeight: decoded.originalHeight) else {
                throw LocalFeatureError("the bounding box lies outside the image")
            }
            image = cropped
        }
        let sourceScale = Float(decoded.image.width) / Float(max(1, decoded.originalWidth))
        return try LocalFeatures.extract(from: image, options: options, sourceScale: sourceScale, name: name)
    }
}
