import Foundation

/// How freed memory goes back to the system. glibc's malloc keeps what a program frees for
/// reuse; after the first large block is freed it also raises the size above which blocks get a
/// mapping of their own (to 32 MB) and the free heap top it keeps (to 64 MB), so a stage's
/// scratch blocks stay resident after they are freed — 70 MB of the index stage's peak at
/// 200,000 images (docs/benchmarks.md, session 27). Other C libraries: nothing happens.
public enum FreedMemory {
    /// Gives back every whole free page of the heap (`malloc_trim(0)`).
    public static func giveBack() {
        _ = mallocTrim?(0)
    }

    /// From now on blocks of `mappedFrom` bytes or more are mapped on their own and unmapped when
    /// freed, and a free heap top above `keptTop` bytes is given back (both fixed: glibc stops
    /// raising them). The kept top is 32 MB, not less: each image's OpenCV scratch (SIFT's
    /// pyramid, the decoded pixels) is freed and made again image after image, and with 8 or
    /// 16 MB the heap was given back and faulted in again each time — set C's 5,000 images took
    /// 3.1 M / 1.9 M page faults (11 / 7.6 s of system CPU) where 32 MB takes 0.2 M (4.7 s).
    public static func returnLargeBlocks(mappedFrom: Int32 = 4 << 20, keptTop: Int32 = 32 << 20) {
        guard let mallopt else { return }
        _ = mallopt(mmapThreshold, mappedFrom)
        _ = mallopt(trimThreshold, keptTop)
    }

    /// glibc's `M_TRIM_THRESHOLD` and `M_MMAP_THRESHOLD` (malloc.h).
    private static let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)

    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = symbol("malloc_trim")
    private static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = symbol("mallopt")

    /// A C function of the process's C library, looked up at run time.
    private static func symbol<Function>(_ name: String) -> Function? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: Function.self) }
    }
}
