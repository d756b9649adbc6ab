internal import LMDB

/// The log's databases and what one write transaction does to them. Positions are assigned here, inside the
/// write transaction, so commit order is position order and the log has no gaps (lmdb.md).
struct EventLog: Sendable {
    /// Format of the store; a store written by a newer format is refused, not misread.
    static let formatVersion: UInt32 = 3

    let env: Environment
    /// last position of a block (native UInt64) → the block's records (`LogBlock`).
    let events: Database
    /// messageId dedup index: bucket (top 12 bits of the hash, UInt32 key) → UInt64 values
    /// (next 28 bits of the hash << 36 | position), packed and compared as integers (DUPFIXED, INTEGERDUP).
    /// 40 hash bits narrow the candidates; the record's messageId confirms a match.
    let messageIds: Database
    /// symbol id → bytes.
    let symbols: Database
    /// event name symbol → count of events (status without a scan).
    let nameCounts: Database
    /// sequence → rejected message (raw text, source, line, reason, time).
    let rejected: Database
    /// string keys: format version, creation time.
    let meta: Database
    /// first position of an appended batch → when the engine received it (UTC ms, Int64): the received time of
    /// every event up to the next entry. One entry per batch instead of 8 bytes per event.
    let received: Database

    init(env: Environment, create: Bool) throws {
        self.env = env
        let dbs = try env.openDatabases(
            [
                ("meta", []), ("events", .integerKey), ("message_ids", [.integerKey, .dupSort, .dupFixed, .integerDup]), ("symbols", .integerKey),
                ("name_counts", .integerKey), ("rejected", .integerKey), ("received", .integerKey),
            ], create: create)
        meta = dbs[0]
        events = dbs[1]
        messageIds = dbs[2]
        symbols = dbs[3]
        nameCounts = dbs[4]
        rejected = dbs[5]
        received = dbs[6]
    }

    /// Checks (and on a new store, writes) the format version.
    func checkFormat(path: String, writable: Bool) throws {
        let key = Array("format".utf8)
        let stored: UInt32? = try env.read { txn in
            try key.withUnsafeBytes { k in try txn.withValue(meta, key: k) { $0.loadUnaligned(as: UInt32.self) } }
        }
        if let stored {
            if stored > Self.formatVersion {
                throw StoreError(
                    "the store at \(path) has format \(stored), newer than this journey understands (\(Self.formatVersion)); upgrade journey")
            }
            // Format 2 may leave the newest messageIds out of `message_ids` (`PendingMessageIds`), which format-1
            // code would not know to look for, and format 3 packs records into blocks (`LogBlock`), which format-2
            // code would misread: a store a writer opens is marked 3, so older code refuses it. A format-1 store has
            // every messageId indexed, so the index's checkpoint starts at its last position.
            if stored == Self.formatVersion || !writable { return }
        }
        guard writable else { return }
        try env.write { txn in
            var v = Self.formatVersion
            try key.withUnsafeBytes { k in
                try withUnsafeBytes(of: &v) { try txn.put(meta, key: k, value: $0) }
            }
            if try dedupThrough(txn) == nil { try setDedupThrough(&txn, try lastPosition(txn)) }
        }
    }

    func loadSymbols(into table: SymbolTable) throws {
        let from = UInt64(table.count + 1)
        let loaded: [(UInt32, [UInt8])] = try env.read { txn in
            try txn.withCursor(symbols) { c in
                var out: [(UInt32, [UInt8])] = []
                var e = try c.seek(from)
                while let entry = e {
                    out.append((UInt32(entry.integerKey), Array(entry.value)))
                    e = try c.next()
                }
                return out
            }
        }
        table.load(loaded)
    }

    /// (first position, received time) entries covering `from...to`.
    func receivedTimes<T: TransactionReading & ~Copyable>(_ txn: borrowing T, from: UInt64, to: UInt64) throws
        -> [(UInt64, Int64)]
    {
        try txn.withCursor(received) { c in
            var out: [(UInt64, Int64)] = []
            var e = try c.seek(from)
            if e == nil || e.map({ $0.integerKey > from }) == true {
                e = e == nil ? try c.last() : try c.previous()
            }
            while let entry = e, entry.integerKey <= to {
                out.append((entry.integerKey, entry.value.loadUnaligned(as: Int64.self)))
                e = try c.next()
            }
            return out
        }
    }

    /// The last position in the log, 0 if empty (blocks are keyed by their last position).
    func lastPosition<T: TransactionReading & ~Copyable>(_ txn: borrowing T) throws -> UInt64 {
        try txn.withCursor(events) { c in try c.last()?.integerKey ?? 0 }
    }

    /// Runs `body` on the record at `position`, read in place; nil when there is none (or it is not a record). One
    /// cursor seek: the block holding it is the first whose key (its last position) is ≥ `position`.
    @inline(__always)
    func withRecord<T: TransactionReading & ~Copyable, R>(
        _ txn: borrowing T, at position: UInt64, _ body: (RecordView) throws -> R
    ) throws -> R? {
        try txn.withCursor(events) { c in
            guard position > 0, let e = try c.seek(position), let block = LogBlockView(e.value) else { return nil }
            let first = e.integerKey &- UInt64(block.count) &+ 1
            guard position >= first, let bytes = block.record(Int(position &- first)), let record = RecordView(bytes)
            else { return nil }
            return try body(record)
        }
    }

    /// Calls `body` with each record from `from` on, in position order, until it returns false (after that record)
    /// or the log ends. Returns the last position passed to `body` (`from` − 1 when none). A damaged block or record,
    /// or a gap, is an error naming the position.
    func forEachRecord<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, from: UInt64, _ body: (UInt64, RecordView) throws -> Bool
    ) throws -> UInt64 {
        let from = max(from, 1)
        return try txn.withCursor(events) { c in
            var entry = try c.seek(from)
            var visited = from - 1
            while let e = entry {
                let last = e.integerKey
                guard let block = LogBlockView(e.value), UInt64(block.count) <= last else {
                    throw StoreError("the log block ending at position \(last) is damaged")
                }
                let first = last - UInt64(block.count) + 1
                // Positions have no gaps: each block starts where the one before ended.
                guard first <= visited + 1 && last > visited else {
                    throw StoreError("the log has no record at position \(visited + 1)")
                }
                var i = Int(visited + 1 - first)
                while i < block.count {
                    let position = first + UInt64(i)
                    guard let bytes = block.record(i), let record = RecordView(bytes) else {
                        throw StoreError("the record at position \(position) is damaged")
                    }
                    visited = position
                    if try !body(position, record) { return visited }
                    i += 1
                }
                entry = try c.next()
            }
            return visited
        }
    }

    static func bucket(_ hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 52) }

    static let positionBits: UInt64 = 36
    static let positionMask: UInt64 = (1 << positionBits) - 1

    static func dedupValue(hash: UInt64, position: UInt64) -> UInt64 {
        ((hash >> 24) & 0x0FFF_FFFF) << positionBits | (position & positionMask)
    }

    /// The position of a stored message with this messageId hash whose messageId `matches` (called with the
    /// stored messageId only when the hash prefixes agree, so a new message costs one index seek), if any.
    /// `cursor` is on `messageIds`, reused across calls.
    func findDuplicate<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, cursor c: inout Cursor, hash: UInt64, matches: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64? {
        var bucket = Self.bucket(hash)
        var probe = Self.dedupValue(hash: hash, position: 0)
        let wantedPrefix = probe >> Self.positionBits
        return try withUnsafeBytes(of: &bucket) { kb in
            try withUnsafeBytes(of: &probe) { pb in
                var entry = try c.seek(key: kb, value: pb)
                while let e = entry {
                    let value = e.value.loadUnaligned(as: UInt64.self)
                    guard value >> Self.positionBits == wantedPrefix else { return nil }
                    let position = value & Self.positionMask
                    if try storedMessageId(txn, at: position, matches: matches) { return position }
                    entry = try c.nextDuplicate()
                }
                return nil
            }
        }
    }

    private static let dedupThroughKey: StaticString = "dedup.through"

    /// The last position whose messageId is in `message_ids` (later ones are in the writer's `PendingMessageIds`);
    /// nil on a format-1 store, which indexed every message as it was appended.
    func dedupThrough<T: TransactionReading & ~Copyable>(_ txn: borrowing T) throws -> UInt64? {
        let k = Self.dedupThroughKey
        return try txn.withValue(meta, key: UnsafeRawBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount)) {
            $0.count == 8 ? UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) : nil
        } ?? nil
    }

    func setDedupThrough(_ txn: inout WriteTransaction, _ position: UInt64) throws {
        let k = Self.dedupThroughKey
        var v = position.littleEndian
        try withUnsafeBytes(of: &v) {
            try txn.put(meta, key: UnsafeRawBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount), value: $0)
        }
    }

    /// Whether the messageId of the record at `position` `matches` (false when there is none): how a hash match is
    /// confirmed, whether the hash came from `message_ids` or from the writer's `PendingMessageIds`.
    func storedMessageId<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, at position: UInt64, matches: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> Bool {
        try withRecord(txn, at: position) { rec in try rec.messageId.map { try matches($0) } ?? false } ?? false
    }
}
