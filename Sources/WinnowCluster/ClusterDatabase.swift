import Foundation
import PostgresNIO

/// One connection to a cluster's database, with its errors as ``ClusterError``s.
final class ClusterDatabase: Sendable {
    let address: DatabaseAddress
    let connection: PostgresConnection

    private init(address: DatabaseAddress, connection: PostgresConnection) {
        (self.address, self.connection) = (address, connection)
    }

    /// Connects to `address`; with `checkingSchema`, also checks that it holds this version's cluster.
    static func open(_ address: DatabaseAddress, id: Int = 1, checkingSchema: Bool = true) async throws -> ClusterDatabase {
        let database = ClusterDatabase(address: address, connection: try await address.connect(id: id))
        if checkingSchema {
            do { try await ClusterSchema.check(database) } catch {
                await database.close()
                throw error
            }
        }
        return database
    }

    /// Opens `address`, runs `body` with it and closes it.
    static func using<T>(_ address: DatabaseAddress, checkingSchema: Bool = true,
                         _ body: (ClusterDatabase) async throws -> T) async throws -> T {
        let database = try await open(address, checkingSchema: checkingSchema)
        do {
            let value = try await body(database)
            await database.close()
            return value
        } catch {
            await database.close()
            throw error
        }
    }

    /// Runs `query` and returns all its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws(ClusterError) -> [PostgresRow] {
        try checkOpen()
        do {
            var rows: [PostgresRow] = []
            for try await row in try await connection.query(query, logger: DatabaseAddress.logger) { rows.append(row) }
            return rows
        } catch {
            throw failure(error)
        }
    }

    /// Throws ``ClusterError/connectionLost(_:)`` when the server has closed the connection:
    /// PostgresNIO 1.x's `withTransaction` on a closed connection waits forever (measured: a
    /// worker hung at BEGIN after `pg_ctl restart`), so nothing is sent on one.
    private func checkOpen() throws(ClusterError) {
        if connection.isClosed { throw .connectionLost("the server closed the connection") }
    }

    /// `error` of a query as a ``ClusterError``: the connection lost when it is closed now.
    private func failure(_ error: any Error) -> ClusterError {
        connection.isClosed ? .connectionLost(ClusterError.describe(error)) : .server(ClusterError.describe(error))
    }

    /// Runs `body` in one transaction (committed when it returns, rolled back when it throws).
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try checkOpen()
        do {
            return try await connection.withTransaction(logger: DatabaseAddress.logger) { try await body($0) }
        } catch let error as PostgresTransactionError {
            if let own = error.closureError as? ClusterError { throw own }
            throw failure(error)
        } catch where connection.isClosed {
            throw failure(error)
        }
    }

    func close() async {
        try? await connection.close()
    }
}

extension PostgresConnection {
    /// Runs `query` inside a transaction, reading no rows.
    func run(_ query: PostgresQuery) async throws {
        try await self.query(query, logger: DatabaseAddress.logger)
    }
}

