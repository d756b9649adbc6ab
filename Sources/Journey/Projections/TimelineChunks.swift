internal import LMDB

/// How a person's timeline is split over `timelines` values (version 3): consecutive chunks of `capacity` entries,
/// keyed `person << 32 | chunk index` (native `MDB_INTEGERKEY`), so a cursor walk meets a person's chunks together
/// and in order. Chunk c holds entries [c·N, (c+1)·N) of the sorted timeline; only the last may be shorter, and a
/// person without entries has no chunk. The split depends only on the sorted entries, so incremental writes and a
/// rebuild give the same bytes.
///
/// Why chunks: one value per person made every append copy the person's whole history (overflow pages for long
/// ones); with chunks an in-order append reads and rewrites only the last chunk.
enum TimelineChunks {
    /// Entries per chunk: 80 × 24 = 1,920 bytes stays inline in a 4 KB leaf page (LMDB moves values over about
    /// 2,020 bytes, with an 8-byte key, to overflow pages), and two full chunks share a page.
    static let capacity = 80
    static let fullBytes = capacity * TimelineLayout.entrySize

    @inline(__always) static func key(_ person: UInt32, chunk: UInt32) -> UInt64 {
        UInt64(person) << 32 | UInt64(chunk)
    }

    @inline(__always) static func person(_ key: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: key >> 32) }

    @inline(__always) static func chunk(_ key: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: key) }

    /// Calls `body` with `person`'s whole timeline, or returns nil when they have none. One chunk (most persons) is
    /// read in place; several are concatenated into `scratch`, which the caller reuses across calls. The bytes are
    /// valid only inside `body`.
    static func withTimeline<T: TransactionReading & ~Copyable, R>(
        _ txn: borrowing T, _ db: Database, person: UInt32, scratch: inout [UInt8],
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        // A short first chunk is the only one; a full one may have successors.
        var single = true
        let direct = try txn.withValue(db, key: key(person, chunk: 0)) { v -> R? in
            if v.count < fullBytes { return try body(v) }
            single = false
            scratch.removeAll(keepingCapacity: true)
            scratch.appendRaw(v)
            return nil
        }
        guard let direct else { return nil }
        if single { return direct }
        try txn.withCursor(db) { c in try appendChunks(of: person, from: 1, &c, into: &scratch) }
        return try scratch.withUnsafeBytes { try body($0) }
    }

    /// Appends `person`'s chunks from index `first` on to `out`, through `c` (left on the next person's chunk).
    static func appendChunks(of person: UInt32, from first: UInt32, _ c: inout Cursor, into out: inout [UInt8]) throws {
        var entry = try c.seek(key(person, chunk: first))
        while let e = entry, Self.person(e.integerKey) == person {
            out.appendRaw(e.value)
            entry = try c.next()
        }
    }
}
