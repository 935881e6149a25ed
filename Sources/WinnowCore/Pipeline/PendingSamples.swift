import Foundation

/// The samples a run still has to read, paged from the catalog so that the decode stage holds
/// one page of them, never the whole listing: the plain files in id order, then each archive's
/// members together (an archive is read in one pass), then each video's frames together (a
/// video is decoded in one pass). Without a catalog, a given list of
/// samples (``SampleScanner``) is read in the same order.
struct PendingSamples: Sendable {
    let catalog: Catalog?
    /// The samples to read when there is no catalog.
    var listed: [Catalog.PendingSample] = []
    /// Decoded samples without a feature row are read again (the run embeds).
    let needingFeatures: Bool
    let options: Options

    /// What the catalog does not hold about the samples to read.
    struct Options: Sendable {
        /// Inputs named but unreadable (missing from a file list, FIFOs, no permission), by id:
        /// recorded invalid without reading.
        var unreadable: [String: InvalidSample] = [:]
        /// `--data-type bbox`: the object each sample id cuts out.
        var objects: [String: ObjectCrop] = [:]
    }

    static let pageSize = 1024

    /// Hands `body` the plain files, a page at a time, in id order.
    func forEachFilePage(_ body: ([Catalog.PendingSample]) -> Void) throws {
        try forEachPage(archive: nil, body)
    }

    /// The archives holding pending members, each with its members (an archive's members are
    /// read in one pass, so they are listed together).
    func forEachArchive(_ body: (URL, [Catalog.PendingSample]) -> Void) throws {
        guard let catalog else {
            let members = Dictionary(grouping: listed) { sample -> String? in
                if case .archiveMember(let archive, _) = sample.source.location { return archive.path }
                return nil
            }
            for case let (archive?, samples) in members.sorted(by: { ($0.key ?? "") < ($1.key ?? "") }) {
                body(URL(fileURLWithPath: archive), samples)
            }
            return
        }
        for archive in try catalog.archivesWithPendingSamples(needingFeatures: needingFeatures) {
            var members: [Catalog.PendingSample] = []
            try forEachPage(archive: archive) { members += $0 }
            body(URL(fileURLWithPath: archive), members)
        }
    }

    /// The videos with pending frames, each with its frames in time order (a video is decoded
    /// in one pass; its frames are small records, at most ``VideoPlan/maximumFrames``).
    func forEachVideo(_ body: (String, [Catalog.PendingSample]) -> Void) throws {
        guard let catalog else {
            let frames = Dictionary(grouping: listed) { sample -> String? in
                if case .videoFrame(let frame) = sample.source.location { return frame.video }
                return nil
            }
            for case let (video?, samples) in frames.sorted(by: { ($0.key ?? "") < ($1.key ?? "") }) {
                body(video, samples.sorted { SampleSource.areInOrder($0.source, $1.source) })
            }
            return
        }
        for video in try catalog.videosWithPendingFrames(needingFeatures: needingFeatures) {
            var frames: [Catalog.PendingSample] = []
            var last: Int64 = -1
            while true {
                let page = try catalog.pendingSamples(after: last, limit: Self.pageSize, needingFeatures: needingFeatures,
                                                      archive: nil, video: video)
                guard let end = page.last?.id else { break }
                frames += page
                last = end
            }
            body(video, frames)
        }
    }

    private func forEachPage(archive: String?, _ body: ([Catalog.PendingSample]) -> Void) throws {
        guard let catalog else {
            let files = listed.filter { if case .file = $0.source.location { true } else { false } }
            for start in stride(from: 0, to: files.count, by: Self.pageSize) {
                body(Array(files[start..<min(files.count, start + Self.pageSize)]))
            }
            return
        }
        var last: Int64 = -1
        while true {
            var page = try catalog.pendingSamples(after: last, limit: Self.pageSize, needingFeatures: needingFeatures, archive: archive)
            guard let end = page.last?.id else { return }
            for index in page.indices { page[index].source.object = options.objects[page[index].source.id] }
            body(page)
            last = end
        }
    }
}
