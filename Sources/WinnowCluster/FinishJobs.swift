import Foundation
import PostgresNIO
import WinnowCore

/// The jobs `cluster finish` hands the workers part-way (verify, knn): queued in one transaction,
/// then worked on by the finishing process too — as a worker that takes only that stage's jobs —
/// until none is unfinished, so that a finish with no worker left completes alone.
enum FinishJobs {
    /// Queues one `stage` job per entry of `shards` (shard number, items), then works on them;
    /// every two seconds meanwhile `progress` hears the items of the queued jobs done.
    static func queueAndWork(_ stage: String, shards: [(shard: Int, items: Int)], address: DatabaseAddress,
                             leaseSeconds: Double, threads: Int, progress: @escaping @Sendable (Int) -> Void) async throws {
        try await ClusterDatabase.using(address) { database in
            try await database.transaction { connection in
                try await BatchInsert(table: "winnow_jobs", columns: ["stage", "shard", "items"])
                    .run(count: shards.count, on: connection) { index, binds in
                        binds.append(stage)
                        binds.append(shards[index].shard)
                        binds.append(shards[index].items)
                    }
                try await connection.run("NOTIFY winnow_jobs")
            }
        }
        let (low, high) = (shards.map(\.shard).min() ?? 0, shards.map(\.shard).max() ?? -1)
        let watcher = Task {
            guard let database = try? await ClusterDatabase.open(address) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                let done = try? await database.rows("""
                    SELECT coalesce(sum(items), 0)::bigint FROM winnow_jobs WHERE stage = \(stage) AND state = 'done'
                    AND shard >= \(low) AND shard <= \(high)
                    """).first?.decode(Int.self)
                if let done, !Task.isCancelled { progress(done) }
            }
            await database.close()
        }
        defer { watcher.cancel() }
        try await work(stage, address: address, leaseSeconds: leaseSeconds, threads: threads)
    }

    /// Works on the queued `stage` jobs, as a worker that takes only those, until none is unfinished.
    static func work(_ stage: String, address: DatabaseAddress, leaseSeconds: Double, threads: Int) async throws {
        var worker = Worker(address: address, leaseSeconds: leaseSeconds, threads: threads)
        worker.onlyStage = stage
        _ = try await worker.run { _ in }
    }
}
