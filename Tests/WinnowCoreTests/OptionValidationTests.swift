import Foundation
import Testing
@testable import WinnowCore

/// Numeric options of every command: a value out of range, NaN or ±∞ is a usage error (64)
/// whose one line names the option, the value and the range; negative numbers parse (and
/// are judged by range) instead of being taken for options.
@Suite struct OptionValidationTests {
    func winnow(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestData.shell(TestData.winnowExecutable.path, arguments)
    }

    @Test(arguments: [
        (["run", "x", "--threshold", "nan"], "--threshold must be in -1…1 (got nan)"),
        (["run", "x", "--cc-threshold", "inf"], "--cc-threshold must be in -1…1 (got inf)"),
        (["run", "x", "--distance", "euclidean", "--threshold", "0.5"], "--threshold must be a number ≤ 0 (got 0.5)"),
        (["run", "x", "--dark-brightness", "nan"], "--dark-brightness must be in 0…255 (got nan)"),
        (["run", "x", "--bright-brightness", "300"], "--bright-brightness must be in 0…255 (got 300)"),
        (["run", "x", "--blurry-sharpness", "-inf"], "--blurry-sharpness must be a number ≥ 0 (got -inf)"),
        (["run", "x", "--low-information-entropy", "9"], "--low-information-entropy must be in 0…8 (got 9)"),
        (["run", "x", "--odd-aspect-ratio", "-0.5"], "--odd-aspect-ratio must be in 0…1 (got -0.5)"),
        (["run", "x", "--tiny-side", "-3"], "--tiny-side must be a number ≥ 0 (got -3)"),
        (["run", "x", "--outlier-percentile", "2"], "--outlier-percentile must be in 0…1 (got 2)"),
        (["run", "x", "--near-duplicate-distance", "-1"], "--near-duplicate-distance must be in 0…2 (got -1)"),
        (["run", "x", "--nearest-neighbors-k", "0"], "--nearest-neighbors-k must be in 1…1000 (got 0)"),
        (["run", "x", "--index", "lists", "--list-rows", "1"], "--list-rows must be in 2…16777216 (got 1)"),
        (["run", "x", "--min-offset", "-1"], "--min-offset must be a number ≥ 0 (got -1)"),
        (["run", "x", "--max-offset", "-5"], "--max-offset must be a number ≥ 0 (got -5)"),
        (["run", "x", "--num-images", "-1"], "--num-images must be a number ≥ 0 (got -1)"),
        (["run", "x", "--min-file-size", "-1"], "--min-file-size must be a number ≥ 0 (got -1)"),
        (["run", "x", "--threads", "0"], "--threads must be in 1…"),
        (["run", "x", "--max-memory", "-1G"], "--max-memory needs a size such as 8G, 512M or 1073741824, got '-1G'"),
        (["run", "x", "--max-memory", "nanG"], "--max-memory needs a size such as 8G, 512M or 1073741824, got 'nanG'"),
        (["run", "x", "--max-memory", "4Q"], "--max-memory needs a size such as 8G, 512M or 1073741824, got '4Q'"),
        (["run", "x", "--model", "m.onnx", "--mean", "nan,0,0"], "--mean needs 3 comma-separated numbers (got nan,0,0)"),
        (["run", "x", "--model", "m.onnx", "--std", "1,0,1"], "--std needs 3 comma-separated positive numbers (got 1,0,1)"),
        (["run", "x", "--alpha", "-2"], "--alpha must be in -0.99…10 (got -2)"),
        (["search", "w", "--id", "0", "-k", "-1"], "-k must be in 1…10000 (got -1)"),
        (["search", "w", "--id", "0", "--threshold", "nan"], "--threshold must be a number ≤ 1 (got nan)"),
        (["search", "w", "--vector", "1,inf"], "--vector must be comma-separated finite numbers (got 'inf')"),
        (["gallery", "w", "--num-images", "-1"], "--num-images must be a number ≥ 0 (got -1)"),
        (["gallery", "w", "--thumbnail-size", "99999"], "--thumbnail-size must be in 16…1024 (got 99999)"),
        (["visualize", "w", "--min-dist", "nan"], "--min-dist must be in 0…10 (got nan)"),
        (["visualize", "w", "--perplexity", "-1"], "--perplexity must be in 1…1000 (got -1)"),
        (["visualize", "w", "--dimensions", "0"], "--dimensions must be in 1…100 (got 0)"),
        (["serve", "w", "--port", "-1"], "--port must be in 0…65535 (got -1)"),
        (["serve", "w", "--port", "70000"], "--port must be in 0…65535 (got 70000)"),
    ])
    func numericOptionsAreValidatedInOneLine(arguments: [String], message: String) throws {
        let result = try winnow(arguments)
        #expect(result.status == 64, "\(arguments): \(result.output)")
        #expect(result.output.hasPrefix("Error: " + message), "\(arguments): \(result.output)")
        #expect(!result.output.contains("EncodingError") && !result.output.contains("Missing value"), "\(result.output)")
    }

    /// A negative value where one is meaningful parses (`--alpha -0.1` shrinks boxes).
    @Test func negativeValuesParseWhereMeaningful() throws {
        let images = try TestData.temporaryDirectory().appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        _ = try TestData.photoFixtures(in: images, names: ["coffee", "chelsea"])
        let csv = images.deletingLastPathComponent().appendingPathComponent("boxes.csv")
        try "filename,label,col_x,row_y,width,height\ncoffee.jpg,cup,100,50,200,200\nchelsea.jpg,cat,50,20,200,200\n"
            .write(to: csv, atomically: false, encoding: .utf8)
        let result = try winnow(["run", images.path, "-w", images.deletingLastPathComponent().appendingPathComponent("w").path,
                                 "--no-embeddings", "--annotations", csv.path, "--data-type", "bbox", "--alpha", "-0.1", "--quiet"])
        #expect(result.status == 0, "\(result.output)")
    }

    /// An input side that would need gigabytes per image is refused before anything is loaded.
    @Test func hugeInputSizesAreUsageErrors() throws {
        for model in ["mobilenet_v2", "mobilenet_v2_squash", "/tmp/any.onnx"] {
            let result = try winnow(["run", "/tmp/none", "--model", model, "--input-size", "100000"])
            let firstLine = result.output.prefix { $0 != "\n" }
            #expect(result.status == 64 && firstLine.hasPrefix("Error: --input-size") && firstLine.hasSuffix("(got 100000)"),
                    "\(model): \(result.output)")
        }
        let verify = try winnow(["models", "verify", "--input-size", "100000"])
        #expect(verify.status == 64 && verify.output.hasPrefix("Error: --input-size must be in 16…2048"), "\(verify.output)")
    }
}
