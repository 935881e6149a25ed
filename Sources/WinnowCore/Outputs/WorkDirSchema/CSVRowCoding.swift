import Foundation

/// Why a row could not be encoded or decoded; one line.
struct CSVRowCodingError: Error {
    var reason: String
}

/// Encodes a ``WorkDirRow`` as the fields of one CSV line, in the header's order.
final class CSVRowEncoder {
    private let position: [String: Int]
    private let columnCount: Int
    private let decimalPlaces: (String) -> Int

    init(columns: [String], decimalPlaces: @escaping (String) -> Int) {
        position = Dictionary(columns.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        columnCount = columns.count
        self.decimalPlaces = decimalPlaces
    }

    func encode<Row: Encodable>(_ row: Row) throws -> [String] {
        let fields = FieldSink(position: position, count: columnCount, decimalPlaces: decimalPlaces)
        try row.encode(to: RowEncoder(sink: fields))
        return fields.values
    }
}

/// The fields of the row being encoded.
private final class FieldSink {
    let position: [String: Int]
    let decimalPlaces: (String) -> Int
    var values: [String]

    init(position: [String: Int], count: Int, decimalPlaces: @escaping (String) -> Int) {
        self.position = position
        self.decimalPlaces = decimalPlaces
        values = Array(repeating: "", count: count)
    }

    func set(_ value: String, for key: CodingKey) throws {
        guard let i = position[key.stringValue] else { throw CSVRowCodingError(reason: "no column \(key.stringValue)") }
        values[i] = value
    }
}

private struct RowEncoder: Encoder {
    let sink: FieldSink
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FieldContainer(sink: sink))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { Unsupported(what: "a list as a row") }
    func singleValueContainer() -> SingleValueEncodingContainer { Unsupported(what: "a single value as a row") }
}

/// Each key is a column: numbers in fixed point, `Bool` as 1/0, nested values (string enums)
/// as their single value.
private struct FieldContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: FieldSink
    var codingPath: [CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { try sink.set("", for: key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try sink.set(value ? "1" : "0", for: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try sink.set(value, for: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try sink.set(decimal(value, sink.decimalPlaces(key.stringValue)), for: key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encode(Double(value), forKey: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try sink.set(String(value), for: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try sink.set(String(value), for: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try sink.set(String(value), for: key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let single = SingleField()
        try value.encode(to: single)
        guard let text = single.text else { throw CSVRowCodingError(reason: "\(key.stringValue) is not a single value") }
        try sink.set(text, for: key)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FieldContainer<NestedKey>(sink: sink))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { Unsupported(what: "a list in a column") }
    mutating func superEncoder() -> Encoder { RowEncoder(sink: sink) }
    mutating func superEncoder(forKey key: Key) -> Encoder { RowEncoder(sink: sink) }
}

/// Encodes a column's nested value (a string enum, a number) to its text.
private final class SingleField: Encoder, SingleValueEncodingContainer {
    var text: String?
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FieldContainer(sink: FieldSink(position: [:], count: 0, decimalPlaces: { _ in 6 })))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { Unsupported(what: "a list in a column") }
    func singleValueContainer() -> SingleValueEncodingContainer { self }

    func encodeNil() throws { text = "" }
    func encode(_ value: Bool) throws { text = value ? "1" : "0" }
    func encode(_ value: String) throws { text = value }
    func encode(_ value: Double) throws { text = decimal(value, 6) }
    func encode(_ value: Float) throws { text = decimal(Double(value), 6) }
    func encode(_ value: Int) throws { text = String(value) }
    func encode(_ value: Int64) throws { text = String(value) }
    func encode<T: Encodable>(_ value: T) throws { try value.encode(to: self) }
}

/// What a CSV row cannot hold; encoding into it fails.
private struct Unsupported: UnkeyedEncodingContainer, SingleValueEncodingContainer {
    let what: String
    var codingPath: [CodingKey] { [] }
    var count: Int { 0 }
    private var failure: CSVRowCodingError { CSVRowCodingError(reason: "a CSV row cannot hold \(what)") }

    mutating func encodeNil() throws { throw failure }
    mutating func encode<T: Encodable>(_ value: T) throws { throw failure }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FieldContainer(sink: FieldSink(position: [:], count: 0, decimalPlaces: { _ in 6 })))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { self }
    mutating func superEncoder() -> Encoder { SingleField() }
}

/// Decodes one CSV line's fields into a ``WorkDirRow`` by the file's header: a column the file
/// lacks, or an empty field, is nil for an optional value and an error otherwise.
struct CSVRowDecoder {
    private let position: [String: Int]

    init(header: [String]) {
        position = Dictionary(header.enumerated().map { ($0.element.trimmingCharacters(in: .whitespaces), $0.offset) },
                              uniquingKeysWith: { first, _ in first })
    }

    func decode<Row: Decodable>(_ type: Row.Type, from fields: [String]) throws(CSVRowCodingError) -> Row {
        do { return try Row(from: RowDecoder(fields: Fields(position: position, values: fields))) } catch let error as CSVRowCodingError {
            throw error
        } catch {
            throw CSVRowCodingError(reason: "\(error)")
        }
    }
}

private struct Fields {
    let position: [String: Int]
    let values: [String]

    func value(_ key: CodingKey) -> String? {
        guard let i = position[key.stringValue], i < values.count else { return nil }
        return values[i]
    }
}

private struct RowDecoder: Decoder {
    let fields: Fields
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(FieldReader(fields: fields))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer { throw CSVRowCodingError(reason: "a CSV row is not a list") }
    func singleValueContainer() throws -> SingleValueDecodingContainer {
        throw CSVRowCodingError(reason: "a CSV row is not a single value")
    }
}

private struct FieldReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let fields: Fields
    var codingPath: [CodingKey] { [] }
    var allKeys: [Key] { fields.position.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { fields.value(key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { fields.value(key).map { $0.trimmingCharacters(in: .whitespaces).isEmpty } ?? true }

    private func text(_ key: Key) throws -> String {
        guard let value = fields.value(key) else { throw CSVRowCodingError(reason: "no column \(key.stringValue)") }
        return value
    }
    private func number<T>(_ key: Key, _ parse: (String) -> T?) throws -> T {
        let value = try text(key).trimmingCharacters(in: .whitespaces)
        guard let number = parse(value) else {
            throw CSVRowCodingError(reason: "column \(key.stringValue): \(String(reflecting: value)) is not a number")
        }
        return number
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String { try text(key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        switch try text(key).trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true": true
        case "0", "false": false
        case let other: throw CSVRowCodingError(reason: "column \(key.stringValue): \(String(reflecting: other)) is not 0 or 1")
        }
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try number(key) { Double($0) } }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try number(key) { Float($0) } }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try number(key) { Int($0) } }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try number(key) { Int32($0) } }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try number(key) { Int64($0) } }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: SingleFieldDecoder(text: try text(key), column: key.stringValue))
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(FieldReader<NestedKey>(fields: fields))
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        throw CSVRowCodingError(reason: "column \(key.stringValue) is not a list")
    }
    func superDecoder() throws -> Decoder { RowDecoder(fields: fields) }
    func superDecoder(forKey key: Key) throws -> Decoder { RowDecoder(fields: fields) }
}

/// Decodes a column's nested value (a string enum) from its text.
private struct SingleFieldDecoder: Decoder, SingleValueDecodingContainer {
    let text: String
    let column: String
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw CSVRowCodingError(reason: "column \(column) is not a row")
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer { throw CSVRowCodingError(reason: "column \(column) is not a list") }
    func singleValueContainer() throws -> SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { text.trimmingCharacters(in: .whitespaces).isEmpty }
    func decode(_ type: String.Type) throws -> String { text }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        throw CSVRowCodingError(reason: "column \(column): \(String(reflecting: text)) cannot be read as \(T.self)")
    }
}
