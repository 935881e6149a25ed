import Crypto
import Foundation
import WinnowCore

/// An object a run will read: its address, and its ETag and size as listed.
struct ListedObject: Sendable {
    var address: S3Address
    var etag: String
    var byteCount: Int64
}

/// Every object the inputs name, as samples whose location is the local copy to be (a small
/// record per object: the pages themselves are not kept).
struct ObjectListing: Sendable {
    var sources: [SampleSource] = []
    var missing: [(source: SampleSource, problem: InvalidSample)] = []
    var nonImages = 0
    /// The object behind each sample id.
    var objects: [String: ListedObject] = [:]

    static func list(_ inputs: [String], clients: ClientPool, mirror: ObjectMirror, options: S3Options) async throws(S3Error) -> ObjectListing {
        var listing = ObjectListing()
        for input in inputs {
            if S3Address.isRemote(input) {
                let address = try S3Address(parsing: input)
                try await listing.addPrefix(address, client: clients.client(for: address), mirror: mirror, pageSize: options.pageSize)
            } else {
                let addresses = try AddressList.read(input)
                for address in addresses { _ = try clients.client(for: address) }
                await listing.addObjects(addresses, clients: clients, mirror: mirror, concurrency: options.concurrency)
            }
        }
        return listing
    }

    /// Every object under the prefix, a ListObjectsV2 page at a time.
    private mutating func addPrefix(_ address: S3Address, client: S3Client, mirror: ObjectMirror, pageSize: Int) async throws(S3Error) {
        var continuation: String?
        repeat {
            let page = try await client.listPage(address, continuation: continuation, maximumKeys: pageSize)
            for object in page.objects { add(object, at: address.with(key: object.key), mirror: mirror) }
            continuation = page.continuation
        } while continuation != nil
    }

    /// Objects named one by one (a file list): a HEAD each; one that fails is an invalid row.
    private mutating func addObjects(_ addresses: [S3Address], clients: ClientPool, mirror: ObjectMirror, concurrency: Int) async {
        var heard: [Int: Result<S3Object, S3Error>] = [:]
        await forEachConcurrently(addresses, limit: concurrency) { address async -> Result<S3Object, S3Error> in
            do throws(S3Error) { return .success(try await clients.client(for: address).head(address)) } catch { return .failure(error) }
        } receive: { index, result in
            heard[index] = result
        }
        for (index, address) in addresses.enumerated() {
            switch heard[index] {
            case .success(let object)?: add(object, at: address, mirror: mirror)
            case .failure(let error)?: addFailure(address, error, mirror: mirror)
            case nil: break
            }
        }
    }

    private mutating func add(_ object: S3Object, at address: S3Address, mirror: ObjectMirror) {
        guard !object.key.isEmpty, !object.key.hasSuffix("/") else { return }  // folder markers
        if isSidecarName(object.key) {
            nonImages += 1
            return
        }
        let id = address.description
        guard objects[id] == nil else { return }
        objects[id] = ListedObject(address: address, etag: object.etag, byteCount: object.byteCount)
        sources.append(SampleSource(id: id, location: .file(mirror.localPath(of: address)), byteCount: object.byteCount,
                                    modificationTime: etagStamp(object.etag), displayName: id))
    }

    private mutating func addFailure(_ address: S3Address, _ error: S3Error, mirror: ObjectMirror) {
        let id = address.description
        guard objects[id] == nil else { return }
        objects[id] = ListedObject(address: address, etag: "", byteCount: 0)
        missing.append((unreadSource(id, address, mirror: mirror), problem(error)))
    }
}

/// A sample for an object that could not be read: size and stamp 0, so that the run after the
/// one that reads it sees it changed.
func unreadSource(_ id: String, _ address: S3Address, mirror: ObjectMirror) -> SampleSource {
    SampleSource(id: id, location: .file(mirror.localPath(of: address)), byteCount: 0, modificationTime: 0, displayName: id)
}

/// The invalid row an object's failure makes (a refused size is an unsupported file, as for archive members).
func problem(_ error: S3Error) -> InvalidSample {
    if case .local(_, let reason) = error, reason.contains("--max-file-bytes") { return InvalidSample(.unsupportedFormat, error.description) }
    return InvalidSample(.unreadable, error.description)
}

/// The ETag as the number a sample's `modificationTime` holds: the first 48 bits of its SHA-256,
/// exact in a Double. Resume and incremental runs compare it (with the size), so objects are
/// keyed by their ETag.
func etagStamp(_ etag: String) -> Double {
    let digest = Array(SHA256.hash(data: Data(etag.utf8)))
    return Double(digest.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
}

extension ObjectMirror {
    func localPath(of address: S3Address) -> String { root.appendingPathComponent(relativePath(of: address)).path }
}

/// Runs `work` on each item, at most `limit` at once, handing each result (with the item's
/// index) to `receive` on the caller's task as it comes.
func forEachConcurrently<Item: Sendable, Output: Sendable>(
    _ items: [Item], limit: Int, _ work: @escaping @Sendable (Item) async -> Output, receive: (Int, Output) -> Void
) async {
    await withTaskGroup(of: (Int, Output).self) { group in
        var next = 0
        while next < min(max(1, limit), items.count) {
            let index = next
            group.addTask { (index, await work(items[index])) }
            next += 1
        }
        while let (index, output) = await group.next() {
            receive(index, output)
            if next < items.count {
                let following = next
                group.addTask { (following, await work(items[following])) }
                next += 1
            }
        }
    }
}

/// A local file list of object addresses: one per line (or a `filename` column), `#` comments.
enum AddressList {
    /// The first entry of the file list at `path`, when it is one (a .txt, .csv or .lst file).
    static func firstEntry(of path: String) -> String? {
        let ext = (path as NSString).pathExtension.lowercased()
        guard ["txt", "csv", "lst"].contains(ext), let data = RegularFile.contents(atPath: path, limit: 1 << 16) else { return nil }
        return entries(String(decoding: data, as: UTF8.self)).first
    }

    static func read(_ path: String) throws(S3Error) -> [S3Address] {
        guard let data = RegularFile.contents(atPath: path), let text = String(validating: data, as: UTF8.self) else {
            throw .invalidAddress(path, "cannot read the file list (missing, unreadable or not UTF-8)")
        }
        var addresses: [S3Address] = []
        for (number, entry) in entries(text).enumerated() {
            do throws(S3Error) { addresses.append(try S3Address(parsing: entry)) } catch {
                throw .invalidAddress(path, "entry \(number + 1) is not an object address: \(error)")
            }
        }
        return addresses
    }

    /// The non-empty, non-comment lines, or their `filename` / `path` / `file` column.
    private static func entries(_ text: String) -> [String] {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let header = lines.first, header.contains(","), !S3Address.isRemote(header) else { return lines }
        let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let column = names.firstIndex { ["filename", "path", "file"].contains($0) } ?? 0
        lines.removeFirst()
        return lines.compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return column < fields.count ? fields[column].trimmingCharacters(in: CharacterSet(charactersIn: " \"")) : nil
        }
    }
}
