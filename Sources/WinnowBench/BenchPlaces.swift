import ArgumentParser
import Foundation

/// Where benchmarks write and find the anchors.
struct BenchPlaces: ParsableArguments {
    @Option(help: "Scratch folder for the work_dirs.")
    var scratch = NSTemporaryDirectory() + "winnow-bench"

    @Option(help: "Folder with the anchors' venvs (venv-cleanvision, venv-fastdup).")
    var anchors = ProcessInfo.processInfo.environment["ANCHORS_BASE"] ?? (NSHomeDirectory() + "/.cache/winnow-anchors")

    @Option(help: "Folder with the anchors' run scripts (../shared/anchors).")
    var anchorScripts = "../shared/anchors"

    /// The venv python and run script of an anchor, or nil (with a note) when not installed.
    func anchor(_ name: String) -> (String, String)? {
        let python = anchors + "/venv-\(name)/bin/python"
        let script = anchorScripts + "/run_\(name).py"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("\(name): no \(python) (run ../shared/anchors/setup.sh, or pass --anchors); skipped")
            return nil
        }
        guard FileManager.default.fileExists(atPath: script) else {
            let absolute = URL(fileURLWithPath: script).standardizedFileURL.path
            print("\(name): no run script \(absolute) (--anchor-scripts is relative to the current folder); skipped")
            return nil
        }
        return (python, script)
    }
}
