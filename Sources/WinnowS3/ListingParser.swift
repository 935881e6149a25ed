import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads a ListObjectsV2 answer: each `<Contents>`'s key, ETag and size, and the next page's token.
final class ListingParser: NSObject, XMLParserDelegate {
    private var objects: [S3Object] = []
    private var continuation: String?
    private var truncated = false
    private var text = ""
    private var current: (key: String?, etag: String, size: Int64?)?

    static func page(_ body: [UInt8], what: String) throws(S3Error) -> S3ListPage {
        let delegate = ListingParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        guard parser.parse() else {
            throw .badResponse(what: what, reason: "listing is not XML (\(parser.parserError.map { "\($0)" } ?? "parse error"))")
        }
        if delegate.truncated && delegate.continuation == nil {
            throw .badResponse(what: what, reason: "listing is truncated but gives no NextContinuationToken")
        }
        return S3ListPage(objects: delegate.objects, continuation: delegate.truncated ? delegate.continuation : nil)
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        text = ""
        if name == "Contents" { current = (nil, "", nil) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if text.utf8.count < 1 << 16 { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "Key": current?.key = text
        case "ETag": current?.etag = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        case "Size": current?.size = Int64(text.trimmingCharacters(in: .whitespaces))
        case "Contents":
            if let key = current?.key, let size = current?.size, size >= 0, let etag = current?.etag {
                objects.append(S3Object(key: key, etag: etag, byteCount: size))
            }
            current = nil
        case "IsTruncated": truncated = text.trimmingCharacters(in: .whitespaces) == "true"
        case "NextContinuationToken": continuation = text
        default: break
        }
    }
}
