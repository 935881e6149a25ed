import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Write self-contained HTML galleries of a work_dir's findings.",
        discussion: """
            Writes WORK_DIR/galleries/KIND.html (stats: stats_blur.html, stats_dark.html,
            stats_bright.html). Thumbnails are embedded (base64) unless --lazy, which links
            WORK_DIR/thumbnails/<index>.jpg instead (made on demand, reused). Pages show 48 cards
            at a time with a filter box, so --num-images 0 (all) stays fast on large sets.

            Examples:
              winnow gallery work --kind duplicates
              winnow gallery work --kind outliers --num-images 100 --lazy
              winnow gallery work --kind stats --metric dark
              winnow gallery work --kind similarity --neighbors 8
              winnow gallery work --kind labels --annotations labels.csv --slice cat,dog
            """
    )

    @Argument(help: "A work_dir written by `winnow run`.")
    var workDir: String

    @Option(help: "duplicates, outliers, components, stats, similarity or labels (repeat or comma-separate for several).")
    var kind: [String] = ["duplicates"]

    @Option(parsing: .unconditional, help: "Cards per gallery (0: all).")
    var numImages = 20

    @Option(help: "asc or desc; default: the kind's own order (most telling first).")
    var sort: String?

    @Option(help: "Only cards with an image of these labels or splits (comma-separated).")
    var slice: String?

    @Flag(help: "Link thumbnails from WORK_DIR/thumbnails instead of embedding them.")
    var lazy = false

    @Option(help: "stats: blur, dark, bright (comma-separated; default all, one page each).")
    var metric: String?

    @Option(parsing: .unconditional, help: "similarity / labels: neighbours shown per image.")
    var neighbors = 5

    @Option(parsing: .unconditional, help: "components: members shown per cluster.")
    var maxMembers = 12

    @Option(help: "CSV with filename,label[,split][,col_x,row_y,width,height] (fastdup annotations).")
    var annotations: String?

    @Option(parsing: .unconditional, help: "Longest side of the thumbnails, pixels.")
    var thumbnailSize = 160

    func validate() throws {
        for name in kinds where GalleryKind(rawValue: name) == nil {
            throw ValidationError("--kind must be duplicates, outliers, components, stats, similarity or labels (got \"\(name)\")")
        }
        if let sort, sort != "asc", sort != "desc" { throw ValidationError("--sort must be asc or desc") }
        try OptionRange.check("--num-images", numImages, atLeast: 0)
        try OptionRange.check("--neighbors", neighbors, in: 1...100)
        try OptionRange.check("--max-members", maxMembers, in: 1...10_000)
        try OptionRange.check("--thumbnail-size", thumbnailSize, in: 16...1024)
        for name in metrics where StatsMetric(rawValue: name) == nil {
            throw ValidationError("--metric must be blur, dark or bright (got \"\(name)\")")
        }
    }

    private var kinds: [String] { kind.flatMap(commaSeparated) }
    private var metrics: [String] { metric.map(commaSeparated) ?? [] }

    func run() throws {
        var failure: ExitCode?
        for name in kinds {
            guard let chosen = GalleryKind(rawValue: name) else { continue }
            var options = GalleryOptions(kind: chosen)
            options.numImages = numImages
            options.ascending = sort.map { $0 == "asc" }
            options.slice = slice.map(commaSeparated) ?? []
            options.lazy = lazy
            options.neighbors = neighbors
            options.maxMembers = maxMembers
            if !metrics.isEmpty { options.metrics = metrics.compactMap(StatsMetric.init(rawValue:)) }
            options.annotations = annotations.map { URL(fileURLWithPath: $0) }
            options.thumbnailSide = thumbnailSize
            var writer = GalleryWriter(workDirectory: URL(fileURLWithPath: workDir), options: options)
            do throws(GalleryError) {
                for result in try writer.write() {
                    print("\(name): \(result.cards) of \(result.available) cards → \(result.url.path)")
                }
            } catch {
                standardError("winnow: \(error)")
                if case .cannotWrite = error { failure = ExitStatus.cannotCreate } else { failure = failure ?? ExitStatus.noInput }
            }
            for warning in writer.warnings { standardError("winnow: warning: \(warning)") }
        }
        if let failure { throw failure }
    }
}
