/// Builds an ONNX `ModelProto` and serializes it with a hand-written protobuf encoder
/// (no protobuf library). Covers what Winnow's converters need: float, int8, uint8 and int32
/// initializers (the integer ones for quantised models), nodes with int/ints/float attributes, and
/// float graph inputs/outputs with static or symbolic dimensions.
///
/// Field numbers follow `onnx.proto` (ModelProto, GraphProto, NodeProto, AttributeProto,
/// TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).
public struct OnnxModelBuilder: Sendable {
    /// A graph input/output dimension.
    public enum Dimension: Sendable, Equatable {
        case fixed(Int)
        case symbolic(String)
    }

    /// A node attribute value.
    public enum AttributeValue: Sendable, Equatable {
        case int(Int)
        case ints([Int])
        case float(Float)
    }

    struct Node: Sendable {
        var opType: String
        var name: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [(String, AttributeValue)]
    }

    /// The values of a constant tensor, row-major, with their element type.
    public enum InitializerValues: Sendable, Equatable {
        case float([Float])
        case int8([Int8])
        case uint8([UInt8])
        case int32([Int32])

        var count: Int {
            switch self {
            case .float(let values): values.count
            case .int8(let values): values.count
            case .uint8(let values): values.count
            case .int32(let values): values.count
            }
        }

        /// `TensorProto.DataType` of the elements.
        var dataType: Int {
            switch self {
            case .float: 1  // FLOAT
            case .uint8: 2  // UINT8
            case .int8: 3  // INT8
            case .int32: 6  // INT32
            }
        }
    }

    struct Initializer: Sendable {
        var name: String
        var dims: [Int]
        var values: InitializerValues
    }

    struct ValueInfo: Sendable {
        var name: String
        var dims: [Dimension]
    }

    /// Graph name written into the model.
    public var graphName: String
    /// ONNX IR version (7 = ONNX 1.8).
    public var irVersion: Int = 7
    /// Default-domain operator set version.
    public var opsetVersion: Int = 13
    /// `producer_name` of the model.
    public var producerName: String = "winnow"
    /// Free-form key/value metadata (`metadata_props`).
    public var metadata: [(String, String)] = []

    private(set) var nodes: [Node] = []
    private(set) var initializers: [Initializer] = []
    private(set) var inputs: [ValueInfo] = []
    private(set) var outputs: [ValueInfo] = []

    public init(graphName: String) {
        self.graphName = graphName
    }

    /// Declares a float graph input.
    public mutating func addInput(_ name: String, dims: [Dimension]) {
        inputs.append(ValueInfo(name: name, dims: dims))
    }

    /// Declares a float graph output (which may also feed other nodes).
    public mutating func addOutput(_ name: String, dims: [Dimension]) {
        outputs.append(ValueInfo(name: name, dims: dims))
    }

    /// Adds a constant float tensor (`values` row-major, `values.count == dims.product`).
    public mutating func addInitializer(_ name: String, dims: [Int], values: [Float]) {
        addInitializer(name, dims: dims, values: .float(values))
    }

    /// Adds a constant tensor of any supported element type (`values.count == dims.product`).
    public mutating func addInitializer(_ name: String, dims: [Int], values: InitializerValues) {
        precondition(values.count == dims.reduce(1, *), "initializer \(name): values do not match dims")
        initializers.append(Initializer(name: name, dims: dims, values: values))
    }

    /// Appends a node; nodes must be added in topological order.
    public mutating func addNode(_ opType: String, name: String, inputs: [String], outputs: [String],
                                 attributes: [(String, AttributeValue)] = []) {
        nodes.append(Node(opType: opType, name: name, inputs: inputs, outputs: outputs, attributes: attributes))
    }

    /// The serialized `ModelProto`.
    public func serialized() -> [UInt8] {
        var model = ProtobufWriter()
        model.int(1, irVersion)  // ir_version
        model.string(2, producerName)  // producer_name
        model.string(3, Winnow.version)  // producer_version
        model.message(7) { graph in  // graph
            for node in nodes {
                graph.message(1) { Self.write(node, to: &$0) }  // node
            }
            graph.string(2, graphName)  // name
            for initializer in initializers {
                graph.message(5) { Self.write(initializer, to: &$0) }  // initializer
            }
            for input in inputs {
                graph.message(11) { Self.write(input, to: &$0) }  // input
            }
            for output in outputs {
                graph.message(12) { Self.write(output, to: &$0) }  // output
            }
        }
        model.message(8) { opset in  // opset_import
            opset.string(1, "")  // domain: default
            opset.int(2, opsetVersion)  // version
        }
        for (key, value) in metadata {
            model.message(14) { entry in  // metadata_props
                entry.string(1, key)
                entry.string(2, value)
            }
        }
        return model.bytes
    }

    private static func write(_ node: Node, to writer: inout ProtobufWriter) {
        for input in node.inputs { writer.string(1, input) }
        for output in node.outputs { writer.string(2, output) }
        writer.string(3, node.name)
        writer.string(4, node.opType)
        for (name, value) in node.attributes {
            writer.message(5) { attribute in
                attribute.string(1, name)
                switch value {
                case .float(let f):
                    attribute.float(2, f)
                    attribute.int(20, 1)  // type = FLOAT
                case .int(let i):
                    attribute.int(3, i)
                    attribute.int(20, 2)  // type = INT
                case .ints(let values):
                    for v in values { attribute.int(8, v) }
                    attribute.int(20, 7)  // type = INTS
                }
            }
        }
    }

    private static func write(_ tensor: Initializer, to writer: inout ProtobufWriter) {
        for dim in tensor.dims { writer.int(1, dim) }  // dims
        writer.int(2, tensor.values.dataType)  // data_type
        writer.string(8, tensor.name)  // name
        switch tensor.values {  // raw_data (little-endian)
        case .float(let values): writer.rawData(9, values.map(\.bitPattern))
        case .int8(let values): writer.rawData(9, values)
        case .uint8(let values): writer.rawData(9, values)
        case .int32(let values): writer.rawData(9, values)
        }
    }

    private static func write(_ info: ValueInfo, to writer: inout ProtobufWriter) {
        writer.string(1, info.name)  // name
        writer.message(2) { type in  // type: TypeProto
            type.message(1) { tensorType in  // tensor_type
                tensorType.int(1, 1)  // elem_type = FLOAT
                tensorType.message(2) { shape in  // shape: TensorShapeProto
                    for dim in info.dims {
                        shape.message(1) { dimension in  // dim
                            switch dim {
                            case .fixed(let value): dimension.int(1, value)  // dim_value
                            case .symbolic(let name): dimension.string(2, name)  // dim_param
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Minimal protobuf wire-format encoder.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    /// An int32/int64/enum field (varint; negative values take ten bytes, as protobuf specifies).
    mutating func int(_ field: Int, _ value: Int) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    /// A 32-bit float field (fixed32).
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        let bits = value.bitPattern
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(i)))) }
    }

    mutating func string(_ field: Int, _ value: String) {
        key(field, wireType: 2)
        let utf8 = Array(value.utf8)
        varint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A bytes field holding `values` as little-endian integers (floats as their bit patterns).
    mutating func rawData<Element: FixedWidthInteger>(_ field: Int, _ values: [Element]) {
        let size = MemoryLayout<Element>.size
        key(field, wireType: 2)
        varint(UInt64(values.count * size))
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: values.count * size))
        bytes.withUnsafeMutableBytes { target in
            for (i, v) in values.enumerated() {
                target.storeBytes(of: v.littleEndian, toByteOffset: start + size * i, as: Element.self)
            }
        }
    }

    /// A length-delimited embedded message built by `build`.
    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        key(field, wireType: 2)
        varint(UInt64(inner.bytes.count))
        bytes.append(contentsOf: inner.bytes)
    }
}
