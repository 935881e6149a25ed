import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport
import WinnowS3

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Analyse images and write results to a work_dir (resumable).",
        discussion: """
            INPUT can be a folder (searched recursively), an image file, a text/CSV file listing
            image paths (one per line, or a `filename` column), or a tar / tar.gz / tgz / zip archive
            (read without extracting). Videos (mp4, m4v, avi, mkv, mov, webm) give one sample per frame
            sampled (`clip.mp4#t=12.000`; --video-fps, --video-keyframes). Files that cannot be used are listed in
            atrain_features.bad.csv with an error code and reason; the run goes on and exits 0.
            Running the same command again after an interruption reuses finished images.

            Examples:
              winnow run photos/ --work-dir work
              winnow run photos/ --find-regex '\\.jpe?g$' --num-images 1000
              winnow run part.tar.gz --min-offset 0 --max-offset 50000 --work-dir work-0
              winnow run photos/ --blurry-sharpness 0.2 --json
              winnow run photos/ --stages
              winnow run clips/ --video-fps 2 --work-dir work

            Exit status: 0 done (some inputs may be invalid), 64 bad arguments, 65 unusable annotation,
            model or embeddings file, 66 input not found, 73 work_dir not writable or in use by another
            winnow, 70 other failure.
            """
    )

    @Argument(help: "Folders, image files, file lists or archives; or s3://bucket/prefix, minio://host:port/bucket/prefix, or file lists of such object addresses.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Where results are written (created if missing).")
    var workDir = "winnow_work"

    @OptionGroup var selection: InputSelectionOptions

    @Option(parsing: .unconditional, help: "Start at this position of the sorted file list (fastdup min_offset).")
    var minOffset = 0

    @Option(parsing: .unconditional, help: "Stop before this position of the sorted file list (fastdup max_offset).")
    var maxOffset: Int?

    @Option(parsing: .unconditional, help: "Worker threads, each decoding, measuring and embedding images (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .unconditional, help: "Memory the run may use, e.g. 8G or 512M (default: half of this machine's). A run that cannot fit says so before it starts.")
    var maxMemory: String?

    @OptionGroup(title: "Embeddings") var embeddings: EmbeddingOptions

    @Option(help: "Crop every image to this box first (fastdup bounding_box), e.g. 'row_y=0,col_x=0,height=200,width=300'; or face / ocr: every detected face or text line is a sample (atrain_crops.csv links them to their images).")
    var boundingBox: String?

    @OptionGroup(title: "Detector crops (--bounding-box face|ocr)") var detector: DetectorArguments

    @OptionGroup(title: "Similarity") var similarity: SimilarityOptions

    @OptionGroup(title: "Quality thresholds") var thresholds: ThresholdOptions

    @OptionGroup(title: "Labels") var labels: LabelArguments

    @OptionGroup(title: "Decompression-bomb limits") var limits: DecodeLimitOptions

    @OptionGroup(title: "Video") var video: VideoOptions

    @OptionGroup(title: "S3 and MinIO") var s3: S3Arguments

    @Option(help: ArgumentHelp(
        "A finished work_dir to match this run's images against (same --model): its copies among them go to reference_matches.csv; its index is reused.",
        valueName: "work_dir"))
    var reference: String?

    @Flag(help: "Print the summary as JSON on standard output.")
    var json = false

    @Flag(help: "No progress bar or per-file warnings.")
    var quiet = false

    @Flag(help: "Print each stage's wall and CPU seconds and peak memory as it ends (standard error) and as a table at the end (always in summary.json and --json).")
    var stages = false

    @Flag(help: "If another winnow is using the work_dir, wait for it to finish (otherwise exit 73 at once).")
    var wait = false

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input folder, file list or archive") }
        try OptionRange.check("--min-offset", minOffset, atLeast: 0)
        try OptionRange.check("--max-offset", maxOffset, atLeast: minOffset)
        try OptionRange.check("--threads", threads, in: 1...max(1024, ProcessInfo.processInfo.activeProcessorCount))
        if let maxMemory, MemoryBudget.parse(maxMemory) == nil {
            throw ValidationError("--max-memory needs a size such as 8G, 512M or 1073741824, got '\(maxMemory)'")
        }
        if let box = boundingBox, CropBox(parsing: box) == nil, DetectorKind(rawValue: box) == nil {
            throw ValidationError("--bounding-box needs face, ocr or row_y=…,col_x=…,height=…,width=… (non-negative integers)")
        }
        let detects = boundingBox.flatMap(DetectorKind.init(rawValue:)) != nil
        if detector.givesMargins && !detects { throw ValidationError("--augmentation-* margins need --bounding-box face or ocr") }
        if detects && labels.annotations != nil { throw ValidationError("--bounding-box face|ocr does not go with --annotations") }
        _ = try embeddings.choice(forLabels: labels.annotations != nil)
    }

    func run() throws {
        let embedding = try embeddings.choice(forLabels: labels.annotations != nil)
        if case .mobileNetV2Int8 = embedding, !CPUFeatures.hasVNNI {
            standardError("warning: this CPU has no VNNI: mobilenet_v2_int8's int8 sums may saturate and move the features (mobilenet_v2 does not)")
        }
        let configuration = runConfiguration(embedding: embedding)
        let bar = quiet ? nil : ProgressBar()
        let warnings = quiet ? nil : WarningPrinter()
        let summary = try execute(configuration, bar: bar, warnings: warnings)
        bar?.finish()
        warnings?.flush()
        try printSummary(summary)
    }

    /// The run's configuration from the command's options, with `embedding`.
    private func runConfiguration(embedding: EmbeddingChoice) -> RunConfiguration {
        RunConfiguration(
            inputs: inputs, workDirectory: workDir,
            ingest: IngestOptions(maximumCount: selection.numImages, findRegex: selection.findRegex,
                                  minimumFileSize: selection.minFileSize,
                                  minimumOffset: minOffset, maximumOffset: maxOffset, videoSampling: video.sampling),
            quality: thresholds.thresholds, workers: threads, embedding: embedding,
            crop: boundingBox.flatMap(CropBox.init(parsing:)), exportNumPy: embeddings.exportNpy,
            analysis: similarity.options(for: embedding), labels: labels.options,
            decodeLimits: limits.limits, memoryBudget: maxMemory.flatMap(MemoryBudget.parse), reference: reference,
            detector: boundingBox.flatMap(DetectorKind.init(rawValue:)).map(detector.options))
    }

    /// Runs `configuration`, reporting to `bar` and `warnings` when given; failures become
    /// their exit statuses (with a message on standard error).
    private func execute(_ configuration: RunConfiguration, bar: ProgressBar?,
                         warnings: WarningPrinter?) throws -> RunSummary {
        var progress: ProgressHandler?
        if let bar { progress = { stage, done, total in bar.update(label: stage, done: done, total: total) } }
        var onInvalid: (@Sendable (String, InvalidSample) -> Void)?
        if let warnings { onInvalid = { filename, problem in warnings.warn(filename, problem) } }
        var onSkipped: (@Sendable (SkippedEntry) -> Void)?
        if let warnings { onSkipped = { entry in warnings.skip(entry) } }
        do {
            var run = Run(configuration: configuration)
            run.waitsForLock = wait
            if stages { run.onStageEnd = { standardError("winnow: stage " + (StageFigures.table([$0], indent: "").last ?? "")) } }
            if S3Inputs.areRemote(configuration.inputs) { run.listing = try s3.listing(for: configuration, bar: bar) }
            return try run.execute(progress: progress, onInvalid: onInvalid, onSkipped: onSkipped)
        } catch let error as WorkDirectoryError {
            throw failure(error.message, ExitStatus.cannotCreate)
        } catch let error as IngestError {
            standardError("winnow: \(error)")
            if case .inputNotFound = error { throw ExitStatus.noInput }
            if case .inputInWorkDirectory = error { throw ExitCode.validationFailure }
            throw ExitStatus.software
        } catch let error as MemoryBudgetError {
            throw failure(error, ExitCode.validationFailure)
        } catch let error as IndexError {
            throw failure(error, ExitStatus.software)
        } catch let error as EmbeddingError {
            throw failure(error, error.exitStatus)
        } catch let error as SearchError {
            if case .unreadableFile = error { throw failure("--reference: \(error)", ExitStatus.dataError) }
            throw failure("--reference: \(error)", ExitStatus.noInput)
        } catch let error as ReferenceError {
            throw failure(error, ExitCode.validationFailure)
        } catch let error as DetectorError {
            throw failure("--bounding-box: \(error)", ExitStatus.dataError)
        } catch let error as AnnotationError {
            standardError("winnow: annotations: \(error)")
            throw ExitStatus.dataError
        } catch let error as CocoaError where error.code.rawValue >= 512 && error.code.rawValue < 1024 {
            standardError("winnow: cannot write to work_dir \(workDir): \(error.localizedDescription)")
            throw ExitStatus.cannotCreate
        }
    }

    /// Prints the summary: as JSON with the process's resources under `--json`, else as text
    /// (with the stage table under `--stages`).
    private func printSummary(_ summary: RunSummary) throws {
        if json {
            print(try SummaryReport.json(summary))
        } else {
            print(SummaryReport.text(summary, workDirectory: workDir))
            if stages, let figures = summary.stages { print((["Stages:"] + StageFigures.table(figures)).joined(separator: "\n")) }
        }
    }
}

struct EmbeddingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Embedding model: copy (copy-detection descriptors, whitened over the collection; default), mobilenet_v2 (ImageNet features, centre crop, fastdup-like), mobilenet_v2_int8 (the same, partially int8: faster on CPUs with VNNI), mobilenet_v2_squash (the whole image; the default with --annotations), or a .onnx file.",
                               valueName: "model"))
    var model: String?
    @Option(parsing: .unconditional, help: "Input side of a custom .onnx model, or of mobilenet_v2 / mobilenet_v2_squash (a multiple of 32; 160 halves inference time at some accuracy) / mobilenet_v2_int8 (224, 192, 160 or 128).")
    var inputSize = 224
    @Option(parsing: .unconditional, help: "Per-channel mean of a custom model, e.g. 0.485,0.456,0.406.")
    var mean = "0.485,0.456,0.406"
    @Option(parsing: .unconditional, help: "Per-channel std of a custom model, e.g. 0.229,0.224,0.225.")
    var std = "0.229,0.224,0.225"
    @Flag(help: "The custom model takes BGR channels.")
    var bgr = false
    @Option(help: "Use these precomputed vectors instead of a model: .npy (rows follow the sorted file list), fastdup atrain_features.dat, or CSV filename,v0,v1,…. With --model copy they are raw copy descriptors, whitened and verified as the model's would be.")
    var embeddings: String?
    @Flag(help: "Statistics only: no embeddings, no atrain_features.dat.")
    var noEmbeddings = false
    @Flag(help: "Also write the features as features.npy.")
    var exportNpy = false

    func validate() throws {
        if embeddings != nil, let model, model != "copy" {
            throw ValidationError("--embeddings replaces the model: only --model copy goes with it (the vectors are then raw copy descriptors)")
        }
        try OptionRange.check("--input-size", inputSize, in: OnnxImageEmbedder.inputSizes)
        _ = try OptionRange.numbers("--mean", mean, count: 3)
        _ = try OptionRange.numbers("--std", std, count: 3, accept: { $0 > 0 }, expected: "positive numbers")
    }

    /// The embedding to compute. Without `--model`, copy descriptors, or ImageNet MobileNetV2
    /// features of the whole (squashed) image when labels are analysed: they separate classes
    /// best (wrong-label AUROC on corpus set D seeds 0/1: photos 0.994/0.997, Fashion-MNIST
    /// 0.974/0.974, vs 0.989/0.997 and 0.967/0.973 centre-cropped, 0.976/0.989 and 0.964/0.957
    /// with copy descriptors).
    func choice(forLabels: Bool = false) throws -> EmbeddingChoice {
        if noEmbeddings { return .none }
        if let embeddings { return model == "copy" ? .precomputedCopyDescriptors(path: embeddings) : .precomputed(path: embeddings) }
        let model = self.model ?? (forLabels ? "mobilenet_v2_squash" : "copy")
        switch model {
        case "copy": return .copyDescriptor
        case "mobilenet_v2", "mobilenet_v2_squash":
            let sizes = OnnxImageEmbedder.mobileNetV2InputSizes
            guard sizes.contains(inputSize), inputSize % 32 == 0 else {
                throw ValidationError("--input-size for \(model) must be a multiple of 32 in \(sizes.lowerBound)…\(sizes.upperBound) (got \(inputSize))")
            }
            return .mobileNetV2(squash: model == "mobilenet_v2_squash", inputSize: inputSize)
        case "mobilenet_v2_int8":
            do {
                try MobileNetV2Converter.checkInputSize(inputSize, precision: .int8)
            } catch {
                throw ValidationError("--input-size: \(error)")
            }
            return .mobileNetV2Int8(inputSize: inputSize)
        default:
            guard model.hasSuffix(".onnx") || model.hasSuffix(".ort") else {
                throw ValidationError("--model must be copy, mobilenet_v2, mobilenet_v2_int8, mobilenet_v2_squash or a path to a .onnx file")
            }
            return .onnx(path: model, inputSize: inputSize, mean: try OptionRange.numbers("--mean", mean, count: 3),
                         std: try OptionRange.numbers("--std", std, count: 3, accept: { $0 > 0 }, expected: "positive numbers"),
                         bgr: bgr)
        }
    }
}

extension EmbeddingError {
    /// 66 when the model or embeddings file is missing, 65 when it cannot be used, 70 otherwise
    /// (the runtime or the built-in model's files).
    var exitStatus: ExitCode {
        switch self {
        case .modelNotFound: ExitStatus.noInput
        case .invalidEmbeddings(let path, _): FileManager.default.fileExists(atPath: path) ? ExitStatus.dataError : ExitStatus.noInput
        case .corruptModel, .inputShapeMismatch, .unsupportedModel: ExitStatus.dataError
        default: ExitStatus.software
        }
    }
}

extension DistanceMetric: ExpressibleByArgument {}
extension IndexKind: ExpressibleByArgument {}
extension Outliers.Rule: ExpressibleByArgument {}

struct SimilarityOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Neighbours per image (fastdup nearest_neighbors_k; fastdup's default is 2).")
    var nearestNeighborsK = AnalysisOptions().nearestNeighborsK
    @Option(parsing: .unconditional, help: "similarity.csv lists pairs with similarity at least this (fastdup threshold; default 0.9; with --model copy 0.55, or 0.45 with --no-verify).")
    var threshold: Float?
    @Option(parsing: .unconditional, help: "Connected components join pairs at least this similar (fastdup cc_threshold; default 0.96, 0.6 with --model copy).")
    var ccThreshold: Float?
    @Option(parsing: .unconditional, help: "Fraction of images reported as outliers (fastdup outlier_percentile).")
    var outlierPercentile = AnalysisOptions().outlierPercentile
    @Option(help: "Outlier rule: one (its nearest neighbour is far) or all (also nobody's near neighbour).")
    var outlierHow = AnalysisOptions().outlierRule
    @Option(parsing: .unconditional, help: "near_duplicates.csv: cosine distance at most this (fiftyone compute_near_duplicates; default 0.2; with --model copy 0.45, or 0.55 with --no-verify).")
    var nearDuplicateDistance: Float?
    @Option(help: "Distance: cosine, euclidean, l1, linf (l1/linf need --index flat).")
    var distance = AnalysisOptions().metric
    @Option(help: "kNN index: flat (exact), hnsw or ivf (Faiss, vectors in memory), projected (256-d PCA candidates re-ranked exactly, vectors on disk; cosine), lists (k-means lists searched exactly one by one, each row in its 4 nearest: shared by a cluster's workers; cosine, euclidean); default by size and dimension.")
    var index: IndexKind?
    @Option(parsing: .unconditional, help: "--index lists: average images a list (fewer: more lists, less work a list, lower recall).")
    var listRows: Int?
    @Flag(help: "--model copy: no local verification of uncertain pairs (global descriptor scores only).")
    var noVerify = false
    @Flag(help: "--model copy: check every uncertain pair with SIFT, without the ORB screening pass (slower).")
    var noScreen = false
    @Flag(help: "--model copy: no second retrieval of candidate pairs on ORB descriptors (finds quarter turns and heavy crops the global descriptor ranks low; needs the screening pass).")
    var noLocalRetrieval = false

    /// Similarities are cosines (−1…1) for cosine, negated distances (≤ 0) for the other metrics.
    func validate() throws {
        try OptionRange.check("--nearest-neighbors-k", nearestNeighborsK, in: 1...1000)
        for (name, value) in [("--threshold", threshold), ("--cc-threshold", ccThreshold)] {
            if distance == .cosine { try OptionRange.check(name, value, in: -1...1) } else { try OptionRange.check(name, value, atMost: 0) }
        }
        try OptionRange.check("--outlier-percentile", outlierPercentile, in: 0...1)
        if let listRows { try OptionRange.check("--list-rows", listRows, in: 2...(1 << 24)) }
        if distance == .cosine {
            try OptionRange.check("--near-duplicate-distance", nearDuplicateDistance, in: 0...2)
        } else {
            try OptionRange.check("--near-duplicate-distance", nearDuplicateDistance, atLeast: 0)
        }
    }

    /// The options, with the embedding's defaults for thresholds not given.
    func options(for embedding: EmbeddingChoice) -> AnalysisOptions {
        var o = AnalysisOptions.defaults(for: embedding, verify: !noVerify)
        if noScreen { o.verification?.screen = nil }
        if noLocalRetrieval { o.verification?.retrieval.perImage = 0 }
        o.nearestNeighborsK = nearestNeighborsK
        if let threshold { o.threshold = threshold }
        if let ccThreshold { o.componentThreshold = ccThreshold }
        o.outlierPercentile = outlierPercentile
        o.outlierRule = outlierHow
        if let nearDuplicateDistance { o.nearDuplicateDistance = nearDuplicateDistance }
        o.metric = distance
        o.index = index
        o.listRows = listRows
        return o
    }
}

struct ThresholdOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "dark: 99th-percentile brightness (0-255) below this.")
    var darkBrightness = QualityThresholds().darkBrightnessP99
    @Option(parsing: .unconditional, help: "bright: 5th-percentile brightness (0-255) above this.")
    var brightBrightness = QualityThresholds().brightBrightnessP5
    @Option(parsing: .unconditional, help: "blurry: contrast-normalised Laplacian variance below this.")
    var blurrySharpness = QualityThresholds().blurrySharpness
    @Option(parsing: .unconditional, help: "blurry: directional sharpness (motion blur) below this.")
    var blurryDirectionalSharpness = QualityThresholds().blurryDirectionalSharpness
    @Option(parsing: .unconditional, help: "low_information: grey entropy (bits) below this.")
    var lowInformationEntropy = QualityThresholds().lowInformationEntropy
    @Option(parsing: .unconditional, help: "odd_aspect_ratio: min(w/h, h/w) below this.")
    var oddAspectRatio = QualityThresholds().oddAspectRatio
    @Option(parsing: .unconditional, help: "tiny: shorter side (px) below this.")
    var tinySide = QualityThresholds().tinySide

    func validate() throws {
        try OptionRange.check("--dark-brightness", darkBrightness, in: 0...255)
        try OptionRange.check("--bright-brightness", brightBrightness, in: 0...255)
        try OptionRange.check("--blurry-sharpness", blurrySharpness, atLeast: 0)
        try OptionRange.check("--blurry-directional-sharpness", blurryDirectionalSharpness, atLeast: 0)
        try OptionRange.check("--low-information-entropy", lowInformationEntropy, in: 0...8)
        try OptionRange.check("--odd-aspect-ratio", oddAspectRatio, in: 0...1)
        try OptionRange.check("--tiny-side", tinySide, atLeast: 0)
    }

    var thresholds: QualityThresholds {
        var t = QualityThresholds()
        t.darkBrightnessP99 = darkBrightness
        t.brightBrightnessP5 = brightBrightness
        t.blurrySharpness = blurrySharpness
        t.blurryDirectionalSharpness = blurryDirectionalSharpness
        t.lowInformationEntropy = lowInformationEntropy
        t.oddAspectRatio = oddAspectRatio
        t.tinySide = tinySide
        return t
    }
}

/// `--max-image-pixels` and `--max-file-bytes`: what one image file or archive member may cost.
struct DecodeLimitOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Decode at most this many pixels per image (default: Pillow's limit). Larger JPEGs and lossy WebPs are decoded shrunk on load; other larger images are invalid (UNSUPPORTED_FORMAT).",
                               valueName: "pixels"))
    var maxImagePixels = DecodeLimits.defaultMaximumPixels
    @Option(parsing: .unconditional, help: ArgumentHelp("Image files and archive members (uncompressed) larger than this many bytes are invalid (UNSUPPORTED_FORMAT) and never read (default: 256 MiB).",
                               valueName: "bytes"))
    var maxFileBytes = DecodeLimits.defaultMaximumFileBytes

    func validate() throws {
        try OptionRange.check("--max-image-pixels", maxImagePixels, atLeast: 1)
        try OptionRange.check("--max-file-bytes", maxFileBytes, atLeast: 1)
    }

    var limits: DecodeLimits { DecodeLimits(maximumPixels: maxImagePixels, maximumFileBytes: maxFileBytes) }
}
