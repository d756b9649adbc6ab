internal import LMDB

/// The newest part of the messageId index, kept in the writer's memory instead of `message_ids`.
///
/// `message_ids` spreads its entries over 4,096 hash buckets, so the inserts of any sizeable commit land on nearly
/// every page of the index: each flush rewrites most of it (a 10M-event index is some 80 MB), and a commit of 64
/// single appends dirtied 64 pages. So the entries of recent positions wait here and are written together, sorted
/// by hash: once `flushThreshold` have gathered from small commits (concurrent appenders), or `bulkFlushThreshold`
/// when the commits are large (imports, batched appends). The log's `meta` holds the last position the index covers
/// (`dedup.through`); what lies after it is read back from the log at open, so a killed process loses nothing: like a
/// projection, the index is derived from the log with a checkpoint. A writer that closes with many entries waiting
/// writes them first, so the next open has little to read back.
struct PendingMessageIds {
    static let flushThreshold = 65_536
    /// A commit with at least this many new messages is a bulk one.
    static let bulkCommitThreshold = 8_192
    /// Waiting entries before a bulk commit flushes. Measured on a 10M-event import (writer thread, 2 cores): a
    /// flush per 64k-message commit cost 30% of the writer's time; one per 1M entries took the import from
    /// 24.2 s to 21.4 s (user CPU 35.5 s to 30.6 s). 4M entries was no faster (a larger dictionary, more cache misses).
    static let bulkFlushThreshold = 1 << 20

    /// How many entries may wait after a commit of `fresh` new messages.
    static func threshold(commitOf fresh: Int) -> Int {
        fresh >= bulkCommitThreshold ? bulkFlushThreshold : flushThreshold
    }

    /// hash → position; a second position for the same 64-bit hash (different messageIds) goes to `collisions`.
    private var byHash: [UInt64: UInt64] = [:]
    private var collisions: [HashedPosition] = []

    var count: Int { byHash.count + collisions.count }

    mutating func add(_ e: HashedPosition) {
        if byHash[e.hash] == nil { byHash[e.hash] = e.position } else { collisions.append(e) }
    }

    mutating func removeAll() {
        byHash.removeAll(keepingCapacity: true)
        collisions.removeAll(keepingCapacity: true)
    }

    /// The first position with this hash whose stored messageId `matches`, if any.
    func find(_ hash: UInt64, matches: (UInt64) throws -> Bool) rethrows -> UInt64? {
        guard let first = byHash[hash] else { return nil }
        if try matches(first) { return first }
        for c in collisions where c.hash == hash {
            if try matches(c.position) { return c.position }
        }
        return nil
    }

    /// Every entry, sorted by hash (then position), for a flush.
    func sorted() -> [HashedPosition] {
        var all = byHash.map { HashedPosition(hash: $0.key, position: $0.value) } + collisions
        all.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.position < $1.position }
        return all
    }

    /// The entries of the positions after the index's checkpoint, read from the log.
    static func load<T: TransactionReading & ~Copyable>(_ txn: borrowing T, log: EventLog) throws -> PendingMessageIds {
        var pending = PendingMessageIds()
        let last = try log.lastPosition(txn)
        let through = try log.dedupThrough(txn) ?? last
        guard through < last else { return pending }
        try txn.withCursor(log.events) { c in
            var e = try c.seek(through + 1)
            while let entry = e {
                guard let mid = RecordView(entry.value)?.messageId else {
                    throw StoreError("the record at position \(entry.integerKey) is damaged")
                }
                pending.add(HashedPosition(hash: Hashing.hash64(mid), position: entry.integerKey))
                e = try c.next()
            }
        }
        return pending
    }
}

/// A messageId hash and the position of its message.
struct HashedPosition: Sendable {
    var hash: UInt64
    var position: UInt64
}
