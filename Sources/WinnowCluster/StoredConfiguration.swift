import Foundation
import PostgresNIO
import WinnowCore

/// The run's configuration as `cluster init` stored it (`winnow_config`).
struct StoredConfiguration: Sendable {
    var configuration: RunConfiguration
    /// The shared folder every worker sees.
    var storage: String
    var shardSize: Int
    var maxAttempts: Int
    var skippedNonImages: Int
    var skippedSmallFiles: Int
    /// The identity of the vectors every worker computes (``SampleScanner/embeddingIdentity``
    /// on the machine that ran `cluster init`); nil without embeddings.
    var embedding: String?

    static func load(_ database: ClusterDatabase) async throws -> StoredConfiguration {
        let rows = try await database.rows("""
            SELECT configuration, storage, shard_size, max_attempts, skipped_non_images, skipped_small_files, embedding
            FROM winnow_config
            """)
        guard let row = rows.first else { throw ClusterError.badConfiguration("winnow_config has no row") }
        let (json, storage, shardSize, maxAttempts, nonImages, small, embedding) =
            try row.decode((String, String, Int, Int, Int, Int, String?).self)
        do {
            let configuration = try JSONDecoder().decode(RunConfiguration.self, from: Data(json.utf8))
            return StoredConfiguration(configuration: configuration, storage: storage, shardSize: shardSize, maxAttempts: maxAttempts,
                                       skippedNonImages: nonImages, skippedSmallFiles: small, embedding: embedding)
        } catch {
            throw ClusterError.badConfiguration(ClusterError.describe(error))
        }
    }

    /// A scanner for this configuration, after checking that this machine computes the vectors
    /// `cluster init` planned (mixed vectors would not be comparable).
    func scanner() throws -> SampleScanner {
        let scanner = try SampleScanner(configuration: configuration)
        guard scanner.embeddingIdentity == embedding else {
            throw ClusterError.embeddingMismatch(planned: embedding ?? "none", here: scanner.embeddingIdentity ?? "none")
        }
        return scanner
    }
}
