import Foundation
import PostgresNIO

/// Where the cluster's PostgreSQL database is: `postgres://user[:password]@host[:port]/database`
/// (`postgresql://` too; `?sslmode=disable|prefer|require`, default prefer).
public struct DatabaseAddress: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    var password: String?
    public var database: String
    public var tls: TLSMode

    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    /// Parses `url`; the error names what is wrong with it.
    public init(_ url: String) throws(ClusterError) {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? "") else {
            throw .badAddress(url, "not a postgres:// URL")
        }
        guard let host = parts.host, !host.isEmpty else { throw .badAddress(url, "no host") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw .badAddress(url, "no database name") }
        let mode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        guard let tls = TLSMode(rawValue: mode) else { throw .badAddress(url, "sslmode must be disable, prefer or require") }
        self.host = host
        self.port = parts.port ?? 5432
        self.user = parts.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = parts.password.flatMap { $0.removingPercentEncoding }
        self.database = database
        self.tls = tls
    }

    /// `host:port/database` (no password), for messages.
    public var description: String { "\(host):\(port)/\(database)" }

    /// Opens a connection; failures become ``ClusterError/unreachable(_:_:)``.
    func connect(id: Int = 1) async throws(ClusterError) -> PostgresConnection {
        do {
            let tlsSetting: PostgresConnection.Configuration.TLS = switch tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                                 database: database, tls: tlsSetting)
            configuration.options.connectTimeout = .seconds(10)
            return try await PostgresConnection.connect(configuration: configuration, id: id, logger: Self.logger)
        } catch {
            throw .unreachable(description, ClusterError.describe(error))
        }
    }

    /// PostgresNIO's log, errors only (the commands report what matters themselves).
    static let logger: Logger = {
        var logger = Logger(label: "winnow.cluster")
        logger.logLevel = .error
        return logger
    }()
}
