import ArgumentParser
import Foundation
import WinnowCommandSupport

/// `winnow-bench decode`: decode + statistics speed and memory, beside cleanvision.
struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Measure decode+stats speed and memory on a corpus, next to cleanvision.",
        discussion: """
            Runs `winnow run` in a child process on the first N images of CORPUS for each N in
            --sizes (fresh work_dir each time), and reports wall time, images/s, CPU ms per image
            and peak RSS. With the anchors installed (../shared/anchors/setup.sh), cleanvision runs
            on the same folder in the same session for a side-by-side ratio.

            Example:
              winnow-bench decode --corpus ~/.cache/winnow/corpus/C/images --sizes 2000,10000,20000
            """
    )

    @Option(help: "Folder of images (e.g. corpus set C).")
    var corpus: String

    @Option(help: "Comma-separated image counts to measure.")
    var sizes = "2000,10000,20000"

    @OptionGroup var places: BenchPlaces

    @Flag(help: "Skip cleanvision.")
    var skipAnchors = false

    func run() throws {
        let counts = commaSeparated(sizes).compactMap { Int($0) }
        guard !counts.isEmpty else { throw ValidationError("--sizes needs numbers, e.g. 2000,10000") }
        guard FileManager.default.fileExists(atPath: corpus) else {
            standardError("winnow-bench: corpus not found: \(corpus)")
            throw ExitStatus.noInput
        }
        print("winnow-bench decode: decode + stats, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("     images    wall s    img/s  CPU ms/img  CPU cores  peak RSS MB")
        var largest: (images: Int, wall: Double, cpu: Double)?
        for n in counts {
            let workDir = places.scratch + "/decode-\(n)"
            try? FileManager.default.removeItem(atPath: workDir)
            let report = try BenchSupport.winnowRun([corpus, "--work-dir", workDir, "--num-images", String(n), "--no-embeddings"])
            let files = report.summary.files, wall = report.summary.seconds, cpu = report.resources.cpuSeconds
            print(String(format: "%11d %9.2f %8.1f %11.2f %10.2f %12.0f", files, wall, Double(files) / wall,
                         1000 * cpu / Double(max(files, 1)), cpu / wall, report.resources.peakRSSMegabytes))
            largest = (files, wall, cpu)
        }
        guard !skipAnchors, let largest else { return }
        guard let (python, script) = places.anchor("cleanvision") else { return }
        let started = Date()
        let child = try BenchSupport.runChild(python, [script, corpus, places.scratch + "/cleanvision.csv"],
                                              stderrLog: places.scratch + "/cleanvision.log")
        let (output, childCPU) = (child.output, child.cpuSeconds)
        let wall = Date().timeIntervalSince(started)
        let reported = output.split(separator: "\n").first { $0.hasPrefix("CLEANVISION_SECONDS") }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? wall
        let images = countImages(in: corpus)
        print(String(format: "cleanvision %d images: %.2f s wall (find_issues %.2f s), %.1f img/s, CPU ms/img %.2f",
                     images, wall, reported, Double(images) / wall, 1000 * childCPU / Double(max(images, 1))))
        let winnowRate = Double(largest.images) / largest.wall, cleanvisionRate = Double(images) / wall
        print(String(format: "ratio (winnow / cleanvision): %.1f× images/s, %.1f× less CPU per image",
                     winnowRate / cleanvisionRate,
                     (childCPU / Double(max(images, 1))) / (largest.cpu / Double(max(largest.images, 1)))))
    }

    private func countImages(in folder: String) -> Int {
        let walker = FileManager.default.enumerator(atPath: folder)
        var count = 0
        while let path = walker?.nextObject() as? String {
            if ["jpg", "jpeg", "png"].contains((path as NSString).pathExtension.lowercased()) { count += 1 }
        }
        return count
    }
}
