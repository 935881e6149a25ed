import Foundation

/// CPU time and peak memory of this process (or, with `children`, of its finished children).
package struct ResourceUsage: Codable, Sendable {
    package var cpuSeconds: Double
    package var peakRSSMegabytes: Double

    package static func current(children: Bool = false) -> ResourceUsage {
        var usage = rusage()
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return ResourceUsage(cpuSeconds: cpu, peakRSSMegabytes: Double(usage.ru_maxrss) / 1024)
    }
}
