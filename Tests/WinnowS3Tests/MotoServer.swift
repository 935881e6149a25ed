import Foundation
import WinnowTestSupport

/// moto's S3-compatible server (`moto_server`, installed by scripts/setup.sh in a venv) on
/// 127.0.0.1 at a free port, one per test process, stopped when the process exits. It checks
/// Signature V4: the first three requests (made here) create an IAM user with an access key and
/// a policy allowing everything; every later request must be signed with that key.
final class MotoServer: Sendable {
    let port: Int
    let accessKeyID: String
    let secretAccessKey: String
    private let pid: pid_t
    let folder: URL

    static func shared() throws -> MotoServer { try running.server() }

    private static let running = SharedTestServer(start: { try MotoServer() }, stop: { $0.stop() })

    private func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<50 where waitpid(pid, &status, WNOHANG) == 0 { usleep(100_000) }
        if kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
    }

    static var venv: URL { TestFiles.cache.appendingPathComponent("venv-moto/bin") }

    private init() throws {
        let executable = Self.venv.appendingPathComponent("moto_server").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestDataMissing("\(executable) not found; run scripts/setup.sh")
        }
        folder = try TestFiles.temporaryDirectory("moto")
        var lastFailure = ""
        for _ in 0..<5 {
            let candidate = Int.random(in: 20_000...60_000)
            let log = folder.appendingPathComponent("server-\(candidate).log").path
            let pid = try TestFiles.spawn([executable, "-H", "127.0.0.1", "-p", "\(candidate)"], log: log,
                                     environment: ["INITIAL_NO_AUTH_ACTION_COUNT=3"])
            if Self.waitUntilListening(candidate, pid: pid) {
                (port, self.pid) = (candidate, pid)
                let keys = (try? Self.python(port: candidate, keyID: "AKIAIOSFODNN7EXAMPLE", secret: "unused", Self.bootstrap))?
                    .split(separator: " ").map(String.init) ?? []
                guard keys.count == 2 else {
                    kill(pid, SIGKILL)
                    throw TestDataMissing("moto bootstrap failed: \(keys)")
                }
                (accessKeyID, secretAccessKey) = (keys[0], keys[1].trimmingCharacters(in: .whitespacesAndNewlines))
                return
            }
            kill(pid, SIGKILL)
            lastFailure = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        throw TestDataMissing("moto_server did not start: \(lastFailure.suffix(2000))")
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The environment a run gets: the server's key (or `secret` instead of its secret).
    func environment(secret: String? = nil) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secret ?? secretAccessKey, "AWS_REGION": "us-east-1",
         "HOME": folder.path]
    }

    /// Runs a Python script with boto3 (`s3` is a client of this server, signed with its key).
    @discardableResult
    func python(_ script: String) throws -> String {
        try Self.python(port: port, keyID: accessKeyID, secret: secretAccessKey, script)
    }

    /// Creates `bucket` and uploads `objects` (key, local file).
    func makeBucket(_ bucket: String, _ objects: [(key: String, file: URL)]) throws {
        let lines = objects.map { "s3.upload_file(\(Self.literal($0.file.path)), \(Self.literal(bucket)), \(Self.literal($0.key)))" }
        try python((["s3.create_bucket(Bucket=\(Self.literal(bucket)))"] + lines).joined(separator: "\n"))
    }

    /// A Python string literal of `text` (JSON strings are valid Python).
    static func literal(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? String(decoding: encoder.encode(text), as: UTF8.self)) ?? "''"
    }

    private static let bootstrap = """
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret)
        iam.create_user(UserName="winnow")
        key = iam.create_access_key(UserName="winnow")["AccessKey"]
        iam.put_user_policy(UserName="winnow", PolicyName="all", PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
        print(key["AccessKeyId"], key["SecretAccessKey"])
        """

    private static func python(port: Int, keyID: String, secret: String, _ script: String) throws -> String {
        let prelude = """
            import boto3, sys
            endpoint = "http://127.0.0.1:\(port)"
            key_id, secret = "\(keyID)", "\(secret)"
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret)

            """
        let result = try TestFiles.shell(venv.appendingPathComponent("python").path, ["-c", prelude + script])
        guard result.status == 0 else { throw TestDataMissing("boto3 script failed: \(result.output.suffix(2000))") }
        return result.output
    }

    /// Polls the port until it accepts connections (up to 30 s), or the server exits.
    private static func waitUntilListening(_ port: Int, pid: pid_t) -> Bool {
        for _ in 0..<300 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return false }
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let connected = Loopback.connect(socket, port: port)
            close(socket)
            if connected == 0 { return true }
            usleep(100_000)
        }
        return false
    }
}
