import ArgumentParser
import Foundation
import WinnowCluster
import WinnowCommandSupport
import WinnowCore

struct ClusterInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a cluster run in an empty PostgreSQL database: the listing in shards, one scan job each.",
        discussion: """
            INPUT is what `winnow run` takes (folders, image files, file lists, archives). The \
            database must be empty; an unreachable one, or one holding other tables, is refused with \
            nothing created. Decoding and embedding options given here apply to every worker: each \
            scan job also computes its images' embeddings (copy descriptors by default, as `winnow \
            run`), stored as files under --storage; `cluster finish` then runs the kNN, verification \
            and analyses on them.

            Examples:
              winnow cluster init --db postgres://winnow@db/run1 --storage /shared/run1 photos/
              winnow cluster init --db postgres://winnow@127.0.0.1:5433/t --storage st a/ list.txt --shard-size 500
              winnow cluster init --db postgres://winnow@db/run2 --storage /shared/run2 photos/ --no-embeddings

            Exit status: 0 created, 64 bad arguments, 65 database not empty or model unusable, \
            66 input or model not found, 69 database unreachable, 70 other failure.
            """
    )

    @OptionGroup var database: DatabaseOption

    @Option(help: "A folder every worker sees (created if missing), for the run's shared files.")
    var storage: String

    @Argument(help: "Folders, image files, file lists or archives.")
    var inputs: [String]

    @Option(parsing: .unconditional, help: "Images per shard (one scan job each).")
    var shardSize = 4096

    @Option(parsing: .unconditional, help: "Attempts a job gets (a job that throws, or whose worker dies) before it is marked failed.")
    var maxAttempts = 3

    @OptionGroup var selection: InputSelectionOptions

    @Option(parsing: .unconditional, help: "Decode threads per worker (default: each worker's cores; `winnow worker --threads` overrides).")
    var threads: Int?

    @OptionGroup(title: "Quality thresholds") var thresholds: ThresholdOptions

    @OptionGroup(title: "Decompression-bomb limits") var limits: DecodeLimitOptions

    @OptionGroup(title: "Video") var video: VideoOptions

    @OptionGroup(title: "Embeddings") var embeddings: EmbeddingOptions

    @OptionGroup(title: "Similarity (applied by cluster finish)") var similarity: SimilarityOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input folder, file list or archive") }
        try OptionRange.check("--shard-size", shardSize, in: 1...10_000_000)
        try OptionRange.check("--max-attempts", maxAttempts, in: 1...100)
        try OptionRange.check("--threads", threads, in: 1...1024)
        if embeddings.embeddings != nil { throw ValidationError("--embeddings is for winnow run: cluster workers compute the embeddings") }
    }

    func run() async throws {
        let embedding = try embeddings.choice()
        var configuration = RunConfiguration(
            inputs: inputs, workDirectory: "",
            ingest: IngestOptions(maximumCount: selection.numImages, findRegex: selection.findRegex,
                                  minimumFileSize: selection.minFileSize, videoSampling: video.sampling),
            quality: thresholds.thresholds, embedding: embedding, exportNumPy: embeddings.exportNpy,
            analysis: similarity.options(for: embedding), decodeLimits: limits.limits)
        if let threads { configuration.workers = threads }
        let plan = ClusterPlan(address: try database.address, storage: storage, configuration: configuration,
                               shardSize: shardSize, maxAttempts: maxAttempts)
        let warnings = WarningPrinter()
        do {
            let created = try await plan.create { warnings.skip($0) }
            warnings.flush()
            print("winnow cluster: \(created.files) images in \(created.shards) shards of up to \(shardSize)"
                  + (created.unreadable > 0 ? " (\(created.unreadable) unreadable)" : "")
                  + "; start workers with: winnow worker --db \(database.db)")
        } catch {
            warnings.flush()
            throw clusterFailure(error)
        }
    }
}
