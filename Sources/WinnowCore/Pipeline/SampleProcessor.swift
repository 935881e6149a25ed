import Foundation
import Synchronization

/// Reads every pending sample and turns it into an outcome, on several threads: one thread
/// reads bytes (files, or archive members streamed in archive order) into a bounded queue,
/// `workers` threads hash, decode, measure and embed, and the caller's thread receives outcomes.
/// Inference runs on the workers (one single-threaded model call per image), so decoding and
/// inference overlap on every core without ONNX Runtime's thread-pool hand-offs.
struct SampleProcessor: Sendable {
    let decoder: ImageDecoder
    let calculator: StatisticsCalculator
    let workers: Int
    /// Applied to every decoded image before measuring and embedding.
    let crop: CropBox?
    /// Embeds each decoded image on the worker threads, when embeddings are computed.
    let embedder: (any SampleEmbedder)?
    /// `--video-keyframes`: videos are decoded keyframe by keyframe (see ``readVideo(_:frames:into:limits:keyframesOnly:)``).
    var keyframesOnly = false

    struct Job: Sendable {
        var sample: Catalog.PendingSample
        var content: Result<Content, InvalidSample>

        init(sample: Catalog.PendingSample, bytes: Result<[UInt8], InvalidSample>) {
            (self.sample, content) = (sample, bytes.map(Content.encoded))
        }

        init(sample: Catalog.PendingSample, frame: Result<RGBImage, InvalidSample>) {
            (self.sample, content) = (sample, frame.map(Content.frame))
        }
    }

    /// What the reading thread hands a worker: a file's bytes, or a video frame already decoded.
    enum Content: Sendable {
        case encoded([UInt8])
        case frame(RGBImage)

        /// XXH64 of the file's bytes (of a frame, of its PPM ``portablePixmap(_:)``, as if it
        /// were that file); nil for no bytes.
        var contentHash: String? {
            switch self {
            case .encoded(let bytes):
                return bytes.isEmpty ? nil : bytes.withUnsafeBytes { ContentHash.hex($0) }
            case .frame(let image):
                var hasher = ContentHasher()
                Array(portablePixmapHeader(image).utf8).withUnsafeBytes { hasher.update($0) }
                image.pixels.withUnsafeBytes { hasher.update($0) }
                return ContentHash.hex(hasher.value)
            }
        }

        /// The image, decoded by `decoder` (a frame as it is).
        func decoded(by decoder: ImageDecoder) throws(InvalidSample) -> DecodedImage {
            switch self {
            case .encoded(let bytes):
                return try decoder.decode(bytes)
            case .frame(let image):
                try decoder.checkNotTooSmall(width: image.width, height: image.height)
                return DecodedImage(image: image, originalWidth: image.width, originalHeight: image.height, format: .ppm,
                                    isGrayscaleSource: false)
            }
        }
    }

    /// Processes `pending` and hands each outcome to `receive` on the calling thread. The
    /// reading thread takes the samples from the catalog a page at a time.
    func process(_ pending: PendingSamples, receive: (SampleOutcome) throws -> Void) throws {
        try Self.forEachRead(pending, workers: workers, limits: decoder.limits, keyframesOnly: keyframesOnly,
                             work: { [self] job in self.outcome(of: job) }, receive: receive)
    }

    /// Reads `pending` on one thread (files, then archives and videos in one pass each), runs `work`
    /// on each sample's bytes on `workers` threads, and hands the results to `receive` on the calling thread.
    static func forEachRead<Output: Sendable>(_ pending: PendingSamples, workers: Int, limits: DecodeLimits,
                                              keyframesOnly: Bool = false,
                                              work: @escaping @Sendable (Job) -> Output,
                                              receive: (Output) throws -> Void) throws {
        let jobs = BlockingQueue<Job>(capacity: workers * 4)
        let outputs = BlockingQueue<Output>(capacity: workers * 64)
        let readFailure = Mutex<(any Error)?>(nil)
        let reader = Thread {
            do {
                try Self.read(pending, into: jobs, byteLimit: limits.maximumFileBytes)
                try pending.forEachVideo { video, frames in
                    Self.readVideo(video, frames: frames, into: jobs, limits: limits, keyframesOnly: keyframesOnly)
                }
            } catch { readFailure.withLock { $0 = error } }
            jobs.close()
        }
        reader.stackSize = 1 << 20
        reader.start()
        let finished = BlockingQueue<Bool>(capacity: workers)
        for _ in 0..<workers {
            let worker = Thread {
                while let job = jobs.pop() { outputs.push(work(job)) }
                finished.push(true)
            }
            worker.stackSize = 4 << 20
            worker.start()
        }
        let closer = Thread {
            for _ in 0..<workers { _ = finished.pop() }
            outputs.close()
        }
        closer.start()
        var failure: (any Error)?
        while let output = outputs.pop() {
            guard failure == nil else { continue }
            do { try receive(output) } catch {
                failure = error
                jobs.close()
            }
        }
        if let failure = failure ?? readFailure.withLock({ $0 }) { throw failure }
    }

    /// The reading stage: plain files one by one, archive members in one pass per archive;
    /// unreadable inputs become failed jobs without reading.
    private static func read(_ pending: PendingSamples, into jobs: BlockingQueue<Job>, byteLimit: Int64) throws {
        try pending.forEachFilePage { page in
            for sample in page {
                guard case .file(let path) = sample.source.location else { continue }
                let bytes = pending.options.unreadable[sample.source.id].map { .failure($0) }
                    ?? readFile(path, id: sample.source.id, maximumBytes: byteLimit)
                jobs.push(Job(sample: sample, bytes: bytes))
            }
        }
        try pending.forEachArchive { archive, members in
            // Members refused at ingest (videos) are recorded invalid without reading.
            let refused = members.compactMap { sample in pending.options.unreadable[sample.source.id].map { (sample, $0) } }
            for (sample, problem) in refused { jobs.push(Job(sample: sample, bytes: .failure(problem))) }
            let members = refused.isEmpty ? members : members.filter { pending.options.unreadable[$0.source.id] == nil }
            var remaining = Dictionary(grouping: members) { sample -> String in
                if case .archiveMember(_, let member) = sample.source.location { return member }
                return ""
            }
            func fail(_ why: String) {
                for (member, samples) in remaining {
                    for sample in samples {
                        jobs.push(Job(sample: sample, bytes: .failure(InvalidSample(.unreadable, "\(archive.lastPathComponent)/\(member): \(why)"))))
                    }
                }
                remaining = [:]
            }
            do {
                try ArchiveReader(url: archive, maximumFileBytes: byteLimit).readMembers(Set(remaining.keys)) { member, bytes in
                    guard let samples = remaining.removeValue(forKey: member) else { return true }
                    for sample in samples { jobs.push(Job(sample: sample, bytes: bytes)) }
                    return !remaining.isEmpty
                }
            } catch {
                fail((error as? ArchiveError)?.message ?? "\(error)")
            }
            fail("no longer in the archive")
        }
    }

    /// The reading stage of one video: its frames decoded in one pass, in time order, each
    /// wanted one handed on as pixels as soon as it is decoded, so
    /// one decoded frame at a time is held here. With `keyframesOnly` (`--video-keyframes`) the
    /// decoder skips every other frame, and a full pass decodes any frame that pass did not
    /// yield. Frames the video no longer yields (changed, truncated, damaged) fail with the reason.
    static func readVideo(_ path: String, frames: [Catalog.PendingSample], into jobs: BlockingQueue<Job>, limits: DecodeLimits,
                          keyframesOnly: Bool = false) {
        var wanted: [Int64: [Catalog.PendingSample]] = [:]
        for sample in frames {
            if case .videoFrame(let frame) = sample.source.location { wanted[frame.timestamp, default: []].append(sample) }
        }
        func fail(_ why: (Catalog.PendingSample) -> InvalidSample) {
            for sample in wanted.values.joined() { jobs.push(Job(sample: sample, bytes: .failure(why(sample)))) }
            wanted = [:]
        }
        for skipping in keyframesOnly ? [true, false] : [false] where !wanted.isEmpty {
            let reader: VideoReader
            do { reader = try VideoReader(path: path) } catch {
                return fail { InvalidSample(error.reason, "\($0.source.displayName): \(error.message)") }
            }
            let last = wanted.keys.max() ?? .min
            do throws(InvalidSample) {
                while !wanted.isEmpty, let timestamp = try reader.nextFrame(keyframesOnly: skipping), timestamp <= last {
                    guard let samples = wanted.removeValue(forKey: timestamp) else { continue }
                    let frame = Result { () throws(InvalidSample) in try reader.frameImage(limits: limits) }
                    for sample in samples { jobs.push(Job(sample: sample, frame: frame)) }
                }
            } catch {
                return fail { InvalidSample(.truncatedImage, "\($0.source.displayName): not decoded: \(error.message)") }
            }
        }
        fail { InvalidSample(.corruptImage, "\($0.source.displayName): the video no longer yields this frame") }
    }

    /// The bytes of a regular file; anything else (FIFO, device) is refused without blocking, and
    /// so is a file larger than `maximumBytes` (it is not read).
    static func readFile(_ path: String, id: String,
                         maximumBytes: Int64 = DecodeLimits.defaultMaximumFileBytes) -> Result<[UInt8], InvalidSample> {
        RegularFile.read(path, maximumBytes: maximumBytes).mapError { error in
            if case .tooLarge = error { return InvalidSample(.unsupportedFormat, "\(id): \(error) (--max-file-bytes); not read") }
            return InvalidSample(.unreadable, "\(id): \(error == .system(ENOENT) ? "file disappeared" : "\(error)")")
        }
    }

    func outcome(of job: Job) -> SampleOutcome {
        let sample = job.sample
        switch job.content {
        case .failure(let problem):
            return SampleOutcome(sample, contentHash: nil, result: .failure(problem))
        case .success(let content):
            let contentHash = content.contentHash.map { $0 + (sample.source.object?.hashSuffix ?? "") }
            do throws(InvalidSample) {
                let decoded = try content.decoded(by: decoder)
                var image = decoded.image, width = decoded.originalWidth, height = decoded.originalHeight
                if let crop {
                    guard let cropped = crop.crop(image, originalWidth: width, originalHeight: height) else {
                        throw InvalidSample(.tooSmall, "the bounding box lies outside the \(width)×\(height) image")
                    }
                    (width, height) = (min(crop.width, width - min(width, crop.colX)), min(crop.height, height - min(height, crop.rowY)))
                    image = cropped
                }
                if let object = sample.source.object {
                    guard let region = object.region(imageWidth: width, imageHeight: height),
                          let cut = region.crop(image, originalWidth: width, originalHeight: height) else {
                        throw InvalidSample(.tooSmall, "the object box lies outside the \(width)×\(height) image")
                    }
                    (width, height) = (region.width, region.height)
                    image = cut
                }
                let statistics = calculator.statistics(of: image, originalWidth: width, originalHeight: height)
                return SampleOutcome(sample, contentHash: contentHash,
                                     result: .success(ProcessedImage(format: decoded.format, statistics: statistics)),
                                     embedding: embedder.map { embedder in
                                         Result { () throws(EmbeddingError) in try embedder.vector(for: image) } })
            } catch {
                return SampleOutcome(sample, contentHash: contentHash, result: .failure(error))
            }
        }
    }
}

extension SampleProcessor {
    /// The processor a run with `configuration` uses: its decoder, analysis side, worker threads,
    /// crop and video sampling, with `embedder`.
    init(configuration: RunConfiguration, embedder: (any SampleEmbedder)?) {
        self.init(decoder: configuration.decoder(minimumSide: configuration.analysisSide),
                  calculator: StatisticsCalculator(analysisSide: configuration.analysisSide),
                  workers: configuration.workers, crop: configuration.crop, embedder: embedder)
        keyframesOnly = configuration.ingest.videoSampling == .keyframes
    }
}
