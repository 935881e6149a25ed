import Foundation

/// A run's output files, written into a staging folder inside the work_dir and moved into
/// place only after every one is written and the catalog has committed the run's findings: a
/// run that fails (a full disk) or is killed leaves the last finished run's files and findings
/// in force. Moving in is a series of renames (no space needed); one cut short is finished by
/// the next run (``finishInterrupted(in:catalog:)``), as the catalog records it.
struct StagedOutputs {
    static let prefix = ".winnow-staging-"
    /// Files a run writes or deliberately does not: when the run leaves one out, the work_dir's
    /// copy (from an earlier run) is removed as the outputs move in. Other files a run does not
    /// write are left as they are.
    static let removedWhenAbsent = [SimilaritySearch.indexFileName, SimilaritySearch.indexFileName + ".projection",
                                     SimilaritySearch.indexFileName + ".coarse", VerificationStage.reportName,
                                     WhiteningStage.fileName, KNNGraph.fileName, KNNGraph.verifiedFileName,
                                     WorkDirFile.referenceMatches.name]
    /// The list of files to remove, written by ``seal()``.
    static let removalList = ".removed"

    let workDirectory: URL
    let folder: URL

    /// A fresh staging folder for `run`; staging folders left by failed or killed runs go first.
    init(workDirectory: URL, run: Int64) throws {
        self.workDirectory = workDirectory
        folder = workDirectory.appendingPathComponent(Self.prefix + String(run))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workDirectory.path)) ?? [] where name.hasPrefix(Self.prefix) {
            try FileManager.default.removeItem(at: workDirectory.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
    }

    private init(workDirectory: URL, folder: URL) {
        self.workDirectory = workDirectory
        self.folder = folder
    }

    /// Records which ``removedWhenAbsent`` files the run left out; call once every file is written.
    func seal() throws {
        let absent = Self.removedWhenAbsent.filter { !FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        try AtomicFile.write(absent.map { $0 + "\n" }.joined(), to: folder.appendingPathComponent(Self.removalList))
    }

    /// Moves every staged file over its namesake in the work_dir, removes the files the run left
    /// out, then the staging folder. Safe to repeat after an interruption.
    func publish() throws {
        let list = folder.appendingPathComponent(Self.removalList)
        let removed = ((try? String(contentsOf: list, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline)
        for name in removed where Self.removedWhenAbsent.contains(String(name)) {
            try? FileManager.default.removeItem(at: workDirectory.appendingPathComponent(String(name)))
        }
        let folderPath = folder.standardizedFileURL.path
        let files = (FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])?.allObjects ?? [])
            .compactMap { $0 as? URL }
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true && $0.lastPathComponent != Self.removalList }
        for file in files {
            let relative = String(file.standardizedFileURL.path.dropFirst(folderPath.count + 1))
            let target = workDirectory.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard rename(file.path, target.path) == 0 else {
                throw WorkDirectoryError.notWritable(path: workDirectory.path,
                                                     reason: "cannot move \(relative) into place: " + String(cString: strerror(errno)))
            }
        }
        try FileManager.default.removeItem(at: folder)
    }

    /// Removes the staging folder (the run failed).
    func discard() {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Finishes moving in the outputs of a run that committed its findings but was stopped
    /// before its files were all in place.
    static func finishInterrupted(in workDirectory: URL, catalog: Catalog) throws {
        guard let name = try catalog.setting(Catalog.publishingKey) else { return }
        let staged = StagedOutputs(workDirectory: workDirectory, folder: workDirectory.appendingPathComponent(name))
        if name.hasPrefix(prefix), !name.contains("/"), FileManager.default.fileExists(atPath: staged.folder.path) {
            try staged.publish()
        }
        try catalog.clearPublishing()
    }
}
