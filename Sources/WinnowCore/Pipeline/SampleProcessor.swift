import Foundation

/// Reads every pending sample and turns it into an outcome, on several threads: one thread
/// reads bytes (files, or archive members streamed in archive order) into a bounded queue,
/// `workers` threads hash, decode, measure and embed, and the caller's thread receives outcomes.
/// Inference runs on the workers (one single-threaded model call per image), so decoding and
/// inference overlap on every core without ONNX Runtime's thread-pool hand-offs.
struct SampleProcessor: Sendable {
    var decoder: ImageDecoder
    var calculator: StatisticsCalculator
    var workers: Int
    /// Applied to every decoded image before measuring and embedding.
    var crop: CropBox? = nil
    /// Embeds each decoded image on the worker threads, when embeddings are computed.
    var embedder: (any SampleEmbedder)? = nil

    struct Job: Sendable {
        var sampleID: Int64
        var bytes: Result<[UInt8], InvalidSample>
        /// The object to cut out (`--data-type bbox`).
        var object: ObjectCrop? = nil
    }

    /// Processes `pending` and hands each outcome to `receive` on the calling thread.
    func process(_ pending: [Int64: SampleSource], receive: (SampleOutcome) throws -> Void) throws {
        let jobs = BlockingQueue<Job>(capacity: workers * 4)
        let outcomes = BlockingQueue<SampleOutcome>(capacity: workers * 64)
        let order = pending.sorted { $0.key < $1.key }
        let byteLimit = decoder.limits.maximumFileBytes
        let reader = Thread { Self.read(order, into: jobs, byteLimit: byteLimit) }
        reader.stackSize = 1 << 20
        reader.start()
        let finished = BlockingQueue<Bool>(capacity: workers)
        for _ in 0..<workers {
            let worker = Thread { [self] in
                while let job = jobs.pop() { outcomes.push(self.outcome(of: job)) }
                finished.push(true)
            }
            worker.stackSize = 4 << 20
            worker.start()
        }
        let closer = Thread {
            for _ in 0..<workers { _ = finished.pop() }
            outcomes.close()
        }
        closer.start()
        var failure: Error?
        while let outcome = outcomes.pop() {
            guard failure == nil else { continue }
            do { try receive(outcome) } catch {
                failure = error
                jobs.close()
            }
        }
        if let failure { throw failure }
    }

    /// The reading stage: plain files one by one, archive members in one pass per archive.
    private static func read(_ order: [(key: Int64, value: SampleSource)], into jobs: BlockingQueue<Job>,
                             byteLimit: Int64) {
        var byArchive: [URL: [String: Int64]] = [:]
        var objects: [String: ObjectCrop] = [:]
        for (id, source) in order {
            switch source.location {
            case .file(let path):
                jobs.push(Job(sampleID: id, bytes: readFile(path, id: source.id, maximumBytes: byteLimit), object: source.object))
            case .archiveMember(let archive, let member):
                byArchive[archive, default: [:]][member] = id
                objects[member] = source.object
            }
        }
        for (archive, members) in byArchive.sorted(by: { $0.key.path < $1.key.path }) {
            var remaining = members
            do {
                try ArchiveReader(url: archive, maximumFileBytes: byteLimit).readMembers(Set(members.keys)) { member, bytes in
                    guard let id = remaining.removeValue(forKey: member) else { return true }
                    jobs.push(Job(sampleID: id, bytes: bytes, object: objects[member]))
                    return !remaining.isEmpty
                }
            } catch {
                for (member, id) in remaining {
                    jobs.push(Job(sampleID: id, bytes: .failure(InvalidSample(.unreadable,
                        "\(archive.lastPathComponent)/\(member): \(error.message)"))))
                }
                remaining = [:]
            }
            for (member, id) in remaining {
                jobs.push(Job(sampleID: id, bytes: .failure(InvalidSample(.unreadable,
                    "\(archive.lastPathComponent)/\(member): no longer in the archive"))))
            }
        }
        jobs.close()
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
        switch job.bytes {
        case .failure(let problem):
            return SampleOutcome(sampleID: job.sampleID, contentHash: nil, result: .failure(problem))
        case .success(let bytes):
            return bytes.withUnsafeBytes { buffer in
                let hash = buffer.isEmpty ? nil : ContentHash.hex(buffer) + (job.object?.hashSuffix ?? "")
                do throws(InvalidSample) {
                    let decoded = try decoder.decode(buffer)
                    var image = decoded.image, width = decoded.originalWidth, height = decoded.originalHeight
                    if let crop {
                        guard let cropped = crop.crop(image, originalWidth: width, originalHeight: height) else {
                            throw InvalidSample(.tooSmall, "the bounding box lies outside the \(width)×\(height) image")
                        }
                        (width, height) = (min(crop.width, width - min(width, crop.colX)), min(crop.height, height - min(height, crop.rowY)))
                        image = cropped
                    }
                    if let object = job.object {
                        guard let region = object.region(imageWidth: width, imageHeight: height),
                              let cut = region.crop(image, originalWidth: width, originalHeight: height) else {
                            throw InvalidSample(.tooSmall, "the object box lies outside the \(width)×\(height) image")
                        }
                        (width, height) = (region.width, region.height)
                        image = cut
                    }
                    let statistics = calculator.statistics(of: image, originalWidth: width, originalHeight: height)
                    return SampleOutcome(sampleID: job.sampleID, contentHash: hash,
                                         result: .success(ProcessedImage(format: decoded.format, statistics: statistics)),
                                         embedding: embedder.map { embedder in
                                             Result { () throws(EmbeddingError) in try embedder.vector(for: image) } })
                } catch {
                    return SampleOutcome(sampleID: job.sampleID, contentHash: hash, result: .failure(error))
                }
            }
        }
    }
}
