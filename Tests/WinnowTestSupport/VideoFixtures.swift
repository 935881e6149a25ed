import Foundation

/// Videos made from real photos with Debian's `ffmpeg` CLI (the product never runs it).
public enum VideoFixtures {
    /// Runs `ffmpeg` with `arguments` (quiet, overwriting) and fails with its output when it fails.
    public static func ffmpeg(_ arguments: [String]) throws {
        let result = try TestFiles.shell("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y"] + arguments)
        guard result.status == 0 else { throw TestDataMissing("ffmpeg failed (install it with scripts/setup.sh): \(result.output)") }
    }

    /// `pan.mp4`: 6 s at 10 frames/s of a 256×256 window moving across astronaut.png (H.264).
    public static func pan(in folder: URL) throws -> URL {
        let out = folder.appendingPathComponent("pan.mp4")
        try ffmpeg(["-loop", "1", "-i", try TestFiles.skimageData().appendingPathComponent("astronaut.png").path,
                    "-vf", "crop=256:256:'t*40':'t*20',format=yuv420p", "-t", "6", "-r", "10", "-c:v", "libx264", out.path])
        return out
    }

    /// `still.webm`: 5 s at 5 frames/s of coffee.png standing still (VP9).
    public static func still(in folder: URL) throws -> URL {
        let out = folder.appendingPathComponent("still.webm")
        try ffmpeg(["-loop", "1", "-i", try TestFiles.skimageData().appendingPathComponent("coffee.png").path,
                    "-vf", "scale=300:200,format=yuv420p", "-t", "5", "-r", "5", "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "40",
                    out.path])
        return out
    }

    /// `repeated.mkv`: `clip` twice over, its packets copied (so its frames decode to the same pixels).
    public static func repeated(_ clip: URL, in folder: URL) throws -> URL {
        let out = folder.appendingPathComponent("repeated.mkv")
        try ffmpeg(["-stream_loop", "1", "-i", clip.path, "-c", "copy", out.path])
        return out
    }

    /// The first `fraction` of `file`'s bytes, as `name`.
    public static func truncated(_ file: URL, fraction: Double, as name: String, in folder: URL) throws -> URL {
        let data = try Data(contentsOf: file)
        let out = folder.appendingPathComponent(name)
        try data.prefix(Int(Double(data.count) * fraction)).write(to: out)
        return out
    }

    /// A new folder `name` in `parent`.
    public static func folder(_ name: String, in parent: URL) throws -> URL {
        let url = parent.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A tar archive at `archive` holding each file of `members` under its member name, taken
    /// as given (`../x`, absolute, bytes that are not UTF-8 written as `\xff`), as Python's
    /// `tarfile` writes them (GNU tar strips such names).
    public static func tar(_ archive: URL, _ members: [(name: String, file: URL)]) throws {
        let script = """
            import sys, tarfile
            with tarfile.open(sys.argv[1], "w", encoding="utf-8", errors="surrogateescape") as archive:
                for name, path in zip(sys.argv[2::2], sys.argv[3::2]):
                    info = archive.gettarinfo(path)
                    info.name = name.encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")
                    with open(path, "rb") as data: archive.addfile(info, data)
            """
        let made = try TestFiles.shell("python3", ["-c", script, archive.path] + members.flatMap { [$0.name, $0.file.path] })
        guard made.status == 0 else { throw TestDataMissing("python3 tarfile failed: \(made.output)") }
    }
}
