// swift-tools-version:6.1
import PackageDescription

// The pixel loops, the copy descriptor's preparation and verification's kernels are optimised in
// debug builds too: the tests run whole pipelines on real photos, and unoptimised they cost 8×
// the CPU (a 248-image run: 123 s against 16 s), which held CI past its limit.
let swiftOptimisedInDebug = SwiftSetting.unsafeFlags(["-O"], .when(configuration: .debug))
let optimisedInDebug = CXXSetting.unsafeFlags(["-O2"], .when(configuration: .debug))

let package = Package(
    name: "Winnow",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "WinnowCore", targets: ["WinnowCore"]),
        .library(name: "WinnowApp", targets: ["WinnowApp"]),
        .executable(name: "winnow", targets: ["WinnowCLI"]),
        .executable(name: "winnow-bench", targets: ["WinnowBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // C libraries from Debian, found with pkg-config.
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // libvips' public API is variadic; this shim gives Swift fixed-arity entry points.
        .target(name: "VipsShim", dependencies: ["CVips"]),
        // Faiss (Debian ships only the static libfaiss.a) behind plain C functions. libfaiss.a
        // needs GCC's OpenMP runtime and BLAS + LAPACK: libopenblas has both, and linking it
        // (not libblas/liblapack) keeps one OpenBLAS in the process.
        .target(
            name: "FaissShim",
            cxxSettings: [.headerSearchPath("compat")],
            linkerSettings: [.linkedLibrary("faiss"), .linkedLibrary("gomp"), .linkedLibrary("openblas")]
        ),
        // OpenCV 4.6 (Debian libopencv-features2d-dev, -calib3d-dev, -imgproc-dev; no pkg-config
        // file without the full libopencv-dev) behind plain C functions: SIFT, RANSAC, warps.
        .target(
            name: "CopyVerifyShim",
            cxxSettings: [.unsafeFlags(["-I/usr/include/opencv4"]), optimisedInDebug],
            linkerSettings: [.linkedLibrary("opencv_features2d"), .linkedLibrary("opencv_calib3d"),
                             .linkedLibrary("opencv_flann"), .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_core")]
        ),
        // OpenCV's cascade classifier (Debian libopencv-objdetect-dev, cascades from opencv-data) and
        // Tesseract's C API (libtesseract-dev, tesseract-ocr-eng) behind plain C functions: `--bounding-box face|ocr`.
        .target(
            name: "DetectorShim",
            cxxSettings: [.unsafeFlags(["-I/usr/include/opencv4"])],
            linkerSettings: [.linkedLibrary("opencv_objdetect"), .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_core"),
                             .linkedLibrary("tesseract"), .linkedLibrary("gomp")]
        ),
        // FFmpeg's libraries from Debian (libavformat-dev, libavcodec-dev, libswscale-dev) behind
        // plain C functions: video frames decoded one at a time.
        .target(
            name: "VideoShim",
            linkerSettings: [.linkedLibrary("avformat"), .linkedLibrary("avcodec"), .linkedLibrary("swscale"),
                             .linkedLibrary("avutil")]
        ),
        .target(
            name: "WinnowCore",
            dependencies: [
                "CTurboJPEG", "CPNG", "CWebP", "CArchive", "COpenBLAS", "VipsShim", "FaissShim", "CopyVerifyShim", "DetectorShim",
                "VideoShim",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [swiftOptimisedInDebug]
        ),
        // The local web app (`winnow serve`): its own target so WinnowCore does not pull in NIO.
        .target(
            name: "WinnowApp",
            dependencies: [
                "WinnowCore", "CTurboJPEG",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            // The web UI, compiled into the binary (`PackageResources`) so that `winnow` stays one file.
            resources: [.embedInCode("Web/index.html"), .embedInCode("Web/app.js"), .embedInCode("Web/app.css")]
        ),
        // Many `winnow worker` processes coordinated by PostgreSQL (`winnow cluster …`): its own
        // target so WinnowCore does not pull in NIO or the Postgres client.
        .target(
            name: "WinnowCluster",
            dependencies: ["WinnowCore", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // S3 and MinIO buckets as inputs (objects copied to local files, then ingested as files):
        // its own target so WinnowCore does not pull in NIO or the HTTP client.
        .target(
            name: "WinnowS3",
            dependencies: [
                "WinnowCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // What both executables share: standard error, exit statuses, option range checks, resource usage.
        .target(
            name: "WinnowCommandSupport",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "WinnowCLI",
            dependencies: [
                "WinnowCore", "WinnowApp", "WinnowCluster", "WinnowS3", "WinnowCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmarks (`winnow-bench`), out of the `winnow` users run; they run the `winnow` built beside them.
        .executableTarget(
            name: "WinnowBench",
            dependencies: [
                "WinnowCore", "WinnowCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers both test targets use (photos, the built executable, scratch folders, commands).
        .target(name: "WinnowTestSupport", dependencies: ["WinnowCore"], path: "Tests/WinnowTestSupport"),
        .testTarget(name: "WinnowCoreTests", dependencies: ["WinnowCore", "WinnowTestSupport", "WinnowCommandSupport"]),
        // `winnow cluster` and `winnow worker` as processes against a throwaway PostgreSQL server.
        .testTarget(name: "WinnowClusterTests", dependencies: ["WinnowCluster", "WinnowTestSupport"]),
        // S3 inputs against a real S3-compatible server (moto) started on 127.0.0.1 by the tests.
        .testTarget(name: "WinnowS3Tests", dependencies: ["WinnowS3", "WinnowCore", "WinnowTestSupport"]),
        .testTarget(
            name: "WinnowAppTests",
            dependencies: ["WinnowApp", "WinnowCore", "WinnowTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
