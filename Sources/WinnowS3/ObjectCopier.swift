import Foundation
import WinnowCore

/// Copies listed objects to the mirror, `concurrency` GETs at once; a copy whose ETag and size
/// match the object is kept as it is.
struct ObjectCopier: Sendable {
    let clients: ClientPool
    let mirror: ObjectMirror
    let options: S3Options

    struct Copied: Sendable {
        var sources: [SampleSource] = []
        var missing: [(source: SampleSource, problem: InvalidSample)] = []
        var nonImages = 0, downloaded = 0, reused = 0
        var bytes: Int64 = 0
    }

    /// What became of one object.
    private enum Outcome: Sendable {
        case reused(ObjectMirror.Entry)
        case downloaded(S3Object)
    }

    private struct Job: Sendable {
        var source: SampleSource
        var object: ListedObject
        var relative: String
        var known: ObjectMirror.Entry?
    }

    func copy(_ sources: [SampleSource], objects: [String: ListedObject],
              progress: (@Sendable (Int, Int) -> Void)?) async throws(S3Error) -> Copied {
        do { try FileManager.default.createDirectory(at: mirror.root, withIntermediateDirectories: true) } catch {
            throw .local(what: mirror.root.path, reason: "cannot create the folder: \(oneLine(error.localizedDescription))")
        }
        var manifest = mirror.loadManifest()
        let jobs = sources.compactMap { source in
            objects[source.id].map { object in
                let relative = mirror.relativePath(of: object.address)
                return Job(source: source, object: object, relative: relative, known: manifest[relative])
            }
        }
        var copied = Copied(), done = 0, failure: S3Error?
        await forEachConcurrently(jobs, limit: options.concurrency) { [self] job async -> Result<Outcome, S3Error> in
            do throws(S3Error) { return .success(try await fetch(job)) } catch { return .failure(error) }
        } receive: { index, result in
            let job = jobs[index]
            switch result {
            case .success(let outcome):
                if case .downloaded(let object) = outcome {
                    let entry = ObjectMirror.Entry(etag: object.etag, byteCount: object.byteCount)
                    manifest[job.relative] = entry
                    do throws(S3Error) { try mirror.record(entry, at: job.relative) } catch { failure = failure ?? error }
                }
                accept(job, outcome, into: &copied)
            case .failure(let error):
                copied.missing.append((unreadSource(job.source.id, job.object.address, mirror: mirror), problem(error)))
            }
            done += 1
            progress?(done, jobs.count)
        }
        if let failure { throw failure }
        copied.sources.sort { $0.id < $1.id }
        copied.missing.sort { $0.source.id < $1.source.id }
        try mirror.compact(manifest.filter { ObjectMirror.regularFileSize(mirror.root.appendingPathComponent($0.key).path) != nil })
        return copied
    }

    /// The local copy of `job`'s object: kept when the manifest has its ETag and size and the
    /// file is there with that size; else downloaded, unless a file winnow did not make is in the way.
    private func fetch(_ job: Job) async throws(S3Error) -> Outcome {
        let path = job.source.location.path
        if let known = job.known, known.etag == job.object.etag, known.byteCount == job.object.byteCount,
           ObjectMirror.regularFileSize(path) == known.byteCount {
            return .reused(known)
        }
        if job.known == nil, ObjectMirror.exists(path) {
            throw .local(what: job.source.id, reason: "\(path) exists and winnow did not copy it there: not overwritten")
        }
        let client = try clients.client(for: job.object.address)
        return .downloaded(try await client.download(job.object.address, to: URL(fileURLWithPath: path),
                                                     maximumBytes: options.maximumFileBytes))
    }

    /// Adds the copy as a sample (keyed by the ETag it has), or counts it as not an image when
    /// neither its name nor its first bytes say image.
    private func accept(_ job: Job, _ outcome: Outcome, into copied: inout Copied) {
        var source = job.source
        switch outcome {
        case .reused(let entry):
            (source.byteCount, source.modificationTime) = (entry.byteCount, etagStamp(entry.etag))
            copied.reused += 1
        case .downloaded(let object):
            (source.byteCount, source.modificationTime) = (object.byteCount, etagStamp(object.etag))
            copied.downloaded += 1
            copied.bytes += object.byteCount
        }
        let path = source.location.path
        let isImage = isImageCandidate(name: (job.object.address.key as NSString).lastPathComponent) {
            (FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 64) }).map { [UInt8]($0) } ?? []
        }
        if isImage { copied.sources.append(source) } else { copied.nonImages += 1 }
    }
}
