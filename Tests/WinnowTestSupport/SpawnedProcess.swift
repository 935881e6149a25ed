import Foundation
import WinnowCore

extension TestFiles {
    /// Starts `argv` (an absolute path first) with standard input from /dev/null and both output
    /// streams to `log`, this process's environment plus `extra` (`NAME=value`), no signal blocked
    /// and default handlers (the test process blocks most signals on its threads, and a server
    /// that inherited that would ignore SIGTERM), and no other open file: Foundation's pipes are
    /// not close-on-exec, and a server that kept the write end of another test's pipe would make
    /// that test's read wait for the end forever. Returns its pid; wait for it with ``exitStatus(of:)``.
    public static func spawn(_ argv: [String], log: String, environment extra: [String] = []) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        guard let closeFrom = closeFrom, closeFrom(&actions, 3) == 0 else {
            throw TestDataMissing("posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later) is needed")
        }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" } + extra
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup($0) } + [nil]
        defer { (arguments + variables).forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid = pid_t()
        guard posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables) == 0 else {
            throw TestDataMissing("cannot start \(argv[0])")
        }
        return pid
    }

    /// Waits for `pid` to end: its exit status, or 128 + the signal that ended it.
    public static func exitStatus(of pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Whether the process is stopped by a signal (state `T` in `/proc/PID/stat`).
    public static func isStopped(_ pid: pid_t) -> Bool { ProcessStatus.isStopped(pid) }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np`, which the Glibc module does not import.
private let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? =
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }
