import Foundation
import WinnowCore
import WinnowCommandSupport

/// A progress bar with rate and ETA on a terminal; plain lines every ~10% (or 30 s) otherwise.
final class ProgressBar: @unchecked Sendable {
    private var label = ""
    private let lock = NSLock()
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var started = Date()
    /// `done` at the stage's first update (work an earlier run did is not counted in the rate).
    private var startDone = 0
    private var lastDraw = Date.distantPast
    private var lastPlainDecile = -1
    private var drawn = false

    /// Shows `done` of `total` for the stage `label` (a new label ends the previous stage's line).
    func update(label: String, done: Int, total: Int) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        if label != self.label {
            if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
            (self.label, started, startDone, lastDraw, lastPlainDecile, drawn) = (label, now, done, .distantPast, -1, false)
        }
        let unit = label.hasPrefix("verify") ? "pairs/s" : "img/s"
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done - startDone) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        if isTerminal {
            guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
            lastDraw = now
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let line = String(format: "\r%@ %@ %d/%d  %.0f %@  ETA %@", label, bar, done, total, rate, unit, clock(eta))
            FileHandle.standardError.write(Data(line.utf8))
            drawn = true
        } else {
            let decile = total > 0 ? 10 * done / total : 10
            guard decile > lastPlainDecile || now.timeIntervalSince(lastDraw) > 30 else { return }
            lastPlainDecile = decile
            lastDraw = now
            standardError(String(format: "%@: %d/%d (%.0f %@, ETA %@)", label, done, total, rate, unit, clock(eta)))
        }
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Prints one line per unusable file and per skipped entry (the first 20 of each, then a
/// count), naming the file and the reason.
final class WarningPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var skipped = 0
    private let limit = 20

    func skip(_ entry: SkippedEntry) {
        lock.lock(); defer { lock.unlock() }
        skipped += 1
        guard skipped <= limit else { return }
        standardError("warning: \(entry.path): skipped: \(entry.reason)")
    }

    func warn(_ filename: String, _ problem: InvalidSample) {
        lock.lock(); defer { lock.unlock() }
        count += 1
        guard count <= limit else { return }
        let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
        standardError("\(clear)warning: \(filename): \(problem.reason.rawValue): \(problem.message)")
    }

    func flush() {
        lock.lock(); defer { lock.unlock() }
        if skipped > limit { standardError("warning: … and \(skipped - limit) more skipped entries") }
        if count > limit { standardError("warning: … and \(count - limit) more invalid files (see atrain_features.bad.csv)") }
    }
}

enum SummaryReport {
    static func text(_ s: RunSummary, workDirectory: String) -> String {
        func row(_ name: String, _ count: Int) -> String {
            "  " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: " %7d  %5.1f%%", count, s.percent(count))
        }
        var lines = ["Winnow summary: \(s.files) files (\(s.processedThisRun) decoded now, \(s.reused) reused) in \(String(format: "%.1f", s.seconds)) s"]
        lines.append(row("valid images", s.valid))
        lines.append(row("invalid files", s.invalid))
        for (code, count) in s.invalidByCode.sorted(by: { $0.key < $1.key }) { lines.append(row("  " + code, count)) }
        lines.append(row("exact duplicates", s.exactDuplicateFiles) + "  (\(s.exactDuplicateGroups) groups)")
        for (issue, count) in s.issues.sorted(by: { $0.key < $1.key }) { lines.append(row(issue, count)) }
        if s.featureDimension > 0 {
            lines.append(row("embedded", s.embedded) + "  (\(s.featureDimension)-d)")
            lines.append(row("in similar clusters", s.imagesInComponents) + "  (\(s.components) components)")
            lines.append(row("near duplicates", s.nearDuplicates) + "  (\(s.similarPairs) similar pairs)")
            lines.append(row("outliers", s.outliers))
            // Leaks are pairs of images, not files: no share of the files.
            if s.leaks > 0 { lines.append("  " + "split leaks".padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(format: " %7d  ", s.leaks) + (s.leaks == 1 ? "pair" : "pairs") + " of near copies across splits (leaks.csv)") }
            if let matches = s.referenceMatches {
                lines.append("  reference matches     \(String(format: "%7d", matches))  images of this run that copy the reference's (reference_matches.csv)")
            }
            if s.addedImages > 0 {
                lines.append("  added \(s.addedImages) images; \(s.addedAlreadyKnown) of them are near copies of images already here (new_vs_known.csv)")
            }
        }
        if let labels = s.labels { lines += labelLines(labels) }
        if let none = s.imagesWithoutCrops {
            lines.append("  each detected region is a sample (atrain_crops.csv); \(none) images gave none (images_without_crops.csv)")
        }
        lines += videoLines(s.videos ?? [])
        if s.skippedNonImages > 0 { lines.append("  skipped \(s.skippedNonImages) non-image files") }
        if s.skippedEntries > 0 { lines.append("  skipped \(s.skippedEntries) unusable entries (unlistable folders, broken links, FIFOs…)") }
        if s.skippedSmallFiles > 0 { lines.append("  skipped \(s.skippedSmallFiles) files under --min-file-size") }
        lines.append("Results in \(workDirectory)/ — atrain_*.csv, quality.csv, exact_duplicates.csv"
            + (s.featureDimension > 0 ? ", similarity.csv, outliers.csv, connected_components.csv, near_duplicates.csv, scores.csv" : "")
            + ", winnow.sqlite")
        return lines.joined(separator: "\n")
    }

    /// One line per video (the first 20; the rest are in videos.csv).
    static func videoLines(_ videos: [VideoSummary]) -> [String] {
        var lines = videos.prefix(20).map { v in
            "  video \(v.video): \(v.frames) frames, \(v.staticRuns) static run\(v.staticRuns == 1 ? "" : "s") "
                + "(\(v.framesInStaticRuns) frames), \(v.duplicateFrames) duplicate frames"
        }
        if videos.count > 20 { lines.append("  … and \(videos.count - 20) more videos in videos.csv") }
        return lines
    }

    /// The summary with this process's CPU seconds and peak memory. The peak is the highest of
    /// the stages' peaks and the high-water mark since the last stage began (`VmHWM`; each stage
    /// resets it), never `getrusage`'s `ru_maxrss`: Linux carries a parent's high-water mark into
    /// the child it spawns (across `exec`), so a benchmark holding 600 MB would see every run it
    /// starts peak at 600 MB or more.
    static func json(_ s: RunSummary) throws -> String {
        struct Report: Codable { var summary: RunSummary; var resources: ResourceUsage }
        var resources = ResourceUsage.current()
        let stagePeak = (s.stages ?? []).map(\.peakRSSBytes).max() ?? 0
        resources.peakRSSMegabytes = Double(max(StageMeter.peakRSSBytes(), stagePeak)) / 1_048_576
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(Report(summary: s, resources: resources)), as: UTF8.self)
    }
}
