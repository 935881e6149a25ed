import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

/// `winnow-bench maps`: times Winnow's maps on a work_dir's embeddings and measures how well
/// they keep neighbourhoods, beside umap-learn on the same vectors.
struct BenchMapsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maps",
        abstract: "Measure PCA / t-SNE / UMAP maps: time and neighbourhood preservation, next to umap-learn.",
        discussion: """
            Uses the embeddings of WORK_DIR (made first from --corpus with `winnow run --num-images
            N` when it has none). Each method runs in this process (all cores); umap-learn
            (n_neighbors 15, min_dist 0.1, its parallel mode; ../shared/anchors/run_umap.py, JIT
            warm-up excluded) runs on the same vectors written as .npy. Every map, umap-learn's
            included, is scored here: kNN recall@k and trustworthiness@k against the vectors
            (run's metric).

            Example:
              winnow-bench maps --corpus ~/.cache/winnow/corpus/C/images --images 10000
            """
    )

    @Option(help: "A work_dir with embeddings (default: SCRATCH/maps-N).")
    var workDir: String?

    @Option(help: "Folder of images to run first when the work_dir has no embeddings.")
    var corpus: String?

    @Option(parsing: .unconditional, help: "Images to take from --corpus.")
    var images = 10_000

    @Option(help: "Comma-separated methods: umap, tsne, pca.")
    var methods = "umap,pca,tsne"

    @Option(parsing: .unconditional, help: "Neighbours for recall and trustworthiness.")
    var k = 15

    @Option(parsing: .unconditional, help: "Seed (UMAP).")
    var seed: UInt64 = 0

    @OptionGroup var places: BenchPlaces

    @Flag(help: "Skip umap-learn.")
    var skipAnchors = false

    func validate() throws {
        try OptionRange.check("--images", images, in: 1...10_000_000)
        try OptionRange.check("--k", k, in: 1...1000)
    }

    func run() throws {
        let chosen = try commaSeparated(methods).map { name -> MapMethod in
            guard let method = MapMethod(rawValue: name), method != .manual else {
                throw ValidationError("--methods takes umap, tsne and pca")
            }
            return method
        }
        let (features, directory) = try loadFeatures()
        let vectors = features.vectors
        print("winnow-bench maps: \(vectors.rows) × \(vectors.dimension) \(features.metric.rawValue) vectors from \(directory.path), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("  method              wall s    CPU s   recall@\(k)  trustworthiness@\(k)")
        let winnowUMAP = try measureWinnowMaps(chosen, on: features)
        guard !skipAnchors, let (python, script) = places.anchor("umap") else { return }
        try measureUMAPLearn(python: python, script: script, on: features, comparedWith: winnowUMAP)
    }

    /// The work_dir's features, made first by `winnow run` on `--corpus` when it has none.
    private func loadFeatures() throws -> (features: WorkDirFeatures, directory: URL) {
        try FileManager.default.createDirectory(atPath: places.scratch, withIntermediateDirectories: true)
        let directory = URL(fileURLWithPath: workDir ?? places.scratch + "/maps-\(images)")
        var features = try? WorkDirFeatures.load(from: directory)
        if features == nil {
            guard let corpus else {
                standardError("winnow-bench: \(directory.path) has no embeddings; give --corpus to make them")
                throw ExitStatus.noInput
            }
            print("running winnow on \(images) images of \(corpus) → \(directory.path)")
            let report = try BenchSupport.winnowRun([corpus, "--work-dir", directory.path, "--num-images", String(images)])
            print(String(format: "  %d images embedded in %.1f s", report.summary.embedded ?? 0, report.summary.seconds))
            features = try WorkDirFeatures.load(from: directory)
        }
        guard let features else { throw ExitStatus.software }
        return (features, directory)
    }

    /// Times each of Winnow's maps and prints its row; returns UMAP's seconds and trustworthiness when it ran.
    private func measureWinnowMaps(_ chosen: [MapMethod],
                                   on features: WorkDirFeatures) throws -> (seconds: Double, trustworthiness: Double)? {
        let vectors = features.vectors
        var umap: (seconds: Double, trustworthiness: Double)?
        for method in chosen {
            let clock = Date(), cpu = ResourceUsage.current().cpuSeconds
            let points: [Float]
            switch method {
            case .pca: points = try PCAMap.project(vectors, dimensions: 2).points
            case .tsne: points = try TSNEMap().embed(vectors)
            case .umap:
                var options = UMAPMap.Options()
                options.seed = seed
                points = try UMAPMap(options: options).embed(vectors, metric: features.metric)
            case .manual: continue
            }
            let wall = Date().timeIntervalSince(clock), cpuUsed = ResourceUsage.current().cpuSeconds - cpu
            let quality = try MapQuality.measure(vectors: vectors, metric: features.metric, points: points, dimensions: 2, k: k)
            if method == .umap { umap = (wall, quality.trustworthiness) }
            print(String(format: "  winnow %@ %8.2f %8.2f %11.4f %20.4f", method.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0), wall, cpuUsed, quality.recall,
                         quality.trustworthiness) + Self.sampleNote(quality, rows: vectors.rows))
        }
        return umap
    }

    /// Runs umap-learn on the same vectors, prints its row and, when Winnow's UMAP ran, the comparison.
    private func measureUMAPLearn(python: String, script: String, on features: WorkDirFeatures,
                                  comparedWith winnowUMAP: (seconds: Double, trustworthiness: Double)?) throws {
        let vectors = features.vectors
        let input = places.scratch + "/maps-vectors.npy", output = places.scratch + "/maps-umap-learn.npy"
        try NumPy.write(vectors, to: input)
        let clock = Date()
        let child = try BenchSupport.runChild(python, [script, input, output], stderrLog: places.scratch + "/umap-learn.log")
        let (text, childCPU) = (child.output, child.cpuSeconds)
        let wall = Date().timeIntervalSince(clock)
        func reported(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let seconds = reported("UMAP_SECONDS") ?? wall
        let points = try NumPy.readFloat32(output, columns: 2)
        let quality = try MapQuality.measure(vectors: vectors, metric: features.metric, points: points, dimensions: 2, k: k)
        print(String(format: "  umap-learn          %8.2f %8.2f %11.4f %20.4f   (process: %.1f s wall incl. import and %.1f s JIT warm-up)",
                     seconds, childCPU, quality.recall, quality.trustworthiness, wall, reported("UMAP_WARMUP_SECONDS") ?? 0)
              + Self.sampleNote(quality, rows: vectors.rows))
        if let (umapSeconds, umapTrust) = winnowUMAP {
            print(String(format: "  winnow UMAP / umap-learn: %.2f× the time, trustworthiness %+.4f", umapSeconds / seconds,
                         umapTrust - quality.trustworthiness))
        }
    }

    /// Says when the quality figures come from a sample of the points (``MapQuality/sampleLimit``).
    static func sampleNote(_ quality: MapQuality.Report, rows: Int) -> String {
        quality.measured < rows ? "   (over a seeded sample of \(quality.measured) of \(rows) points)" : ""
    }
}

/// Minimal NumPy `.npy` (version 1.0, little-endian float32) for benchmark exchange.
enum NumPy {
    static func write(_ matrix: FeatureMatrix, to path: String) throws {
        var text = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(matrix.rows), \(matrix.dimension)), }"
        let unpadded = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
        data.append(contentsOf: Array(text.utf8))
        matrix.withValues { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Reads an N × `columns` float32 array (any header version 1.0 with descr '<f4', C order).
    static func readFloat32(_ path: String, columns: Int) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, bytes[1...5].elementsEqual("NUMPY".utf8) else {
            throw ValidationError("\(path): not a .npy file")
        }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        guard header.contains("'<f4'"), header.contains("'fortran_order': False") else {
            throw ValidationError("\(path): expected little-endian float32 in C order, header \(header)")
        }
        let body = Array(bytes[(10 + headerLength)...])
        guard body.count % (4 * columns) == 0 else { throw ValidationError("\(path): not \(columns) float32 columns") }
        return body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
