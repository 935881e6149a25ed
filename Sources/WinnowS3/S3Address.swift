import Foundation

/// A bucket and a key or key prefix, as an input names them: `s3://bucket/prefix` (the endpoint
/// comes from the options or the environment) or `minio://host[:port]/bucket/prefix` (the
/// endpoint is `http://host:port`).
public struct S3Address: Sendable, Hashable, CustomStringConvertible {
    /// `s3` or `minio`: how the address was written, kept in sample ids.
    public var scheme: String
    /// `host[:port]` of a `minio://` address; nil for `s3://`.
    public var server: String?
    public var bucket: String
    /// The key (a listed object) or key prefix (an input); may be empty.
    public var key: String

    /// Whether `text` names an S3 or MinIO location (by its scheme alone).
    public static func isRemote(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("s3://") || lower.hasPrefix("minio://")
    }

    /// Parses `text`; the error says what is wrong with it in one line.
    public init(parsing text: String) throws(S3Error) {
        let lower = text.lowercased()
        var rest: Substring
        if lower.hasPrefix("s3://") {
            (scheme, rest) = ("s3", text.dropFirst(5))
        } else if lower.hasPrefix("minio://") {
            (scheme, rest) = ("minio", text.dropFirst(8))
            let host = rest.prefix { $0 != "/" }
            guard !host.isEmpty, Self.isValidServer(host) else {
                throw .invalidAddress(text, "minio:// needs a host[:port] before the bucket")
            }
            server = String(host)
            rest = rest.dropFirst(host.count).drop { $0 == "/" }
        } else {
            throw .invalidAddress(text, "not an s3:// or minio:// address")
        }
        let bucket = rest.prefix { $0 != "/" }
        guard Self.isValidBucket(bucket) else {
            throw .invalidAddress(text, "'\(bucket.prefix(80))' is not a bucket name (3–63 characters: a–z, 0–9, '.', '-')")
        }
        self.bucket = String(bucket)
        key = String(rest.dropFirst(bucket.count + 1))
    }

    public init(scheme: String, server: String?, bucket: String, key: String) {
        (self.scheme, self.server, self.bucket, self.key) = (scheme, server, bucket, key)
    }

    /// The same bucket with another key.
    public func with(key: String) -> S3Address {
        S3Address(scheme: scheme, server: server, bucket: bucket, key: key)
    }

    /// The address as a URL-like string: `s3://bucket/key`, `minio://host:port/bucket/key`.
    public var description: String {
        "\(scheme)://" + (server.map { $0 + "/" } ?? "") + bucket + "/" + key
    }

    /// Bucket names as S3 allows them: 3–63 lowercase letters, digits, dots and hyphens,
    /// starting and ending with a letter or digit (nothing that could reach another path).
    static func isValidBucket(_ name: Substring) -> Bool {
        guard (3...63).contains(name.count), let first = name.first, let last = name.last,
              first.isASCII && (first.isLetter || first.isNumber), last.isASCII && (last.isLetter || last.isNumber)
        else { return false }
        return name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" }
    }

    /// `host` or `host:port` of letters, digits, dots and hyphens (or a bracketed IPv6 address).
    static func isValidServer(_ server: Substring) -> Bool {
        server.count <= 255 && server.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
    }
}
