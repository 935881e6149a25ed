import ArgumentParser

/// Exit codes beyond ArgumentParser's own (0 success, 64 usage): sysexits-style.
package enum ExitStatus {
    /// An input path does not exist or cannot be read.
    package static let noInput = ExitCode(66)
    /// An input file (e.g. an annotation file) is malformed.
    package static let dataError = ExitCode(65)
    /// The work_dir or its files cannot be written.
    package static let cannotCreate = ExitCode(73)
    /// A service the command needs (the cluster's PostgreSQL server) cannot be reached.
    package static let unavailable = ExitCode(69)
    /// Try again later (`winnow cluster finish` before every job finished).
    package static let tryAgain = ExitCode(75)
    /// Anything else that stopped the run.
    package static let software = ExitCode(70)
}
