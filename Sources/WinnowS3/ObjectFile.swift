import AsyncHTTPClient
import Foundation
import NIOCore

/// Writes a streamed object body to a local file safely: into a new temporary file in the
/// destination's folder (never following a link, never over an existing file), renamed over
/// the destination only once every announced byte arrived.
enum ObjectFile {
    static let partialSuffix = ".winnow-partial"

    static func write(_ body: HTTPClientResponse.Body, expected: Int64, to file: URL, what: String) async throws(S3Error) {
        let folder = file.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw .local(what: what, reason: "cannot create folder \(folder.path): \(oneLine(error.localizedDescription))")
        }
        let temporary = file.path + ".\(UInt32.random(in: 0...UInt32.max))" + partialSuffix
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .local(what: what, reason: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var written: Int64 = 0, closed = false
        defer {
            if !closed { close(descriptor) }
            unlink(temporary)
        }
        do {
            for try await buffer in body {
                written += Int64(buffer.readableBytes)
                guard written <= expected else { throw S3Error.badResponse(what: what, reason: "body longer than its \(expected) bytes") }
                try writeAll(buffer, to: descriptor, path: temporary, what: what)
            }
        } catch let error as S3Error {
            throw error
        } catch {
            throw .transport(what: what, reason: oneLine("connection broke after \(written) of \(expected) bytes: \(error)", limit: 200))
        }
        guard written == expected else {
            throw .badResponse(what: what, reason: "body ended after \(written) of \(expected) bytes")
        }
        closed = true
        guard close(descriptor) == 0, rename(temporary, file.path) == 0 else {
            throw .local(what: what, reason: "cannot store \(file.path): \(String(cString: strerror(errno)))")
        }
    }

    private static func writeAll(_ buffer: ByteBuffer, to descriptor: Int32, path: String, what: String) throws(S3Error) {
        let failure: Int32? = buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += count
            }
            return nil
        }
        if let failure { throw .local(what: what, reason: "cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
