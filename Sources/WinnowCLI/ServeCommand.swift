import ArgumentParser
import Foundation
import WinnowApp
import WinnowCommandSupport

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Browse a work_dir's findings in a local web app.",
        discussion: """
            Summary, image grid with filters and sorts (issue, uniqueness, label, split, cluster), \
            duplicate clusters, a scatter map of maps/*.csv (winnow visualize) where a click shows the \
            image and its neighbours, and keep/remove marks saved to WORK_DIR/review_marks.csv for \
            `winnow clean WORK_DIR --marks WORK_DIR/review_marks.csv`.

            Listens on 127.0.0.1 only unless --host is given; any other address needs --token, and \
            then every request must carry it (open the app once with ?token=T).

            Examples:
              winnow serve work                           http://127.0.0.1:8765/
              winnow serve work --port 0                  any free port (printed)
              winnow serve work --host 0.0.0.0 --token "$(openssl rand -hex 16)"
            """
    )

    @Argument(help: "A work_dir written by `winnow run`.")
    var workDir: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port (0 picks a free one).")
    var port = 8765

    @Option(help: "Access token, required for a non-loopback --host (8+ letters, digits, - . _ ~).")
    var token: String?

    func validate() throws {
        try OptionRange.check("--port", port, in: 0...65535)
    }

    func run() async throws {
        let server: AppServer
        do {
            let policy = try AccessPolicy(host: host, token: token)
            server = try AppServer(workDirectory: URL(fileURLWithPath: workDir), policy: policy)
        } catch let error as AppError {
            standardError("winnow: \(error.description)")
            if case .notAWorkDirectory = error { throw ExitStatus.noInput }
            throw ExitCode.validationFailure
        }
        for warning in server.warnings { standardError("winnow: warning: \(warning)") }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let token = server.policy.token
        let samples = server.data.samples.count
        do {
            try await server.run(port: port) { bound in
                let suffix = token.map { "?token=\($0)" } ?? ""
                let line = "winnow serve: http://\(shownHost):\(bound)/\(suffix)  (\(samples) images; Ctrl-C stops)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        } catch let error as AppError {
            standardError("winnow: \(error.description)")
            throw ExitCode.validationFailure
        } catch {
            standardError("winnow: cannot serve on \(host):\(port): \(error)")
            throw ExitStatus.software
        }
    }
}
