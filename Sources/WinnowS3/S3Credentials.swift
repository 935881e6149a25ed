import Foundation

/// An access key pair (and session token), found as the AWS tools find it: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the profile
/// `AWS_PROFILE` (default `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
/// default `~/.aws/credentials`).
public struct S3Credentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        (self.accessKeyID, self.secretAccessKey, self.sessionToken) = (accessKeyID, secretAccessKey, sessionToken)
    }

    /// The credentials `environment` leads to (the process's own by default).
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(S3Error) -> S3Credentials {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let key = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") {
            return S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"))
        }
        let profile = value("AWS_PROFILE") ?? "default"
        let home = value("HOME") ?? NSHomeDirectory()
        let path = value("AWS_SHARED_CREDENTIALS_FILE") ?? home + "/.aws/credentials"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .noCredentials("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and \(path) cannot be read")
        }
        let section = profileSection(text, profile: profile)
        guard let key = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else {
            throw .noCredentials("profile [\(profile)] of \(path) has no aws_access_key_id and aws_secret_access_key")
        }
        return S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: section["aws_session_token"])
    }

    /// The `name = value` lines of `[profile]` in an INI file (names lowercased).
    static func profileSection(_ text: String, profile: String) -> [String: String] {
        var values: [String: String] = [:], inside = false
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                inside = name == profile || name == "profile " + profile
                continue
            }
            guard inside, let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            values[name] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}

/// Where requests go and how they are signed: the endpoint (scheme, host, port), the region,
/// and whether the bucket is a path segment (MinIO and other S3-compatible stores) or a host
/// name (AWS).
public struct S3Endpoint: Sendable, Hashable {
    public var scheme: String
    public var host: String
    public var port: Int?
    public var region: String
    /// `https://bucket.s3.region.amazonaws.com/key` rather than `https://host/bucket/key`.
    public var virtualHosted: Bool

    /// The endpoint of `address`: a `minio://` address's own server (http); else `override`
    /// (`--s3-endpoint`), `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`; else AWS in the region
    /// (`AWS_REGION`, `AWS_DEFAULT_REGION`, default us-east-1).
    public static func of(_ address: S3Address, override: String? = nil,
                          environment: [String: String] = ProcessInfo.processInfo.environment) throws(S3Error) -> S3Endpoint {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
        let configured = address.server.map { "http://" + $0 } ?? override ?? value("AWS_ENDPOINT_URL_S3") ?? value("AWS_ENDPOINT_URL")
        guard let configured else {
            return S3Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com", port: nil, region: region,
                              virtualHosted: !address.bucket.contains("."))
        }
        guard let url = URLComponents(string: configured), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw .invalidAddress(configured, "the endpoint must be http://host[:port] or https://host[:port]")
        }
        return S3Endpoint(scheme: scheme, host: host, port: url.port, region: region, virtualHosted: false)
    }

    /// The `Host` header: the host, with the port when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        guard let port, port != (scheme == "https" ? 443 : 80) else { return name }
        return "\(name):\(port)"
    }
}
