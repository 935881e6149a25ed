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
