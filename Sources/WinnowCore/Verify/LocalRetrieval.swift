import Foundation
import Synchronization

/// A second retrieval of copy candidates, on local features (issue 19): pairs the global
/// descriptor ranks too low to check — quarter turns, heavy crops — whose images share many ORB
/// descriptors.
///
/// Each image's ORB descriptors (the screening pass's: 300 at 384 px) are hashed into `tables`
/// tables by bit-sampling locality-sensitive hashing for the Hamming distance (Indyk & Motwani
/// 1998, as FLANN's LSH index does): a table's key is `bits` fixed bit positions of the 256-bit
/// descriptor, so two descriptors d bits apart share it with probability (1 − d/256)^bits. Images
/// sharing a key vote for each other, once a key; keys shared by more than `largestBucket` images
/// (repeated texture, text) are passed over. Each image's `perImage` most-voted partners with at
/// least `minimumVotes` votes are candidates. Keys (8 bytes each, ~19 KB an image) go through
/// files sorted one range of keys at a time and are looked up through a memory map (``Index``),
/// so memory holds one range and no vote is stored.
public enum LocalRetrieval {
    /// How keys are made and partners chosen.
    public struct Options: Sendable, Codable, Equatable {
        /// Most partners an image proposes; 0 turns the retrieval off.
        public var perImage = 2
        public var minimumVotes = 2
        public var tables = 8
        /// Bits of a key up to `bitsUpTo` images; one more each time the images double beyond
        /// (at most 29), so that a key's expected images stay the same as the collection grows.
        public var bits = 20
        public var bitsUpTo = 5_000
        public var largestBucket = 50
        public init() {}

        /// Bits of a key in a collection of `images`.
        func keyBits(images: Int) -> Int {
            var (bits, reach) = (max(1, min(self.bits, 29)), max(1, bitsUpTo))
            while reach < images, bits < 29 { (reach, bits) = (reach * 2, bits + 1) }
            return bits
        }
    }

    /// The sampled bit positions of each table (fixed: every run and machine hashes alike).
    struct Hash {
        let positions: [[Int]]

        init(tables: Int, bits: Int) {
            var random = SplitMix64(seed: 0x5EED_0019)
            positions = (0..<tables).map { _ in
                var all = Array(0..<256)
                all.shuffle(using: &random)
                return Array(all.prefix(bits))
            }
        }

        /// The keys of one 32-byte descriptor, one a table: the table's index in the top 3 bits,
        /// its sampled bits in the highest of the other 29 (so that keys spread over the whole range).
        func keys(of descriptor: UnsafeBufferPointer<UInt8>, into keys: inout [UInt32]) {
            for (table, bits) in positions.enumerated() {
                var value: UInt32 = 0
                // Without a branch: each sampled bit is as likely set as not.
                for (i, p) in bits.enumerated() { value |= UInt32(truncatingIfNeeded: descriptor[p >> 3] >> (p & 7) & 1) << i }
                keys.append(UInt32(table) << 29 | value << (29 - bits.count))
            }
        }
    }

    /// Collects each image's keys in files, then proposes candidate pairs from them: the keys
    /// are sorted (by ranges of keys, one range in memory and on disk twice at a time) into one
    /// file, which is memory-mapped, and each image's keys are looked up there (a directory of
    /// key prefixes, then binary search) to count its votes in its thread's tally — no vote is
    /// ever stored. A disk that fills stops the retrieval with one line; the run goes on.
    final class Index {
        private let options: Options
        private let hash: Hash
        /// Records `key << 32 | row`: by image (each image's together), and by range of key.
        private let byImage: PartitionedRecords
        private let byKey: PartitionedRecords
        /// Each row's first record in `byImage` and its count (0: not keyed, or no keys).
        private var first: [Int]
        private var count: [UInt16]
        private var keyed: [Bool]
        /// Keys added.
        private(set) var keys = 0

        /// An index of `images` rows whose files go to `folder` (made afresh), sorted in ranges
        /// of about `partitionBytes` bytes.
        init(options: Options, images: Int, folder: URL, partitionBytes: Int = 32 << 20) throws(LocalFeatureError) {
            self.options = options
            hash = Hash(tables: min(8, max(1, options.tables)), bits: options.keyBits(images: images))
            let bytes = images * hash.positions.count * LocalFeatures.Options.screening.maximumKeypoints * 8
            byImage = try PartitionedRecords(folder: folder, name: "by-image", count: 1)
            byKey = try PartitionedRecords(folder: folder, name: "by-key", count: min(256, max(1, bytes / max(1, partitionBytes))))
            (first, count, keyed) = ([Int](repeating: 0, count: images), [UInt16](repeating: 0, count: images),
                                     [Bool](repeating: false, count: images))
        }

        /// Rows whose keys were not added yet.
        var unkeyedRows: [Int] { keyed.indices.filter { !keyed[$0] } }

        /// Adds the keys of `row`'s ORB descriptors (once a row: later calls are ignored).
        func add(_ features: LocalFeatures, row: Int) throws(LocalFeatureError) {
            guard !keyed[row] else { return }
            keyed[row] = true
            var made: [UInt32] = []
            features.withBinaryDescriptors { bytes in
                for start in stride(from: 0, to: bytes.count - 31, by: 32) {
                    hash.keys(of: UnsafeBufferPointer(rebasing: bytes[start..<start + 32]), into: &made)
                }
            }
            made.sort()
            let distinct = made.indices.lazy.filter { $0 == 0 || made[$0] != made[$0 - 1] }.map { made[$0] }
            let before = keys
            for key in distinct {
                let record = UInt64(key) << 32 | UInt64(row)
                try byImage.append(record, to: 0)
                try byKey.append(record, to: Int(UInt64(key) * UInt64(byKey.count) >> 32))
                keys += 1
            }
            (first[row], count[row]) = (before, UInt16(keys - before))
        }

        /// Pairs (a < b, ascending) some image proposes among its `perImage` most-voted partners,
        /// but for those `known` holds; votes counted on `workers` threads. Removes the files.
        func candidates(workers: Int = 1, known: (Int, Int) -> Bool) throws(LocalFeatureError) -> [(a: Int, b: Int)] {
            defer { byImage.remove(); byKey.remove() }
            try byImage.finishWriting()
            try byKey.finishWriting()
            let sorted = try PartitionedRecords(folder: byKey.folder, name: "sorted", count: 1)
            defer { sorted.remove() }
            for partition in 0..<byKey.count {
                try sorted.append(contentsOf: byKey.records(of: partition).sorted(), to: 0)
                byKey.remove(partition)
            }
            try sorted.finishWriting()
            var proposed: [UInt64] = []
            try sorted.withMapped(0) { (table: UnsafeBufferPointer<UInt64>) throws(LocalFeatureError) in
                try byImage.withMapped(0) { (own: UnsafeBufferPointer<UInt64>) throws(LocalFeatureError) in
                    proposed = proposals(table: table, own: own, workers: workers)
                }
            }
            let pairs = proposed.filter { !known(Int($0 >> 32), Int($0 & 0xFFFF_FFFF)) }.sorted()
            return pairs.indices.filter { $0 == 0 || pairs[$0] != pairs[$0 - 1] }
                .map { (a: Int(pairs[$0] >> 32), b: Int(pairs[$0] & 0xFFFF_FFFF)) }
        }

        /// Every image's proposals as `min << 32 | max`, counted on `workers` threads.
        private func proposals(table: UnsafeBufferPointer<UInt64>, own: UnsafeBufferPointer<UInt64>, workers: Int) -> [UInt64] {
            let directory = Votes.Directory(of: table, keyBits: 3 + (hash.positions.first?.count ?? 0), largestBucket: options.largestBucket)
            let votes = Votes(options: options, table: table, own: own, first: first, count: count, directory: directory)
            let rows = first.count, chunk = 256
            let results = ProposalChunks(count: (rows + chunk - 1) / chunk)
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
                var tally = [UInt16](repeating: 0, count: rows)
                while true {
                    let c = next.add(1, ordering: .relaxed).oldValue
                    guard c * chunk < rows else { return }
                    results.set(c, (c * chunk..<min(rows, (c + 1) * chunk)).flatMap { row in
                        votes.partners(of: row, tally: &tally).map { UInt64(min(row, $0)) << 32 | UInt64(max(row, $0)) }
                    })
                }
            }
            return results.joined
        }
    }

    /// The sorted keys and each image's own, read by the threads counting votes (read only).
    private struct Votes: @unchecked Sendable {
        let options: Options
        let table: UnsafeBufferPointer<UInt64>
        let own: UnsafeBufferPointer<UInt64>
        let first: [Int]
        let count: [UInt16]
        let directory: Directory

        /// Where the records whose keys start with each `bits`-bit prefix start in `table` (and
        /// its end): about 8 records a prefix (one cache line), so that a lookup reads the
        /// directory and one line of the table rather than binary-searching a longer range
        /// across several (set C: 9.3 M keys, 2^21 prefixes). Before that, a bit for each
        /// `sharedBits`-bit prefix says whether a key there is shared by 2 to `largestBucket`
        /// images: most keys are one image's alone, and the bitmap (set C: every key's 23 bits,
        /// 1 MB) answers for them without reading the table.
        struct Directory {
            let bits: Int
            let starts: [Int]
            let sharedBits: Int
            let shared: [UInt64]

            init(of table: UnsafeBufferPointer<UInt64>, keyBits: Int, largestBucket: Int) {
                let width = Int.bitWidth - table.count.leadingZeroBitCount
                bits = min(22, max(16, width - 3))
                var starts = [Int](repeating: table.count, count: (1 << bits) + 1)
                for at in table.indices.reversed() { starts[Int(table[at] >> UInt64(64 - bits))] = at }
                for prefix in stride(from: (1 << bits) - 1, through: 0, by: -1) { starts[prefix] = min(starts[prefix], starts[prefix + 1]) }
                self.starts = starts
                sharedBits = min(keyBits, 26, max(6, width + 1))
                var shared = [UInt64](repeating: 0, count: 1 << (sharedBits - 6))
                var at = 0
                while at < table.count {
                    var end = at + 1
                    while end < table.count, table[end] >> 32 == table[at] >> 32 { end += 1 }
                    if end - at >= 2, end - at <= largestBucket {
                        let prefix = Int(table[at] >> UInt64(64 - sharedBits))
                        shared[prefix >> 6] |= 1 << UInt64(prefix & 63)
                    }
                    at = end
                }
                self.shared = shared
            }

            /// The records of `table` sharing `record`'s key (empty when the bitmap says no
            /// key with its prefix is shared).
            func range(of record: UInt64, in table: UnsafeBufferPointer<UInt64>) -> Range<Int> {
                let hint = Int(record >> UInt64(64 - sharedBits))
                guard shared[hint >> 6] & (1 << UInt64(hint & 63)) != 0 else { return 0..<0 }
                let prefix = Int(record >> UInt64(64 - bits)), key = record & 0xFFFF_FFFF_0000_0000
                let candidates = table[starts[prefix]..<starts[prefix + 1]]
                let lower = candidates.partitionPoint { $0 < key }
                return lower..<candidates[lower...].partitionPoint { $0 < key + (1 << 32) }
            }
        }

        /// `row`'s `perImage` partners with the most votes (then the lowest rows), of at least
        /// `minimumVotes`: one vote for each image sharing one of its keys with 1 to
        /// `largestBucket` − 1 other images. `tally`: a zero count for every row (left so).
        func partners(of row: Int, tally: inout [UInt16]) -> [Int] {
            var members: [UInt32] = []
            for record in own[first[row]..<first[row] + Int(count[row])] {
                let shared = directory.range(of: record, in: table)
                guard shared.count >= 2, shared.count <= options.largestBucket else { continue }
                for member in table[shared] where Int(member & 0xFFFF_FFFF) != row {
                    let other = Int(member & 0xFFFF_FFFF)
                    if tally[other] == 0 { members.append(UInt32(other)) }
                    tally[other] &+= tally[other] == .max ? 0 : 1
                }
            }
            var best: [(votes: Int, row: Int)] = []
            for member in members.lazy.map(Int.init) {
                let votes = Int(tally[member])
                tally[member] = 0
                guard votes >= options.minimumVotes else { continue }
                let place = best.firstIndex { (votes, $0.row) > ($0.votes, member) } ?? best.endIndex
                if place < options.perImage { best.insert((votes, member), at: place) }
                if best.count > options.perImage { best.removeLast() }
            }
            return best.map(\.row)
        }
    }
}

/// Each chunk's proposals, set by one worker each.
private final class ProposalChunks: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[UInt64]]
    init(count: Int) { chunks = Array(repeating: [], count: count) }
    func set(_ i: Int, _ values: [UInt64]) { lock.lock(); chunks[i] = values; lock.unlock() }
    var joined: [UInt64] { lock.lock(); defer { lock.unlock() }; return chunks.flatMap { $0 } }
}

/// 8-byte records appended to `count` files by partition, through buffers, then read back one
/// whole partition at a time.
final class PartitionedRecords {
    let folder: URL
    let count: Int
    private let name: String
    private var buffers: [[UInt64]]
    private var handles: [FileHandle?]
    private static let bufferRecords = 8_192

    init(folder: URL, name: String, count: Int) throws(LocalFeatureError) {
        (self.folder, self.name, self.count) = (folder, name, max(1, count))
        buffers = Array(repeating: [], count: self.count)
        handles = Array(repeating: nil, count: self.count)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw LocalFeatureError("\(folder.path): cannot make the folder: \(error.localizedDescription)")
        }
    }

    private func url(_ partition: Int) -> URL { folder.appendingPathComponent("\(name)-\(partition).bin") }

    func append(contentsOf records: [UInt64], to partition: Int) throws(LocalFeatureError) {
        try flush(partition)
        buffers[partition] = records
        try flush(partition)
    }

    /// `body` given `partition`'s records (written and flushed) through a memory map.
    func withMapped<Value>(_ partition: Int, _ body: (UnsafeBufferPointer<UInt64>) throws(LocalFeatureError) -> Value)
        throws(LocalFeatureError) -> Value {
        guard FileManager.default.fileExists(atPath: url(partition).path) else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        let data: Data
        do {
            data = try Data(contentsOf: url(partition), options: .alwaysMapped)
        } catch {
            throw LocalFeatureError("\(url(partition).path): cannot read: \(error.localizedDescription)")
        }
        let result = data.withUnsafeBytes { raw -> Result<Value, LocalFeatureError> in
            do throws(LocalFeatureError) { return .success(try body(raw.bindMemory(to: UInt64.self))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    func append(_ record: UInt64, to partition: Int) throws(LocalFeatureError) {
        buffers[partition].append(record)
        if buffers[partition].count >= Self.bufferRecords { try flush(partition) }
    }

    /// Writes every buffer out and closes the files.
    func finishWriting() throws(LocalFeatureError) {
        for partition in 0..<count { try flush(partition) }
        for handle in handles { try? handle?.close() }
        handles = Array(repeating: nil, count: count)
    }

    /// The records of `partition` (written and flushed), in the order written.
    func records(of partition: Int) throws(LocalFeatureError) -> [UInt64] {
        try withMapped(partition) { Array($0) }
    }

    /// Removes the files.
    func remove() {
        for partition in 0..<count { remove(partition) }
    }

    /// Removes `partition`'s file.
    func remove(_ partition: Int) {
        try? handles[partition]?.close()
        handles[partition] = nil
        try? FileManager.default.removeItem(at: url(partition))
    }

    private func flush(_ partition: Int) throws(LocalFeatureError) {
        guard !buffers[partition].isEmpty else { return }
        do {
            if handles[partition] == nil {
                guard FileManager.default.createFile(atPath: url(partition).path, contents: nil) else {
                    throw LocalFeatureError("\(url(partition).path): cannot create")
                }
                handles[partition] = try FileHandle(forWritingTo: url(partition))
            }
            try handles[partition]?.write(contentsOf: buffers[partition].withUnsafeBytes { Data($0) })
        } catch let error as LocalFeatureError {
            throw error
        } catch {
            throw LocalFeatureError("\(url(partition).path): cannot write: \(error.localizedDescription)")
        }
        buffers[partition].removeAll(keepingCapacity: true)
    }
}
