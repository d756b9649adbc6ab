internal import Glibc
internal import LMDB

/// Per person, the time-ordered list of their events (`TimelineLayout`): one LMDB value per person, so a full scan
/// of all journeys is one cursor pass over densely packed fixed-size entries.
///
/// Driven by the identity batch of the same transaction: the transaction's events are grouped by their final
/// person (a counting sort), and each touched person's value is written once. Events later than the stored ones
/// are appended; an out-of-order event or a merge sorts the union by (event time, position), which is a total order,
/// so the result does not depend on arrival order or batch boundaries.
struct TimelineProjection {
    static let name: StaticString = "timeline"
    static let version: UInt32 = TimelineLayout.version

    let dbs: PersonDatabases

    /// Runs after `IdentityProjection.write` of the same batch (which fills `batch.numberOrder`).
    func write(_ txn: inout WriteTransaction, _ batch: inout IdentityBatch, through last: UInt64) throws {
        let groups = TimelineGroups(&batch)
        var scratch: [UInt8] = []
        var merged: [PackedEntry] = []
        var cursor = try txn.makeCursor(dbs.timelines)
        try groups.entries.withUnsafeBufferPointer { all in
            try batch.persons.withUnsafeBufferPointer { persons in
                for (b, p) in groups.survivors.enumerated() {
                    let new = UnsafeBufferPointer(rebasing: all[groups.starts[b]..<groups.starts[b + 1]])
                    try writeTimeline(
                        of: p, new: new, persons: persons, txn: txn, cursor: &cursor, scratch: &scratch, merged: &merged)
                }
            }
        }
        _ = consume cursor
        // Persons merged away: their entries are now in their survivor's timeline (read above, so deleted last).
        for number in groups.absorbed {
            var k = UInt64(number)
            _ = try withUnsafeBytes(of: &k) { try txn.delete(dbs.timelines, key: $0) }
        }
        try Self.writeMeta(&txn, dbs, through: last)
    }

    static func writeMeta(_ txn: inout WriteTransaction, _ dbs: PersonDatabases, through last: UInt64) throws {
        try ProjectionMeta(version: version, checkpoint: last, counter: 0).write(&txn, dbs.meta, name: name)
    }

    /// Writes survivor `p`'s timeline: its stored entries, those of the stored persons it absorbed, and `new`.
    /// `cursor` is on `timelines`; survivors come in number order, so it moves forward page by page.
    private func writeTimeline(
        of p: Int32, new: UnsafeBufferPointer<PackedEntry>, persons: UnsafeBufferPointer<PersonState>,
        txn: borrowing WriteTransaction, cursor: inout Cursor, scratch: inout [UInt8], merged: inout [PackedEntry]
    ) throws {
        let survivor = persons[Int(p)]
        var key = UInt64(survivor.number)
        // Stored timelines of the members (the survivor itself first), copied out: the values live in pages this
        // transaction is about to change.
        scratch.removeAll(keepingCapacity: true)
        var storedSegments = 0
        if survivor.persisted {
            try withUnsafeBytes(of: &key) { k in
                if let e = try cursor.seek(k), e.integerKey == survivor.number, e.value.count > 0 {
                    scratch.append(contentsOf: e.value)
                    storedSegments += 1
                }
            }
        }
        var m = survivor.nextMember
        while m >= 0 {
            let member = persons[Int(m)]
            if member.persisted {
                let had = try txn.withValue(dbs.timelines, key: UInt64(member.number)) { v -> Bool in
                    scratch.append(contentsOf: v)
                    return v.count > 0
                }
                if had == true { storedSegments += 1 }
            }
            m = member.nextMember
        }
        let storedCount = scratch.count / TimelineLayout.entrySize

        // Fast path: the stored entries (of one person) all come before the new ones: append.
        let appendOnly =
            storedSegments <= 1
            && (storedCount == 0 || new.isEmpty
                || scratch.withUnsafeBytes { s in !PackedEntry.before(new[0], PackedEntry(s, at: storedCount - 1)) })
        if appendOnly {
            scratch.append(contentsOf: UnsafeRawBufferPointer(new))
        } else {
            merged.removeAll(keepingCapacity: true)
            merged.reserveCapacity(storedCount + new.count)
            scratch.withUnsafeBytes { s in
                for i in 0..<storedCount { merged.append(PackedEntry(s, at: i)) }
            }
            merged.append(contentsOf: new)
            merged.sort(by: PackedEntry.before)
            scratch.removeAll(keepingCapacity: true)
            merged.withUnsafeBytes { scratch.append(contentsOf: $0) }
        }
        // A person new in this transaction has a number above every stored one: append.
        try withUnsafeBytes(of: &key) { k in
            try scratch.withUnsafeBytes { v in
                try cursor.put(key: k, value: v, flags: survivor.persisted ? [] : .append)
            }
        }
    }
}

/// A batch's events grouped by their final person: one bucket per surviving touched person, in number order, each
/// sorted by (event time, position) (a counting sort keeps position order inside a bucket; most need no sort).
struct TimelineGroups {
    /// Local indices of the surviving touched persons, in number order.
    var survivors: [Int32] = []
    /// Bucket `b` is `entries[starts[b]..<starts[b + 1]]`.
    var starts: [Int]
    var entries: [PackedEntry]
    /// Numbers of the stored persons merged away by the batch.
    var absorbed: [UInt32] = []

    /// Needs `batch.numberOrder` (filled by `IdentityProjection.write` or the bulk rebuild).
    init(_ batch: inout IdentityBatch) {
        precondition(MemoryLayout<PackedEntry>.stride == TimelineLayout.entrySize)
        var bucketOf = [Int32](repeating: -1, count: batch.persons.count)
        for p in batch.numberOrder {
            let s = batch.persons[Int(p)]
            if s.parent == p && s.touched {
                bucketOf[Int(p)] = Int32(survivors.count)
                survivors.append(p)
            } else if s.parent != p && s.persisted {
                absorbed.append(s.number)
            }
        }
        let count = batch.events.count
        starts = [Int](repeating: 0, count: survivors.count + 1)
        var eventBucket = [Int32](repeating: 0, count: count)
        for k in 0..<count {
            let b = bucketOf[Int(batch.root(batch.events[k].person))]
            eventBucket[k] = b
            starts[Int(b) + 1] += 1
        }
        for b in 0..<survivors.count { starts[b + 1] += starts[b] }
        var fill = starts
        entries = [PackedEntry](repeating: PackedEntry(time: 0, name: 0, channel: 0, position: 0), count: count)
        batch.events.withUnsafeBufferPointer { events in
            entries.withUnsafeMutableBufferPointer { entries in
                for k in 0..<count {
                    let e = events[k]
                    let b = Int(eventBucket[k])
                    entries[fill[b]] = PackedEntry(
                        time: e.time, name: e.name, channel: e.channel, position: e.position, kind: e.kind)
                    fill[b] += 1
                }
                for b in 0..<survivors.count {
                    var bucket = UnsafeMutableBufferPointer(rebasing: entries[starts[b]..<starts[b + 1]])
                    if !Self.isSorted(bucket) { bucket.sort(by: PackedEntry.before) }
                }
            }
        }
    }

    private static func isSorted(_ b: UnsafeMutableBufferPointer<PackedEntry>) -> Bool {
        if b.count < 2 { return true }
        for i in 1..<b.count where PackedEntry.before(b[i], b[i - 1]) { return false }
        return true
    }
}
