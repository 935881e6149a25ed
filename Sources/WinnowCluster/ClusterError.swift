import Foundation
import PostgresNIO

/// Why a `winnow cluster` command or a worker stopped, as one line.
public enum ClusterError: Error, CustomStringConvertible {
    /// `--db` is not a `postgres://user[:password]@host[:port]/database` URL.
    case badAddress(String, String)
    /// The server cannot be reached or refused the connection.
    case unreachable(String, String)
    /// The database holds tables that are not a Winnow cluster's, or another schema version.
    case wrongSchema(String, String)
    /// The database holds no Winnow cluster yet.
    case notInitialised(String)
    /// `cluster init` on a database that already holds a cluster.
    case alreadyInitialised(String)
    /// `cluster finish` before every job finished.
    case notFinished(pending: Int, running: Int)
    /// Another `cluster finish` is running on the database.
    case finishRunning(String)
    /// The shared storage folder is not visible on this machine.
    case storageMissing(String)
    /// A shard's listing does not match its job (rows missing or added).
    case shardIncomplete(shard: Int, listed: Int, expected: Int)
    /// The stored configuration cannot be read.
    case badConfiguration(String)
    /// The server reported an error.
    case server(String)
    /// An open connection was closed under a query (the server restarted, the network dropped).
    case connectionLost(String)
    /// This machine computes other vectors than the ones `cluster init` planned.
    case embeddingMismatch(planned: String, here: String)
    /// A scan job's vectors on the shared storage are missing or damaged.
    case vectorsUnreadable(shard: Int, String)
    /// A verify job's plan is missing or unreadable on the shared storage.
    case planUnreadable(job: String, String)

    public var description: String {
        switch self {
        case .badAddress(let url, let why): "--db \(url): \(why) (expected postgres://user[:password]@host[:port]/database)"
        case .unreachable(let address, let why): "cannot reach PostgreSQL at \(address): \(why)"
        case .wrongSchema(let address, let why): "database \(address) \(why)"
        case .notInitialised(let address): "database \(address) holds no Winnow cluster (run `winnow cluster init` first)"
        case .alreadyInitialised(let address): "database \(address) already holds a Winnow cluster; give an empty database"
        case .notFinished(let pending, let running):
            "the cluster is not finished: \(pending) jobs pending, \(running) running (see `winnow cluster status`)"
        case .finishRunning(let address): "another `winnow cluster finish` is running on \(address); wait for it to end"
        case .storageMissing(let path): "shared storage \(path) is not visible on this machine"
        case .shardIncomplete(let shard, let listed, let expected):
            "shard \(shard) lists \(listed) of its \(expected) images (its listing rows changed)"
        case .badConfiguration(let why): "the cluster's stored configuration cannot be read: \(why)"
        case .server(let message): "PostgreSQL: \(message)"
        case .connectionLost(let why): "lost the connection to PostgreSQL: \(why)"
        case .embeddingMismatch(let planned, let here):
            "this machine computes embeddings as \(here), the cluster was planned with \(planned) "
                + "(copy descriptors are int8 on CPUs with VNNI, float32 elsewhere: give a cluster machines of one kind)"
        case .vectorsUnreadable(let shard, let why): "the vectors of shard \(shard) cannot be read: \(why)"
        case .planUnreadable(let job, let why): "the plan of \(job) cannot be read: \(why)"
        }
    }

    /// `error` as one line: the server's message or the connection's failure, never a dump.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? ClusterError { return error.description }
        if let error = error as? PostgresTransactionError {
            return describe(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return oneLine("\(underlying)") }
            return oneLine("\(error.code)")
        }
        return oneLine("\(error)")
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
