import Foundation
import Testing
import WinnowTestSupport

/// `winnow cluster` and `winnow worker` as real processes against a real PostgreSQL server,
/// checked against `winnow run` on the same files (`--no-embeddings` but where embeddings are tested).
@Suite(.serialized) struct ClusterTests {
    let server: PostgresServer
    let folder: URL

    init() throws {
        server = try PostgresServer.shared()
        folder = try TestFiles.temporaryDirectory("cluster")
    }

    private var storage: URL { folder.appendingPathComponent("storage") }

    private func initialise(_ database: String, _ inputs: [String], _ options: [String], embeds: Bool = false) throws {
        let created = try Cluster.winnow(["cluster", "init", "--db", database, "--storage", storage.path]
                                         + options + (embeds ? [] : ["--no-embeddings"]) + inputs)
        try #require(created.status == 0, "\(created.output)")
    }

    private func finish(_ database: String, _ name: String) throws -> URL {
        let work = folder.appendingPathComponent(name)
        let finished = try Cluster.winnow(["cluster", "finish", "--db", database, "--work-dir", work.path])
        try #require(finished.status == 0, "\(finished.output)")
        return work
    }

    @Test func threeWorkersWriteWhatOneRunWrites() throws {
        let (inputs, reference) = try Cluster.inputsAndReference()
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "16"])
        #expect(try Cluster.status(database)["done"] as? Bool == false)
        let workers = try (0..<3).map { try Cluster.startWorker(database, ["--threads", "1"], log: folder.appendingPathComponent("w\($0).log")) }
        workers.forEach { $0.waitUntilExit() }
        #expect(workers.map(\.terminationStatus) == [0, 0, 0])
        let jobs = try server.sql("SELECT count(*) FILTER (WHERE state = 'done'), count(*) FROM winnow_jobs", database: database)
        let counts = jobs.split(separator: "|")
        #expect(counts.count == 2 && counts[0] == counts[1] && Int(counts[1]) ?? 0 > 5, "\(jobs)")
        let status = try Cluster.status(database)
        #expect(status["done"] as? Bool == true)
        #expect((status["failed"] as? [Any])?.isEmpty == true)
        // Each worker's jobs are counted, and a worker that exited is no longer alive.
        let states = status["workers"] as? [[String: Any]] ?? []
        #expect(states.count == 3 && status["workersAlive"] as? Int == 0)
        #expect(states.compactMap { $0["jobsDone"] as? Int }.reduce(0, +) == Int(counts.last ?? "") ?? -1)

        let work = try finish(database, "cluster-work")
        #expect(try Cluster.differences(reference, work) == [])
        // The comparison covers invalid rows and duplicates, not only decoded images.
        let bad = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.bad.csv")).compactMap { $0["error_code"] }
        #expect(bad.contains("ERROR_TRUNCATED_IMAGE") && bad.contains("ERROR_ZERO_SIZE_FILE"), "\(bad)")
        #expect(try !TestFiles.readCSV(work.appendingPathComponent("exact_duplicates.csv")).isEmpty)
        // The catalog is a normal work_dir's: the gallery reads it.
        let gallery = try Cluster.winnow(["gallery", work.path, "--kind", "stats"])
        #expect(gallery.status == 0, "\(gallery.output)")
    }

    @Test func workersComputeTheEmbeddingsAndFinishWritesWhatTheDefaultRunWrites() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: true)
        let reference = folder.appendingPathComponent("default-run")
        let run = try Cluster.winnow(["run"] + inputs + ["--work-dir", reference.path, "--quiet"])
        try #require(run.status == 0, "\(run.output)")
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "20"], embeds: true)
        let workers = try (0..<2).map { try Cluster.startWorker(database, ["--threads", "1"], log: folder.appendingPathComponent("e\($0).log")) }
        workers.forEach { $0.waitUntilExit() }
        #expect(workers.map(\.terminationStatus) == [0, 0])
        let shards = try server.sql("SELECT count(*) FROM winnow_jobs", database: database)
        let files = try FileManager.default.contentsOfDirectory(atPath: storage.appendingPathComponent("vectors").path)
        #expect(files.filter { $0.hasSuffix(".f32") }.count == Int(shards), "\(files)")
        let work = try finishSharingVerification(database, "embedded")
        let differences = try Cluster.differences(reference, work, files: Cluster.comparedFiles + Cluster.embeddingFiles)
        #expect(differences == [], "\(differences)")
        #expect(try TestFiles.readCSV(work.appendingPathComponent("similarity.csv")).count > 10)
        let again = try finishStoppedMidVerification(database, "stopped")
        let resumed = try Cluster.differences(reference, again, files: Cluster.comparedFiles + Cluster.embeddingFiles)
        #expect(resumed == [], "\(resumed)")

        // A shard's vectors gone from the storage: finish says which, in one line, and writes nothing.
        try FileManager.default.removeItem(at: storage.appendingPathComponent("vectors/scan-1.f32"))
        let broken = try Cluster.winnow(["cluster", "finish", "--db", database, "--work-dir", folder.appendingPathComponent("broken").path,
                                          "--quiet"])
        #expect(broken.status == 65 && Cluster.lines(broken.output).count == 1, "\(broken.output)")
        #expect(broken.output.contains("the vectors of shard 1 cannot be read"), "\(broken.output)")
        // A machine that computes other vectors than the plan's refuses to work, in one line.
        try server.sql("UPDATE winnow_config SET embedding = 'copy-descriptor/other-machine'", database: database)
        let stranger = try Cluster.winnow(["worker", "--db", database])
        #expect(stranger.status == 65 && Cluster.lines(stranger.output).count == 1, "\(stranger.output)")
        #expect(stranger.output.contains("the cluster was planned with copy-descriptor/other-machine"), "\(stranger.output)")
    }

    /// `--index lists` (lists of ~64 images): the finish shares the assignment of rows to lists as
    /// assign jobs and the lists' chunks as knn jobs (a worker started while it waits at the index
    /// stage takes them too), and its graph and
    /// analyses are those of `winnow run --index lists` on the same files.
    @Test func theListIndexIsSearchedAsKnnJobsAsTheRunSearchesIt() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: true)
        let options = ["--index", "lists", "--list-rows", "64", "--no-verify"]
        let reference = folder.appendingPathComponent("lists-run"), work = folder.appendingPathComponent("lists-cluster")
        let run = try Cluster.winnow(["run"] + inputs + options + ["--work-dir", reference.path, "--quiet"])
        try #require(run.status == 0, "\(run.output)")
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "40"] + options, embeds: true)
        let scanner = try Cluster.startWorker(database, ["--threads", "1"], log: folder.appendingPathComponent("lists-w0.log"))
        scanner.waitUntilExit()
        let finish = try Cluster.start(["cluster", "finish", "--db", database, "--work-dir", work.path, "--rows-per-job", "4", "--quiet"],
                                       environment: ["WINNOW_STOP_AT_STAGE": "index"], log: folder.appendingPathComponent("lists-finish.log"))
        let deadline = Date().addingTimeInterval(120)
        while finish.isRunning && Date() < deadline && !TestFiles.isStopped(finish.processIdentifier) { Thread.sleep(forTimeInterval: 0.01) }
        try #require(TestFiles.isStopped(finish.processIdentifier), "the finish did not stop at the index")
        let helper = try Cluster.startWorker(database, ["--threads", "1"], log: folder.appendingPathComponent("lists-w1.log"))
        kill(finish.processIdentifier, SIGCONT)
        finish.waitUntilExit()
        #expect(finish.terminationStatus == 0 && Cluster.waitForExit(helper, seconds: 30))
        // The list index saved beside them (its centroids and lists) is the run's too, and answers searches.
        let differences = try Cluster.differences(reference, work, files: Cluster.embeddingFiles + ["index.faiss.lists"])
        #expect(differences == [], "\(differences)")
        let embedded = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.dat.csv"))
        let search = try Cluster.winnow(["search", work.path, "--id", embedded.first?["index"] ?? "", "-k", "2", "--json"])
        #expect(search.status == 0 && search.output.contains("\"similarity\""), "\(search.output)")
        let rows = embedded.count
        func jobs(_ stage: String) throws -> [Int] {
            try server.sql("SELECT count(*), count(*) FILTER (WHERE state = 'done'), coalesce(sum(items), 0) FROM winnow_jobs WHERE stage = '\(stage)'",
                           database: database).split(separator: "|").compactMap { Int($0) }
        }
        // Each row is put in its lists by an assign job, and searched once in each of its 4 lists
        // (lists of ~64 rows: a knn job each).
        let (assigned, searched) = (try jobs("assign"), try jobs("knn"))
        #expect(assigned.count == 3 && assigned[0] >= 1 && assigned[1] == assigned[0] && assigned[2] == rows, "\(assigned) for \(rows) rows")
        #expect(searched.count == 3 && searched[0] >= 6 && searched[1] == searched[0] && searched[2] == 4 * rows, "\(searched) for \(rows) rows")
        #expect(!FileManager.default.fileExists(atPath: storage.appendingPathComponent("knn").path))
    }

    /// `cluster finish` with verify jobs of 3 pairs, stopped as it enters verification: a second
    /// finish then is refused in one line; two workers started then wait for its jobs, one of
    /// them killed while it holds a verify job (its lease expires and the part is checked
    /// again). Every pair of both passes is checked in a job, and the workers exit once the
    /// finish ends.
    private func finishSharingVerification(_ database: String, _ name: String) throws -> URL {
        let work = folder.appendingPathComponent(name)
        let finish = try Cluster.start(["cluster", "finish", "--db", database, "--work-dir", work.path, "--pairs-per-job", "3",
                                        "--rows-per-job", "4"],
                                       environment: ["WINNOW_STOP_AT_STAGE": "index"],
                                       log: folder.appendingPathComponent("\(name)-finish.log"))
        let deadline = Date().addingTimeInterval(120)
        while finish.isRunning && Date() < deadline && !TestFiles.isStopped(finish.processIdentifier) { Thread.sleep(forTimeInterval: 0.01) }
        try #require(TestFiles.isStopped(finish.processIdentifier), "the finish did not stop at the index")
        let second = try Cluster.winnow(["cluster", "finish", "--db", database, "--work-dir", folder.appendingPathComponent("second").path])
        #expect(second.status == 75 && Cluster.lines(second.output).count == 1, "\(second.output)")
        #expect(second.output.contains("another `winnow cluster finish` is running"), "\(second.output)")
        let (temporary, planted) = try plantedScratch(name)
        let doomed = try Cluster.start(["worker", "--db", database, "--threads", "1", "--lease", "2"], environment: ["TMPDIR": temporary.path],
                                       log: folder.appendingPathComponent("\(name)-v0.log"))
        let helper = try Cluster.start(["worker", "--db", database, "--threads", "1"], environment: ["TMPDIR": temporary.path],
                                       log: folder.appendingPathComponent("\(name)-v1.log"))
        Thread.sleep(forTimeInterval: 0.5)
        kill(finish.processIdentifier, SIGCONT)
        var killedHolding = false
        func doomedHoldsAJob() throws -> Bool {
            try server.sql("""
                SELECT count(*) FROM winnow_jobs WHERE stage = 'verify' AND state = 'running' AND owner LIKE '%:\(doomed.processIdentifier)'
                """, database: database) != "0"
        }
        // Frozen first, so that the job it holds cannot be finished between the look and the kill.
        while finish.isRunning && !killedHolding {
            if try doomedHoldsAJob() {
                kill(doomed.processIdentifier, SIGSTOP)
                killedHolding = try doomedHoldsAJob()
                kill(doomed.processIdentifier, killedHolding ? SIGKILL : SIGCONT)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        finish.waitUntilExit()
        let output = (try? String(contentsOf: folder.appendingPathComponent("\(name)-finish.log"), encoding: .utf8)) ?? ""
        try #require(finish.terminationStatus == 0, "\(output)")
        #expect(killedHolding, "the doomed worker never held a verify job")
        #expect(Cluster.waitForExit(helper, seconds: 30) && helper.terminationStatus == 0)
        let helped = (try? String(contentsOf: folder.appendingPathComponent("\(name)-v1.log"), encoding: .utf8)) ?? ""
        #expect(helped.contains("verify part"), "\(helped)")
        // The helper redid the killed worker's job: the scratch folders of dead workers on this
        // machine (the killed one's, the planted one) are gone; a live process's and another machine's stay.
        let scratch = try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter { $0.hasPrefix("winnow-verify-") }
        #expect(Set(scratch) == planted, "\(scratch)")
        let jobs = try server.sql("""
            SELECT count(*), count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE attempts > 1) FROM winnow_jobs WHERE stage = 'verify'
            """, database: database).split(separator: "|").compactMap { Int($0) }
        #expect(jobs.count == 3 && jobs[0] > 4 && jobs[1] == jobs[0] && jobs[2] >= 1, "\(jobs)")
        // The kNN graph's search as knn jobs (the exact index's in whole 512-row tiles: one block
        // here), every one done; its plan, index and parts are gone from the storage.
        let rows = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).count
        let blocks = try server.sql("SELECT count(*), count(*) FILTER (WHERE state = 'done'), coalesce(sum(items), 0) FROM winnow_jobs WHERE stage = 'knn'",
                                    database: database).split(separator: "|").compactMap { Int($0) }
        #expect(blocks == [(rows + 511) / 512, (rows + 511) / 512, rows], "\(blocks) for \(rows) rows")
        #expect(!FileManager.default.fileExists(atPath: storage.appendingPathComponent("knn").path))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("verification.json"))) as? [String: Any]
        for pass in [report?["screen"], report?["confirm"]].map({ $0 as? [String: Any] ?? [:] }) {
            #expect(pass["pairs"] as? Int ?? 0 > 0 && pass["pairsShared"] as? Int == pass["pairs"] as? Int, "\(pass)")
        }
        return work
    }

    /// A temporary folder for workers holding verify-job scratch folders as workers name them:
    /// one of a process that has exited, and those that must stay (this test process's, and one
    /// of another machine).
    private func plantedScratch(_ name: String) throws -> (folder: URL, kept: Set<String>) {
        let temporary = folder.appendingPathComponent("\(name)-tmp")
        let host = String(ProcessInfo.processInfo.hostName.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let dead = "winnow-verify-\(host)-\(exited.processIdentifier)-planted"
        let kept: Set = ["winnow-verify-\(host)-\(getpid())-planted", "winnow-verify-elsewhere-\(exited.processIdentifier)-planted"]
        for planted in kept.union([dead]) {
            try FileManager.default.createDirectory(at: temporary.appendingPathComponent(planted).appendingPathComponent("local_features"),
                                                    withIntermediateDirectories: true)
        }
        return (temporary, kept)
    }

    /// A finish killed once five of its verify jobs are done, then another: it finishes the jobs
    /// left and reuses every done part's checks, and removes the plans and logs once it is done.
    private func finishStoppedMidVerification(_ database: String, _ name: String) throws -> URL {
        func doneJobs() throws -> Int {
            Int(try server.sql("SELECT count(*) FROM winnow_jobs WHERE stage = 'verify' AND state = 'done'", database: database)) ?? 0
        }
        let before = try doneJobs()
        let stopped = try Cluster.start(["cluster", "finish", "--db", database, "--work-dir", folder.appendingPathComponent("\(name)-killed").path,
                                         "--pairs-per-job", "3"], environment: ["WINNOW_STOP_AT_STAGE": "verify"],
                                        log: folder.appendingPathComponent("\(name)-killed.log"))
        let deadline = Date().addingTimeInterval(120)
        while stopped.isRunning && Date() < deadline && !TestFiles.isStopped(stopped.processIdentifier) { Thread.sleep(forTimeInterval: 0.01) }
        kill(stopped.processIdentifier, SIGCONT)
        while stopped.isRunning, try doneJobs() < before + 5 { Thread.sleep(forTimeInterval: 0.005) }
        kill(stopped.processIdentifier, SIGKILL)
        stopped.waitUntilExit()
        try #require(stopped.terminationReason == .uncaughtSignal, "the finish ended before it was killed")
        let work = folder.appendingPathComponent(name)
        let finished = try Cluster.winnow(["cluster", "finish", "--db", database, "--work-dir", work.path, "--pairs-per-job", "3"])
        try #require(finished.status == 0, "\(finished.output)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("verification.json"))) as? [String: Any]
        let screen = report?["screen"] as? [String: Any] ?? [:]
        #expect(screen["pairsReused"] as? Int ?? 0 >= 15, "\(screen)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: storage.appendingPathComponent("verify").path) == [])
        return work
    }

    @Test func workersDecodeVideoFramesAcrossShards() throws {
        let clips = folder.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: clips, withIntermediateDirectories: true)
        _ = try VideoFixtures.repeated(try VideoFixtures.pan(in: clips), in: clips)
        _ = try VideoFixtures.truncated(clips.appendingPathComponent("pan.mp4"), fraction: 0.4, as: "cut.mp4", in: clips)
        try FileManager.default.copyItem(at: try TestFiles.skimageData().appendingPathComponent("coffee.png"),
                                         to: clips.appendingPathComponent("coffee.png"))
        let reference = folder.appendingPathComponent("video-run")
        let run = try Cluster.winnow(["run", clips.path, "--no-embeddings", "--video-fps", "2", "--work-dir", reference.path, "--quiet"])
        try #require(run.status == 0, "\(run.output)")
        let database = try server.createDatabase()
        // 12 + 24 frames, an image and a broken video in shards of 4: frames of one video in several shards.
        try initialise(database, [clips.path], ["--shard-size", "4", "--video-fps", "2"])
        let worker = try Cluster.winnow(["worker", "--db", database, "--threads", "1"])
        #expect(worker.status == 0, "\(worker.output)")
        let work = try finish(database, "video-work")
        let differences = try Cluster.differences(reference, work, files: Cluster.comparedFiles + ["videos.csv"])
        #expect(differences == [], "\(differences)")
        let names = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.dat.csv")).compactMap { $0["filename"] }
        #expect(names.filter { $0.contains("#t=") }.count == 36 && names.contains { $0.hasSuffix("pan.mp4#t=5.500") }, "\(names)")
        let bad = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.map { URL(fileURLWithPath: $0["filename"] ?? "").lastPathComponent } == ["cut.mp4"], "\(bad)")
    }

    @Test func aKilledWorkersJobIsFinishedByAnother() throws {
        let (inputs, reference) = try Cluster.inputsAndReference()
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "30"])
        let doomed = try Cluster.startWorker(database, ["--threads", "1", "--lease", "2"], log: folder.appendingPathComponent("a.log"))
        var running = ""
        for _ in 0..<600 where running.isEmpty {
            running = try server.sql("SELECT shard FROM winnow_jobs WHERE state = 'running'", database: database)
            if running.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
        }
        kill(doomed.processIdentifier, SIGKILL)
        doomed.waitUntilExit()
        // The dead worker's claim stays until its lease expires.
        let held = try server.sql("SELECT shard FROM winnow_jobs WHERE state = 'running'", database: database)
        try #require(!held.isEmpty, "the worker finished before it was killed")
        #expect(try Cluster.status(database)["done"] as? Bool == false)
        let early = try Cluster.winnow(["cluster", "finish", "--db", database, "--work-dir", folder.appendingPathComponent("early").path])
        #expect(early.status == 75 && Cluster.lines(early.output).count == 1 && early.output.contains("1 running"), "\(early.output)")

        let rescuer = try Cluster.startWorker(database, ["--threads", "2"], log: folder.appendingPathComponent("b.log"))
        rescuer.waitUntilExit()
        #expect(rescuer.terminationStatus == 0)
        let retried = try server.sql("SELECT state, attempts FROM winnow_jobs WHERE shard = \(held)", database: database)
        #expect(retried == "done|2")
        let work = try finish(database, "after-kill")
        #expect(try Cluster.differences(reference, work) == [])
    }

    @Test func aWorkerOutlivesAPostgreSQLRestart() throws {
        let (inputs, reference) = try Cluster.inputsAndReference()
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "5"])
        let log = folder.appendingPathComponent("restart.log")
        let worker = try Cluster.startWorker(database, ["--threads", "1", "--lease", "30"], log: log)
        var done = 0
        for _ in 0..<3000 where done == 0 {
            done = Int(try server.sql("SELECT count(*) FROM winnow_jobs WHERE state = 'done'", database: database)) ?? 0
            if done == 0 { Thread.sleep(forTimeInterval: 0.02) }
        }
        let left = try server.sql("SELECT count(*) FROM winnow_jobs WHERE state <> 'done'", database: database)
        try #require(left != "0", "the worker finished before the restart")
        try server.restart()
        #expect(Cluster.waitForExit(worker, seconds: 120), "the worker hung after the restart")
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(worker.terminationStatus == 0, "\(output)")
        #expect(output.contains("lost the connection to PostgreSQL") && output.contains("connecting again"), "\(output)")
        let status = try Cluster.status(database)
        #expect(status["done"] as? Bool == true && (status["failed"] as? [Any])?.isEmpty == true, "\(status)")
        // The worker's count survives its second connection.
        let jobs = Int(try server.sql("SELECT count(*) FROM winnow_jobs", database: database)) ?? -1
        #expect((status["workers"] as? [[String: Any]])?.compactMap { $0["jobsDone"] as? Int } == [jobs], "\(status)")
        #expect(try Cluster.differences(reference, try finish(database, "after-restart")) == [])
    }

    @Test func aWorkerThatCannotReconnectStopsWithOneLine() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: false)
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "5"])
        let log = folder.appendingPathComponent("gone.log")
        let worker = try Cluster.startWorker(database, ["--threads", "1", "--reconnect", "2", "--keep-waiting"], log: log)
        var done = "0"
        for _ in 0..<3000 where done == "0" {
            done = try server.sql("SELECT count(*) FROM winnow_jobs WHERE state = 'done'", database: database)
            if done == "0" { Thread.sleep(forTimeInterval: 0.02) }
        }
        // The database dropped under the worker: every connection after that is refused.
        let name = database.split(separator: "/").last.map { String($0.prefix { $0 != "?" }) } ?? ""
        try server.sql("DROP DATABASE \(name) WITH (FORCE)", database: "postgres")
        #expect(Cluster.waitForExit(worker, seconds: 120), "the worker hung after its database was dropped")
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(worker.terminationStatus == 69, "\(output)")
        #expect(output.contains("connecting again"), "\(output)")
        #expect(Cluster.lines(output).last?.contains("does not exist") == true, "\(output)")
    }

    @Test func aJobDeliveredTwiceChangesNothing() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: false)
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "5"])
        #expect(try Cluster.winnow(["worker", "--db", database]).status == 0)
        let digest = "SELECT count(*), md5(string_agg(s::text, ',' ORDER BY position)) FROM winnow_scans s"
        let before = try server.sql(digest, database: database)
        let first = try finish(database, "first")

        try server.sql("UPDATE winnow_jobs SET state = 'pending', finished_at = NULL WHERE shard IN (0, 2)", database: database)
        #expect(try Cluster.status(database)["done"] as? Bool == false)
        let again = try Cluster.winnow(["worker", "--db", database])
        #expect(again.status == 0 && again.output.contains("2 jobs done"), "\(again.output)")
        #expect(try server.sql("SELECT attempts FROM winnow_jobs WHERE shard IN (0, 2) ORDER BY shard", database: database) == "2\n2")
        #expect(try server.sql(digest, database: database) == before)
        #expect(try Cluster.differences(first, try finish(database, "second")) == [])
    }

    @Test func aFailingShardIsRetriedThenReportedWithItsReason() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: false)
        let database = try server.createDatabase()
        try initialise(database, inputs, ["--shard-size", "4", "--max-attempts", "2"])
        let status = try Cluster.status(database)
        #expect(status["done"] as? Bool == false)
        // Shard 1's job expects an image its listing lacks: every attempt throws.
        try server.sql("UPDATE winnow_jobs SET items = items + 1 WHERE shard = 1", database: database)
        let worked = try Cluster.winnow(["worker", "--db", database])
        #expect(worked.status == 0, "\(worked.output)")
        #expect(worked.output.contains("will be retried") && worked.output.contains("failed: shard 1 lists 4 of its 5 images"),
                "\(worked.output)")

        let finished = try Cluster.status(database)
        #expect(finished["done"] as? Bool == true)
        let failed = finished["failed"] as? [[String: Any]] ?? []
        #expect(failed.count == 1)
        #expect(failed.first?["shard"] as? Int == 1 && failed.first?["attempts"] as? Int == 2)
        #expect((failed.first?["reason"] as? String)?.contains("lists 4 of its 5 images") == true)

        // The failed shard's images are listed as invalid, with the shard's reason.
        let work = try finish(database, "partial")
        let bad = try TestFiles.readCSV(work.appendingPathComponent("atrain_features.bad.csv"))
        #expect(bad.filter { ($0["reason"] ?? "").contains("scan of shard 1 failed: shard 1 lists 4 of its 5 images") }.count == 4)
    }

    @Test func anUnreachableDatabaseIsOneLineAndCreatesNothing() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: false)
        let storage = folder.appendingPathComponent("never")
        let address = "postgres://winnow@127.0.0.1:1/nothing?sslmode=disable"
        let commands = [["cluster", "init", "--db", address, "--storage", storage.path] + inputs, ["worker", "--db", address],
                        ["cluster", "status", "--db", address], ["cluster", "finish", "--db", address, "--work-dir", storage.path]]
        for command in commands {
            let result = try Cluster.winnow(command)
            #expect(result.status == 69, "\(command[0]): \(result.output)")
            let lines = Cluster.lines(result.output)
            #expect(lines.count == 1 && lines[0].hasPrefix("winnow: cannot reach PostgreSQL at 127.0.0.1:1/nothing"), "\(lines)")
        }
        #expect(!FileManager.default.fileExists(atPath: storage.path))
    }

    @Test func aDatabaseWithAnotherSchemaIsOneLineAndUntouched() throws {
        let inputs = try Cluster.inputs(in: folder, withCorpus: false)
        let storage = folder.appendingPathComponent("never")
        let other = try server.createDatabase()
        try server.sql("CREATE TABLE customers (id integer)", database: other)
        let refused = try Cluster.winnow(["cluster", "init", "--db", other, "--storage", storage.path] + inputs)
        #expect(refused.status == 65)
        #expect(Cluster.lines(refused.output).count == 1 && refused.output.contains("is not empty (customers)"), "\(refused.output)")
        #expect(try server.sql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'", database: other) == "customers")
        #expect(!FileManager.default.fileExists(atPath: storage.path))
        let worker = try Cluster.winnow(["worker", "--db", other])
        #expect(worker.status == 65 && Cluster.lines(worker.output).count == 1 && worker.output.contains("not a Winnow cluster"),
                "\(worker.output)")

        let newer = try server.createDatabase()
        try server.sql("CREATE TABLE winnow_schema (version integer); INSERT INTO winnow_schema VALUES (99)", database: newer)
        for command in [["cluster", "status", "--db", newer], ["cluster", "init", "--db", newer, "--storage", storage.path] + inputs] {
            let result = try Cluster.winnow(command)
            #expect(result.status == 65, "\(result.output)")
            #expect(Cluster.lines(result.output).count == 1 && result.output.contains("schema version 99; this winnow reads version 2"),
                    "\(result.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: storage.path))
    }
}
