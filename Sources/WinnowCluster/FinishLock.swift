import Foundation
import PostgresNIO

/// The PostgreSQL advisory lock a `cluster finish` holds on its own connection while it runs:
/// a second finish on the same database is refused, and workers that ran out of jobs stay for
/// the verify jobs it plans. The server drops it with the connection, so a killed finish holds
/// nothing.
enum FinishLock {
    /// The lock's key (bigint form: `pg_locks` shows it as classid 0, objid `key`, objsubid 1).
    static let key: Int64 = 0x7769_6E6E

    /// Takes the lock on `database`'s connection; false when another finish holds it.
    static func take(_ database: ClusterDatabase) async throws -> Bool {
        try await database.rows("SELECT pg_try_advisory_lock(\(key))").first?.decode(Bool.self) ?? false
    }

    /// Whether a finish holds the lock on this database now.
    static func isHeld(_ database: ClusterDatabase) async throws -> Bool {
        try await database.rows("""
            SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0
                           AND objid = \(key) AND objsubid = 1
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
            """).first?.decode(Bool.self) ?? false
    }
}
