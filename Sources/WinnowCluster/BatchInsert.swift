import PostgresNIO

/// Multi-row `INSERT`s of many rows, in statements under PostgreSQL's 65,535 bound values.
struct BatchInsert {
    /// `INSERT INTO table (columns) VALUES …` followed by `suffix` (such as `ON CONFLICT DO NOTHING`).
    var table: String
    var columns: [String]
    var suffix = ""

    /// Inserts `count` rows; `bind` appends row `index`'s values, one per column, in order.
    func run<E: Error>(count: Int, on connection: PostgresConnection,
                       bind: (_ index: Int, inout PostgresBindings) throws(E) -> Void) async throws {
        let perStatement = max(1, 30_000 / columns.count)
        for start in stride(from: 0, to: count, by: perStatement) {
            let end = min(count, start + perStatement)
            var bindings = PostgresBindings(capacity: (end - start) * columns.count)
            var tuples: [String] = []
            tuples.reserveCapacity(end - start)
            for index in start..<end {
                let first = bindings.count
                try bind(index, &bindings)
                precondition(bindings.count - first == columns.count, "a row must bind one value per column")
                tuples.append("(" + (first..<bindings.count).map { "$\($0 + 1)" }.joined(separator: ",") + ")")
            }
            let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ",")) \(suffix)"
            try await connection.run(PostgresQuery(unsafeSQL: sql, binds: bindings))
        }
    }
}
