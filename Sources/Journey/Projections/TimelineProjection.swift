internal import Glibc
internal import LMDB

/// Per person, the time-ordered list of their events (`TimelineLayout`), stored as fixed-size chunks
/// (`TimelineChunks`), so a full scan of all journeys is one cursor pass over densely packed entries.
///
/// Driven by the identity batch of the same transaction: the transaction's events are grouped by their final
/// person (a counting sort), and each touched person's chunks are written once. Events later than the stored ones
/// fill the last chunk and add new ones; an out-of-order event or a merge rewrites from the first chunk it changes.
/// The order (event time, position) is total and the split into chunks depends only on it, so the result does not
/// depend on arrival order or batch boundaries.
struct TimelineProjection {
    static let name: StaticString = "timeline"
    static let version: UInt32 = TimelineLayout.version

    let dbs: PersonDatabases

    /// Runs after `IdentityProjection.write` of the same batch (which fills `batch.numberOrder`).
    func write(_ txn: inout WriteTransaction, _ batch: inout IdentityBatch, through last: UInt64) throws {
        let groups = TimelineGroups(batch)
        // Reused across persons: entries of the stored persons a survivor absorbed (with the new ones), stored
        // entries from the first chunk rewritten, and what is written from there.
        var members: [PackedEntry] = []
        var stored: [PackedEntry] = []
        var merged: [PackedEntry] = []
        var cursor = try txn.makeCursor(dbs.timelines)
        try groups.entries.withUnsafeBufferPointer { all in
            try batch.persons.withUnsafeBufferPointer { persons in
                for (b, p) in groups.survivors.enumerated() {
                    let new = UnsafeBufferPointer(rebasing: all[groups.starts[b]..<groups.starts[b + 1]])
                    try writeTimeline(
                        of: p, new: new, persons: persons, cursor: &cursor, members: &members, stored: &stored,
                        merged: &merged)
                }
            }
        }
        // Persons merged away: their entries are now in their survivor's timeline (read above, so deleted last).
        for number in groups.absorbed {
            while let e = try cursor.seek(TimelineChunks.key(number, chunk: 0)),
                TimelineChunks.person(e.integerKey) == number
            {
                try cursor.deleteCurrent()
            }
        }
        _ = consume cursor
        try Self.writeMeta(&txn, dbs, through: last)
    }

    static func writeMeta(_ txn: inout WriteTransaction, _ dbs: PersonDatabases, through last: UInt64) throws {
        try ProjectionMeta(version: version, checkpoint: last, counter: 0).write(&txn, dbs.meta, name: name)
    }

    /// Writes survivor `p`'s timeline: its stored entries, those of the stored persons it absorbed, and `new`.
    /// Only the chunks from the first one the arrivals change are read and written, so an in-order append costs
    /// the last chunk, whatever the length of the history.
    private func writeTimeline(
        of p: Int32, new: UnsafeBufferPointer<PackedEntry>, persons: UnsafeBufferPointer<PersonState>,
        cursor: inout Cursor, members: inout [PackedEntry], stored: inout [PackedEntry], merged: inout [PackedEntry]
    ) throws {
        let survivor = persons[Int(p)]
        // Stored timelines of the absorbed members, copied out: their pages are about to change.
        members.removeAll(keepingCapacity: true)
        var m = survivor.nextMember
        while m >= 0 {
            let member = persons[Int(m)]
            if member.persisted { try Self.appendEntries(of: member.number, from: 0, &cursor, into: &members) }
            m = member.nextMember
        }
        if !members.isEmpty {
            members.append(contentsOf: new)
            members.sort(by: PackedEntry.before)
        }
        try members.withUnsafeBufferPointer { union in
            let arriving = union.isEmpty ? new : union
            guard let low = arriving.first else { return }
            var start: UInt32 = 0
            stored.removeAll(keepingCapacity: true)
            if survivor.persisted { start = try locate(survivor.number, after: low, &cursor, stored: &stored) }
            merged.removeAll(keepingCapacity: true)
            merged.reserveCapacity(stored.count + arriving.count)
            stored.withUnsafeBufferPointer { Self.merge($0, arriving, into: &merged) }

            // A person new in this transaction has a number above every stored one: append.
            let flags: PutFlags = survivor.persisted ? [] : .append
            try merged.withUnsafeBytes { all in
                var offset = 0
                var index = start
                while offset < all.count {
                    let end = min(all.count, offset + TimelineChunks.fullBytes)
                    var k = TimelineChunks.key(survivor.number, chunk: index)
                    try withUnsafeBytes(of: &k) {
                        try cursor.put(key: $0, value: UnsafeRawBufferPointer(rebasing: all[offset..<end]), flags: flags)
                    }
                    offset = end
                    index += 1
                }
            }
        }
    }

    /// Finds the first of `number`'s chunks that arrivals from `low` on change, and copies the stored entries from
    /// there on into `stored`. Walks back from the last chunk: late events usually land near the end.
    /// Returns that chunk's index (one past the last chunk when the last is full and every arrival sorts after it).
    private func locate(
        _ number: UInt32, after low: PackedEntry, _ cursor: inout Cursor, stored: inout [PackedEntry]
    ) throws -> UInt32 {
        let end = TimelineChunks.key(number, chunk: .max)
        var entry = try cursor.seek(end)
        if entry?.integerKey != end { entry = entry == nil ? try cursor.last() : try cursor.previous() }
        guard let e = entry, TimelineChunks.person(e.integerKey) == number else { return 0 }
        let last = TimelineChunks.chunk(e.integerKey)
        // Copied now, before the cursor moves: the common case needs only this chunk.
        stored.appendPacked(e.value)
        // The last chunk has room for the arrivals unless full; an earlier chunk (always full) changes only when
        // `low` sorts before its end.
        var start = e.value.count < TimelineChunks.fullBytes ? last : last + 1
        var chunk = e
        while true {
            let n = chunk.value.count / TimelineLayout.entrySize
            guard n > 0, PackedEntry.before(low, PackedEntry(chunk.value, at: n - 1)) else { break }
            start = TimelineChunks.chunk(chunk.integerKey)
            guard start > 0, let previous = try cursor.previous(), TimelineChunks.person(previous.integerKey) == number
            else { break }
            chunk = previous
        }
        if start > last {
            stored.removeAll(keepingCapacity: true)
        } else if start < last {
            stored.removeAll(keepingCapacity: true)
            try Self.appendEntries(of: number, from: start, &cursor, into: &stored)
        }
        return start
    }

    /// Appends `number`'s entries from chunk `first` on.
    private static func appendEntries(
        of number: UInt32, from first: UInt32, _ cursor: inout Cursor, into out: inout [PackedEntry]
    ) throws {
        var entry = try cursor.seek(TimelineChunks.key(number, chunk: first))
        while let e = entry, TimelineChunks.person(e.integerKey) == number {
            out.appendPacked(e.value)
            entry = try cursor.next()
        }
    }

    /// Merges two sorted lists (the arrivals usually all come after the stored ones: a concatenation).
    private static func merge(
        _ a: UnsafeBufferPointer<PackedEntry>, _ b: UnsafeBufferPointer<PackedEntry>, into out: inout [PackedEntry]
    ) {
        if let lastA = a.last, let firstB = b.first, !PackedEntry.before(firstB, lastA) {
            out.append(contentsOf: a)
            out.append(contentsOf: b)
            return
        }
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            if PackedEntry.before(b[j], a[i]) {
                out.append(b[j])
                j += 1
            } else {
                out.append(a[i])
                i += 1
            }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
    }
}

extension Array where Element == PackedEntry {
    /// Appends the entries of a stored value (its bytes are the entries' memory layout: `PackedEntry`).
    mutating func appendPacked(_ value: UnsafeRawBufferPointer) {
        let n = value.count / TimelineLayout.entrySize
        guard n > 0 else { return }
        let old = count
        append(contentsOf: repeatElement(PackedEntry(time: 0, name: 0, channel: 0, position: 0), count: n))
        let size = TimelineLayout.entrySize
        withUnsafeMutableBytes { dst in
            UnsafeMutableRawBufferPointer(rebasing: dst[(old * size)..<((old + n) * size)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: value[0..<(n * size)]))
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
    init(_ batch: borrowing IdentityBatch) {
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
            let b = bucketOf[Int(batch.survivor(of: batch.events[k].person))]
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
