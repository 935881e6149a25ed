import ArgumentParser
import WinnowCore
import WinnowCommandSupport

/// Which frames of video inputs (mp4, m4v, avi, mkv, mov, webm) become samples.
struct VideoOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Frames sampled per second of video (default 1): the first frame at or after each step.")
    var videoFps: Double?

    @Flag(help: "Sample every keyframe of each video instead of --video-fps.")
    var videoKeyframes = false

    func validate() throws {
        try OptionRange.check("--video-fps", videoFps, in: 0.001...1000)
        if videoKeyframes, videoFps != nil { throw ValidationError("--video-keyframes and --video-fps exclude each other") }
    }

    /// The sampling the options ask for (nil: the default, one frame a second).
    var sampling: VideoSampling? {
        if videoKeyframes { return .keyframes }
        return videoFps.map { .framesPerSecond($0) }
    }
}
