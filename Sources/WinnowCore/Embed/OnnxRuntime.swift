import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// ONNX Runtime through its C API, loaded at run time with dlopen.
//
// No C header is available at build time, so this file declares the few entries of the
// `OrtApi` function table that Winnow uses. `OrtApi` is a struct of function pointers that is
// append-only across releases, so an entry's position never changes; the positions below are
// those of `onnxruntime_c_api.h` (any version >= 13). We ask the library for API version 13,
// which every ONNX Runtime since 1.13 provides.

/// Positions of the `OrtApi` entries Winnow uses (0-based pointer index into the table).
enum OrtApiEntry: Int {
    case getErrorCode = 1
    case getErrorMessage = 2
    case createEnv = 3
    case createSession = 7
    case run = 9
    case createSessionOptions = 10
    case setOptimizedModelFilePath = 11
    case setSessionGraphOptimizationLevel = 23
    case setIntraOpNumThreads = 24
    case setInterOpNumThreads = 25
    case sessionGetInputCount = 30
    case sessionGetOutputCount = 31
    case sessionGetInputTypeInfo = 33
    case sessionGetOutputTypeInfo = 34
    case sessionGetInputName = 36
    case sessionGetOutputName = 37
    case createTensorWithDataAsOrtValue = 49
    case getTensorMutableData = 51
    case castTypeInfoToTensorInfo = 55
    case getOnnxTypeFromTypeInfo = 56
    case getTensorElementType = 60
    case getDimensionsCount = 61
    case getDimensions = 62
    case getTensorTypeAndShape = 65
    case createCpuMemoryInfo = 69
    case allocatorFree = 76
    case getAllocatorWithDefaultOptions = 78
    case addSessionConfigEntry = 130
    case releaseEnv = 92
    case releaseStatus = 93
    case releaseMemoryInfo = 94
    case releaseSession = 95
    case releaseValue = 96
    case releaseTypeInfo = 98
    case releaseTensorTypeAndShapeInfo = 99
    case releaseSessionOptions = 100
}

// C signatures of those entries. Every ORT object is an opaque pointer; `OrtStatus*` is nil on
// success. C enums are `int` on the platforms ORT supports.
typealias OrtStatusPtr = OpaquePointer?
typealias OrtOut = UnsafeMutablePointer<OpaquePointer?>
typealias OrtGetApiBaseFn = @convention(c) () -> UnsafeRawPointer?
typealias OrtGetApiFn = @convention(c) (UInt32) -> UnsafeRawPointer?
typealias OrtGetVersionStringFn = @convention(c) () -> UnsafePointer<CChar>?
typealias OrtGetErrorCodeFn = @convention(c) (OpaquePointer) -> Int32
typealias OrtGetErrorMessageFn = @convention(c) (OpaquePointer) -> UnsafePointer<CChar>?
typealias OrtCreateEnvFn = @convention(c) (Int32, UnsafePointer<CChar>, OrtOut) -> OrtStatusPtr
typealias OrtCreateSessionFn = @convention(c) (OpaquePointer, UnsafePointer<CChar>, OpaquePointer, OrtOut) -> OrtStatusPtr
typealias OrtRunFn = @convention(c) (
    OpaquePointer, OpaquePointer?,
    UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<OpaquePointer?>, Int,
    UnsafePointer<UnsafePointer<CChar>?>, Int, UnsafeMutablePointer<OpaquePointer?>
) -> OrtStatusPtr
typealias OrtCreateSessionOptionsFn = @convention(c) (OrtOut) -> OrtStatusPtr
typealias OrtSetOptionIntFn = @convention(c) (OpaquePointer, Int32) -> OrtStatusPtr
typealias OrtSessionCountFn = @convention(c) (OpaquePointer, UnsafeMutablePointer<Int>) -> OrtStatusPtr
typealias OrtSessionTypeInfoFn = @convention(c) (OpaquePointer, Int, OrtOut) -> OrtStatusPtr
typealias OrtSessionNameFn = @convention(c) (
    OpaquePointer, Int, OpaquePointer, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
) -> OrtStatusPtr
typealias OrtCreateTensorWithDataFn = @convention(c) (
    OpaquePointer, UnsafeMutableRawPointer, Int, UnsafePointer<Int64>, Int, Int32, OrtOut
) -> OrtStatusPtr
typealias OrtGetTensorMutableDataFn = @convention(c) (OpaquePointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> OrtStatusPtr
typealias OrtCastTypeInfoFn = @convention(c) (OpaquePointer, OrtOut) -> OrtStatusPtr
typealias OrtGetIntOutFn = @convention(c) (OpaquePointer, UnsafeMutablePointer<Int32>) -> OrtStatusPtr
typealias OrtGetDimensionsCountFn = @convention(c) (OpaquePointer, UnsafeMutablePointer<Int>) -> OrtStatusPtr
typealias OrtGetDimensionsFn = @convention(c) (OpaquePointer, UnsafeMutablePointer<Int64>, Int) -> OrtStatusPtr
typealias OrtGetTensorTypeAndShapeFn = @convention(c) (OpaquePointer, OrtOut) -> OrtStatusPtr
typealias OrtCreateCpuMemoryInfoFn = @convention(c) (Int32, Int32, OrtOut) -> OrtStatusPtr
typealias OrtAllocatorFreeFn = @convention(c) (OpaquePointer, UnsafeMutableRawPointer?) -> OrtStatusPtr
typealias OrtGetAllocatorFn = @convention(c) (OrtOut) -> OrtStatusPtr
typealias OrtSetOptimizedModelFilePathFn = @convention(c) (OpaquePointer, UnsafePointer<CChar>) -> OrtStatusPtr
typealias OrtAddSessionConfigEntryFn = @convention(c) (OpaquePointer, UnsafePointer<CChar>, UnsafePointer<CChar>) -> OrtStatusPtr
typealias OrtReleaseFn = @convention(c) (OpaquePointer?) -> Void

/// A loaded ONNX Runtime shared library and its process-wide `OrtEnv`.
///
/// The library is loaded once per path and never unloaded; use ``shared(libraryPath:)`` (or
/// ``shared()`` to locate it the usual way) rather than loading it repeatedly. Thread-safe.
public final class OnnxRuntime: @unchecked Sendable {
    /// The C API version Winnow requests (entries used here exist since this version).
    public static let apiVersion: UInt32 = 13

    /// Path of the loaded shared library.
    public let libraryPath: String
    /// The library's version string, e.g. `1.22.1`.
    public let version: String

    private let api: OrtApiTable
    let env: OpaquePointer
    let cpuMemoryInfo: OpaquePointer
    let defaultAllocator: OpaquePointer

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: OnnxRuntime] = [:]

    /// The runtime for the library found by ``EmbeddingAssets/onnxRuntimeLibraryPath()``
    /// (env `WINNOW_ONNXRUNTIME`, then `$WINNOW_CACHE/onnxruntime/libonnxruntime.so*`).
    public static func shared(assets: EmbeddingAssets = .fromEnvironment()) throws(EmbeddingError) -> OnnxRuntime {
        try shared(libraryPath: assets.onnxRuntimeLibraryPath())
    }

    /// The runtime for the library at `libraryPath`, loading it on first use.
    public static func shared(libraryPath: String) throws(EmbeddingError) -> OnnxRuntime {
        let key = (libraryPath as NSString).standardizingPath
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let runtime = loaded[key] { return runtime }
        let runtime = try OnnxRuntime(libraryPath: key)
        loaded[key] = runtime
        return runtime
    }

    private init(libraryPath: String) throws(EmbeddingError) {
        guard FileManager.default.fileExists(atPath: libraryPath) else {
            throw .libraryNotFound(searched: [libraryPath])
        }
        guard let handle = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            throw .libraryLoadFailed(path: libraryPath, reason: Self.dlerrorText())
        }
        guard let symbol = dlsym(handle, "OrtGetApiBase") else {
            throw .libraryLoadFailed(path: libraryPath, reason: "no OrtGetApiBase symbol: \(Self.dlerrorText())")
        }
        let getApiBase = unsafeBitCast(symbol, to: OrtGetApiBaseFn.self)
        guard let base = getApiBase() else {
            throw .libraryLoadFailed(path: libraryPath, reason: "OrtGetApiBase returned NULL")
        }
        // struct OrtApiBase { GetApi; GetVersionString; }
        let baseTable = base.assumingMemoryBound(to: UnsafeRawPointer?.self)
        var version = "unknown"
        if let entry = baseTable[1], let cString = unsafeBitCast(entry, to: OrtGetVersionStringFn.self)() {
            version = String(cString: cString)
        }
        guard let getApiEntry = baseTable[0],
              let apiRaw = unsafeBitCast(getApiEntry, to: OrtGetApiFn.self)(Self.apiVersion)
        else {
            throw .apiVersionUnsupported(path: libraryPath, requested: Self.apiVersion, libraryVersion: version)
        }
        let api = OrtApiTable(entries: apiRaw.assumingMemoryBound(to: UnsafeRawPointer?.self))

        var env: OpaquePointer?
        // ORT_LOGGING_LEVEL_ERROR = 3: failures come back as statuses; keep stderr quiet.
        try api.check("winnow".withCString { api.function(.createEnv, as: OrtCreateEnvFn.self)(3, $0, &env) }, "CreateEnv")
        guard let env else { throw .runtime(operation: "CreateEnv", code: -1, ortMessage: "returned NULL") }
        var memoryInfo: OpaquePointer?
        // OrtDeviceAllocator = 0, OrtMemTypeDefault = 0.
        try api.check(api.function(.createCpuMemoryInfo, as: OrtCreateCpuMemoryInfoFn.self)(0, 0, &memoryInfo),
                      "CreateCpuMemoryInfo")
        guard let memoryInfo else {
            throw .runtime(operation: "CreateCpuMemoryInfo", code: -1, ortMessage: "returned NULL")
        }
        var allocator: OpaquePointer?
        try api.check(api.function(.getAllocatorWithDefaultOptions, as: OrtGetAllocatorFn.self)(&allocator),
                      "GetAllocatorWithDefaultOptions")
        guard let allocator else {
            throw .runtime(operation: "GetAllocatorWithDefaultOptions", code: -1, ortMessage: "returned NULL")
        }
        self.libraryPath = libraryPath
        self.version = version
        self.api = api
        self.env = env
        self.cpuMemoryInfo = memoryInfo
        self.defaultAllocator = allocator
    }

    /// The function at `entry` in the `OrtApi` table, cast to its C signature.
    func function<F>(_ entry: OrtApiEntry, as type: F.Type) -> F {
        api.function(entry, as: type)
    }

    /// Throws ``EmbeddingError/runtime(operation:code:ortMessage:)`` for a non-nil status,
    /// releasing it.
    func check(_ status: OrtStatusPtr, _ operation: String) throws(EmbeddingError) {
        try api.check(status, operation)
    }

    /// Reads code and message out of a non-nil status and releases it.
    func consume(_ status: OpaquePointer) -> (code: Int, message: String) {
        api.consume(status)
    }

    func release(_ entry: OrtApiEntry, _ object: OpaquePointer?) {
        api.release(entry, object)
    }

    private static func dlerrorText() -> String {
        guard let text = dlerror() else { return "unknown dlopen error" }
        return String(cString: text)
    }
}

/// The `OrtApi` function table of a loaded library.
struct OrtApiTable: @unchecked Sendable {
    let entries: UnsafePointer<UnsafeRawPointer?>

    /// The function at `entry`, cast to its C signature.
    func function<F>(_ entry: OrtApiEntry, as type: F.Type) -> F {
        unsafeBitCast(entries[entry.rawValue], to: type)
    }

    /// Throws ``EmbeddingError/runtime(operation:code:ortMessage:)`` for a non-nil status,
    /// releasing it.
    func check(_ status: OrtStatusPtr, _ operation: String) throws(EmbeddingError) {
        guard let status else { return }
        let (code, message) = consume(status)
        throw .runtime(operation: operation, code: code, ortMessage: message)
    }

    /// Reads code and message out of a non-nil status and releases it.
    func consume(_ status: OpaquePointer) -> (code: Int, message: String) {
        let code = function(.getErrorCode, as: OrtGetErrorCodeFn.self)(status)
        let message = function(.getErrorMessage, as: OrtGetErrorMessageFn.self)(status).map { String(cString: $0) } ?? ""
        release(.releaseStatus, status)
        return (Int(code), message)
    }

    func release(_ entry: OrtApiEntry, _ object: OpaquePointer?) {
        guard let object else { return }
        function(entry, as: OrtReleaseFn.self)(object)
    }
}

/// Element types of ONNX tensors (`ONNXTensorElementDataType`).
public enum OnnxElementType: Int32, Sendable {
    case undefined = 0, float = 1, uint8, int8, uint16, int16, int32, int64, string, bool, float16, double,
         uint32, uint64, complex64, complex128, bfloat16
}

/// Options for an ``OnnxSession``.
public struct OnnxSessionOptions: Sendable, Equatable {
    /// Threads used inside one operator (0 = ONNX Runtime's default, one per core).
    public var intraOpThreads: Int
    /// Threads used to run independent operators in parallel (1 = sequential).
    public var interOpThreads: Int
    /// Whether idle ONNX Runtime worker threads busy-wait for work. Spinning shaves a little
    /// latency on an idle machine but burns cores that decoders running alongside need, so it
    /// is off by default (`session.intra_op.allow_spinning`).
    public var allowSpinning: Bool
    /// Extra session configuration entries (keys of `onnxruntime_session_options_config_keys.h`).
    public var configEntries: [String: String]
    /// Where ONNX Runtime writes the model as it runs it, after its graph optimisations (to
    /// check fusions, e.g. the int8 model's QLinearConv); nil: not written.
    public var optimizedModelPath: String?

    public init(intraOpThreads: Int = 1, interOpThreads: Int = 1, allowSpinning: Bool = false,
                configEntries: [String: String] = [:], optimizedModelPath: String? = nil)
    {
        self.intraOpThreads = intraOpThreads
        self.interOpThreads = interOpThreads
        self.allowSpinning = allowSpinning
        self.configEntries = configEntries
        self.optimizedModelPath = optimizedModelPath
    }
}

/// A float tensor returned by ``OnnxSession/run(_:shape:inputName:outputNames:)``.
public struct OnnxTensor: Sendable, Equatable {
    /// Dimensions, outermost first (batch first for batched outputs).
    public var shape: [Int]
    /// Row-major values; `values.count == shape.reduce(1, *)`.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// An ONNX model loaded into ONNX Runtime.
///
/// `run` may be called from several threads at once (ONNX Runtime sessions are thread-safe
/// for inference).
public final class OnnxSession: @unchecked Sendable {
    /// Name, element type and shape of one model input or output. Dynamic dimensions are -1.
    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        public var elementType: OnnxElementType
        public var shape: [Int]

        public init(name: String, elementType: OnnxElementType, shape: [Int]) {
            self.name = name
            self.elementType = elementType
            self.shape = shape
        }
    }

    /// The runtime this session belongs to.
    public let runtime: OnnxRuntime
    /// Path of the model file.
    public let modelPath: String
    /// The model's inputs, in declaration order.
    public let inputs: [TensorInfo]
    /// The model's outputs, in declaration order.
    public let outputs: [TensorInfo]

    private let session: OpaquePointer

    /// Loads the ONNX model at `modelPath`.
    ///
    /// - Throws: ``EmbeddingError/modelNotFound(path:)`` if the file is missing,
    ///   ``EmbeddingError/corruptModel(path:ortMessage:)`` if ONNX Runtime rejects it.
    public init(modelPath: String, runtime: OnnxRuntime, options: OnnxSessionOptions = OnnxSessionOptions())
        throws(EmbeddingError)
    {
        guard FileManager.default.fileExists(atPath: modelPath) else { throw .modelNotFound(path: modelPath) }
        let sessionOptions = try Self.createSessionOptions(runtime: runtime)
        defer { runtime.release(.releaseSessionOptions, sessionOptions) }
        try Self.configure(sessionOptions, with: options, runtime: runtime)
        let session = try Self.createSession(modelPath: modelPath, sessionOptions: sessionOptions, runtime: runtime)
        self.session = session
        self.runtime = runtime
        self.modelPath = modelPath
        do {
            self.inputs = try Self.describe(session: session, runtime: runtime, outputs: false)
            self.outputs = try Self.describe(session: session, runtime: runtime, outputs: true)
        } catch {
            runtime.release(.releaseSession, session)
            throw error
        }
    }

    /// A new, empty `OrtSessionOptions`, which the caller releases.
    private static func createSessionOptions(runtime: OnnxRuntime) throws(EmbeddingError) -> OpaquePointer {
        var sessionOptions: OpaquePointer?
        try runtime.check(runtime.function(.createSessionOptions, as: OrtCreateSessionOptionsFn.self)(&sessionOptions),
                          "CreateSessionOptions")
        guard let sessionOptions else {
            throw .runtime(operation: "CreateSessionOptions", code: -1, ortMessage: "returned NULL")
        }
        return sessionOptions
    }

    /// Sets threads, graph optimisation, the optimised model path and the config entries of
    /// `options` on `sessionOptions`.
    private static func configure(_ sessionOptions: OpaquePointer, with options: OnnxSessionOptions,
                                  runtime: OnnxRuntime) throws(EmbeddingError) {
        let setInt = { (entry: OrtApiEntry, value: Int) in
            runtime.function(entry, as: OrtSetOptionIntFn.self)(sessionOptions, Int32(clamping: value))
        }
        try runtime.check(setInt(.setIntraOpNumThreads, max(0, options.intraOpThreads)), "SetIntraOpNumThreads")
        try runtime.check(setInt(.setInterOpNumThreads, max(0, options.interOpThreads)), "SetInterOpNumThreads")
        // ORT_ENABLE_ALL = 99: fuses Conv+Clip etc.
        try runtime.check(setInt(.setSessionGraphOptimizationLevel, 99), "SetSessionGraphOptimizationLevel")
        if let path = options.optimizedModelPath {
            try runtime.check(path.withCString {
                runtime.function(.setOptimizedModelFilePath, as: OrtSetOptimizedModelFilePathFn.self)(sessionOptions, $0)
            }, "SetOptimizedModelFilePath")
        }
        var entries = options.configEntries
        let spin = options.allowSpinning ? "1" : "0"
        for key in ["session.intra_op.allow_spinning", "session.inter_op.allow_spinning"] where entries[key] == nil {
            entries[key] = spin
        }
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let status = key.withCString { cKey in
                value.withCString { cValue in
                    runtime.function(.addSessionConfigEntry, as: OrtAddSessionConfigEntryFn.self)(sessionOptions, cKey, cValue)
                }
            }
            try runtime.check(status, "AddSessionConfigEntry(\(key))")
        }
    }

    /// Loads the model at `modelPath` into a new `OrtSession`; a model ONNX Runtime rejects
    /// throws ``EmbeddingError/corruptModel(path:ortMessage:)``.
    private static func createSession(modelPath: String, sessionOptions: OpaquePointer, runtime: OnnxRuntime)
        throws(EmbeddingError) -> OpaquePointer
    {
        var session: OpaquePointer?
        let status = modelPath.withCString {
            runtime.function(.createSession, as: OrtCreateSessionFn.self)(runtime.env, $0, sessionOptions, &session)
        }
        if let status {
            let (_, message) = runtime.consume(status)
            throw .corruptModel(path: modelPath, ortMessage: message)
        }
        guard let session else { throw .corruptModel(path: modelPath, ortMessage: "CreateSession returned NULL") }
        return session
    }

    deinit {
        runtime.release(.releaseSession, session)
    }

    /// Looks up an output by name.
    public func output(named name: String) -> TensorInfo? {
        outputs.first { $0.name == name }
    }

    /// Runs the model on one float input tensor.
    ///
    /// - Parameters:
    ///   - input: row-major values, e.g. a batch of NCHW images.
    ///   - shape: the input's dimensions; their product must equal `input.count`.
    ///   - inputName: which input to feed (default: the model's only/first input).
    ///   - outputNames: which outputs to compute (default: all). Only float outputs are supported.
    /// - Returns: the requested outputs by name.
    public func run(_ input: [Float], shape: [Int], inputName: String? = nil, outputNames: [String]? = nil)
        throws(EmbeddingError) -> [String: OnnxTensor]
    {
        let (name, wanted) = try validatedRequest(input, shape: shape, inputName: inputName, outputNames: outputNames)

        let runtime = self.runtime
        // ORT writes one OrtValue* per requested output here; we release them all afterwards.
        let outputValues = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: wanted.count)
        outputValues.initialize(repeating: nil, count: wanted.count)
        defer {
            for index in 0..<wanted.count { runtime.release(.releaseValue, outputValues[index]) }
            outputValues.deallocate()
        }
        let inputNames = CStringArray([name])
        let outputNamesC = CStringArray(wanted)

        var inputValues = input
        var dims = shape.map(Int64.init)
        let result: Result<Void, EmbeddingError> = inputValues.withUnsafeMutableBytes { inputBytes in
            dims.withUnsafeMutableBufferPointer { dimsBuffer in
                runSession(inputBytes: inputBytes, dims: dimsBuffer, inputNames: inputNames,
                           outputNames: outputNamesC, outputCount: wanted.count, outputValues: outputValues)
            }
        }
        try result.get()
        return try readOutputs(outputValues, names: wanted)
    }

    // MARK: - Private

    /// The input to feed and the outputs to compute for a ``run(_:shape:inputName:outputNames:)``
    /// call, after checking that they exist and that `shape` fits `input`.
    private func validatedRequest(_ input: [Float], shape: [Int], inputName: String?, outputNames: [String]?)
        throws(EmbeddingError) -> (inputName: String, outputNames: [String])
    {
        guard let name = inputName ?? inputs.first?.name else {
            throw .invalidArgument("model \(modelPath) has no inputs")
        }
        guard inputs.contains(where: { $0.name == name }) else {
            throw .invalidArgument("model \(modelPath) has no input named \(name)")
        }
        let elementCount = shape.reduce(1, *)
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }), elementCount == input.count else {
            throw .invalidArgument("input of \(input.count) values does not match shape \(EmbeddingError.shapeText(shape))")
        }
        let wanted = outputNames ?? outputs.map(\.name)
        for output in wanted where !outputs.contains(where: { $0.name == output }) {
            throw .invalidArgument("model \(modelPath) has no output named \(output)")
        }
        guard !wanted.isEmpty else { throw .invalidArgument("no outputs requested") }
        return (name, wanted)
    }

    /// Wraps `inputBytes` (shaped `dims`) in an input tensor and runs the session, which writes
    /// `outputCount` output values to `outputValues`. Called inside the `withUnsafe…` closures
    /// that provide the buffers; none of them is kept.
    private func runSession(inputBytes: UnsafeMutableRawBufferPointer, dims dimsBuffer: UnsafeMutableBufferPointer<Int64>,
                            inputNames: CStringArray, outputNames outputNamesC: CStringArray, outputCount: Int,
                            outputValues: UnsafeMutablePointer<OpaquePointer?>) -> Result<Void, EmbeddingError>
    {
        let runtime = self.runtime
        let session = self.session
        guard let base = inputBytes.baseAddress, let dimsBase = dimsBuffer.baseAddress else {
            return .failure(.invalidArgument("empty input"))
        }
        var tensor: OpaquePointer?
        let createStatus = runtime.function(.createTensorWithDataAsOrtValue, as: OrtCreateTensorWithDataFn.self)(
            runtime.cpuMemoryInfo, base, inputBytes.count, dimsBase, dimsBuffer.count,
            OnnxElementType.float.rawValue, &tensor)
        if let createStatus {
            let (code, message) = runtime.consume(createStatus)
            return .failure(.runtime(operation: "CreateTensorWithDataAsOrtValue", code: code, ortMessage: message))
        }
        defer { runtime.release(.releaseValue, tensor) }
        let status = withExtendedLifetime((inputNames, outputNamesC)) {
            withUnsafePointer(to: tensor) { inputs in
                runtime.function(.run, as: OrtRunFn.self)(
                    session, nil, inputNames.pointer, inputs, 1, outputNamesC.pointer, outputCount, outputValues)
            }
        }
        if let status {
            let (code, message) = runtime.consume(status)
            return .failure(.runtime(operation: "Run", code: code, ortMessage: message))
        }
        return .success(())
    }

    /// The float tensors the session wrote to `outputValues`, by output name (`names` in order).
    private func readOutputs(_ outputValues: UnsafeMutablePointer<OpaquePointer?>, names wanted: [String])
        throws(EmbeddingError) -> [String: OnnxTensor]
    {
        var tensors: [String: OnnxTensor] = [:]
        for (index, outputName) in wanted.enumerated() {
            guard let value = outputValues[index] else {
                throw .runtime(operation: "Run", code: -1, ortMessage: "output \(outputName) is NULL")
            }
            tensors[outputName] = try readFloatTensor(value, name: outputName)
        }
        return tensors
    }

    private func readFloatTensor(_ value: OpaquePointer, name: String) throws(EmbeddingError) -> OnnxTensor {
        var info: OpaquePointer?
        try runtime.check(runtime.function(.getTensorTypeAndShape, as: OrtGetTensorTypeAndShapeFn.self)(value, &info),
                          "GetTensorTypeAndShape")
        guard let info else { throw .runtime(operation: "GetTensorTypeAndShape", code: -1, ortMessage: "returned NULL") }
        defer { runtime.release(.releaseTensorTypeAndShapeInfo, info) }
        let (elementType, shape) = try Self.typeAndShape(info, runtime: runtime)
        guard elementType == .float else {
            throw .unsupportedModel(path: modelPath, reason: "output \(name) is \(elementType), not float")
        }
        var data: UnsafeMutableRawPointer?
        try runtime.check(runtime.function(.getTensorMutableData, as: OrtGetTensorMutableDataFn.self)(value, &data),
                          "GetTensorMutableData")
        let count = shape.reduce(1, *)
        guard count >= 0 else { throw .runtime(operation: "Run", code: -1, ortMessage: "output \(name) has a dynamic shape") }
        guard let data else { return OnnxTensor(shape: shape, values: []) }
        let floats = data.bindMemory(to: Float.self, capacity: count)
        return OnnxTensor(shape: shape, values: Array(UnsafeBufferPointer(start: floats, count: count)))
    }

    private static func describe(session: OpaquePointer, runtime: OnnxRuntime, outputs: Bool)
        throws(EmbeddingError) -> [TensorInfo]
    {
        var count = 0
        let countEntry: OrtApiEntry = outputs ? .sessionGetOutputCount : .sessionGetInputCount
        try runtime.check(runtime.function(countEntry, as: OrtSessionCountFn.self)(session, &count), "SessionGetCount")
        var result: [TensorInfo] = []
        for index in 0..<count {
            var cName: UnsafeMutablePointer<CChar>?
            let nameEntry: OrtApiEntry = outputs ? .sessionGetOutputName : .sessionGetInputName
            try runtime.check(runtime.function(nameEntry, as: OrtSessionNameFn.self)(
                session, index, runtime.defaultAllocator, &cName), "SessionGetName")
            let name = cName.map { String(cString: $0) } ?? ""
            if let cName {
                _ = runtime.function(.allocatorFree, as: OrtAllocatorFreeFn.self)(runtime.defaultAllocator, cName)
            }

            var typeInfo: OpaquePointer?
            let typeEntry: OrtApiEntry = outputs ? .sessionGetOutputTypeInfo : .sessionGetInputTypeInfo
            try runtime.check(runtime.function(typeEntry, as: OrtSessionTypeInfoFn.self)(session, index, &typeInfo),
                              "SessionGetTypeInfo")
            guard let typeInfo else { continue }
            defer { runtime.release(.releaseTypeInfo, typeInfo) }
            var onnxType: Int32 = 0
            try runtime.check(runtime.function(.getOnnxTypeFromTypeInfo, as: OrtGetIntOutFn.self)(typeInfo, &onnxType),
                              "GetOnnxTypeFromTypeInfo")
            // ONNX_TYPE_TENSOR = 1; other kinds (maps, sequences) are listed with no shape.
            guard onnxType == 1 else {
                result.append(TensorInfo(name: name, elementType: .undefined, shape: []))
                continue
            }
            var tensorInfo: OpaquePointer?  // owned by typeInfo
            try runtime.check(runtime.function(.castTypeInfoToTensorInfo, as: OrtCastTypeInfoFn.self)(typeInfo, &tensorInfo),
                              "CastTypeInfoToTensorInfo")
            guard let tensorInfo else { continue }
            let (elementType, shape) = try typeAndShape(tensorInfo, runtime: runtime)
            result.append(TensorInfo(name: name, elementType: elementType, shape: shape))
        }
        return result
    }

    private static func typeAndShape(_ info: OpaquePointer, runtime: OnnxRuntime)
        throws(EmbeddingError) -> (OnnxElementType, [Int])
    {
        var rawType: Int32 = 0
        try runtime.check(runtime.function(.getTensorElementType, as: OrtGetIntOutFn.self)(info, &rawType),
                          "GetTensorElementType")
        var rank = 0
        try runtime.check(runtime.function(.getDimensionsCount, as: OrtGetDimensionsCountFn.self)(info, &rank),
                          "GetDimensionsCount")
        var dims = [Int64](repeating: 0, count: rank)
        if rank > 0 {
            let status = dims.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress.flatMap { runtime.function(.getDimensions, as: OrtGetDimensionsFn.self)(info, $0, rank) }
            }
            try runtime.check(status, "GetDimensions")
        }
        return (OnnxElementType(rawValue: rawType) ?? .undefined, dims.map { Int($0) })
    }
}

/// A C array of NUL-terminated strings (`const char* const*`), freed on deinit.
private final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: max(1, count))
        pointer.initialize(repeating: nil, count: max(1, count))
        for (index, string) in strings.enumerated() {
            pointer[index] = UnsafePointer(strdup(string))
        }
    }

    deinit {
        for index in 0..<count { free(UnsafeMutablePointer(mutating: pointer[index])) }
        pointer.deinitialize(count: max(1, count))
        pointer.deallocate()
    }
}
