import ArgumentParser
import Foundation
import WinnowCore
import WinnowCommandSupport

extension WorkDirectoryError {
    /// The one line printed for this error (after `winnow: `).
    var message: String {
        switch self {
        case .busy: "\(self); try again when it is done, or add --wait"
        case .notWritable: "\(self)"
        }
    }
}

/// Takes the work_dir's lock for a command; a busy or unwritable work_dir is one line and exit 73.
func lockWorkDirectory(_ workDirectory: URL, wait: Bool) throws -> WorkDirectoryLock {
    do {
        return try WorkDirectoryLock(workDirectory: workDirectory, wait: wait)
    } catch {
        throw failure(error.message, ExitStatus.cannotCreate)
    }
}

/// The catalog of the work_dir at `path`; a folder without one is one line and exit 66.
func catalogURL(ofWorkDirectory path: String) throws -> URL {
    let catalog = URL(fileURLWithPath: path).appendingPathComponent(Catalog.fileName)
    guard FileManager.default.fileExists(atPath: catalog.path) else {
        throw failure("\(path) is not a Winnow work_dir (no \(Catalog.fileName))", ExitStatus.noInput)
    }
    return catalog
}
