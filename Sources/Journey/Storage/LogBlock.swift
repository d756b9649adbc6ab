/// The log's value format (store format 3): consecutive records packed into one LMDB value, keyed by the block's
/// last position. One key and node per record cost LMDB 16–19 bytes of a ~64-byte record (a quarter of the log),
/// and a `put` each; a block of ~30 records costs one. Keyed by the last position, the block holding position p is
/// the first key ≥ p (one `MDB_SET_RANGE`), and the log's last position is still the last key.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | `marker` (0xB1) |
/// | 1 | 1 | record count N (1–255) |
/// | 2 | 2·(N − 1) | UInt16 LE: the end of each record but the last, from the start of the records |
/// | 2 + 2·(N − 1) | … | the records (`RecordView`), back to back; the last ends with the value |
///
/// Blocks are cut so that a value fits inside a leaf page (`inlineLimit`: 2,022 bytes with 4 KiB pages, two per
/// page), so reading one record touches one page; a record larger than that is a block of its own. A value
/// starting with the record version (1) is a single record, as format 2 stored them: both are read everywhere.
enum LogBlock {
    static let marker: UInt8 = 0xB1
    static let maxRecords = 255

    /// The largest value LMDB keeps inside a leaf page next to an 8-byte key: half the page less its header, the
    /// node's header, the key and the slot index (`mdb_leaf_size` against `me_nodemax`).
    static func inlineLimit(pageSize: Int) -> Int { (((pageSize - 16) / 2) & ~1) - 2 - 8 - 8 }
}

/// A log value read in place: a block, or a single record of format 2.
struct LogBlockView {
    let bytes: UnsafeRawBufferPointer
    let count: Int
    /// Where the records start.
    let base: Int

    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return nil }
        if first == RecordLayout.version {
            self.bytes = bytes
            count = 1
            base = 0
            return
        }
        guard first == LogBlock.marker, bytes.count >= 2 else { return nil }
        let n = Int(bytes[1])
        guard n >= 1, bytes.count >= 2 + 2 * (n - 1) else { return nil }
        self.bytes = bytes
        count = n
        base = 2 + 2 * (n - 1)
    }

    /// Record `i` (0 ≤ i < count); nil when the offsets are damaged.
    @inline(__always)
    func record(_ i: Int) -> UnsafeRawBufferPointer? {
        let start = i == 0 ? base : base &+ Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)))
        let end = i == count &- 1 ? bytes.count : base &+ Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 &+ 2 &* i, as: UInt16.self)))
        guard start <= end, end <= bytes.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}

/// Packs the records of one write transaction into blocks, handing each finished block to `emit` with its last
/// position. Reused across transactions (its buffers keep their capacity).
struct LogBlockBuilder {
    let limit: Int
    private var records: [UInt8] = []
    private var ends: [UInt16] = []
    private var value: [UInt8] = []
    private var lastPosition: UInt64 = 0

    init(pageSize: Int) {
        limit = LogBlock.inlineLimit(pageSize: pageSize)
        records.reserveCapacity(limit)
        value.reserveCapacity(limit)
    }

    /// Nothing gathered (after `flush`).
    var isEmpty: Bool { ends.isEmpty }

    /// Adds the record at `position` (one more than the last added), emitting the block first if it would not fit.
    @inline(__always)
    mutating func add(
        _ record: UnsafeRawBufferPointer, position: UInt64, emit: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        let n = ends.count
        // With this record the block would hold n + 1: a 2-byte header and n offsets before the records.
        if n > 0 && (n == LogBlock.maxRecords || 2 + 2 * n + records.count + record.count > limit) {
            try flush(emit)
        }
        records.appendRaw(record)
        ends.append(UInt16(truncatingIfNeeded: records.count))
        lastPosition = position
    }

    /// Emits what is gathered, if anything.
    mutating func flush(_ emit: (UInt64, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let n = ends.count
        guard n > 0 else { return }
        value.removeAll(keepingCapacity: true)
        value.append(LogBlock.marker)
        value.append(UInt8(truncatingIfNeeded: n))
        for k in 0..<(n - 1) {
            let e = ends[k].littleEndian
            value.append(UInt8(truncatingIfNeeded: e))
            value.append(UInt8(truncatingIfNeeded: e >> 8))
        }
        value.append(contentsOf: records)
        records.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        try value.withUnsafeBytes { try emit(lastPosition, $0) }
    }
}
