import Crypto
import Foundation

/// AWS Signature Version 4 for S3 requests with an empty body (GET, HEAD), as AWS documents it:
/// a canonical request, the string to sign, and a key derived from the secret by date, region
/// and service.
struct SignatureV4: Sendable {
    let credentials: S3Credentials
    let region: String
    static let emptyPayloadHash = SHA256.hash(data: Data()).hexString

    /// The headers to send with the request (`Host`, `x-amz-date`, `x-amz-content-sha256`,
    /// the session token when there is one, and `Authorization`).
    /// `path` is already URI-encoded; `query` holds decoded names and values.
    func headers(method: String, host: String, path: String, query: [(String, String)], date: Date) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var headers = [("host", host), ("x-amz-content-sha256", Self.emptyPayloadHash), ("x-amz-date", amzDate)]
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        headers.sort { $0.0 < $1.0 }
        let signedHeaders = headers.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method, path, Self.canonicalQuery(query),
            headers.map { "\($0.0):\($0.1.trimmingCharacters(in: .whitespaces))\n" }.joined(),
            signedHeaders, Self.emptyPayloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/s3/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope,
                            SHA256.hash(data: Data(canonicalRequest.utf8)).hexString].joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, "s3", "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)).hexString
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return headers + [("authorization", authorization)]
    }

    /// `20260102T030405Z` and `20260102`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day: String = String(format: "%04d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        let time: String = String(format: "%02d%02d%02d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
        return (day + "T" + time + "Z", day)
    }

    /// Names and values URI-encoded, sorted by name then value, joined with `&`.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.0, keepingSlash: false), uriEncode(pair.1, keepingSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// Every byte of `text`'s UTF-8 as `%XX` except the unreserved `A–Z a–z 0–9 - _ . ~` (and `/`
    /// when `keepingSlash`), as Signature V4 wants it.
    static func uriEncode(_ text: String, keepingSlash: Bool) -> String {
        var encoded = ""
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepingSlash:
                encoded.append("/")
            default:
                encoded += String(format: "%%%02X", byte)
            }
        }
        return encoded
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex digits.
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
