import Foundation
import PostgresNIO

/// The cluster's tables (version ``version``, recorded in `winnow_schema`): the run's
/// configuration, the listing split into shards, the jobs with their leases, the scan results
/// and the workers' heartbeats. Every name starts with `winnow_`. The vectors are files on the
/// shared storage (``VectorShard``), not rows. Version 2 added `winnow_config.embedding` and
/// `winnow_samples.frame` (a video frame's timestamp).
enum ClusterSchema {
    static let version = 2

    /// The channel `NOTIFY` wakes idle workers on.
    static let channel = "winnow_jobs"

    static let tables = ["winnow_schema", "winnow_config", "winnow_samples", "winnow_jobs", "winnow_scans", "winnow_workers"]

    static let statements: [PostgresQuery] = [
        "CREATE TABLE winnow_schema (version integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
        """
        CREATE TABLE winnow_config (
            id integer PRIMARY KEY CHECK (id = 1), configuration text NOT NULL, storage text NOT NULL,
            shard_size integer NOT NULL, max_attempts integer NOT NULL, skipped_non_images bigint NOT NULL,
            skipped_small_files bigint NOT NULL, embedding text, created_at timestamptz NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE winnow_samples (
            position bigint PRIMARY KEY, shard integer NOT NULL, source_id text NOT NULL UNIQUE,
            display_name text NOT NULL, path text, archive text, member text, frame bigint, byte_count bigint NOT NULL,
            mtime double precision NOT NULL, unreadable_code text, unreadable_message text)
        """,
        "CREATE INDEX winnow_samples_shard ON winnow_samples (shard, position)",
        """
        CREATE TABLE winnow_jobs (
            id bigserial PRIMARY KEY, stage text NOT NULL, shard integer NOT NULL, items integer NOT NULL,
            state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
            owner text, lease_until timestamptz, attempts integer NOT NULL DEFAULT 0, last_error text,
            started_at timestamptz, finished_at timestamptz, UNIQUE (stage, shard))
        """,
        "CREATE INDEX winnow_jobs_state ON winnow_jobs (state, id)",
        """
        CREATE TABLE winnow_scans (
            position bigint PRIMARY KEY REFERENCES winnow_samples, content_hash text, format text,
            width integer, height integer, statistics text, error_code text, error_message text)
        """,
        """
        CREATE TABLE winnow_workers (
            name text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(), lease_seconds double precision NOT NULL,
            jobs_done integer NOT NULL DEFAULT 0, stopped_at timestamptz)
        """,
    ]

    /// The tables of the connected database's current schema.
    static func existingTables(_ database: ClusterDatabase) async throws -> [String] {
        try await database.rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
            .map { try $0.decode(String.self) }
    }

    /// Throws unless the database holds a cluster of this schema version.
    static func check(_ database: ClusterDatabase) async throws {
        let tables = try await existingTables(database)
        guard tables.contains("winnow_schema") else {
            if tables.isEmpty { throw ClusterError.notInitialised(database.address.description) }
            throw ClusterError.wrongSchema(database.address.description, "holds other tables (\(summary(tables))), not a Winnow cluster")
        }
        let versions = try await database.rows("SELECT version FROM winnow_schema")
            .map { try $0.decode(Int.self) }
        guard versions == [version] else {
            throw ClusterError.wrongSchema(database.address.description,
                               "holds Winnow cluster schema version \(versions.map(String.init).joined(separator: ",")); this winnow reads version \(version)")
        }
    }

    /// Throws unless the database is empty (a cluster already there, or other tables).
    static func requireEmpty(_ database: ClusterDatabase) async throws {
        let tables = try await existingTables(database)
        if tables.contains("winnow_schema") {
            try await check(database)
            throw ClusterError.alreadyInitialised(database.address.description)
        }
        guard tables.isEmpty else {
            throw ClusterError.wrongSchema(database.address.description, "is not empty (\(summary(tables))); give an empty database")
        }
    }

    /// Creates the tables, inside the caller's transaction.
    static func create(on connection: PostgresConnection) async throws {
        for statement in statements { try await connection.run(statement) }
        try await connection.run("INSERT INTO winnow_schema (version) VALUES (\(version))")
    }

    private static func summary(_ tables: [String]) -> String {
        tables.prefix(3).joined(separator: ", ") + (tables.count > 3 ? ", … \(tables.count) tables" : "")
    }
}
