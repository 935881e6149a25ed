/// What a run found in one video's sampled frames: how many decoded, the static runs (two or
/// more consecutive sampled frames, each an exact or near duplicate of the one before) and
/// the duplicate frames (frames with an exact or near duplicate anywhere: in the same video,
/// another video or among the images). Near duplicates are the similar pairs (≥ `--threshold`)
/// of the embedding analyses; without embeddings only exact (pixel-identical) ones count.
public struct VideoSummary: Sendable, Codable, Equatable {
    /// The video as outputs name it (its frames' names without `#t=…`).
    public var video: String
    public var frames: Int
    public var staticRuns: Int
    public var framesInStaticRuns: Int
    public var duplicateFrames: Int

    var row: VideoRow {
        VideoRow(video: video, frames: frames, staticRuns: staticRuns, framesInStaticRuns: framesInStaticRuns,
                 duplicateFrames: duplicateFrames)
    }

    /// The summaries of the videos among `samples`, by video name. `exactDuplicates`: each
    /// group's first sample id → the others; `pairs`: the similar pairs by sample id.
    static func summaries(of samples: [ValidSample], exactDuplicates: [Int64: [Int64]],
                          pairs: [(Int64, Int64, Float)]) -> [VideoSummary] {
        var frames: [String: [(timestamp: Int64, id: Int64)]] = [:], names: [String: String] = [:]
        for sample in samples {
            guard case .videoFrame(let frame)? = sample.location else { continue }
            frames[frame.video, default: []].append((frame.timestamp, sample.id))
            if names[frame.video] == nil {
                names[frame.video] = sample.filename.range(of: "#t=", options: .backwards).map { String(sample.filename[..<$0.lowerBound]) }
                    ?? sample.filename
            }
        }
        guard !frames.isEmpty else { return [] }
        var group: [Int64: Int64] = [:]
        for (first, others) in exactDuplicates {
            group[first] = first
            for other in others { group[other] = first }
        }
        var similar = Set<SIMD2<Int64>>(), paired = Set<Int64>()
        for (a, b, _) in pairs {
            similar.insert(SIMD2(min(a, b), max(a, b)))
            paired.insert(a)
            paired.insert(b)
        }
        func alike(_ a: Int64, _ b: Int64) -> Bool {
            (group[a] != nil && group[a] == group[b]) || similar.contains(SIMD2(min(a, b), max(a, b)))
        }
        return frames.map { video, list in
            let ordered = list.sorted { $0.timestamp < $1.timestamp }.map(\.id)
            var summary = VideoSummary(video: names[video] ?? video, frames: ordered.count, staticRuns: 0, framesInStaticRuns: 0,
                                       duplicateFrames: ordered.filter { group[$0] != nil || paired.contains($0) }.count)
            var run = 1
            for index in ordered.indices.dropFirst() {
                run = alike(ordered[index - 1], ordered[index]) ? run + 1 : 1
                if run == 2 { summary.staticRuns += 1; summary.framesInStaticRuns += 2 } else if run > 2 { summary.framesInStaticRuns += 1 }
            }
            return summary
        }.sorted { $0.video < $1.video }
    }
}
