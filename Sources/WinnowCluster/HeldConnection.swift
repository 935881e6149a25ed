import PostgresNIO

/// One connection to a cluster's database kept for a series of queries (the finish's pages of
/// scan rows): opened at the first query, opened again once when the server closed it (a
/// restart) and the query sent again, closed by ``close()``.
actor HeldConnection {
    private let address: DatabaseAddress
    private var database: ClusterDatabase?

    init(_ address: DatabaseAddress) {
        self.address = address
    }

    /// Runs `query` (read-only: it may be sent twice) and returns all its rows.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await connected().rows(query)
        } catch ClusterError.connectionLost {
            await close()
            return try await connected().rows(query)
        }
    }

    func close() async {
        await database?.close()
        database = nil
    }

    private func connected() async throws -> ClusterDatabase {
        if let database { return database }
        let opened = try await ClusterDatabase.open(address, checkingSchema: false)
        database = opened
        return opened
    }
}
