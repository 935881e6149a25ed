import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

struct VisualizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visualize",
        abstract: "Compute a 2-D (or n-D) map of a work_dir's embeddings: PCA, t-SNE, UMAP or given points.",
        discussion: """
            Writes WORK_DIR/maps/KEY.csv (index,filename,x,y[,z,d3…]) and KEY.json (method,
            parameters). KEY defaults to the method name. `winnow serve` and the galleries read them.

            Examples:
              winnow visualize work --method umap
              winnow visualize work --method tsne --perplexity 50 --key tsne-50
              winnow visualize work --method pca --dimensions 3
              winnow visualize work --method manual --points my_points.csv --key mine
            """
    )

    @Argument(help: "A work_dir written by `winnow run` with embeddings.")
    var workDir: String

    @Option(help: "pca, tsne, umap or manual.")
    var method: String = "umap"

    @Option(help: "Name of the map (file stem); default: the method.")
    var key: String?

    @Option(parsing: .unconditional, help: "Output dimensions (t-SNE: 2).")
    var dimensions = 2

    @Option(help: "manual: CSV with a header index,x,y[,…] (index as in atrain_features.dat.csv).")
    var points: String?

    @Option(parsing: .unconditional, help: "Seed of the random choices (UMAP negative samples, t-SNE initial jitter).")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "UMAP: neighbours per point (including itself).")
    var neighbors = 15

    @Option(parsing: .unconditional, help: "UMAP: minimum distance between points in the map.")
    var minDist: Float = 0.1

    @Option(parsing: .unconditional, help: "UMAP: epochs (default 500 up to 10,000 images, 200 above); t-SNE: iterations (default 1000).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "t-SNE: perplexity.")
    var perplexity: Float = 30

    @Flag(help: "Print the map's JSON description.")
    var json = false

    func validate() throws {
        guard let chosen = MapMethod(rawValue: method) else {
            throw ValidationError("--method must be pca, tsne, umap or manual (got \"\(method)\")")
        }
        if chosen == .manual, points == nil { throw ValidationError("--method manual needs --points FILE") }
        if chosen != .manual, points != nil { throw ValidationError("--points is for --method manual") }
        try OptionRange.check("--dimensions", dimensions, in: 1...100)
        if chosen == .tsne, dimensions != 2 { throw ValidationError("t-SNE (Barnes–Hut) makes 2-D maps: use --dimensions 2") }
        if let key, !EmbeddingMap.isValidKey(key) {
            throw ValidationError("--key must be letters, digits, - _ . (at most 100 characters)")
        }
        try OptionRange.check("--epochs", epochs, in: 1...100_000)
        try OptionRange.check("--neighbors", neighbors, in: 2...1000)
        try OptionRange.check("--min-dist", minDist, in: 0...10)
        try OptionRange.check("--perplexity", perplexity, in: 1...1000)
    }

    func run() throws {
        let chosen = MapMethod(rawValue: method) ?? .umap
        let directory = URL(fileURLWithPath: workDir)
        let name = key ?? chosen.rawValue
        let started = Date()
        let map: EmbeddingMap
        do {
            map = try Self.makeMap(method: chosen, directory: directory, key: name, dimensions: dimensions, options: self)
            try map.write(to: directory)
        } catch let error as MapError {
            standardError("winnow: \(error)")
            switch error {
            case .notAWorkDirectory, .noFeatures, .unreadable: throw ExitStatus.noInput
            default: throw ExitStatus.software
            }
        } catch {
            standardError("winnow: cannot write \(MapFiles.folder(in: directory).path): \(error.localizedDescription)")
            throw ExitStatus.cannotCreate
        }
        let path = MapFiles.pointsURL(key: name, in: directory).path
        if json, let data = FileManager.default.contents(atPath: MapFiles.infoURL(key: name, in: directory).path) {
            print(String(decoding: data, as: UTF8.self), terminator: "")
        } else {
            print(String(format: "%@ map of %d images (%d-D) in %.1f s: %@", chosen.rawValue, map.count, map.dimensions,
                         Date().timeIntervalSince(started), path))
        }
    }

    static func makeMap(method: MapMethod, directory: URL, key: String, dimensions: Int,
                        options: VisualizeCommand) throws(MapError) -> EmbeddingMap {
        if method == .manual {
            let (ids, names) = try WorkDirFeatures.samples(in: directory)
            return try EmbeddingMap.manual(pointsFile: URL(fileURLWithPath: options.points ?? ""), key: key, ids: ids,
                                           filenames: names)
        }
        let features = try WorkDirFeatures.load(from: directory)
        let points: [Float]
        var parameters: [String: String] = ["metric": features.metric.rawValue]
        switch method {
        case .pca:
            let (projected, variances) = try PCAMap.project(features.vectors, dimensions: min(dimensions, features.vectors.dimension))
            guard variances.count == dimensions else {
                throw .tooFewPoints(features.vectors.rows, needed: dimensions + 1)
            }
            points = projected
            parameters["explained_variance"] = variances.map { String(format: "%.6g", $0) }.joined(separator: " ")
        case .tsne:
            var tsne = TSNEMap.Options()
            tsne.perplexity = options.perplexity
            tsne.seed = options.seed
            if let epochs = options.epochs { tsne.iterations = epochs; tsne.exaggerationIterations = min(250, epochs / 4) }
            points = try TSNEMap(options: tsne).embed(features.vectors)
            parameters["perplexity"] = String(tsne.perplexity)
            parameters["iterations"] = String(tsne.iterations)
            parameters["early_exaggeration"] = String(tsne.earlyExaggeration)
            parameters["theta"] = String(tsne.theta)
            parameters["pca_dimensions"] = String(tsne.pcaDimensions ?? 0)
            parameters["seed"] = String(tsne.seed)
        case .umap:
            var umap = UMAPMap.Options()
            umap.neighbors = options.neighbors
            umap.minimumDistance = options.minDist
            umap.epochs = options.epochs
            umap.seed = options.seed
            let runGraph: KNNGraph?
            do { runGraph = try KNNGraph.ofRun(in: directory, rows: features.ids.count, scores: .global) } catch {
                throw .unreadable(directory.path, error.description)
            }
            let map = UMAPMap(options: umap)
            points = try map.embed(features.vectors, metric: features.metric, dimensions: dimensions, runGraph: runGraph)
            parameters["knn"] = runGraph.map { map.canUse($0, rows: features.ids.count, metric: features.metric) } == true
                ? "the run's (\(KNNGraph.fileName))" : "searched"
            parameters["n_neighbors"] = String(umap.neighbors)
            parameters["min_dist"] = String(umap.minimumDistance)
            parameters["n_epochs"] = String(umap.epochs ?? (features.vectors.rows <= 10_000 ? 500 : 200))
            parameters["seed"] = String(umap.seed)
        case .manual:
            throw .invalidParameter("unreachable")
        }
        return EmbeddingMap(key: key, method: method, dimensions: dimensions, ids: features.ids, filenames: features.filenames,
                            points: points, parameters: parameters)
    }
}
