import Foundation

/// TCP on 127.0.0.1 for the tests that start servers (moto, `winnow serve`).
public enum Loopback {
    /// Connects `socket` to 127.0.0.1:`port`; connect(2)'s result (0: connected).
    public static func connect(_ socket: Int32, port: Int) -> Int32 {
        withAddress(port: port) { address, length in Glibc.connect(socket, address, length) }
    }

    /// A port nothing listens on: one the kernel picked for a socket, closed again.
    public static func unusedPort() -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var port = 0
        withAddress(port: 0) { address, length in
            var length = length
            _ = bind(listener, address, length)
            _ = getsockname(listener, address, &length)
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { port = Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
        return port
    }

    /// 127.0.0.1:`port` as a `sockaddr` and its length, for `body`.
    private static func withAddress<T>(port: Int, _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
