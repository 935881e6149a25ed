import Foundation

extension MobileNetV2Converter {
    /// Numeric precision of a converted MobileNetV2.
    public enum Precision: String, Sendable, Codable, CaseIterable {
        /// float32 throughout (the default model).
        case float32
        /// Partially int8 (see "Int8 model" in ``MobileNetV2Converter``): about 1.5× faster
        /// inference where the CPU has VNNI (AVX-512 VNNI / AVX-VNNI), features within cosine
        /// ≈ 0.99 of float32's. Without VNNI, ONNX Runtime's uint8 × int8 kernels sum pairs of
        /// products in saturating 16-bit registers, which can distort the features: keep
        /// float32 there (the copy model avoids it with 7-bit weights:
        /// ``EmbeddingAssets/copyInt8LargestWeightLevel``). Only for the input sizes of
        /// ``int8ActivationRanges``.
        case int8

        /// The input sides this precision can be converted for; nil: every multiple of 32.
        public var supportedInputSizes: [Int]? {
            switch self {
            case .float32: nil
            case .int8: MobileNetV2Converter.int8ActivationRanges.keys.sorted()
            }
        }

        /// The model's name on the command line (`--model`).
        public var modelName: String {
            switch self {
            case .float32: "mobilenet_v2"
            case .int8: "mobilenet_v2_int8"
            }
        }
    }

    /// Throws a one-line ``EmbeddingError/invalidArgument(_:)`` when `precision` has no
    /// conversion for an `inputSize`² input (int8 needs calibrated activation ranges per size).
    public static func checkInputSize(_ inputSize: Int, precision: Precision) throws(EmbeddingError) {
        guard let sizes = precision.supportedInputSizes, !sizes.contains(inputSize) else { return }
        throw .invalidArgument("\(precision.modelName) is calibrated for input sizes "
            + sizes.map(String.init).joined(separator: ", ") + " only, got \(inputSize)")
    }

    /// Whether the int8 model runs `layer` — a convolution (`features.5.conv.1.0`) or a residual
    /// addition (`features.5.add`) — in int8.
    ///
    /// float32: the stem (`features.0`, `features.1`, and block 2's expansion and depthwise
    /// convolutions), the projection of block 14 and blocks 15–17, where int8 costs the most
    /// accuracy (per-layer sensitivity on corpus set C). int8: everything from block 2's
    /// projection to block 14's depthwise convolution (36 convolutions, the additions of blocks
    /// 3, 5, 6, 8, 9, 10, 12, 13) and the final 1×1 convolution `features.18.0`.
    static func runsInInt8(_ layer: String) -> Bool {
        let parts = layer.split(separator: ".")
        guard parts.count >= 2, parts[0] == "features", let block = Int(parts[1]) else { return false }
        switch block {
        case 0, 1, 15, 16, 17: return false
        case 2: return layer == "features.2.conv.2"
        case 14: return layer != "features.14.conv.2"
        default: return (3...18).contains(block)
        }
    }

    /// uint8 per-tensor quantisation of an activation: x ≈ scale × (q − zeroPoint).
    struct ActivationQuantization: Equatable {
        var scale: Float
        var zeroPoint: UInt8

        /// The parameters for the range (`low`, `high`), widened to contain 0 (as onnxruntime's
        /// quantiser does): scale = (rmax − rmin) / 255, zero point = round(−rmin / scale), half
        /// to even; an empty range gets scale 1, zero point 0.
        init(low: Float, high: Float) {
            let rmin = Double(min(0, low)), rmax = Double(max(0, high))
            let scale = (rmax - rmin) / 255
            guard scale >= Double(Float.leastNormalMagnitude) else {
                (self.scale, zeroPoint) = (1, 0)
                return
            }
            self.scale = Float(scale)
            zeroPoint = UInt8(clamping: Int((-rmin / scale).rounded(.toNearestOrEven)))
        }
    }

    /// Convolution weights quantised per output channel, symmetric: s_c = max|W_c| / L,
    /// q = clamp(round(W / s_c), −L, L), zero point 0, L = `largestLevel`.
    struct ChannelQuantizedWeights {
        var values: [Int8]
        var scales: [Float]

        /// `weights` row-major with the output channel outermost.
        init(_ weights: [Float], outChannels: Int, largestLevel: Int8 = 127) {
            let top = Float(largestLevel)
            let perChannel = weights.count / outChannels
            values = [Int8](repeating: 0, count: weights.count)
            scales = [Float](repeating: 1, count: outChannels)
            for c in 0..<outChannels {
                let range = (c * perChannel)..<((c + 1) * perChannel)
                let largest = weights[range].reduce(Float(0)) { max($0, abs($1)) }
                guard largest > 0 else { continue }
                let scale = Float(Double(largest) / Double(top))
                scales[c] = scale
                for i in range {
                    values[i] = Int8(max(-top, min(top, (weights[i] / scale).rounded(.toNearestOrEven))))
                }
            }
        }

        /// The bias as int32 on the accumulator's scale (s_in × s_c), as QLinearConv expects.
        func quantizedBias(_ bias: [Float], inputScale: Float) -> (values: [Int32], scales: [Float]) {
            let biasScales = scales.map { inputScale * $0 }
            let values = zip(bias, biasScales).map { b, s in
                Int32(max(Double(Int32.min), min(Double(Int32.max), Double(b / s).rounded(.toNearestOrEven))))
            }
            return (values, biasScales)
        }
    }
}
