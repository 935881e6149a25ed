import Foundation

/// The work_dir's CSV files, each with its row type: every writer and reader names a file
/// through these, so its name and columns are spelled once.
public enum WorkDirFile {
    // Samples (fastdup's files, then Winnow's).
    public static let featureList = WorkDirCSV<FeatureListRow>("atrain_features.dat.csv")
    public static let numPyFeatureList = WorkDirCSV<FeatureListRow>("features.npy.csv")
    public static let statistics = WorkDirCSV<StatisticsRow>("atrain_stats.csv")
    public static let badFiles = WorkDirCSV<BadFileRow>("atrain_features.bad.csv")
    public static let quality = WorkDirCSV<QualityRow>("quality.csv")
    public static let exactDuplicates = WorkDirCSV<ExactDuplicateRow>("exact_duplicates.csv")
    public static let videos = WorkDirCSV<VideoRow>("videos.csv")
    // Analyses.
    public static let similarity = WorkDirCSV<PairRow>("similarity.csv")
    public static let outliers = WorkDirCSV<PairRow>("outliers.csv")
    public static let duplicates = WorkDirCSV<DuplicateRow>("duplicates.csv")
    public static let connectedComponents = WorkDirCSV<ComponentMemberRow>("connected_components.csv")
    public static let componentInfo = WorkDirCSV<ComponentRow>("component_info.csv")
    public static let nearDuplicates = WorkDirCSV<NearDuplicateRow>("near_duplicates.csv")
    public static let scores = WorkDirCSV<ScoresRow>("scores.csv")
    public static let leaks = WorkDirCSV<LeakRow>("leaks.csv")
    public static let newVsKnown = WorkDirCSV<NewVsKnownRow>("new_vs_known.csv")
    public static let referenceMatches = WorkDirCSV<ReferenceMatchRow>("reference_matches.csv")
    // Labels.
    public static let crops = WorkDirCSV<CropRow>("atrain_crops.csv")
    public static let imagesWithoutCrops = WorkDirCSV<ImageWithoutCropsRow>("images_without_crops.csv")
    public static let labelPurity = WorkDirCSV<LabelPurityRow>("label_purity.csv")
    public static let labelScores = WorkDirCSV<LabelScoreRow>("label_scores.csv")
    public static let likelyWrongLabels = WorkDirCSV<LikelyWrongLabelRow>("likely_wrong_labels.csv")
    public static let annotationProblems = WorkDirCSV<AnnotationProblemRow>("annotation_problems.csv")
    public static let detectionMistakenness = WorkDirCSV<DetectionMistakennessRow>("detection_mistakenness.csv")
    public static let correctedAnnotations = WorkDirCSV<CorrectedAnnotationRow>("annotations_corrected.csv")
    // Actions.
    public static let keep = WorkDirCSV<KeepRow>("keep.csv")
    public static let remove = WorkDirCSV<RemoveRow>("remove.csv")
    public static let reviewMarks = WorkDirCSV<ReviewMarkRow>("review_marks.csv")

    /// A file `--slice` copies the rows of, with the columns that name a sample.
    public struct Sliced: Sendable {
        public var name: String
        public var sampleColumns: [String]
        init<Row>(_ file: WorkDirCSV<Row>) { (name, sampleColumns) = (file.name, Row.sampleColumns) }
    }

    /// The per-sample files `--slice` copies to `slice/`.
    public static let sliced: [Sliced] = [
        Sliced(featureList), Sliced(statistics), Sliced(quality), Sliced(scores), Sliced(similarity), Sliced(outliers),
        Sliced(connectedComponents), Sliced(nearDuplicates), Sliced(exactDuplicates), Sliced(leaks), Sliced(labelScores),
        Sliced(likelyWrongLabels), Sliced(detectionMistakenness), Sliced(referenceMatches),
    ]
}
