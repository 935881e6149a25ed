import COpenBLAS
import Foundation

/// Which OpenBLAS kernels this process runs, and whether that is the right choice for the CPU.
///
/// OpenBLAS (Debian builds it with DYNAMIC_ARCH) picks a "core type" — a kernel set such as
/// Haswell (AVX2) or SkylakeX/Cooperlake (AVX-512) — once, when the library is loaded: from
/// CPUID, or from `OPENBLAS_CORETYPE` when that is set. Setting the variable from inside the
/// process is too late. An explicit setting is the operator's decision (it is how one works
/// around a kernel that misbehaves): Winnow only reports it (`advice`). But when OpenBLAS's own
/// detection fell back to narrower kernels — Debian's 0.3.21 does not know CPUs newer than it:
/// on an Intel family 6 model 207 (AVX-512) it picks Prescott, SSE only — the `winnow` and
/// `winnow-bench` commands start themselves again with the variable set to the CPU's kernel set
/// (``kernelsForThisCPU``): there the exact index's graph of 20,000 × 1,600-d rows took 57.9
/// CPU-s with Prescott and 14.2 with Cooperlake. Library users get the advice only.
///
/// Measured on the reference machine (2 vCPUs of an AMD EPYC Zen 5, family 26, with AVX-512 and
/// BF16; Debian OpenBLAS 0.3.21 DYNAMIC_ARCH; machine shared with other builds): without the
/// variable OpenBLAS picks Cooperlake; that machine's environment sets `OPENBLAS_CORETYPE=Haswell`.
/// - sgemm of `ExactIndex`'s 512×4096×256 tiles, one thread: Haswell 81–92 GFLOP/s, Cooperlake
///   136–163 GFLOP/s (1.8×); two threads 58–68 vs 90–117.
/// - `ExactIndex.allNeighbors(k: 10)`, 256-d: 50k rows 20.8 → 17.7 CPU s, 75k 52 → 31,
///   100k 92.7 → 69.1 (the rest of the time is its top-k loop, which BLAS does not touch).
/// - Correctness: both kernel sets matched a double-precision reference on 600 random sgemm
///   shapes (sizes 1–4096 including odd edges, both transposes, alpha/beta); no misbehaviour of
///   the auto-detected kernels was found, so the variable costs speed for nothing here.
public struct BLASConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The kernel set in use (`openblas_get_corename`), e.g. "Haswell", "Cooperlake".
    public var coreName: String
    /// `openblas_get_config`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public var buildConfiguration: String
    /// OpenBLAS's thread count.
    public var threads: Int
    /// `OPENBLAS_CORETYPE` as the process sees it (OpenBLAS read it at load), if set.
    public var coreTypeOverride: String?
    /// The CPU's vector features, from /proc/cpuinfo.
    public var cpu: CPUVectorFeatures
    /// What to do about a mismatch between the kernels and the CPU, or nil when they fit.
    public var advice: String? {
        Self.advice(coreName: coreName, override: coreTypeOverride, cpu: cpu)
    }

    /// The configuration of this process.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> BLASConfiguration {
        BLASConfiguration(
            coreName: openblas_get_corename().map { String(cString: $0) } ?? "unknown",
            buildConfiguration: openblas_get_config().map { String(cString: $0) } ?? "unknown",
            threads: Int(openblas_get_num_threads()),
            coreTypeOverride: environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 },
            cpu: CPUVectorFeatures.current()
        )
    }

    public var description: String {
        var text = "OpenBLAS core \(coreName)"
        if let coreTypeOverride { text += " (OPENBLAS_CORETYPE=\(coreTypeOverride))" }
        text += ", \(threads) threads, CPU \(cpu.vendor) family \(cpu.family) model \(cpu.model) \(cpu.level.name)"
        return text
    }

    /// The core type to set in `OPENBLAS_CORETYPE` when OpenBLAS's own detection (no variable
    /// set) chose kernels narrower than the CPU supports; nil when they fit or the variable is set.
    public var kernelsForThisCPU: String? {
        guard coreTypeOverride == nil, let used = CPUVectorFeatures.Level(openBLASCore: coreName), used < cpu.level else { return nil }
        return cpu.level.openBLASCore(vendor: cpu.vendor, bf16: cpu.bf16)
    }

    /// Starts this process again (same arguments) with `OPENBLAS_CORETYPE` set to
    /// ``kernelsForThisCPU`` when there is one: OpenBLAS reads the variable only when it is
    /// loaded, before `main`. For a command's `main`, first thing; the variable it sets stops a
    /// second start. Returns (having changed nothing) when the kernels fit or the exec fails.
    public static func startAgainWithTheCPUsKernels() {
        guard let core = current().kernelsForThisCPU else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// One line of advice when the kernels in use are narrower than the CPU supports: either
    /// the variable forces an older kernel set, or OpenBLAS's detection fell back to one (which
    /// older OpenBLAS releases do on CPUs newer than they are).
    static func advice(coreName: String, override: String?, cpu: CPUVectorFeatures) -> String? {
        guard let used = CPUVectorFeatures.Level(openBLASCore: coreName), used < cpu.level else { return nil }
        let better = cpu.level.openBLASCore(vendor: cpu.vendor, bf16: cpu.bf16)
        if let override {
            return "OPENBLAS_CORETYPE=\(override) makes OpenBLAS use \(used.name) kernels (\(coreName)) on a CPU with "
                + "\(cpu.level.name); unset it (or set OPENBLAS_CORETYPE=\(better)) before starting winnow for faster "
                + "BLAS, unless this OpenBLAS is known to misbehave with \(better) here"
        }
        return "OpenBLAS chose \(coreName) (\(used.name)) on a CPU with \(cpu.level.name); set "
            + "OPENBLAS_CORETYPE=\(better) before starting winnow for faster BLAS"
    }
}

/// The widest vector instructions the CPU offers, as far as OpenBLAS's kernels care.
public struct CPUVectorFeatures: Sendable, Equatable {
    public enum Level: Int, Sendable, Comparable {
        case sse = 0, avx, avx2, avx512

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        public var name: String {
            switch self {
            case .sse: "SSE only"
            case .avx: "AVX"
            case .avx2: "AVX2+FMA"
            case .avx512: "AVX-512"
            }
        }

        /// The level an OpenBLAS x86-64 core type's kernels are written for (nil: unknown name).
        init?(openBLASCore name: String) {
            switch name.lowercased() {
            case "skylakex", "cooperlake", "sapphirerapids": self = .avx512
            case "haswell", "zen", "excavator": self = .avx2
            case "sandybridge", "bulldozer", "piledriver", "steamroller": self = .avx
            case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "athlon", "opteron", "opteron_sse3",
                 "barcelona", "bobcat", "nano", "katmai", "coppermine", "northwood", "banias":
                self = .sse
            default: return nil
            }
        }

        /// The OpenBLAS core type to ask for on a CPU of this level.
        func openBLASCore(vendor: String, bf16: Bool) -> String {
            switch self {
            case .avx512: bf16 ? "Cooperlake" : "SkylakeX"
            case .avx2: vendor == "AuthenticAMD" ? "Zen" : "Haswell"
            case .avx: "Sandybridge"
            case .sse: "Nehalem"
            }
        }
    }

    public var vendor: String
    public var family: Int
    public var model: Int
    public var level: Level
    /// AVX-512 BF16 (OpenBLAS's Cooperlake kernels).
    public var bf16: Bool

    /// Parses the first processor of a /proc/cpuinfo text.
    public init(cpuinfo: String) {
        var fields: [String: String] = [:]
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let flags = Set((fields["flags"] ?? "").split(separator: " ").map(String.init))
        vendor = fields["vendor_id"] ?? "unknown"
        family = Int(fields["cpu family"] ?? "") ?? 0
        model = Int(fields["model"] ?? "") ?? 0
        bf16 = flags.contains("avx512_bf16")
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) {
            level = .avx512
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            level = .avx2
        } else if flags.contains("avx") {
            level = .avx
        } else {
            level = .sse
        }
    }

    public static func current() -> CPUVectorFeatures {
        CPUVectorFeatures(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    }
}
