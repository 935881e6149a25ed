import Foundation

/// What `winnow run --annotations` does with labels.
public struct LabelOptions: Sendable, Codable, Equatable {
    /// Ground truth: fastdup CSV, COCO JSON or YOLO data yaml.
    public var annotations: String
    /// Model predictions in one of the same formats (adds hardness and mistakenness).
    public var predictions: String?
    /// nil: inferred from each file's extension.
    public var format: AnnotationFormat?
    /// The CSV column holding the label.
    public var labelColumn: String = "label"
    /// Neighbors for the kNN label disagreement (`neighbours` in `config.json`).
    public var neighbors: Int = 10
    /// Ridge strength and softmax temperature of the out-of-sample classifier (``WrongLabels``).
    public var ridgeLambda: Double = 3
    public var temperature: Float = 0.1
    /// Mistakenness from logits' entropy instead of confidence (fiftyone `use_logits`).
    public var useLogits: Bool = false
    /// Unmatched confident predictions are added to `annotations_corrected.csv` (fiftyone `copy_missing`).
    public var copyMissing: Bool = false
    /// Only rows with these labels / this split in the label outputs (fastdup `slice`); empty: all.
    public var sliceLabels: [String] = []
    public var sliceSplit: String?
    /// `.bbox`: every annotated box is a sample of its own (fastdup `data_type='bbox'`).
    public var dataType: DataType = .image
    /// Object crops: expansion `1 + alpha` of width and height, and squaring (fiftyone `alpha`, `force_square`).
    public var alpha: Double = 0
    public var forceSquare: Bool = false

    public enum DataType: String, Sendable, Codable, CaseIterable { case image, bbox }

    enum CodingKeys: String, CodingKey {
        case annotations, predictions, format, labelColumn, neighbors = "neighbours", ridgeLambda, temperature, useLogits
        case copyMissing, sliceLabels, sliceSplit, dataType, alpha, forceSquare
    }

    public init(annotations: String, predictions: String? = nil, format: AnnotationFormat? = nil) {
        self.annotations = annotations
        self.predictions = predictions
        self.format = format
    }
}

/// What the label analyses found, for the summary.
public struct LabelSummary: Sendable, Codable, Equatable {
    public var annotations = 0
    public var labelledImages = 0
    public var objects = 0
    public var classes = 0
    /// Annotation records naming no decoded image, naming an unusable one, or malformed.
    public var unmatched = 0
    public var unusableImages = 0
    public var malformed = 0
    public var likelyWrongLabels = 0
    public var contradictingClusters = 0
    public var predictions = 0
    public var possibleMissing = 0
    public var possibleSpurious = 0
    /// Near copies across the annotation files' splits (nil when the annotations give no split).
    public var leaks: Int? = nil
}

/// Reads the annotations (and predictions), links them to the run's samples and writes the
/// label outputs: `label_scores.csv`, `likely_wrong_labels.csv`, `label_purity.csv`,
/// `annotation_problems.csv`, and with boxed predictions `detection_mistakenness.csv` (plus
/// `annotations_corrected.csv` with copy_missing). Input files are only read.
struct LabelStage {
    var options: LabelOptions
    var directory: URL
    var metric: DistanceMetric
    var componentThreshold: Float
    /// Pairs at least this similar are near copies (`similarity.csv`'s threshold), for split leaks.
    var pairThreshold: Float

    struct Loaded: Sendable {
        var annotations: AnnotationFile
        var predictions: AnnotationFile?
    }

    /// Reads both files up front so that an unusable file stops the run before any decoding.
    static func load(_ options: LabelOptions) throws(AnnotationError) -> Loaded {
        let annotations = try AnnotationFile.read(URL(fileURLWithPath: options.annotations), format: options.format,
                                                  labelColumn: options.labelColumn)
        let predictions = try options.predictions.map { path throws(AnnotationError) in
            try AnnotationFile.read(URL(fileURLWithPath: path), format: options.format, labelColumn: options.labelColumn)
        }
        return Loaded(annotations: annotations, predictions: predictions)
    }

    /// `--data-type bbox`: one source per annotated box of each found image (id `image#k:x_y_w_h`), and
    /// each object source's annotation by id; annotations naming no found image are problems.
    static func objectSources(_ sources: [SampleSource], filenames: [String], loaded: Loaded, options: LabelOptions)
        -> (sources: [SampleSource], annotations: [String: Annotation], problems: [AnnotationError])
    {
        let matcher = AnnotationMatcher(samples: zip(filenames, sources).map { (filename: $0.0, path: $0.1.id) })
        let folder = loaded.annotations.url.deletingLastPathComponent()
        var objects: [SampleSource] = [], annotations: [String: Annotation] = [:], problems: [AnnotationError] = []
        var counts = [Int](repeating: 0, count: sources.count)
        for annotation in loaded.annotations.annotations {
            guard let box = annotation.box else { continue }
            guard let row = matcher.row(for: annotation.filename, relativeTo: folder) else {
                problems.append(AnnotationError(file: loaded.annotations.url.path, record: annotation.record, field: "filename",
                                                reason: "\(annotation.filename) is not among the run's images"))
                continue
            }
            let object = objectSource(sources[row], number: counts[row],
                                      crop: ObjectCrop(box: box, alpha: options.alpha, forceSquare: options.forceSquare))
            counts[row] += 1
            objects.append(object)
            annotations[object.id] = annotation
        }
        return (objects.sorted { $0.id < $1.id }, annotations, problems)
    }

    /// The `number`th object of `image` as a sample of its own: id and name `image#number:x_y_w_h…`.
    static func objectSource(_ image: SampleSource, number: Int, crop: ObjectCrop) -> SampleSource {
        var object = image
        object.object = crop
        // The id names the crop, so that a changed box or crop option is decoded again on resume.
        let suffix = "#\(number):" + crop.idPart
        object.id += suffix
        object.displayName += suffix
        return object
    }

    func run(loaded: Loaded, samples: [ValidSample], invalid: [InvalidRecord], features: FeatureStore?,
             objects: (annotations: [String: Annotation], problems: [AnnotationError])? = nil) throws -> LabelSummary {
        var summary = LabelSummary()
        summary.annotations = loaded.annotations.annotations.count
        summary.predictions = loaded.predictions?.annotations.count ?? 0
        let linked = try objects.map { try linkObjects($0, loaded: loaded, samples: samples, summary: &summary) }
            ?? link(loaded, samples: samples, invalid: invalid, summary: &summary)
        let plan = LabelPlan(truth: linked.truth, samples: samples, classes: loaded.annotations.classes, options: options)
        if plan.annotatedSplits, let features {
            summary.leaks = try writeLeaks(samples: samples, splits: plan.splits, features: features)
        }
        summary.labelledImages = plan.imageLabels.compactMap { $0 }.count
        summary.classes = Set(plan.single.compactMap { $0 }).count
        let scores = try features.flatMap { try embeddingScores(plan, samples: samples, features: $0, summary: &summary) }
        let predictions = PredictionScores(predicted: linked.predicted, imageLabels: plan.imageLabels,
                                           predictionsGiven: loaded.predictions != nil, useLogits: options.useLogits)
        summary.likelyWrongLabels = try writeLabelScores(plan, scores, predictions, predicted: linked.predicted, samples: samples)
        try writeDetections(truth: linked.truth, predicted: linked.predicted, samples: samples, plan: plan, summary: &summary)
        if plan.isSliced { try writeSlices(ids: Set(plan.slicedRows.map { String(samples[$0].id) })) }
        try WorkDirFile.annotationProblems.write(linked.problems.lazy.map {
            AnnotationProblemRow(file: $0.file, record: $0.record, field: $0.field, reason: $0.reason)
        }, in: directory)
        return summary
    }

    /// The annotations and predictions by sample row; a record naming no decoded sample is a
    /// problem (an unusable image, or none of the run's).
    private func link(_ loaded: Loaded, samples: [ValidSample], invalid: [InvalidRecord],
                      summary: inout LabelSummary) -> LinkedAnnotations {
        var linked = LinkedAnnotations(problems: loaded.annotations.problems + (loaded.predictions?.problems ?? []))
        summary.malformed = linked.problems.count
        let matcher = AnnotationMatcher(samples: samples.map { (filename: $0.filename, path: $0.path) })
        let brokenMatcher = AnnotationMatcher(samples: invalid.map { (filename: $0.filename, path: $0.filename) })
        func byRow(_ file: AnnotationFile) -> [Int: [Annotation]] {
            var byRow: [Int: [Annotation]] = [:]
            let folder = file.url.deletingLastPathComponent()
            for annotation in file.annotations {
                if let row = matcher.row(for: annotation.filename, relativeTo: folder) {
                    byRow[row, default: []].append(annotation)
                    continue
                }
                let unusable = brokenMatcher.row(for: annotation.filename, relativeTo: folder) != nil
                if unusable { summary.unusableImages += 1 } else { summary.unmatched += 1 }
                linked.problems.append(AnnotationError(
                    file: file.url.path, record: annotation.record, field: "filename",
                    reason: unusable ? "\(annotation.filename) is an unusable image (see atrain_features.bad.csv)"
                        : "\(annotation.filename) is not among the run's images"))
            }
            return byRow
        }
        linked.truth = byRow(loaded.annotations)
        linked.predicted = loaded.predictions.map(byRow) ?? [:]
        summary.objects = linked.truth.values.reduce(0) { $0 + $1.filter { $0.box != nil }.count }
        return linked
    }

    /// `--data-type bbox`: each object sample carries its box's label as an image-level label;
    /// `atrain_crops.csv` lists each object sample's image, box and crop.
    private func linkObjects(_ objects: (annotations: [String: Annotation], problems: [AnnotationError]), loaded: Loaded,
                             samples: [ValidSample], summary: inout LabelSummary) throws -> LinkedAnnotations {
        var linked = LinkedAnnotations(problems: loaded.annotations.problems + (loaded.predictions?.problems ?? []) + objects.problems)
        summary.malformed = linked.problems.count - objects.problems.count
        summary.unmatched = objects.problems.count
        try Self.writeCrops(objects.annotations, samples: samples, in: directory) { row, annotation in
            var label = annotation
            label.box = nil
            linked.truth[row] = [label]
        }
        summary.objects = linked.truth.count
        return linked
    }

    /// `atrain_crops.csv`: each decoded object sample (`objects` by sample id) with its image,
    /// box and crop size; `each` is told every one's row and annotation.
    static func writeCrops(_ objects: [String: Annotation], samples: [ValidSample], in directory: URL,
                           each: (Int, Annotation) -> Void = { _, _ in }) throws {
        try WorkDirFile.crops.write(in: directory) { append in
            for (row, sample) in samples.enumerated() {
                guard let annotation = objects[sample.path], let box = annotation.box else { continue }
                each(row, annotation)
                let image = String(sample.filename[..<(sample.filename.lastIndex(of: "#") ?? sample.filename.endIndex)])
                let object = String(sample.path.split(separator: "#").last?.split(separator: ":").first ?? "")
                try append(CropRow(index: sample.id, filename: image, object: object, label: annotation.label ?? "",
                                   x: box.x, y: box.y, width: box.width, height: box.height, cropWidth: sample.width,
                                   cropHeight: sample.height, record: annotation.record))
            }
        }
    }

    /// The embedding-based scores over the single-label samples with a vector (nil with fewer
    /// than 3 or a single class), and `label_purity.csv` from their similarity components.
    private func embeddingScores(_ plan: LabelPlan, samples: [ValidSample], features: FeatureStore,
                                 summary: inout LabelSummary) throws -> EmbeddingLabelScores? {
        let rows = samples.indices.filter { plan.single[$0] != nil && samples[$0].featureRow != nil }
        guard rows.count >= 3, Set(rows.compactMap { plan.single[$0] }).count >= 2 else { return nil }
        let classIndex = Dictionary(uniqueKeysWithValues: plan.classNames.enumerated().map { ($0.element, $0.offset) })
        let labels = rows.compactMap { plan.single[$0].flatMap { classIndex[$0] } }
        let vectors = try AnalysisStage.vectors(rows: rows.compactMap { samples[$0].featureRow }, store: features, directory: directory)
        let wrong = WrongLabels.compute(vectors, labels: labels, classCount: plan.classNames.count, lambda: options.ridgeLambda,
                                        temperature: options.temperature)
        let graph = try neighborGraph(rows: rows, vectors: vectors, samples: samples)
        let disagreement = LabelDisagreement.compute(graph: graph, labels: labels, k: options.neighbors)
        let components = ConnectedComponents.find(graph: graph, threshold: componentThreshold)
        var componentOf: [Int: Int] = [:]
        for (position, component) in components.componentOf.enumerated() { componentOf[rows[position]] = rows[component] }
        let purity = LabelPurity.compute(components: components.components, labels: rows.map { plan.single[$0] })
        summary.contradictingClusters = purity.filter(\.isContradicting).count
        let shown = purity.filter { $0.counts.contains { options.sliceLabels.isEmpty || options.sliceLabels.contains($0.label) } }
        try WorkDirFile.labelPurity.write(shown.lazy.map { cluster in
            LabelPurityRow(componentID: samples[rows[cluster.id]].id, count: cluster.members.count, majorityLabel: cluster.majority,
                           purity: cluster.purity, labelCounts: cluster.counts.map { "\($0.label):\($0.count)" }.joined(separator: ";"),
                           filenames: cluster.members.map { samples[rows[$0]].filename }.joined(separator: ";"))
        }, in: directory)
        return EmbeddingLabelScores(position: Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($0.element, $0.offset) }),
                                    labels: labels, wrong: wrong, disagreement: disagreement, componentOf: componentOf)
    }

    /// `label_scores.csv` (every labelled or predicted sample the slice keeps) and
    /// `likely_wrong_labels.csv` (most likely first); returns how many labels are likely wrong.
    private func writeLabelScores(_ plan: LabelPlan, _ scores: EmbeddingLabelScores?, _ predictions: PredictionScores,
                                  predicted: [Int: [Annotation]], samples: [ValidSample]) throws -> Int {
        var likely: [LikelyWrongLabelRow] = []
        try WorkDirFile.labelScores.write(in: directory) { append in
            for row in samples.indices where plan.imageLabels[row] != nil || predicted[row] != nil {
                let label = plan.imageLabels[row]?.sorted().joined(separator: ";")
                guard plan.keeps(row, label: plan.single[row] ?? label) else { continue }
                var out = LabelScoreRow(index: samples[row].id, filename: samples[row].filename, label: label, split: plan.splits[row],
                                        predictedLabel: predictions.label[row], confidence: predictions.confidence[row],
                                        hardness: predictions.hardness[row], mistakenness: predictions.mistakenness[row])
                if let scores, let p = scores.position[row] {
                    let wrong = scores.wrong, suggested = wrong.suggested[p]
                    out.wrongLabelScore = Double(wrong.scores[p])
                    out.probabilityOfGiven = Double(wrong.probability(p, scores.labels[p]))
                    out.suggestedLabel = plan.classNames[suggested]
                    out.probabilityOfSuggested = Double(wrong.probability(p, suggested))
                    out.isLikelyWrong = wrong.likelyWrong[p]
                    out.knnDisagreement = Double(scores.disagreement.scores[p])
                    out.knnMajorityLabel = plan.classNames[scores.disagreement.majority[p]]
                    out.componentID = scores.componentOf[row].map { samples[$0].id }
                    if wrong.likelyWrong[p] {
                        likely.append(LikelyWrongLabelRow(rank: 0, index: out.index, filename: out.filename, label: label,
                                                          suggestedLabel: plan.classNames[suggested],
                                                          wrongLabelScore: Double(wrong.scores[p]),
                                                          probabilityOfSuggested: Double(wrong.probability(p, suggested)),
                                                          knnDisagreement: Double(scores.disagreement.scores[p]), split: plan.splits[row]))
                    }
                }
                try append(out)
            }
        }
        likely.sort { $0.wrongLabelScore > $1.wrongLabelScore }
        for rank in likely.indices { likely[rank].rank = rank + 1 }
        try WorkDirFile.likelyWrongLabels.write(likely, in: directory)
        return likely.count
    }

    /// Detection mistakenness per object, and `annotations_corrected.csv` with copy_missing.
    private func writeDetections(truth: [Int: [Annotation]], predicted: [Int: [Annotation]], samples: [ValidSample],
                                 plan: LabelPlan, summary: inout LabelSummary) throws {
        let boxedRows = Set(predicted.filter { $0.value.contains { $0.box != nil } }.keys)
        guard !boxedRows.isEmpty else { return }
        var table: [DetectionMistakennessRow] = [], corrected: [CorrectedAnnotationRow] = []
        func pixels(_ box: BoundingBox, _ row: Int) -> BoundingBox {
            box.inPixels(imageWidth: samples[row].width, imageHeight: samples[row].height)
        }
        let rows = Set(truth.filter { $0.value.contains { $0.box != nil } }.keys).union(boxedRows).sorted()
        for row in rows {
            let gt = (truth[row] ?? []).filter { $0.box != nil }
            let pr = (predicted[row] ?? []).filter { $0.box != nil }
            let objects = gt.compactMap { a in a.box.map { Mistakenness.Object(label: a.label ?? "", box: pixels($0, row)) } }
            let predictions = pr.compactMap { a in
                a.box.map { Mistakenness.Object(label: a.label ?? "", box: pixels($0, row), confidence: a.confidence, logits: a.logits) }
            }
            let result = Mistakenness.detections(groundTruth: objects, predictions: predictions, useLogits: options.useLogits)
            summary.possibleMissing += result.possibleMissing.count
            summary.possibleSpurious += result.possibleSpurious.count
            let id = samples[row].id, name = samples[row].filename
            func detection(_ kind: String, label: String?, _ prediction: Mistakenness.Object?, _ box: BoundingBox,
                           record: String, _ score: Mistakenness.ObjectScore? = nil) -> DetectionMistakennessRow {
                DetectionMistakennessRow(index: id, filename: name, kind: kind, label: label, predictedLabel: prediction?.label,
                                         confidence: prediction?.confidence, x: box.x, y: box.y, width: box.width,
                                         height: box.height, iou: score?.iou, mistakenness: score?.mistakenness,
                                         locationMistakenness: score?.location, record: record)
            }
            for score in result.objects where plan.keeps(row, label: objects[score.groundTruth].label) {
                let object = objects[score.groundTruth]
                table.append(detection(score.prediction == nil ? "possible_spurious" : "matched", label: object.label,
                                       score.prediction.map { predictions[$0] }, object.box, record: gt[score.groundTruth].record, score))
            }
            for p in result.possibleMissing where plan.keeps(row, label: predictions[p].label) {
                table.append(detection("possible_missing", label: nil, predictions[p], predictions[p].box, record: pr[p].record))
            }
            if options.copyMissing {
                func correction(_ object: Mistakenness.Object, source: String) -> CorrectedAnnotationRow {
                    CorrectedAnnotationRow(filename: name, label: object.label, split: plan.splits[row], x: object.box.x, y: object.box.y,
                                           width: object.box.width, height: object.box.height, source: source)
                }
                corrected += objects.map { correction($0, source: "annotation") }
                corrected += result.possibleMissing.map { correction(predictions[$0], source: "copied_prediction") }
            }
        }
        try WorkDirFile.detectionMistakenness.write(table, in: directory)
        if options.copyMissing {
            let url = WorkDirFile.correctedAnnotations.url(in: directory)
            let inputs = [options.annotations, options.predictions].compactMap { $0 }.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            guard !inputs.contains(url.standardizedFileURL.path) else {
                throw AnnotationError(file: url.path, reason: "refusing to overwrite an input annotation file")
            }
            try WorkDirFile.correctedAnnotations.write(corrected, in: directory)
        }
    }

    /// fastdup's `slice` for every per-sample output: the rows of the work_dir files that name a
    /// sample of the slice (either end of a pair), copied to `slice/<file>`.
    private func writeSlices(ids: Set<String>) throws {
        let folder = directory.appendingPathComponent("slice")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in WorkDirFile.sliced {
            let name = file.name
            let url = directory.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            var lines = text.split(whereSeparator: \.isNewline)
            guard !lines.isEmpty, let header = CSVReader.fields(lines.removeFirst()) else { continue }
            let idColumns = header.indices.filter { file.sampleColumns.contains(header[$0]) }
            var kept = header.joined(separator: ",") + "\n"
            for line in lines {
                guard let fields = CSVReader.fields(line) else { continue }
                if idColumns.contains(where: { $0 < fields.count && ids.contains(fields[$0]) }) { kept += line + "\n" }
            }
            try AtomicFile.write(kept, to: folder.appendingPathComponent(name))
        }
    }

    /// fiftyone's leaky splits with the annotations' splits: near-copy pairs (≥ the pair
    /// threshold) across splits, written to `leaks.csv` (replacing the folder-name version).
    private func writeLeaks(samples: [ValidSample], splits: [String?], features: FeatureStore) throws -> Int {
        let rows = samples.indices.filter { samples[$0].featureRow != nil && splits[$0] != nil }
        guard rows.count >= 2 else { return 0 }
        let vectors = try AnalysisStage.vectors(rows: rows.compactMap { samples[$0].featureRow }, store: features,
                                                directory: directory)
        let graph = try neighborGraph(rows: rows, vectors: vectors, samples: samples)
        let leaks = LeakySplits.find(graph: graph, splits: rows.map { splits[$0] }, threshold: pairThreshold)
        try WorkDirFile.leaks.write(leaks.lazy.map { leak in
            let a = samples[rows[leak.pair.from]], b = samples[rows[leak.pair.to]]
            return LeakRow(leak, from: (a.id, a.filename), to: (b.id, b.filename))
        }, in: directory)
        return leaks.count
    }

    /// The kNN graph over `samples[rows]` (whose vectors are `vectors`): the run's `knn.bin`
    /// when it is over exactly these samples with this metric and k, else one built for them
    /// (its file unlinked once mapped).
    private func neighborGraph(rows: [Int], vectors: FeatureMatrix, samples: [ValidSample]) throws -> KNNGraph {
        let k = min(options.neighbors, rows.count - 1)
        if rows.elementsEqual(samples.indices.lazy.filter { samples[$0].featureRow != nil }),
           let run = try? KNNGraph(contentsOf: directory.appendingPathComponent(KNNGraph.fileName)),
           run.rows == rows.count, run.metric == metric, run.k == k {
            return run
        }
        let url = directory.appendingPathComponent(".knn.labels.bin")
        defer { try? FileManager.default.removeItem(at: url) }
        return try buildSimilarityIndex(vectors: vectors, metric: metric).writeNeighborGraph(k: k, to: url)
    }
}
