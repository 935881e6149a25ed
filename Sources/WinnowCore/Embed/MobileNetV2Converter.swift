import Foundation

/// Converts torchvision's ImageNet MobileNetV2 state dict (`mobilenet_v2-b0353104.pth`) into
/// an ONNX model, in Swift, with batch norm folded into the convolutions.
///
/// Architecture (torchvision `mobilenet_v2`, width 1.0):
/// - `features.0`: Conv 3×3/2 (3→32) + BN + ReLU6
/// - `features.1…17`: inverted residual blocks for the settings (t, c, n, s) = (1,16,1,1),
///   (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1): optional 1×1
///   expansion (×t) + BN + ReLU6, 3×3 depthwise (stride s on a stage's first block) + BN +
///   ReLU6, 1×1 linear projection + BN, plus the input when stride is 1 and channels match.
/// - `features.18`: Conv 1×1 (320→1280) + BN + ReLU6
/// - global average pool, flatten, `classifier` = Dropout (identity at inference) + Linear(1280→1000)
///
/// Model interface: input `input` `[batch, 3, 224, 224]` (RGB, ImageNet-normalised); outputs
/// `features` `[batch, 1280]` (pooled, before the classifier), `logits` `[batch, 1000]`, and
/// optionally `feature_map` `[batch, 1280, 7, 7]` (the last ReLU6 activations).
///
/// Int8 model (``Precision/int8``): the same interface, with the layers of
/// ``runsInInt8(_:)`` in int8 as a QDQ graph — each int8 convolution reads a
/// DequantizeLinear of its uint8 input, of its int8 weights (per output channel) and of its
/// int32 bias, and its output goes through QuantizeLinear → DequantizeLinear with the uint8
/// parameters of the activation's calibrated range (``int8ActivationRanges``); residual
/// additions likewise. A ReLU6 after an int8 convolution is dropped: the output range, within
/// [0, 6], clips the same. ONNX Runtime (ORT_ENABLE_ALL) fuses each group into QLinearConv /
/// QLinearAdd, leaving QuantizeLinear where float32 layers hand over to int8 and
/// DequantizeLinear the other way.
public enum MobileNetV2Converter {
    /// Inverted residual settings: expansion t, output channels c, repeats n, first stride s.
    public static let invertedResidualSettings: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]
    /// Channels of the first convolution.
    public static let stemChannels = 32
    /// Channels of the last convolution (= embedding dimension).
    public static let lastChannels = 1280
    /// BatchNorm2d's default epsilon.
    public static let batchNormEpsilon = 1e-5

    /// Names of the converted model's tensors.
    public enum TensorName {
        public static let input = "input"
        public static let features = "features"
        public static let logits = "logits"
        public static let featureMap = "feature_map"
    }

    /// An inverted residual block's expansion activations (its 1×1 convolution + ReLU6, before
    /// the depthwise convolution): tensor name, channels and side for a square input of
    /// `inputSize`; nil for blocks without expansion (`features.1`) or out of range.
    public static func expansionOutput(block index: Int, inputSize: Int = 224) -> (name: String, channels: Int, side: Int)? {
        var channels = stemChannels, stride = 2, layer = 1
        for setting in invertedResidualSettings {
            for repeatIndex in 0..<setting.n {
                if layer == index {
                    guard setting.t != 1 else { return nil }
                    return ("features.\(layer).conv.0.0.out", channels * setting.t, inputSize / stride)
                }
                if repeatIndex == 0 { stride *= setting.s }
                channels = setting.c
                layer += 1
            }
        }
        return nil
    }

    /// Name of the max-pooled final feature map output (`[batch, 1280]`), see `pooledOutputs`.
    public static let featureMapMaxName = "feature_map_max"

    /// Name of the GeM-pooled (p = 3) output of an activation tensor (`[batch, channels]`), see
    /// `pooledOutputs`.
    public static func generalizedMeanName(of tensor: String) -> String { tensor + ".gem3" }

    /// Reads the `.pth` at `path` and returns the serialized ONNX model.
    ///
    /// - Parameters:
    ///   - expansionOutputs: blocks whose expansion activations are extra outputs
    ///     (``expansionOutput(block:inputSize:)``).
    ///   - pooledOutputs: also output the final feature map max-pooled (``featureMapMaxName``) and
    ///     each expansion output GeM-pooled (``generalizedMeanName(of:)``): pooling in the graph
    ///     saves copying the maps out (1.5 ms per image for block 12's 14×14×576).
    ///   - precision: float32, or partially int8 (only for the sizes of
    ///     ``Precision/supportedInputSizes``; other sizes throw ``EmbeddingError/invalidArgument(_:)``).
    ///   - largestWeightLevel: int8 weights lie within ±this (``ChannelQuantizedWeights``).
    public static func convert(pthAt path: String, inputSize: Int = 224, includeFeatureMap: Bool = true,
                               expansionOutputs: [Int] = [], pooledOutputs: Bool = false,
                               precision: Precision = .float32, largestWeightLevel: Int8 = 127)
        throws(EmbeddingError) -> [UInt8]
    {
        try checkInputSize(inputSize, precision: precision)
        let stateDict = try TorchPickleReader.readStateDict(at: path)
        do {
            return try convert(stateDict, inputSize: inputSize, includeFeatureMap: includeFeatureMap,
                               expansionOutputs: expansionOutputs, pooledOutputs: pooledOutputs, precision: precision,
                               largestWeightLevel: largestWeightLevel)
        } catch let error as PickleError {
            throw .conversionFailed(path: path, reason: error.message)
        } catch {
            throw .conversionFailed(path: path, reason: "\(error)")
        }
    }

    /// Builds the ONNX model from a MobileNetV2 state dict.
    static func convert(_ weights: TorchStateDict, inputSize: Int, includeFeatureMap: Bool,
                        expansionOutputs: [Int] = [], pooledOutputs: Bool = false,
                        precision: Precision = .float32, largestWeightLevel: Int8 = 127) throws -> [UInt8] {
        guard inputSize >= 32, inputSize % 32 == 0 else {
            throw PickleError("input size must be a positive multiple of 32, got \(inputSize)")
        }
        let activationRanges = try calibratedRanges(for: precision, inputSize: inputSize)
        let batch = OnnxModelBuilder.Dimension.symbolic("batch")
        let builder = makeBuilder(precision: precision, inputSize: inputSize, batch: batch)
        var context = Context(weights: weights, builder: builder, activationRanges: activationRanges,
                              largestWeightLevel: largestWeightLevel)
        let featureMap = try context.addBackbone()
        try context.addClassifier(featureMap: featureMap)

        context.builder.addOutput(TensorName.features, dims: [batch, .fixed(lastChannels)])
        context.builder.addOutput(TensorName.logits, dims: [batch, .fixed(1000)])
        if includeFeatureMap {
            let side = inputSize / 32
            context.builder.addOutput(TensorName.featureMap,
                                      dims: [batch, .fixed(lastChannels), .fixed(side), .fixed(side)])
        }
        for block in expansionOutputs {
            guard let output = expansionOutput(block: block, inputSize: inputSize) else {
                throw PickleError("block \(block) has no expansion layer")
            }
            context.builder.addOutput(output.name,
                                      dims: [batch, .fixed(output.channels), .fixed(output.side), .fixed(output.side)])
        }
        if pooledOutputs {
            context.addPooledOutputs(featureMap: featureMap, expansionOutputs: expansionOutputs,
                                     inputSize: inputSize, batch: batch)
        }
        return context.builder.serialized()
    }

    /// The calibrated activation ranges the int8 model needs for `inputSize`; nil for float32.
    private static func calibratedRanges(for precision: Precision, inputSize: Int)
        throws -> [String: (low: Float, high: Float)]?
    {
        guard precision == .int8 else { return nil }
        guard let ranges = int8ActivationRanges[inputSize] else {
            throw PickleError("no int8 activation ranges for input size \(inputSize)")
        }
        return ranges
    }

    /// A model builder with the metadata, the image input and the ReLU6 bounds every model has.
    private static func makeBuilder(precision: Precision, inputSize: Int,
                                    batch: OnnxModelBuilder.Dimension) -> OnnxModelBuilder {
        var builder = OnnxModelBuilder(graphName: precision.modelName)
        builder.metadata = [("source", "torchvision mobilenet_v2 ImageNet weights, converted by Winnow"),
                            ("precision", precision.rawValue)]
        builder.addInput(TensorName.input, dims: [batch, .fixed(3), .fixed(inputSize), .fixed(inputSize)])
        builder.addInitializer("relu6_min", dims: [], values: [0])
        builder.addInitializer("relu6_max", dims: [], values: [6])
        return builder
    }

    private struct Context {
        let weights: TorchStateDict
        var builder: OnnxModelBuilder
        /// The int8 model's calibrated activation ranges; nil for float32.
        let activationRanges: [String: (low: Float, high: Float)]?
        /// The int8 weights' largest magnitude.
        let largestWeightLevel: Int8
        /// For each float tensor int8 layers have read, the DequantizeLinear output standing for
        /// it (the tensor itself when an int8 layer produced it) and its quantisation.
        var dequantized: [String: (name: String, quantization: ActivationQuantization)] = [:]

        init(weights: TorchStateDict, builder: OnnxModelBuilder, activationRanges: [String: (low: Float, high: Float)]?,
             largestWeightLevel: Int8) {
            self.weights = weights
            self.builder = builder
            self.activationRanges = activationRanges
            self.largestWeightLevel = largestWeightLevel
        }

        /// Whether `layer` is emitted in int8.
        func isInt8(_ layer: String) -> Bool {
            activationRanges != nil && MobileNetV2Converter.runsInInt8(layer)
        }

        /// The uint8 quantisation of activation `tensor` from its calibrated range (within
        /// [0, 6] after a ReLU6).
        func quantization(of tensor: String, relu6: Bool) throws -> ActivationQuantization {
            guard let range = activationRanges?[tensor] else { throw PickleError("no int8 activation range for \(tensor)") }
            return relu6 ? ActivationQuantization(low: max(0, range.low), high: min(6, range.high))
                : ActivationQuantization(low: range.low, high: range.high)
        }

        /// `tensor` as an int8 layer reads it: through QuantizeLinear → DequantizeLinear, added
        /// once per tensor unless an int8 layer produced it (and so already has the pair).
        mutating func dequantizedInput(_ tensor: String) throws -> (name: String, quantization: ActivationQuantization) {
            if let known = dequantized[tensor] { return known }
            let quantization = try self.quantization(of: tensor, relu6: false)
            let name = "\(tensor).dequantized"
            addQuantizePair(from: tensor, to: name, parameters: tensor, quantization)
            dequantized[tensor] = (name, quantization)
            return (name, quantization)
        }

        /// QuantizeLinear `input` → uint8 → DequantizeLinear `output`, with the scale and zero
        /// point initializers `<parameters>.scale` / `.zero_point`.
        mutating func addQuantizePair(from input: String, to output: String, parameters: String,
                                      _ quantization: ActivationQuantization) {
            builder.addInitializer("\(parameters).scale", dims: [], values: [quantization.scale])
            builder.addInitializer("\(parameters).zero_point", dims: [], values: .uint8([quantization.zeroPoint]))
            builder.addNode("QuantizeLinear", name: "\(output).quantize",
                            inputs: [input, "\(parameters).scale", "\(parameters).zero_point"],
                            outputs: ["\(output).quantized"])
            builder.addNode("DequantizeLinear", name: "\(output).dequantize",
                            inputs: ["\(output).quantized", "\(parameters).scale", "\(parameters).zero_point"],
                            outputs: [output])
        }

        /// Quantises the float result `raw` of an int8 layer into `output` (the name float32
        /// layers would have given it) and records it for the layers that read it.
        mutating func quantizeOutput(_ raw: String, as output: String, relu6: Bool) throws {
            let quantization = try self.quantization(of: output, relu6: relu6)
            addQuantizePair(from: raw, to: output, parameters: output, quantization)
            dequantized[output] = (output, quantization)
        }

        /// A constant int tensor read through a per-output-channel DequantizeLinear (axis 0)
        /// whose output is `name`.
        mutating func addDequantizedConstant(_ name: String, dims: [Int], values: OnnxModelBuilder.InitializerValues,
                                             zeroPoints: OnnxModelBuilder.InitializerValues, scales: [Float]) {
            builder.addInitializer("\(name)_quantized", dims: dims, values: values)
            builder.addInitializer("\(name)_scale", dims: [scales.count], values: scales)
            builder.addInitializer("\(name)_zero_point", dims: [scales.count], values: zeroPoints)
            builder.addNode("DequantizeLinear", name: "\(name).dequantize",
                            inputs: ["\(name)_quantized", "\(name)_scale", "\(name)_zero_point"],
                            outputs: [name], attributes: [("axis", .int(0))])
        }

        /// The float values of `name`, checking its shape.
        func tensor(_ name: String, shape: [Int]) throws -> [Float] {
            guard let tensor = weights.tensors[name] else { throw PickleError("weights lack \(name)") }
            guard tensor.shape == shape else {
                throw PickleError("\(name) has shape \(tensor.shape), expected \(shape) (not torchvision MobileNetV2?)")
            }
            guard let values = weights.floats(name) else { throw PickleError("cannot read \(name)") }
            return values
        }

        /// The stem, the inverted residual blocks and the last convolution; returns the final
        /// feature map's name.
        mutating func addBackbone() throws -> String {
            var x = try convBN(TensorName.input, prefix: "features.0.0", bn: "features.0.1",
                               inChannels: 3, outChannels: stemChannels, kernel: 3, stride: 2, groups: 1, relu6: true)
            var channels = stemChannels
            var layer = 1
            for setting in invertedResidualSettings {
                for repeatIndex in 0..<setting.n {
                    let stride = repeatIndex == 0 ? setting.s : 1
                    x = try invertedResidual(x, index: layer, inChannels: channels, outChannels: setting.c,
                                             stride: stride, expansion: setting.t)
                    channels = setting.c
                    layer += 1
                }
            }
            return try convBN(x, prefix: "features.\(layer).0", bn: "features.\(layer).1",
                              inChannels: channels, outChannels: lastChannels, kernel: 1, stride: 1,
                              groups: 1, relu6: true, outputName: TensorName.featureMap)
        }

        /// Global average pooling of `featureMap` into `features`, and the linear classifier
        /// from them to `logits`.
        mutating func addClassifier(featureMap: String) throws {
            builder.addNode("GlobalAveragePool", name: "pool", inputs: [featureMap], outputs: ["pooled"])
            builder.addNode("Flatten", name: "flatten", inputs: ["pooled"], outputs: [TensorName.features],
                            attributes: [("axis", .int(1))])
            let classifierWeight = try tensor("classifier.1.weight", shape: [1000, lastChannels])
            let classifierBias = try tensor("classifier.1.bias", shape: [1000])
            builder.addInitializer("classifier.weight", dims: [1000, lastChannels], values: classifierWeight)
            builder.addInitializer("classifier.bias", dims: [1000], values: classifierBias)
            builder.addNode("Gemm", name: "classifier",
                            inputs: [TensorName.features, "classifier.weight", "classifier.bias"],
                            outputs: [TensorName.logits], attributes: [("transB", .int(1))])
        }

        /// The max-pooled feature map output and a GeM-pooled output per expansion output.
        mutating func addPooledOutputs(featureMap: String, expansionOutputs: [Int], inputSize: Int,
                                       batch: OnnxModelBuilder.Dimension) {
            builder.addNode("GlobalMaxPool", name: "feature_map_max_pool", inputs: [featureMap],
                            outputs: ["feature_map_max_4d"])
            builder.addNode("Flatten", name: "feature_map_max_flatten", inputs: ["feature_map_max_4d"],
                            outputs: [featureMapMaxName], attributes: [("axis", .int(1))])
            builder.addOutput(featureMapMaxName, dims: [batch, .fixed(lastChannels)])
            // GeM: (mean max(x, ε)³)^(1/3).
            builder.addInitializer("gem_epsilon", dims: [], values: [1e-6])
            builder.addInitializer("gem_power", dims: [], values: [3])
            builder.addInitializer("gem_root", dims: [], values: [1.0 / 3])
            for block in expansionOutputs {
                guard let output = expansionOutput(block: block, inputSize: inputSize) else { continue }
                addGeneralizedMean(of: output.name, channels: output.channels, batch: batch)
            }
        }

        /// The GeM-pooled (p = 3) output of activation `tensor`, named ``generalizedMeanName(of:)``.
        mutating func addGeneralizedMean(of tensor: String, channels: Int, batch: OnnxModelBuilder.Dimension) {
            let name = generalizedMeanName(of: tensor)
            builder.addNode("Clip", name: "\(name).clip", inputs: [tensor, "gem_epsilon"],
                            outputs: ["\(name).clipped"])
            builder.addNode("Pow", name: "\(name).cube", inputs: ["\(name).clipped", "gem_power"],
                            outputs: ["\(name).cubed"])
            builder.addNode("GlobalAveragePool", name: "\(name).mean", inputs: ["\(name).cubed"],
                            outputs: ["\(name).mean"])
            builder.addNode("Pow", name: "\(name).root", inputs: ["\(name).mean", "gem_root"],
                            outputs: ["\(name).4d"])
            builder.addNode("Flatten", name: "\(name).flatten", inputs: ["\(name).4d"], outputs: [name],
                            attributes: [("axis", .int(1))])
            builder.addOutput(name, dims: [batch, .fixed(channels)])
        }

        /// The weights and bias of convolution `prefix` with BatchNorm `bn` folded in.
        func foldedWeights(prefix: String, bn: String, inChannels: Int, outChannels: Int, kernel: Int,
                           groups: Int) throws -> (weight: [Float], bias: [Float]) {
            var weight = try tensor("\(prefix).weight", shape: [outChannels, inChannels / groups, kernel, kernel])
            let gamma = try tensor("\(bn).weight", shape: [outChannels])
            let beta = try tensor("\(bn).bias", shape: [outChannels])
            let mean = try tensor("\(bn).running_mean", shape: [outChannels])
            let variance = try tensor("\(bn).running_var", shape: [outChannels])
            // y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta
            //   = conv_{W * scale}(x) + (beta - mean * scale),  scale = gamma / sqrt(var + eps)
            let perChannel = weight.count / outChannels
            var bias = [Float](repeating: 0, count: outChannels)
            for c in 0..<outChannels {
                let scale = Double(gamma[c]) / (Double(variance[c]) + batchNormEpsilon).squareRoot()
                for i in (c * perChannel)..<((c + 1) * perChannel) {
                    weight[i] = Float(Double(weight[i]) * scale)
                }
                bias[c] = Float(Double(beta[c]) - Double(mean[c]) * scale)
            }
            return (weight, bias)
        }

        /// Conv (no bias) followed by BatchNorm (folded into the conv) and optionally ReLU6.
        mutating func convBN(_ input: String, prefix: String, bn: String, inChannels: Int, outChannels: Int,
                             kernel: Int, stride: Int, groups: Int, relu6: Bool, outputName: String? = nil)
            throws -> String
        {
            let (weight, bias) = try foldedWeights(prefix: prefix, bn: bn, inChannels: inChannels,
                                                   outChannels: outChannels, kernel: kernel, groups: groups)
            let weightDims = [outChannels, inChannels / groups, kernel, kernel]
            var convInput = input
            let int8 = isInt8(prefix)
            if int8 {
                let (name, inputQuantization) = try dequantizedInput(input)
                convInput = name
                let quantized = ChannelQuantizedWeights(weight, outChannels: outChannels, largestLevel: largestWeightLevel)
                let quantizedBias = quantized.quantizedBias(bias, inputScale: inputQuantization.scale)
                addDequantizedConstant("\(prefix).weight", dims: weightDims, values: .int8(quantized.values),
                                       zeroPoints: .int8(Array(repeating: 0, count: outChannels)), scales: quantized.scales)
                addDequantizedConstant("\(prefix).bias", dims: [outChannels], values: .int32(quantizedBias.values),
                                       zeroPoints: .int32(Array(repeating: 0, count: outChannels)),
                                       scales: quantizedBias.scales)
            } else {
                builder.addInitializer("\(prefix).weight", dims: weightDims, values: weight)
                builder.addInitializer("\(prefix).bias", dims: [outChannels], values: bias)
            }
            let pad = (kernel - 1) / 2
            let output = outputName ?? "\(prefix).out"
            let convOutput = relu6 || int8 ? "\(prefix).conv" : output
            builder.addNode("Conv", name: prefix, inputs: [convInput, "\(prefix).weight", "\(prefix).bias"],
                            outputs: [convOutput], attributes: [
                                ("kernel_shape", .ints([kernel, kernel])),
                                ("strides", .ints([stride, stride])),
                                ("pads", .ints([pad, pad, pad, pad])),
                                ("dilations", .ints([1, 1])),
                                ("group", .int(groups)),
                            ])
            if int8 {
                try quantizeOutput(convOutput, as: output, relu6: relu6)
                return output
            }
            guard relu6 else { return convOutput }
            builder.addNode("Clip", name: "\(prefix).relu6", inputs: [convOutput, "relu6_min", "relu6_max"],
                            outputs: [output])
            return output
        }

        /// One inverted residual block, `features.<index>`.
        mutating func invertedResidual(_ input: String, index: Int, inChannels: Int, outChannels: Int,
                                       stride: Int, expansion: Int) throws -> String
        {
            let base = "features.\(index).conv"
            let hidden = inChannels * expansion
            var x = input
            var part = 0
            if expansion != 1 {
                x = try convBN(x, prefix: "\(base).0.0", bn: "\(base).0.1", inChannels: inChannels,
                               outChannels: hidden, kernel: 1, stride: 1, groups: 1, relu6: true)
                part = 1
            }
            x = try convBN(x, prefix: "\(base).\(part).0", bn: "\(base).\(part).1", inChannels: hidden,
                           outChannels: hidden, kernel: 3, stride: stride, groups: hidden, relu6: true)
            x = try convBN(x, prefix: "\(base).\(part + 1)", bn: "\(base).\(part + 2)", inChannels: hidden,
                           outChannels: outChannels, kernel: 1, stride: 1, groups: 1, relu6: false)
            guard stride == 1, inChannels == outChannels else { return x }
            let output = "features.\(index).out"
            guard isInt8("features.\(index).add") else {
                builder.addNode("Add", name: "features.\(index).add", inputs: [input, x], outputs: [output])
                return output
            }
            let first = try dequantizedInput(input).name
            let second = try dequantizedInput(x).name
            builder.addNode("Add", name: "features.\(index).add", inputs: [first, second],
                            outputs: ["features.\(index).sum"])
            try quantizeOutput("features.\(index).sum", as: output, relu6: false)
            return output
        }
    }
}
