import Foundation
import GRDB

/// Small JPEG previews of a work_dir's images, `WORK_DIR/thumbnails/<index>.jpg`, made on
/// demand from the original files (located through the catalog, archives included) and reused
/// while newer than their source. Used by the galleries and `winnow serve`. Images are named
/// by sample index only: the source path always comes from the catalog.
public final class ThumbnailStore: Sendable {
    public let workDirectory: URL
    /// Longer side of a thumbnail, in pixels.
    public let side: Int
    public let quality: Int
    /// The work_dir subfolder the JPEGs are kept in (`thumbnails`).
    public let folder: String
    /// The pixel and archive-member limits images are decoded with.
    public let limits: DecodeLimits
    private let locations: [Int64: SampleLocation]
    private let filenames: [Int64: String]

    public static let folderName = "thumbnails"

    /// Why a thumbnail could not be made; one line naming the file.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var index: Int64
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Reads where each sample's bytes are from `winnow.sqlite` (falling back to the
    /// filenames of `atrain_features.dat.csv` and `atrain_stats.csv`, taken as paths).
    /// `limits` nil: those of the run that made the work_dir (`config.json`), else the defaults.
    public init(workDirectory: URL, side: Int = 160, quality: Int = 80, folder: String = ThumbnailStore.folderName,
                limits: DecodeLimits? = nil) {
        self.workDirectory = workDirectory
        self.side = max(16, side)
        self.quality = min(100, max(1, quality))
        self.folder = folder
        self.limits = limits ?? Self.runLimits(workDirectory) ?? DecodeLimits()
        var locations: [Int64: SampleLocation] = [:], filenames: [Int64: String] = [:]
        let catalog = workDirectory.appendingPathComponent(Catalog.fileName)
        if FileManager.default.fileExists(atPath: catalog.path) {
            var configuration = Configuration()
            configuration.readonly = true
            if let queue = try? DatabaseQueue(path: catalog.path, configuration: configuration) {
                try? queue.read { db in
                    for row in try Row.fetchAll(db, sql: "SELECT id, filename, location, archive, member, frame_pts FROM samples") {
                        let id: Int64 = row["id"]
                        filenames[id] = row["filename"]
                        if let archive: String = row["archive"], let member: String = row["member"] {
                            locations[id] = .archiveMember(archive: URL(fileURLWithPath: archive), member: member)
                        } else if let location: String = row["location"], let frame: Int64 = row["frame_pts"] {
                            locations[id] = .videoFrame(VideoFrame(video: location, timestamp: frame))
                        } else if let location: String = row["location"] {
                            locations[id] = .file(location)
                        }
                    }
                }
            }
        }
        if locations.isEmpty, let (ids, names) = try? WorkDirFeatures.samples(in: workDirectory) {
            for (id, name) in zip(ids, names) {
                filenames[id] = name
                locations[id] = .file(name)
            }
        }
        self.locations = locations
        self.filenames = filenames
    }

    private init(copying store: ThumbnailStore, side: Int, folder: String) {
        workDirectory = store.workDirectory
        self.side = max(16, side)
        quality = store.quality
        self.folder = folder
        limits = store.limits
        locations = store.locations
        filenames = store.filenames
    }

    /// The decode limits in the work_dir's `config.json`, if it has them.
    private static func runLimits(_ workDirectory: URL) -> DecodeLimits? {
        guard let data = FileManager.default.contents(atPath: workDirectory.appendingPathComponent("config.json").path) else {
            return nil
        }
        return (try? JSONDecoder().decode(RunConfiguration.self, from: data))?.decodeLimits
    }

    /// A store of the same samples with another size, kept in another work_dir subfolder
    /// (such as large previews in `thumbnails/large`), without reading the catalog again.
    public func resized(side: Int, folder: String) -> ThumbnailStore {
        ThumbnailStore(copying: self, side: side, folder: folder)
    }

    /// Whether the catalog knows where the sample's bytes are.
    public func contains(_ index: Int64) -> Bool { locations[index] != nil }

    /// The thumbnail file of a sample (it may not exist yet).
    public func url(of index: Int64) -> URL {
        workDirectory.appendingPathComponent(folder).appendingPathComponent("\(index).jpg")
    }

    /// The sample's source file (or archive) path, for messages.
    public func sourcePath(of index: Int64) -> String {
        switch locations[index] {
        case .file(let path): path
        case .archiveMember(let archive, let member): archive.path + "/" + member
        case .videoFrame: filenames[index] ?? locations[index]?.path ?? ""
        case nil: filenames[index] ?? "sample \(index)"
        }
    }

    /// Makes (or reuses) the thumbnail of `index` and returns its file.
    @discardableResult
    public func thumbnail(of index: Int64) throws(Failure) -> URL {
        let target = url(of: index)
        if isFresh(index) { return target }
        let jpeg = try make(index)
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(jpeg, to: target)
        } catch {
            throw Failure(index: index, path: target.path, reason: "cannot write: \(error.localizedDescription)")
        }
        return target
    }

    /// The thumbnail's JPEG bytes: the cached file when it is fresh, else made now and cached
    /// when the work_dir is writable (a read-only work_dir only costs a new encoding next time).
    public func jpeg(of index: Int64) throws(Failure) -> Data {
        let target = url(of: index)
        if isFresh(index), let data = FileManager.default.contents(atPath: target.path) { return data }
        let jpeg = try make(index)
        try? FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? AtomicFile.write(jpeg, to: target)
        return jpeg
    }

    /// Whether the thumbnail file exists and is at least as new as its source.
    private func isFresh(_ index: Int64) -> Bool {
        guard let location = locations[index] else { return false }
        let sourceFile: URL
        switch location {
        case .file(let path): sourceFile = URL(fileURLWithPath: path)
        case .archiveMember(let archive, _): sourceFile = archive
        case .videoFrame(let frame): sourceFile = URL(fileURLWithPath: frame.video)
        }
        let manager = FileManager.default
        guard let made = (try? manager.attributesOfItem(atPath: url(of: index).path))?[.modificationDate] as? Date,
              let source = (try? manager.attributesOfItem(atPath: sourceFile.path))?[.modificationDate] as? Date else { return false }
        return made >= source
    }

    /// Reads, decodes (shrunk on load where the decoder can), reduces and encodes the sample's image.
    private func make(_ index: Int64) throws(Failure) -> Data {
        let path = sourcePath(of: index)
        guard let location = locations[index] else { throw Failure(index: index, path: path, reason: "not in this work_dir") }
        let bytes = try read(location, path: path, index: index)
        let decoded: DecodedImage
        do { decoded = try ImageDecoder(minimumSide: side, limits: limits).decode(bytes) } catch {
            throw Failure(index: index, path: path, reason: error.message)
        }
        let small = AreaResize.fit(decoded.image, within: side)
        return try Self.encodeJPEG(small, quality: quality, index: index, path: path)
    }

    /// Makes the thumbnails of `indices` on all cores; returns the failures (the rest exist).
    public func makeAll(_ indices: [Int64]) -> [Failure] {
        let slots = FailureSlots(count: indices.count)
        parallelRanges(indices.count, rangesPerCore: 4) { range in
            for i in range {
                do throws(Failure) { try self.thumbnail(of: indices[i]) } catch { slots.set(i, error) }
            }
        }
        return slots.all
    }

    private func read(_ location: SampleLocation, path: String, index: Int64) throws(Failure) -> [UInt8] {
        switch location {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(index: index, path: path, reason: "cannot read the file")
            }
            return [UInt8](data)
        case .videoFrame(let frame):
            switch frame.imageBytes(limits: limits) {
            case .success(let bytes): return bytes
            case .failure(let problem): throw Failure(index: index, path: path, reason: problem.message)
            }
        case .archiveMember(let archive, let member):
            var found: Result<[UInt8], InvalidSample>?
            do {
                try ArchiveReader(url: archive, maximumFileBytes: limits.maximumFileBytes).readMembers([member]) { _, result in
                    found = result
                    return false
                }
            } catch { throw Failure(index: index, path: path, reason: error.message) }
            switch found {
            case .success(let bytes): return bytes
            case .failure(let problem): throw Failure(index: index, path: path, reason: problem.message)
            case nil: throw Failure(index: index, path: path, reason: "not found in the archive")
            }
        }
    }

    /// Baseline JPEG of an RGB image (``JPEGEncoder``).
    static func encodeJPEG(_ image: RGBImage, quality: Int, index: Int64, path: String) throws(Failure) -> Data {
        do throws(JPEGEncoder.Failure) {
            return try JPEGEncoder.encode(image, quality: quality)
        } catch {
            throw Failure(index: index, path: path, reason: error.description)
        }
    }

    private final class FailureSlots: @unchecked Sendable {
        private let lock = NSLock()
        private var failures: [(Int, Failure)] = []
        init(count: Int) {}
        func set(_ i: Int, _ failure: Failure) { lock.lock(); failures.append((i, failure)); lock.unlock() }
        var all: [Failure] { failures.sorted { $0.0 < $1.0 }.map(\.1) }
    }
}
