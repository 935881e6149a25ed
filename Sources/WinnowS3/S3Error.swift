import Foundation

/// Why an S3 input, or one of its objects, could not be read; each reads as one line.
public enum S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// An input that is not a usable `s3://` or `minio://` address.
    case invalidAddress(String, String)
    /// No access key was found (environment, credentials file).
    case noCredentials(String)
    /// The server answered `status` for `what` (an address), with S3's error code and message.
    case http(what: String, status: Int, code: String, message: String)
    /// The server could not be reached or the connection broke.
    case transport(what: String, reason: String)
    /// The server's answer made no sense (not S3's XML, a body shorter than announced…).
    case badResponse(what: String, reason: String)
    /// A local file or folder could not be written.
    case local(what: String, reason: String)

    /// The HTTP status, when the server gave one.
    public var status: Int? {
        if case .http(_, let status, _, _) = self { return status }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidAddress(let text, let why): "\(text.prefix(200)): \(why)"
        case .noCredentials(let why): "no S3 credentials: \(why)"
        case .http(let what, let status, let code, let message): "\(what): HTTP \(status)" + Self.detail(status, code, message)
        case .transport(let what, let reason): "\(what): cannot reach the server: \(reason)"
        case .badResponse(let what, let reason): "\(what): unexpected answer from the server: \(reason)"
        case .local(let what, let reason): "\(what): \(reason)"
        }
    }

    private static func detail(_ status: Int, _ code: String, _ message: String) -> String {
        let hint: String = switch (status, code) {
        case (_, "NoSuchBucket"): " (no such bucket)"
        case (_, "InvalidAccessKeyId"), (_, "SignatureDoesNotMatch"):
            " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile in ~/.aws/credentials)"
        case (403, _): " (access denied: check the credentials and the bucket's policy)"
        case (301, _): " (the bucket is in another region: set AWS_REGION)"
        default: ""
        }
        let words = [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
        return (words.isEmpty ? "" : " " + oneLine(words, limit: 300)) + hint
    }
}

/// `text` on one line (control characters as spaces), cut to `limit` characters.
func oneLine(_ text: String, limit: Int = 500) -> String {
    let flat = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
    return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
}
