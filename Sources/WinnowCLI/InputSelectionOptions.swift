import ArgumentParser
import WinnowCommandSupport

/// Which listed images a run (or a cluster's plan) takes: fastdup's `num_images`, `find_regex`
/// and `min_file_size`.
struct InputSelectionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Analyse at most this many images (fastdup num_images).")
    var numImages: Int?

    @Option(help: "Only images whose path matches this regular expression (fastdup find_regex).")
    var findRegex: String?

    @Option(parsing: .unconditional, help: "Skip files smaller than this many bytes (fastdup min_file_size).")
    var minFileSize: Int64 = 0

    func validate() throws {
        try OptionRange.check("--num-images", numImages, atLeast: 0)
        try OptionRange.check("--min-file-size", minFileSize, atLeast: 0)
    }
}
