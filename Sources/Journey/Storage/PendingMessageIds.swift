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
    /// 24.2 s to 21.4 s (user CPU 35.5 s to 30.6 s). 4M entries was no faster (measured with the dictionary this table
    /// replaced: more cache misses).
    static let bulkFlushThreshold = 1 << 20

    /// How many entries may wait after a commit of `fresh` new messages.
    static func threshold(commitOf fresh: Int) -> Int {
        fresh >= bulkCommitThreshold ? bulkFlushThreshold : flushThreshold
    }

    /// Every waiting entry, as added: commit by commit, so equal hashes are in position order.
    private var entries: [HashedPosition] = []
    /// For lookups: open addressing with linear probing, a slot's home being the hash's top bits (the hash is
    /// uniform already: no second hashing). Position 0 marks an empty slot (positions start at 1). Entries with the
    /// same hash (different messageIds) take successive slots, oldest first.
    /// Before this table, a `[UInt64: UInt64]` dictionary and a comparison sort at each flush took ~40% of the
    /// writer's time in the batched-append benchmark (perf).
    private var slots = [HashedPosition](repeating: HashedPosition(hash: 0, position: 0), count: minimumSlots)
    private var shift: UInt64 = 64 - UInt64(minimumSlots.trailingZeroBitCount)
    private static let minimumSlots = 1 << 16

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ e: HashedPosition) {
        if (entries.count + 1) * 2 > slots.count { resize(to: slots.count * 2) }
        entries.append(e)
        insert(e)
    }

    /// Adds a transaction's entries, which come sorted by hash. The table is grown to its final size first: grown
    /// while they went in, the smallest hashes went into the bottom of a table too small for all of them, at a local
    /// load of (entries to come) / (slots), and the probes ran for thousands of slots (a 1M-message commit spent
    /// most of its time there).
    mutating func add(contentsOf new: [HashedPosition]) {
        var size = slots.count
        while (entries.count + new.count) * 2 > size { size *= 2 }
        if size != slots.count { resize(to: size) }
        entries.append(contentsOf: new)
        for e in new { insert(e) }
    }

    private mutating func insert(_ e: HashedPosition) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: e.hash >> shift)
        slots.withUnsafeMutableBufferPointer { t in
            while t[i].position != 0 { i = (i + 1) & mask }
            t[i] = e
        }
    }

    /// Re-places the entries in the order of the old table's slots, starting after an empty one so that each
    /// cluster is read whole (equal hashes stay oldest first): their new homes then rise too, and the new table is
    /// written nearly in order instead of at random (from `entries`, a 1M-entry table took ~4% of a batched
    /// append's writer in cache misses).
    private mutating func resize(to n: Int) {
        let old = slots
        slots = [HashedPosition](repeating: HashedPosition(hash: 0, position: 0), count: n)
        shift = 64 - UInt64(n.trailingZeroBitCount)
        old.withUnsafeBufferPointer { t in
            let mask = t.count - 1
            var start = 0
            while start < t.count && t[start].position != 0 { start += 1 }  // the load stays ≤ 1/2: one is empty
            for k in 0..<t.count {
                let e = t[(start + k) & mask]
                if e.position != 0 { insert(e) }
            }
        }
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        // Cleared in place (a few ms for the table of a bulk import) rather than shrunk and grown again.
        slots.withUnsafeMutableBufferPointer { t in
            for i in t.indices { t[i] = HashedPosition(hash: 0, position: 0) }
        }
    }

    /// Loads the home slot of each hash, so that the cache misses of a run of `find`s overlap instead of each waiting
    /// for its own (the table of a bulk import is tens of MB; a transaction's lookups come in hash order, which is
    /// slot order). What is loaded goes into `touched`, which nothing reads: it only keeps the loads.
    mutating func touch(_ hashes: ArraySlice<HashedRecord>) {
        var sum: UInt64 = 0
        slots.withUnsafeBufferPointer { t in
            for r in hashes { sum &+= t[Int(truncatingIfNeeded: r.hash >> shift)].position }
        }
        touched &+= sum
    }
    private var touched: UInt64 = 0

    /// The first position with this hash whose stored messageId `matches`, if any.
    func find(_ hash: UInt64, matches: (UInt64) throws -> Bool) rethrows -> UInt64? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash >> shift)
        while true {
            let e = slots[i]
            if e.position == 0 { return nil }
            if e.hash == hash, try matches(e.position) { return e.position }
            i = (i + 1) & mask
        }
    }

    /// Every entry, sorted by hash (then position), for a flush. The table is nearly that order already (a slot's
    /// home is the hash's top bits): read in slot order, the entries that wrapped past the end to the first slots
    /// moved back to the end, then an insertion sort moves each entry at most across its cluster. One pass instead of a
    /// six-pass radix sort with two copies (their fresh pages were a few % of the writer's time at each flush).
    func sorted() -> [HashedPosition] {
        var out: [HashedPosition] = []
        out.reserveCapacity(entries.count)
        slots.withUnsafeBufferPointer { t in
            // The cluster at slot 0 may hold entries whose home is at the end of the table.
            var firstEmpty = 0
            while firstEmpty < t.count && t[firstEmpty].position != 0 { firstEmpty += 1 }
            var wrapped: [HashedPosition] = []
            for i in 0..<firstEmpty {
                if Int(truncatingIfNeeded: t[i].hash >> shift) > i { wrapped.append(t[i]) } else { out.append(t[i]) }
            }
            for i in firstEmpty..<t.count where t[i].position != 0 { out.append(t[i]) }
            out.append(contentsOf: wrapped)
        }
        out.withUnsafeMutableBufferPointer { a in
            a.insertionSort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.position < $1.position }
        }
        return out
    }

    /// The entries of the positions after the index's checkpoint, read from the log.
    static func load<T: TransactionReading & ~Copyable>(_ txn: borrowing T, log: EventLog) throws -> PendingMessageIds {
        var pending = PendingMessageIds()
        let last = try log.lastPosition(txn)
        let through = try log.dedupThrough(txn) ?? last
        guard through < last else { return pending }
        _ = try log.forEachRecord(txn, from: through + 1) { position, record in
            guard let mid = record.messageId else {
                throw StoreError("the record at position \(position) is damaged")
            }
            pending.add(HashedPosition(hash: Hashing.hash64(mid), position: position))
            return true
        }
        return pending
    }
}

/// A messageId hash and the position of its message.
struct HashedPosition: Sendable {
    var hash: UInt64
    var position: UInt64
}
