import Foundation

/// Instruction-set features of this machine's CPU that change what a model computes.
public enum CPUFeatures {
    /// Whether the CPU has VNNI (AVX-512 VNNI or AVX-VNNI): ONNX Runtime's uint8 × int8 kernels
    /// then add products in 32-bit registers. Without it they add pairs of products in saturating
    /// 16-bit registers, which can move `mobilenet_v2_int8`'s features (Linux: `/proc/cpuinfo`).
    public static let hasVNNI: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let names = Set(flags.split(separator: " ").map(String.init))
        return names.contains("avx512_vnni") || names.contains("avx_vnni")
    }()
}
