import Foundation
import Testing
import WinnowTestSupport
@testable import WinnowCore

@Suite(.serialized) struct VideoTests {
    @Test func framesAreSampledByTimeOrKeyframeAndNamedByTime() throws {
        let folder = try TestData.temporaryDirectory()
        _ = try VideoFixtures.pan(in: folder)
        func ids(_ sampling: VideoSampling?) throws -> [String] {
            try Ingestor(options: IngestOptions(videoSampling: sampling)).ingest([folder.path]).sources.map(\.id)
        }
        #expect(try ids(nil) == (0..<6).map { "pan.mp4#t=\($0).000" })
        #expect(try ids(.framesPerSecond(2)) == (0..<12).map { String(format: "pan.mp4#t=%.3f", Double($0) / 2) })
        // x264's default keyframe interval (250 frames) is longer than the clip: one keyframe.
        #expect(try ids(.keyframes) == ["pan.mp4#t=0.000"])
        let frame = try #require(try Ingestor().ingest([folder.path]).sources.last)
        #expect(frame.displayName == folder.path + "/pan.mp4#t=5.000")
        guard case .videoFrame(let location) = frame.location else { Issue.record("not a frame: \(frame.location)"); return }
        #expect(location.video == folder.appendingPathComponent("pan.mp4").path)
    }

    @Test func framesAreMeasuredEmbeddedAndSummarisedPerVideo() throws {
        let folder = try TestData.temporaryDirectory()
        let videos = folder.appendingPathComponent("videos")
        try FileManager.default.createDirectory(at: videos, withIntermediateDirectories: true)
        let pan = try VideoFixtures.pan(in: videos)
        _ = try VideoFixtures.repeated(pan, in: videos)
        _ = try VideoFixtures.still(in: videos)
        _ = try TestData.photoFixtures(in: videos, names: ["chelsea"])
        let work = folder.appendingPathComponent("work")
        let configuration = RunConfiguration(inputs: [videos.path], workDirectory: work.path, embedding: .copyDescriptor)
        let summary = try Run(configuration: configuration).execute()
        #expect(summary.valid == 6 + 12 + 5 + 1 && summary.invalid == 0)
        let stats = try TestData.readCSV(work.appendingPathComponent("atrain_stats.csv"))
        #expect(stats.count == 24 && stats.allSatisfy { Double($0["mean"] ?? "") ?? 0 > 20 })
        let names = try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { $0["filename"] }
        #expect(names.contains(videos.path + "/repeated.mkv#t=11.000") && names.contains(videos.path + "/still.webm#t=4.000"))
        // Frames are listed in time order (#t=9.000 before #t=10.000), not as text.
        #expect(names.filter { $0.contains("/repeated.mkv#") } == (0..<12).map { videos.path + "/repeated.mkv#t=\($0).000" })
        // The repeated clip's second half decodes to its first's pixels (6 groups), and the still
        // video's frames are all alike (1 group of 5).
        #expect(summary.exactDuplicateFiles == 6 + 4 && summary.exactDuplicateGroups == 6 + 1)
        // Across videos: each frame of pan.mp4 is a near duplicate of the repeated clip's.
        #expect(try Self.panFramesAlikeInRepeated(work).count == 6)
        let rows = try TestData.readCSV(work.appendingPathComponent("videos.csv"))
        let byVideo = Dictionary(uniqueKeysWithValues: rows.map { (URL(fileURLWithPath: $0["video"] ?? "").lastPathComponent, $0) })
        #expect(byVideo["pan.mp4"]?["frames"] == "6" && byVideo["pan.mp4"]?["duplicate_frames"] == "6")
        #expect(byVideo["repeated.mkv"]?["frames"] == "12" && byVideo["repeated.mkv"]?["duplicate_frames"] == "12")
        #expect(byVideo["still.webm"]?["static_runs"] == "1" && byVideo["still.webm"]?["frames_in_static_runs"] == "5")
        #expect(Int(byVideo["pan.mp4"]?["frames_in_static_runs"] ?? "") ?? 6 < 6, "a pan is not one static run")
        #expect(summary.videos?.count == 3)
        // Galleries draw frames like images: a thumbnail of a frame is made from the video.
        let ids = try Catalog(url: work.appendingPathComponent(Catalog.fileName)).sampleIDs()
        let frame = try #require(ids["videos/still.webm#t=2.000"] ?? ids["still.webm#t=2.000"])
        let thumbnail = try ThumbnailStore(workDirectory: work).thumbnail(of: frame)
        #expect(try ImageDecoder().decode([UInt8](Data(contentsOf: thumbnail))).originalWidth == 160)
        // A second run reuses every frame.
        let again = try Run(configuration: configuration).execute()
        #expect(again.processedThisRun == 0 && again.valid == 24)
        // Clean never moves a video for one of its frames.
        let removed = try CleanPlan.make(workDirectory: work, groups: [.exact]).removed
        #expect(removed.count == 10 && removed.allSatisfy { $0.location == nil }, "\(removed.map(\.location))")
    }

    /// The frames of pan.mp4 with a near duplicate (similarity > 0.99) among repeated.mkv's.
    private static func panFramesAlikeInRepeated(_ work: URL) throws -> Set<String> {
        let index = Dictionary(uniqueKeysWithValues: try TestData.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
            .map { ($0["index"] ?? "", URL(fileURLWithPath: $0["filename"] ?? "").lastPathComponent) })
        let crossPairs = try TestData.readCSV(work.appendingPathComponent("similarity.csv")).filter { pair in
            let names = [index[pair["from"] ?? ""] ?? "", index[pair["to"] ?? ""] ?? ""]
            return names.contains { $0.hasPrefix("pan.mp4#") } && names.contains { $0.hasPrefix("repeated.mkv#") }
                && Double(pair["distance"] ?? "") ?? 0 > 0.99
        }
        var panFrames = Set<String>()
        for pair in crossPairs {
            for end in [pair["from"], pair["to"]] {
                if let name = index[end ?? ""], name.hasPrefix("pan.mp4#") { panFrames.insert(name) }
            }
        }
        return panFrames
    }

    @Test func brokenVideosGiveTheirFramesSoFarAndOneInvalidRowEach() throws {
        let folder = try TestData.temporaryDirectory()
        let inputs = folder.appendingPathComponent("inputs")
        let made = folder.appendingPathComponent("made")
        for url in [inputs, made] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        let pan = try VideoFixtures.pan(in: made)
        let repeated = try VideoFixtures.repeated(pan, in: made)
        _ = try VideoFixtures.truncated(repeated, fraction: 0.4, as: "cut.mkv", in: inputs)
        _ = try VideoFixtures.truncated(pan, fraction: 0.6, as: "cut.mp4", in: inputs)
        try VideoFixtures.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac",
                                  inputs.appendingPathComponent("audio.mp4").path])
        try VideoFixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=gray:s=20016x16:d=1:r=1", "-c:v", "ffv1",
                                  inputs.appendingPathComponent("huge.mkv").path])
        try Data().write(to: inputs.appendingPathComponent("empty.mov"))
        try Data("not a video at all\n".utf8).write(to: inputs.appendingPathComponent("notes.avi"))
        let zipped = try TestData.shell("zip", ["-q", "-j", folder.appendingPathComponent("clips.zip").path, pan.path])
        #expect(zipped.status == 0, "\(zipped.output)")
        _ = try TestData.photoFixtures(in: inputs, names: ["coffee"])
        let work = folder.appendingPathComponent("work")
        let summary = try Run(configuration: RunConfiguration(inputs: [inputs.path, folder.appendingPathComponent("clips.zip").path],
                                                              workDirectory: work.path)).execute()
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        let codes = Dictionary(bad.map { (URL(fileURLWithPath: $0["filename"] ?? "").lastPathComponent, $0["error_code"] ?? "") },
                               uniquingKeysWith: { a, b in a + "+" + b })
        #expect(codes == ["cut.mkv": "ERROR_TRUNCATED_IMAGE", "cut.mp4": "ERROR_CORRUPT_IMAGE", "audio.mp4": "ERROR_UNSUPPORTED_FORMAT",
                          "huge.mkv": "ERROR_UNSUPPORTED_FORMAT", "empty.mov": "ERROR_UNSUPPORTED_FORMAT",
                          "notes.avi": "ERROR_CORRUPT_IMAGE"])
        #expect(bad.allSatisfy { row in
            let reason = row["reason"] ?? ""
            return !reason.isEmpty && !reason.contains("\n") && reason.contains(URL(fileURLWithPath: row["filename"] ?? "").lastPathComponent)
        })
        #expect(bad.first { $0["filename"]?.hasSuffix("audio.mp4") == true }?["reason"]?.contains("no video stream") == true)
        // The truncated Matroska file keeps the frames before the cut (4 s of its 12).
        let cutFrames = summary.videos?.first { $0.video.hasSuffix("cut.mkv") }?.frames ?? 0
        #expect(cutFrames >= 2 && cutFrames < 12)
        // The video inside clips.zip is read like the others.
        #expect(summary.valid == cutFrames + 1 + 6 && summary.invalid == 6)
    }

    @Test func framesReadOnwardByOneReaderAreTheFramesReadBySeeking() throws {
        let folder = try TestData.temporaryDirectory()
        let clip = folder.appendingPathComponent("gop3.mp4")
        // 12 s at 10 frames/s, a keyframe every 3 s, B-frames (x264's default).
        try VideoFixtures.ffmpeg(["-loop", "1", "-i", try TestData.skimageData().appendingPathComponent("chelsea.png").path,
                                  "-vf", "crop=160:160:'t*12':'t*5',format=yuv420p", "-t", "12", "-r", "10", "-c:v", "libx264",
                                  "-g", "30", clip.path])
        let plan = VideoPlan.make(path: clip.path, name: "gop3.mp4", sampling: .framesPerSecond(10))
        #expect(plan.frames.count == 120 && plan.problem == nil)
        func hash(_ bytes: Result<[UInt8], InvalidSample>) throws -> String {
            try bytes.get().withUnsafeBytes { ContentHash.hex($0) }
        }
        let seeking = try plan.frames.map { try hash(VideoFrame(video: clip.path, timestamp: $0.timestamp).imageBytes()) }
        #expect(Set(seeking).count > 100, "a pan: frames differ")
        var reader: VideoReader?
        let onward = try plan.frames.map { try hash(VideoFrame(video: clip.path, timestamp: $0.timestamp).imageBytes(reusing: &reader)) }
        #expect(onward == seeking)
        // Out of order (back, far ahead, a repeat) one reader still gives each frame's pixels.
        for index in [50, 53, 20, 100, 101, 101, 119, 0] {
            let frame = VideoFrame(video: clip.path, timestamp: plan.frames[index].timestamp)
            #expect(try hash(frame.imageBytes(reusing: &reader)) == seeking[index], "frame \(index)")
        }
    }

    @Test func keyframesAreDecodedOnTheirOwnToTheSamePixels() throws {
        let folder = try TestData.temporaryDirectory()
        let clips = folder.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: clips, withIntermediateDirectories: true)
        // A keyframe every 10 frames (1 s) of a 10 frames/s pan over chelsea.png.
        try VideoFixtures.ffmpeg(["-loop", "1", "-i", try TestData.skimageData().appendingPathComponent("chelsea.png").path,
                                  "-vf", "crop=200:200:'t*15':0,format=yuv420p", "-t", "6", "-r", "10", "-c:v", "libx264",
                                  "-g", "10", clips.appendingPathComponent("gop.mp4").path])
        func hashes(_ sampling: VideoSampling) throws -> [String: String] {
            let work = folder.appendingPathComponent("work-\(sampling == .keyframes ? "keyframes" : "fps")")
            let summary = try Run(configuration: RunConfiguration(inputs: [clips.path], workDirectory: work.path,
                                                                  ingest: IngestOptions(videoSampling: sampling))).execute()
            #expect(summary.invalid == 0)
            let rows = try Catalog(url: work.appendingPathComponent(Catalog.fileName)).query("SELECT path, content_hash FROM samples")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["path"] ?? "", $0["content_hash"] ?? "") })
        }
        let keyframes = try hashes(.keyframes)
        #expect(keyframes.count == 6 && keyframes.keys.contains("gop.mp4#t=5.000"))
        // A frame's content hash is its PPM file's (frames are handed to the workers as pixels).
        let plan = VideoPlan.make(path: clips.appendingPathComponent("gop.mp4").path, name: "gop.mp4", sampling: .standard)
        let ppm = try VideoFrame(video: clips.appendingPathComponent("gop.mp4").path, timestamp: try #require(plan.frames.last).timestamp)
            .imageBytes().get()
        #expect(keyframes["gop.mp4#t=5.000"] == ppm.withUnsafeBytes { ContentHash.hex($0) })
        #expect(keyframes == (try hashes(.standard)), "a keyframe decoded on its own has the pixels of a full decode")
    }

    @Test func absurdDurationsAndFrameCountsCostOnlyTheFramesThatExist() throws {
        let folder = try TestData.temporaryDirectory()
        let pan = try VideoFixtures.pan(in: folder)
        // The Matroska header's Duration (an 8-byte float, in ms) patched to 10¹³ ms: 317 years.
        var bytes = [UInt8](try Data(contentsOf: try VideoFixtures.repeated(pan, in: folder)))
        let at = try #require((0..<(bytes.count - 11)).first { bytes[$0] == 0x44 && bytes[$0 + 1] == 0x89 && bytes[$0 + 2] == 0x88 })
        bytes.replaceSubrange((at + 3)..<(at + 11), with: withUnsafeBytes(of: Double(1e13).bitPattern.bigEndian, Array.init))
        let absurd = folder.appendingPathComponent("absurd.mkv")
        try Data(bytes).write(to: absurd)
        let plan = VideoPlan.make(path: absurd.path, name: "absurd.mkv", sampling: .standard)
        #expect(plan.frames.count == 12 && plan.problem?.reason == .truncatedImage)
        #expect(plan.problem?.message.contains("of the 10000000000.000 s its header declares") == true, "\(String(describing: plan.problem))")
        // More sampled frames than a video may give: the first ones are kept, and one row says so.
        let capped = VideoPlan.make(path: pan.path, name: "pan.mp4", sampling: .framesPerSecond(10), maximumFrames: 5)
        #expect(capped.frames.count == 5 && capped.problem?.reason == .unsupportedFormat)
        #expect(capped.problem?.message.hasPrefix("pan.mp4: more than 5 sampled frames") == true)
        #expect(VideoPlan.make(path: pan.path, name: "pan.mp4", sampling: .framesPerSecond(10)).frames.count == 60)
    }

    @Test func theCommandLineSamplesAtTheAskedRateAndPrintsALinePerVideo() throws {
        let folder = try TestData.temporaryDirectory()
        _ = try VideoFixtures.still(in: folder)
        let work = try TestData.temporaryDirectory("video-work").appendingPathComponent("work")
        let run = try TestData.shell(TestData.winnowExecutable.path,
                                     ["run", folder.path, "--work-dir", work.path, "--video-fps", "2", "--no-embeddings", "--quiet"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("video \(folder.path)/still.webm: 10 frames, 1 static run (10 frames), 10 duplicate frames"),
                "\(run.output)")
        #expect(try TestData.readCSV(work.appendingPathComponent("videos.csv")).first?["frames"] == "10")
        for arguments in [["--video-fps", "0"], ["--video-fps", "2", "--video-keyframes"]] {
            let refused = try TestData.shell(TestData.winnowExecutable.path, ["run", folder.path, "--work-dir", work.path] + arguments)
            #expect(refused.status == 64, "\(arguments): \(refused.output)")
        }
    }

    // MARK: - Videos inside archives

    /// The files extracted from archives in `work`, by name, each with its inode and mtime.
    private static func extracted(_ work: URL) throws -> [String: String] {
        let folder = work.appendingPathComponent(ArchiveVideoFolder.name)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return try Dictionary(uniqueKeysWithValues: names.map { name in
            let status = try FileStatus.of(folder.appendingPathComponent(name).path).get()
            return (name, "\(status.identity.inode) \(status.modificationTime)")
        })
    }

    /// Every regular file under `folder`, by path.
    private static func files(under folder: URL) -> Set<String> {
        let manager = FileManager.default
        let paths = (manager.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []).map { folder.path + "/" + $0 }
        return Set(paths.filter { path in
            var isFolder: ObjCBool = false
            return manager.fileExists(atPath: path, isDirectory: &isFolder) && !isFolder.boolValue
        })
    }

    @Test func videosInArchivesGiveFramesNamedByTheMemberExtractedOnce() throws {
        let folder = try TestData.temporaryDirectory()
        let made = try VideoFixtures.folder("made", in: folder)
        let pan = try VideoFixtures.pan(in: made)
        _ = try VideoFixtures.repeated(pan, in: made)
        _ = try TestData.photoFixtures(in: made, names: ["chelsea"])
        let archive = folder.appendingPathComponent("clips.tar.gz")
        let tarred = try TestData.shell("tar", ["-czf", archive.path, "-C", made.path, "pan.mp4", "repeated.mkv", "chelsea.jpg"])
        #expect(tarred.status == 0, "\(tarred.output)")
        let work = folder.appendingPathComponent("work")
        let configuration = RunConfiguration(inputs: [archive.path], workDirectory: work.path, embedding: .copyDescriptor)
        let summary = try Run(configuration: configuration).execute()
        #expect(summary.valid == 6 + 12 + 1 && summary.invalid == 0)
        let features = work.appendingPathComponent("atrain_features.dat.csv")
        let names = try TestData.readCSV(features).compactMap { $0["filename"] }
        #expect(names.contains(archive.path + "/pan.mp4#t=5.000") && names.contains(archive.path + "/repeated.mkv#t=11.000"))
        #expect(names.contains(archive.path + "/chelsea.jpg") && !names.contains { $0.contains(ArchiveVideoFolder.name) })
        #expect(try Self.panFramesAlikeInRepeated(work).count == 6)
        let videos = try TestData.readCSV(work.appendingPathComponent("videos.csv")).compactMap { $0["video"] }
        #expect(videos == [archive.path + "/pan.mp4", archive.path + "/repeated.mkv"])
        #expect(summary.videos?.map(\.video) == videos)
        // Thumbnails and galleries read the frames from the extracted files.
        let ids = try Catalog(url: work.appendingPathComponent(Catalog.fileName)).sampleIDs()
        let thumbnail = try ThumbnailStore(workDirectory: work).thumbnail(of: try #require(ids["clips.tar.gz/pan.mp4#t=2.000"]))
        #expect(try ImageDecoder().decode([UInt8](Data(contentsOf: thumbnail))).originalWidth == 160)
        var gallery = GalleryWriter(workDirectory: work, options: GalleryOptions(kind: .duplicates))
        let page = try #require(try gallery.write().first)
        let shown = try GalleryTests.cards(page.url).flatMap(GalleryTests.images).compactMap { $0["filename"] as? String }
        #expect(gallery.warnings.isEmpty && shown.contains { $0.hasPrefix(archive.path + "/pan.mp4#t=") }, "\(gallery.warnings)")
        // A second run reuses the extracted files (not written again) and gives the same rows.
        let first = try Self.extracted(work)
        #expect(first.count == 2)
        let again = try Run(configuration: configuration).execute()
        #expect(again.processedThisRun == 0 && again.valid == summary.valid && again.invalid == 0)
        #expect(try Self.extracted(work) == first, "the extracted videos were written again")
        #expect(try TestData.readCSV(features).compactMap { $0["filename"] } == names)
        // A changed archive's videos are extracted anew, and the earlier files removed.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: archive.path)
        let changed = try Run(configuration: configuration).execute()
        let second = try Self.extracted(work)
        #expect(second.count == 2 && Set(second.keys).isDisjoint(with: first.keys) && changed.valid == summary.valid)
    }

    @Test func hostileAndBrokenVideoMembersStayInTheWorkDirAndGiveOneRowEach() throws {
        let folder = try TestData.temporaryDirectory()
        let made = try VideoFixtures.folder("made", in: folder)
        let pan = try VideoFixtures.pan(in: made)
        let cut = try VideoFixtures.truncated(try VideoFixtures.repeated(pan, in: made), fraction: 0.4, as: "cut.mkv", in: made)
        let archive = folder.appendingPathComponent("hostile.tar")
        let long = String(repeating: "long/", count: 60) + "clip.mp4"
        let absolute = folder.appendingPathComponent("absolute.mp4").path
        try VideoFixtures.tar(archive, [("../../escape.mp4", pan), (absolute, pan), ("\\xff\\xfe.mp4", pan), (long, pan),
                                        ("broken/cut.mkv", cut)])
        let before = Self.files(under: folder)
        let work = folder.appendingPathComponent("deep/work")
        let summary = try Run(configuration: RunConfiguration(inputs: [archive.path], workDirectory: work.path)).execute()
        let written = Self.files(under: folder).subtracting(before)
        #expect(!written.isEmpty && written.allSatisfy { $0.hasPrefix(work.path + "/") }, "\(written)")
        #expect(try Self.extracted(work).count == 5)
        let ids = try Catalog(url: work.appendingPathComponent(Catalog.fileName)).sampleIDs().keys
        for name in ["../../escape.mp4", absolute, long] {
            #expect(ids.contains("hostile.tar/\(name)#t=5.000"), "\(name)")
        }
        #expect(ids.filter { $0.hasSuffix(".mp4#t=5.000") }.count == 4)
        // The truncated member: its frames before the cut, and one row naming it.
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.count == 1 && bad.first?["filename"] == archive.path + "/broken/cut.mkv")
        #expect(bad.first?["error_code"] == "ERROR_TRUNCATED_IMAGE")
        let reason = bad.first?["reason"] ?? ""
        #expect(reason.contains("hostile.tar/broken/cut.mkv") && !reason.contains(ArchiveVideoFolder.name), "\(reason)")
        let cutFrames = summary.videos?.first { $0.video.hasSuffix("hostile.tar/broken/cut.mkv") }?.frames ?? 0
        #expect(cutFrames >= 2 && cutFrames < 12 && summary.valid == 4 * 6 + cutFrames && summary.invalid == 1)
    }

    @Test func aVideoMemberOverTheSizeLimitIsOneRowAndIsNotExtracted() throws {
        let folder = try TestData.temporaryDirectory()
        let pan = try VideoFixtures.pan(in: folder)
        let zips = try VideoFixtures.folder("zips", in: folder)
        let archive = zips.appendingPathComponent("big.zip")
        let zipped = try TestData.shell("zip", ["-q", "-j", archive.path, pan.path])
        #expect(zipped.status == 0, "\(zipped.output)")
        let size = try FileStatus.of(pan.path).get().byteCount
        let work = folder.appendingPathComponent("work")
        let limits = DecodeLimits(maximumFileBytes: size - 1)
        let summary = try Run(configuration: RunConfiguration(inputs: [archive.path], workDirectory: work.path,
                                                              decodeLimits: limits)).execute()
        #expect(summary.valid == 0 && summary.invalid == 1)
        let bad = try TestData.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.first?["filename"] == archive.path + "/pan.mp4" && bad.first?["error_code"] == "ERROR_UNSUPPORTED_FORMAT")
        #expect(bad.first?["reason"]?.hasPrefix("big.zip/pan.mp4: archive member of \(size) bytes") == true, "\(bad)")
        #expect(try Self.extracted(work).isEmpty)
        // At the limit it is extracted, once, and its frames are listed once however many
        // paths reach the archive; without a work_dir to extract to it is one row.
        let fits = try Ingestor(archiveVideos: ArchiveVideoFolder(workDirectory: work, maximumFileBytes: size))
            .ingest([archive.path, zips.path])
        #expect(try fits.sources.count == 6 && fits.missing.isEmpty && Self.extracted(work).count == 1, "\(fits.sources.map(\.id))")
        // A lower limit on a later run refuses the member even though an earlier run extracted it.
        let refused = try Ingestor(archiveVideos: ArchiveVideoFolder(workDirectory: work, maximumFileBytes: size - 1))
            .ingest([archive.path])
        #expect(try refused.sources.isEmpty && refused.missing.count == 1 && Self.extracted(work).isEmpty)
        // Past the bytes extraction may take on disk: one row, nothing left behind.
        let full = try Ingestor(archiveVideos: ArchiveVideoFolder(workDirectory: work, diskLimit: Int(size) - 1)).ingest([archive.path])
        #expect(full.missing.first?.problem.message.hasPrefix("big.zip/pan.mp4: not extracted: ") == true, "\(full.missing)")
        #expect(try full.sources.isEmpty && full.missing.count == 1 && Self.extracted(work).isEmpty)
        let unread = try Ingestor().ingest([archive.path])
        #expect(unread.sources.isEmpty && unread.missing.first?.problem.message.hasSuffix("(extract it first)") == true)
    }
}
