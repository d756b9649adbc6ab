internal import LMDB

/// The newest part of the messageId index, kept in the writer's memory instead of `message_ids`.
///
/// Every commit used to insert its messageIds into `message_ids`, whose 4,096 hash buckets put the inserts on random
/// pages: a commit of 10,000 appends dirtied nearly every page of the index, one of 64 single appends 64 pages.
/// Now the entries of recent positions wait here and are written together, sorted by hash, once at least
/// `flushThreshold` have gathered, or with any commit of `directThreshold` new messages (an import's, as before). The log's `meta` holds
/// the last position the index covers (`dedup.through`); what lies after it is read back from the log at open, so
/// a killed process loses nothing: like a projection, the index is derived from the log with a checkpoint.
struct PendingMessageIds {
    static let flushThreshold = 65_536
    /// A commit with at least this many new messages indexes them (and any waiting ones) at once: its inserts are
    /// dense enough per index page already, and keeping them would only cost a dictionary insert and lookup each
    /// (a 10M-event import took 29.8 s when its 64k-message commits' ids waited, 26.0 s in an earlier run of the
    /// same comparison when each commit indexed its own).
    static let directThreshold = 8_192

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
