import Foundation

/// A tensor from a PyTorch state dict: shape, strides and where its values live.
public struct TorchTensor: Sendable, Equatable {
    /// Element types of legacy torch storages.
    public enum ScalarType: String, Sendable {
        case float32 = "FloatStorage", float64 = "DoubleStorage", float16 = "HalfStorage"
        case int64 = "LongStorage", int32 = "IntStorage", int16 = "ShortStorage"
        case int8 = "CharStorage", uint8 = "ByteStorage", bool = "BoolStorage"

        /// Bytes per element.
        public var byteWidth: Int {
            switch self {
            case .float64, .int64: 8
            case .float32, .int32: 4
            case .float16, .int16: 2
            case .int8, .uint8, .bool: 1
            }
        }
    }

    public var scalarType: ScalarType
    public var shape: [Int]
    /// Strides in elements.
    public var strides: [Int]
    /// Offset of the first element in the storage, in elements.
    public var storageOffset: Int
    /// Key of the storage holding the values.
    public var storageKey: String

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the elements are stored densely in row-major order.
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[axis] != 1 && strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }
}

/// A state dict read from a legacy (pre-zip) PyTorch `.pth` file: tensors in file order plus
/// the raw bytes of their storages.
public struct TorchStateDict: Sendable {
    /// Parameter and buffer names, in the order the file lists them.
    public var names: [String]
    /// Tensors by name.
    public var tensors: [String: TorchTensor]
    /// Raw little-endian storage bytes by storage key.
    var storages: [String: [UInt8]]

    /// The values of tensor `name` as contiguous row-major floats (converting from any float
    /// storage type), or nil if there is no such tensor.
    public func floats(_ name: String) -> [Float]? {
        guard let tensor = tensors[name], let bytes = storages[tensor.storageKey] else { return nil }
        let width = tensor.scalarType.byteWidth
        let count = tensor.count
        var result = [Float](repeating: 0, count: count)
        if count == 0 { return result }
        if tensor.scalarType == .float32, tensor.isContiguous {
            let start = tensor.storageOffset * 4
            guard start >= 0, start + count * 4 <= bytes.count else { return nil }
            result.withUnsafeMutableBytes { target in
                bytes.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + count * 4)]))
                }
            }
            #if _endian(big)
            result = result.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
            #endif
            return result
        }
        // Walk the tensor in row-major order, following its strides.
        let rank = tensor.shape.count
        var index = [Int](repeating: 0, count: rank)
        var offset = tensor.storageOffset
        for flat in 0..<count {
            let byteOffset = offset * width
            guard byteOffset >= 0, byteOffset + width <= bytes.count else { return nil }
            result[flat] = Self.decode(bytes, at: byteOffset, as: tensor.scalarType)
            // Increment the multi-index.
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                offset += tensor.strides[axis]
                if index[axis] < tensor.shape[axis] { break }
                offset -= tensor.strides[axis] * tensor.shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    private static func decode(_ bytes: [UInt8], at offset: Int, as type: TorchTensor.ScalarType) -> Float {
        func integer(_ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            return value
        }
        switch type {
        case .float32: return Float(bitPattern: UInt32(truncatingIfNeeded: integer(4)))
        case .float64: return Float(Double(bitPattern: integer(8)))
        case .float16: return halfToFloat(UInt16(truncatingIfNeeded: integer(2)))
        case .int64: return Float(Int64(bitPattern: integer(8)))
        case .int32: return Float(Int32(bitPattern: UInt32(truncatingIfNeeded: integer(4))))
        case .int16: return Float(Int16(truncatingIfNeeded: integer(2)))
        case .int8: return Float(Int8(truncatingIfNeeded: integer(1)))
        case .uint8, .bool: return Float(integer(1))
        }
    }

    private static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            let value = Float(mantissa) * Float(sign != 0 ? -1 : 1) / Float(1 << 24)
            return value
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

/// Reads PyTorch's legacy (pre-1.6, non-zip) serialization: enough of pickle protocol 2 to
/// load a state dict of tensors.
///
/// Layout: pickled magic number (`0x1950a86a20f9469cfc6c`), pickled protocol version (1001),
/// pickled sys-info dict, then the pickled state dict (an `OrderedDict` whose tensors are
/// `torch._utils._rebuild_tensor_v2(...)` calls referring to storages by persistent id),
/// then a pickled list of storage keys, then each storage's raw bytes, each prefixed by its
/// element count as a little-endian int64.
public enum TorchPickleReader {
    /// Reads the state dict in the `.pth` file at `path`.
    public static func readStateDict(at path: String) throws(EmbeddingError) -> TorchStateDict {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .weightsNotFound(searched: [path])
        }
        do {
            return try readStateDict([UInt8](data))
        } catch let error as PickleError {
            throw .conversionFailed(path: path, reason: error.message)
        } catch {
            throw .conversionFailed(path: path, reason: "\(error)")
        }
    }

    /// Reads a legacy-format state dict from the bytes of a `.pth` file.
    static func readStateDict(_ bytes: [UInt8]) throws -> TorchStateDict {
        if bytes.starts(with: [0x50, 0x4b, 0x03, 0x04]) {
            throw PickleError("zip-based torch files (torch >= 1.6 default) are not supported; "
                + "save with _use_new_zipfile_serialization=False")
        }
        var machine = PickleMachine(bytes: bytes)
        guard case .bigInt(let magic)? = try? machine.load(), magic == legacyMagic else {
            throw PickleError("not a legacy PyTorch file (magic number missing)")
        }
        guard case .int(let protocolVersion) = try machine.load(), protocolVersion == 1001 else {
            throw PickleError("unsupported torch protocol version")
        }
        _ = try machine.load()  // sys info: endianness and type sizes
        let root = try machine.load()
        let keysValue = try machine.load()

        // State dict entries.
        guard case .dict(let dict) = root else { throw PickleError("the pickled object is not a dict") }
        var names: [String] = []
        var tensors: [String: TorchTensor] = [:]
        for (key, value) in dict.entries {
            guard case .string(let name) = key else { continue }
            guard case .tensor(let tensor) = value else { continue }
            names.append(name)
            tensors[name] = tensor
        }

        // Storages, in the order of the key list.
        guard case .list(let keyList) = keysValue else { throw PickleError("storage key list missing") }
        var storages: [String: [UInt8]] = [:]
        var position = machine.position
        for keyValue in keyList.items {
            guard case .string(let key) = keyValue else { throw PickleError("storage key is not a string") }
            guard let type = machine.storageTypes[key] else { throw PickleError("unknown storage \(key)") }
            guard position + 8 <= bytes.count else { throw PickleError("file truncated in storage \(key)") }
            var count: UInt64 = 0
            for i in 0..<8 { count |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
            position += 8
            let byteCount = Int(clamping: count) &* type.byteWidth
            guard count < UInt64(Int.max / 8), position + byteCount <= bytes.count else {
                throw PickleError("file truncated in storage \(key)")
            }
            storages[key] = Array(bytes[position..<(position + byteCount)])
            position += byteCount
        }
        for (name, tensor) in tensors where storages[tensor.storageKey] == nil {
            throw PickleError("tensor \(name) refers to missing storage \(tensor.storageKey)")
        }
        return TorchStateDict(names: names, tensors: tensors, storages: storages)
    }

    /// `torch.serialization.MAGIC_NUMBER` (0x1950a86a20f9469cfc6c) as pickled little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
}

struct PickleError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Values produced by the pickle machine.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer too large for Int64: little-endian two's complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    case storage(key: String, type: TorchTensor.ScalarType)
    case tensor(TorchTensor)
    /// Any other reduced object: callable and arguments.
    case object(callable: PickleValue, arguments: PickleValue)
}

/// Lists and dicts are mutable and shared through the memo, so they are reference types.
final class PickleList {
    var items: [PickleValue] = []
}

final class PickleDict {
    var entries: [(PickleValue, PickleValue)] = []
}

/// A pickle virtual machine for the opcodes PyTorch's legacy `torch.save` emits (protocol 2).
struct PickleMachine {
    let bytes: [UInt8]
    private(set) var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Storage types by key, collected from persistent ids.
    private(set) var storageTypes: [String: TorchTensor.ScalarType] = [:]

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Unpickles the next object (up to and including its STOP opcode).
    mutating func load() throws -> PickleValue {
        stack.removeAll(keepingCapacity: true)
        marks.removeAll()
        memo.removeAll()
        while true {
            let opcode = try byte()
            if opcode == 0x2e {  // STOP
                return try pop()
            }
            try execute(opcode)
        }
    }

    // MARK: - Opcodes

    /// Runs one opcode other than STOP, throwing for opcodes this machine does not support.
    private mutating func execute(_ opcode: UInt8) throws {
        if try executeScalarOpcode(opcode) { return }
        if try executeTextOpcode(opcode) { return }
        if try executeContainerOpcode(opcode) { return }
        if try executeMemoOrObjectOpcode(opcode) { return }
        throw PickleError(String(format: "unsupported pickle opcode 0x%02x at byte %d", opcode, position - 1))
    }

    /// Runs `opcode` if it is PROTO, MARK or pushes a none, bool, int or float; returns whether it was.
    private mutating func executeScalarOpcode(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        case 0x80:  // PROTO
            _ = try byte()
        case 0x28:  // MARK
            marks.append(stack.count)
        case 0x4e:  // NONE
            stack.append(.none)
        case 0x88:  // NEWTRUE
            stack.append(.bool(true))
        case 0x89:  // NEWFALSE
            stack.append(.bool(false))
        case 0x4b:  // BININT1
            stack.append(.int(Int64(try byte())))
        case 0x4d:  // BININT2
            stack.append(.int(Int64(try littleEndian(2))))
        case 0x4a:  // BININT (signed 32-bit)
            stack.append(.int(Int64(Int32(truncatingIfNeeded: try littleEndian(4)))))
        case 0x8a:  // LONG1
            let length = Int(try byte())
            let data = try take(length)
            stack.append(data.count > 8 ? .bigInt(data) : .int(Self.long(data)))
        case 0x47:  // BINFLOAT (big-endian double)
            let data = try take(8)
            var bits: UInt64 = 0
            for b in data { bits = bits << 8 | UInt64(b) }
            stack.append(.float(Double(bitPattern: bits)))
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` if it pushes a string or bytes; returns whether it did.
    private mutating func executeTextOpcode(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        case 0x58:  // BINUNICODE
            let length = Int(try littleEndian(4))
            stack.append(.string(String(decoding: try take(length), as: UTF8.self)))
        case 0x8c:  // SHORT_BINUNICODE
            let length = Int(try byte())
            stack.append(.string(String(decoding: try take(length), as: UTF8.self)))
        case 0x55:  // SHORT_BINSTRING
            let length = Int(try byte())
            stack.append(.string(String(decoding: try take(length), as: UTF8.self)))
        case 0x54:  // BINSTRING
            let length = Int(try littleEndian(4))
            stack.append(.string(String(decoding: try take(length), as: UTF8.self)))
        case 0x43:  // SHORT_BINBYTES
            let length = Int(try byte())
            stack.append(.bytes(try take(length)))
        case 0x42:  // BINBYTES
            let length = Int(try littleEndian(4))
            stack.append(.bytes(try take(length)))
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` if it builds or fills a tuple, list or dict; returns whether it did.
    private mutating func executeContainerOpcode(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        case 0x29:  // EMPTY_TUPLE
            stack.append(.tuple([]))
        case 0x85:  // TUPLE1
            let a = try pop()
            stack.append(.tuple([a]))
        case 0x86:  // TUPLE2
            let b = try pop(), a = try pop()
            stack.append(.tuple([a, b]))
        case 0x87:  // TUPLE3
            let c = try pop(), b = try pop(), a = try pop()
            stack.append(.tuple([a, b, c]))
        case 0x74:  // TUPLE
            stack.append(.tuple(try popToMark()))
        case 0x5d:  // EMPTY_LIST
            stack.append(.list(PickleList()))
        case 0x7d:  // EMPTY_DICT
            stack.append(.dict(PickleDict()))
        case 0x61:  // APPEND
            let item = try pop()
            guard case .list(let list) = try top() else { throw PickleError("APPEND to a non-list") }
            list.items.append(item)
        case 0x65:  // APPENDS
            let items = try popToMark()
            guard case .list(let list) = try top() else { throw PickleError("APPENDS to a non-list") }
            list.items.append(contentsOf: items)
        case 0x73:  // SETITEM
            let value = try pop(), key = try pop()
            guard case .dict(let dict) = try top() else { throw PickleError("SETITEM on a non-dict") }
            dict.entries.append((key, value))
        case 0x75:  // SETITEMS
            let items = try popToMark()
            guard items.count % 2 == 0, case .dict(let dict) = try top() else {
                throw PickleError("SETITEMS on a non-dict")
            }
            for i in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[i], items[i + 1])) }
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` if it reads or writes the memo, or pushes a global, a persistent object or a
    /// reduced object (or builds one); returns whether it did.
    private mutating func executeMemoOrObjectOpcode(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        case 0x71:  // BINPUT
            memo[Int(try byte())] = try top()
        case 0x72:  // LONG_BINPUT
            memo[Int(try littleEndian(4))] = try top()
        case 0x68:  // BINGET
            stack.append(try memoValue(Int(try byte())))
        case 0x6a:  // LONG_BINGET
            stack.append(try memoValue(Int(try littleEndian(4))))
        case 0x63:  // GLOBAL "module\nname\n"
            let module = try line(), name = try line()
            stack.append(.global(module: module, name: name))
        case 0x51:  // BINPERSID
            let pid = try pop()
            stack.append(try persistentLoad(pid))
        case 0x52:  // REDUCE
            let arguments = try pop(), callable = try pop()
            stack.append(try reduce(callable, arguments))
        case 0x62:  // BUILD: object state (e.g. OrderedDict._metadata), not needed here.
            _ = try pop()
        default:
            return false
        }
        return true
    }

    // MARK: - Torch specifics

    private mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        // ('storage', torch.FloatStorage, key, location, size[, view_metadata])
        guard case .tuple(let fields) = pid, fields.count >= 5, case .string("storage") = fields[0],
              case .global(_, let typeName) = fields[1], case .string(let key) = fields[2]
        else { throw PickleError("unsupported persistent id") }
        if fields.count > 5, case .tuple = fields[5] {
            throw PickleError("storage views are not supported")
        }
        guard let type = TorchTensor.ScalarType(rawValue: typeName) else {
            throw PickleError("unsupported storage type \(typeName)")
        }
        storageTypes[key] = type
        return .storage(key: key, type: type)
    }

    private func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable else {
            return .object(callable: callable, arguments: arguments)
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            // (storage, storage_offset, size, stride, ...)
            guard case .tuple(let a) = arguments, a.count >= 4, case .storage(let key, let type) = a[0],
                  case .int(let offset) = a[1], case .tuple(let sizeValues) = a[2], case .tuple(let strideValues) = a[3]
            else { throw PickleError("malformed tensor in state dict") }
            let shape = try sizeValues.map(Self.intValue)
            let strides = try strideValues.map(Self.intValue)
            guard shape.count == strides.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw PickleError("malformed tensor shape")
            }
            return .tensor(TorchTensor(scalarType: type, shape: shape, strides: strides,
                                       storageOffset: Int(offset), storageKey: key))
        default:
            return .object(callable: callable, arguments: arguments)
        }
    }

    private static func intValue(_ value: PickleValue) throws -> Int {
        guard case .int(let v) = value else { throw PickleError("expected an integer") }
        return Int(v)
    }

    /// Decodes a LONG1 payload (little-endian two's complement).
    private static func long(_ data: [UInt8]) -> Int64 {
        if data.isEmpty { return 0 }
        var value: UInt64 = 0
        for (i, b) in data.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        if data.count < 8, data[data.count - 1] & 0x80 != 0 {
            value |= ~UInt64(0) << (8 * UInt64(data.count))  // sign-extend
        }
        return Int64(bitPattern: value)
    }

    // MARK: - Reading

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw PickleError("unexpected end of file") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ count: Int) throws -> [UInt8] {
        guard count >= 0, position + count <= bytes.count else { throw PickleError("unexpected end of file") }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    private mutating func littleEndian(_ width: Int) throws -> UInt32 {
        let data = try take(width)
        var value: UInt32 = 0
        for (i, b) in data.enumerated() { value |= UInt32(b) << (8 * UInt32(i)) }
        return value
    }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0a) else { throw PickleError("unterminated GLOBAL") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw PickleError("pickle stack underflow") }
        return value
    }

    private func top() throws -> PickleValue {
        guard let value = stack.last else { throw PickleError("pickle stack underflow") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw PickleError("pickle MARK missing") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func memoValue(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw PickleError("pickle memo \(index) missing") }
        return value
    }
}
