import Foundation

/// The frames of one video that become samples, found at ingest by reading its packets
/// without decoding them: the timestamps that exist (so a header's absurd duration or frame
/// count costs nothing), chosen by the ``VideoSampling``. A video that cannot be used, or
/// breaks off, also has a `problem`: its invalid row, beside the frames found before the break.
struct VideoPlan {
    /// The frames to decode, in time order: timestamp and the id suffix (`#t=12.000`).
    var frames: [(timestamp: Int64, suffix: String)] = []
    var problem: InvalidSample?

    /// The planned frames as samples: `video` named `<video>#t=<seconds>`, each read from `file`.
    func frameSources(of video: SampleSource, file: String) -> [SampleSource] {
        frames.map { frame in
            var source = video
            source.id += frame.suffix
            source.displayName += frame.suffix
            source.location = .videoFrame(VideoFrame(video: file, timestamp: frame.timestamp))
            return source
        }
    }

    /// Sampled frames kept per video at most; past them the video has a problem row.
    static let maximumFrames = 100_000

    /// Reads the packets of the video at `path`, keeping at most `maximumFrames` frames.
    static func make(path: String, name: String, sampling: VideoSampling, maximumFrames: Int = maximumFrames) -> VideoPlan {
        var plan = VideoPlan()
        let reader: VideoReader
        do { reader = try VideoReader(path: path) } catch {
            plan.problem = InvalidSample(error.reason, error.message.replacingOccurrences(of: path, with: name))
            return plan
        }
        let info = reader.info
        let (width, height) = (Int(info.width), Int(info.height))
        if width > ImageDecoder.maximumSide || height > ImageDecoder.maximumSide || width * height > DecodeLimits.defaultMaximumPixels {
            plan.problem = InvalidSample(.unsupportedFormat, "\(name): video frames too large: \(width)×\(height) (limit "
                                         + "\(ImageDecoder.maximumSide) px per side, \(megapixels(DecodeLimits.defaultMaximumPixels)))")
            return plan
        }
        var chosen: [Int64: Int64] = [:]
        var latest = -Double.infinity
        do throws(InvalidSample) {
            while let packet = try reader.nextPacket() {
                guard packet.timestamp != Int64.min else { continue }
                let seconds = reader.seconds(packet.timestamp)
                guard seconds.isFinite, abs(seconds) < 1e9 else { continue }
                latest = max(latest, seconds)
                let slot: Int64
                switch sampling {
                case .keyframes:
                    guard packet.isKeyframe else { continue }
                    slot = packet.timestamp
                case .framesPerSecond(let fps):
                    slot = Int64((max(0, seconds) * fps + 1e-6).rounded(.down))
                }
                if let earlier = chosen[slot] {
                    chosen[slot] = min(earlier, packet.timestamp)
                } else if chosen.count >= maximumFrames {
                    plan.problem = InvalidSample(.unsupportedFormat, "\(name): more than \(maximumFrames) sampled frames; "
                                                 + "the frames after \(String(format: "%.3f", seconds)) s are not used")
                    break
                } else {
                    chosen[slot] = packet.timestamp
                }
            }
        } catch {
            plan.problem = InvalidSample(.truncatedImage, "\(name): the video breaks off after "
                                         + "\(String(format: "%.3f", max(0, latest))) s: "
                                         + error.message.replacingOccurrences(of: path + ": ", with: ""))
        }
        plan.frames = Set(chosen.values).sorted().map { ($0, reader.idSuffix($0)) }
        plan.problem = plan.problem ?? endProblem(name: name, declared: info.duration_seconds, latest: latest,
                                                  empty: plan.frames.isEmpty)
        return plan
    }

    /// A video without frames, or whose frames end well before the duration its header declares.
    private static func endProblem(name: String, declared: Double, latest: Double, empty: Bool) -> InvalidSample? {
        if empty { return InvalidSample(.unsupportedFormat, "\(name): no video frames (zero-length video)") }
        guard declared.isFinite, declared > 0, latest < declared - max(1, declared * 0.05) else { return nil }
        return InvalidSample(.truncatedImage, "\(name): truncated: the frames end at \(String(format: "%.3f", latest)) s "
                             + "of the \(String(format: "%.3f", declared)) s its header declares")
    }
}
