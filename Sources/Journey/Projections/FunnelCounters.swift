internal import LMDB

/// Keys of `funnel_state` (layout in `SavedFunnelDatabases`).
enum FunnelKeys {
    static func summary(_ id: UInt32) -> [UInt8] { prefix(id) + [SavedFunnelDatabases.summaryTag] }

    static func prefix(_ id: UInt32) -> [UInt8] {
        withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    static func pendingMeta(_ id: UInt32) -> [UInt8] { prefix(id) + [SavedFunnelDatabases.pendingMetaTag] }

    /// The first key of the funnel's pending records (they follow in sequence order).
    static func pendingRecords(_ id: UInt32) -> [UInt8] { prefix(id) + [SavedFunnelDatabases.pendingTag] }

    static func pendingRecord(_ id: UInt32, sequence: UInt64) -> [UInt8] {
        var k = pendingRecords(id)
        withUnsafeBytes(of: sequence.bigEndian) { k.appendRaw($0) }
        return k
    }

    /// A duration counter's key at one level (tag).
    static func duration(_ id: UInt32, tag: UInt8, step: Int, kind: Int, value: UInt64) -> [UInt8] {
        var k = prefix(id) + [tag, UInt8(step), UInt8(kind)]
        withUnsafeBytes(of: value.bigEndian) { k.appendRaw($0) }
        return k
    }
}

/// A person's best attempt as the counters see it: reached UInt8, excluded UInt8, then the step times Int64 LE.
/// Only ever in memory (the before and after of a transaction); the store keeps the aggregates, not the rows.
enum FunnelRow {
    static func encode(_ o: FunnelOutcome, into row: inout [UInt8]) {
        row.append(UInt8(o.reached))
        row.append(o.excluded ? 1 : 0)
        for k in 0..<o.reached { withUnsafeBytes(of: o.times[k].littleEndian) { row.appendRaw($0) } }
    }
}

/// What one transaction changes in a funnel's aggregates: persons' attempts removed (as they were) and added (as
/// they are now). An attempt that did not change cancels out.
struct FunnelDelta {
    let steps: Int
    var excluded: Int64 = 0
    var counts: [Int64]
    var sumPrevious: [Int64]
    var sumStart: [Int64]
    /// Packed (step, kind, duration) of the attempts added and of those removed: sorted and netted at write time,
    /// so the counters are bumped in key order (no hashing, page after page). Two plain arrays of keys sort several
    /// times faster than one of (key, change) pairs.
    var added: [UInt64] = []
    var removed: [UInt64] = []

    static let valueBits: UInt64 = 49
    static let valueMask: UInt64 = (1 << 48) - 1

    init(steps: Int) {
        self.steps = steps
        counts = [Int64](repeating: 0, count: steps)
        sumPrevious = counts
        sumStart = counts
    }

    /// Step in bits 50…, kind in bit 49, the duration in the low 48 bits: sorting packed keys sorts by (step, kind,
    /// duration), the order of the counters' keys.
    @inline(__always) static func pack(step: Int, kind: Int, value: Int64) -> UInt64 {
        UInt64(step) << 50 | UInt64(kind) << 49 | (UInt64(max(0, value)) & valueMask)
    }

    /// Adds (sign 1) or removes (sign −1) an attempt's contribution (a `FunnelRow`).
    mutating func add(_ row: UnsafeRawBufferPointer, sign: Int64) {
        guard row.count >= 2 else { return }
        let reached = min(Int(row[0]), (row.count - 2) / 8, steps)
        if reached == 0 { return }
        if row[1] != 0 {
            excluded += sign
            return
        }
        @inline(__always) func time(_ k: Int) -> Int64 { Int64(littleEndian: row.loadUnaligned(fromByteOffset: 2 + 8 * k, as: Int64.self)) }
        let t0 = time(0)
        var previousTime = t0
        counts[0] += sign
        for k in 1..<max(1, reached) {
            let t = time(k)
            counts[k] += sign
            sumPrevious[k] += sign * (t - previousTime)
            sumStart[k] += sign * (t - t0)
            let fromPrevious = Self.pack(step: k, kind: 0, value: t - previousTime)
            let fromStart = Self.pack(step: k, kind: 1, value: t - t0)
            if sign > 0 {
                added.append(fromPrevious)
                added.append(fromStart)
            } else {
                removed.append(fromPrevious)
                removed.append(fromStart)
            }
            previousTime = t
        }
    }

    /// The net change per key, sorted by key, without the keys whose additions and removals cancel out.
    static func netted(added: inout [UInt64], removed: inout [UInt64]) -> [(key: UInt64, change: Int64)] {
        HashRadixSort.sort(&added)
        HashRadixSort.sort(&removed)
        var out: [(key: UInt64, change: Int64)] = []
        out.reserveCapacity(added.count + removed.count)
        var (i, j) = (0, 0)
        while i < added.count || j < removed.count {
            let key = min(i < added.count ? added[i] : .max, j < removed.count ? removed[j] : .max)
            var change: Int64 = 0
            while i < added.count && added[i] == key {
                change += 1
                i += 1
            }
            while j < removed.count && removed[j] == key {
                change -= 1
                j += 1
            }
            if change != 0 { out.append((key, change)) }
        }
        return out
    }

    /// Sorted by key, equal keys merged, the ones that cancel out dropped.
    static func merged(_ changes: inout [(key: UInt64, change: Int64)]) -> [(key: UInt64, change: Int64)] {
        changes.sort { $0.key < $1.key }
        var out: [(key: UInt64, change: Int64)] = []
        out.reserveCapacity(changes.count)
        for d in changes {
            if let last = out.last, last.key == d.key {
                out[out.count - 1].change += d.change
            } else {
                out.append(d)
            }
        }
        out.removeAll { $0.change == 0 }
        return out
    }

    /// Writes the summary and the counters. `pending`: the two finest levels get one appended record of this
    /// transaction's changes instead (`FunnelPending`), so a commit dirties a few pages rather than a page of
    /// nearly every counter; a full computation (`pending` false) writes every level.
    mutating func write(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32, pending: Bool) throws {
        let merged = Self.netted(added: &added, removed: &removed)
        let isZero = excluded == 0 && counts.allSatisfy { $0 == 0 } && merged.isEmpty
        if isZero { return }
        let summaryKey = FunnelKeys.summary(id)
        var summary = try summaryKey.withUnsafeBytes { k in
            try txn.withValue(dbs.state, key: k) { b -> [Int64] in
                (0..<(b.count / 8)).map { Int64(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
            }
        } ?? []
        if summary.count != 1 + 3 * steps { summary = [Int64](repeating: 0, count: 1 + 3 * steps) }
        summary[0] += excluded
        for k in 0..<steps {
            summary[1 + k] += counts[k]
            summary[1 + steps + k] += sumPrevious[k]
            summary[1 + 2 * steps + k] += sumStart[k]
        }
        try summaryKey.withUnsafeBytes { k in
            try summary.map(\.littleEndian).withUnsafeBytes { v in try txn.put(dbs.state, key: k, value: v) }
        }
        let levels = SavedFunnelDatabases.levels
        try Self.bump(&txn, dbs, id: id, merged, levels: pending ? Array(levels.prefix(SavedFunnelDatabases.directLevels)) : levels)
        if pending { try FunnelPending.append(&txn, dbs, id: id, merged) }
    }

    /// Adds sorted, merged changes to the counters of `levels`, each level in key order: shifting the value keeps
    /// (step, kind, value) order, so equal buckets are adjacent.
    static func bump(
        _ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32, _ merged: [(key: UInt64, change: Int64)],
        levels: [(tag: UInt8, shift: UInt64)]
    ) throws {
        if merged.isEmpty { return }
        var key = FunnelKeys.duration(id, tag: 0, step: 0, kind: 0, value: 0)
        try txn.withCursor(dbs.state) { c in
            for level in levels {
                var i = 0
                while i < merged.count {
                    let group = merged[i].key >> Self.valueBits
                    let bucket = (merged[i].key & Self.valueMask) >> level.shift
                    var change: Int64 = 0
                    while i < merged.count && merged[i].key >> Self.valueBits == group
                        && (merged[i].key & Self.valueMask) >> level.shift == bucket
                    {
                        change += merged[i].change
                        i += 1
                    }
                    guard change != 0 else { continue }
                    key[4] = level.tag
                    key[5] = UInt8(truncatingIfNeeded: group >> 1)
                    key[6] = UInt8(truncatingIfNeeded: group & 1)
                    withUnsafeBytes(of: bucket.bigEndian) { b in for j in 0..<8 { key[7 + j] = b[j] } }
                    try Self.bump(&c, key, by: change)
                }
            }
        }
    }

    /// Adds `change` to a counter, deleting it at zero. Keys come in order, so the cursor mostly stays on its page.
    static func bump(_ c: inout Cursor, _ key: [UInt8], by change: Int64) throws {
        try key.withUnsafeBytes { k in
            var current: Int64 = 0
            var found = false
            if let e = try c.seek(k), e.key.elementsEqual(k) {
                current = Int64(littleEndian: e.value.loadUnaligned(as: Int64.self))
                found = true
            }
            let next = current + change
            if next <= 0 {
                if found { try c.deleteCurrent() }
            } else {
                var v = next.littleEndian
                try withUnsafeBytes(of: &v) { try c.put(key: k, value: $0, flags: found ? .current : []) }
            }
        }
    }
}

/// The finest duration counters' changes not yet folded into them: one record per transaction, (packed key UInt64
/// LE, change Int64 LE) sorted by key. Readers add them to the counters they walk (`changes(…)`); once there are
/// `foldRecords` records or `foldChanges` changes, they are folded in (one pass over the counters, in key order)
/// and deleted.
enum FunnelPending {
    static let foldRecords: UInt64 = 64
    static let foldChanges: UInt64 = 1 << 20
    static let entrySize = 16

    /// (next sequence, records, changes) of a funnel's pending records.
    static func meta(_ txn: borrowing WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32) throws -> (UInt64, UInt64, UInt64) {
        try FunnelKeys.pendingMeta(id).withUnsafeBytes { k in
            try txn.withValue(dbs.state, key: k) { v -> (UInt64, UInt64, UInt64) in
                guard v.count >= 24 else { return (0, 0, 0) }
                return (
                    UInt64(littleEndian: v.loadUnaligned(as: UInt64.self)),
                    UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                    UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            }
        } ?? (0, 0, 0)
    }

    static func setMeta(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32, _ m: (UInt64, UInt64, UInt64)) throws {
        let v = [m.0.littleEndian, m.1.littleEndian, m.2.littleEndian]
        try FunnelKeys.pendingMeta(id).withUnsafeBytes { k in try v.withUnsafeBytes { try txn.put(dbs.state, key: k, value: $0) } }
    }

    /// Appends one transaction's merged changes, and folds when there are enough.
    static func append(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32, _ merged: [(key: UInt64, change: Int64)]) throws {
        if merged.isEmpty { return }
        var (sequence, records, changes) = try meta(txn, dbs, id: id)
        // (key, change) pairs lie in memory as the record's entries do: two little-endian words each (a
        // little-endian machine is assumed, `TimelineLayout`).
        try FunnelKeys.pendingRecord(id, sequence: sequence).withUnsafeBytes { k in
            try merged.withUnsafeBytes { try txn.put(dbs.state, key: k, value: $0) }
        }
        sequence += 1
        records += 1
        changes += UInt64(merged.count)
        try setMeta(&txn, dbs, id: id, (sequence, records, changes))
        if records >= foldRecords || changes >= foldChanges { try fold(&txn, dbs, id: id) }
    }

    /// Adds every pending record to the finest counters and deletes the records.
    static func fold(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32) throws {
        var all: [(key: UInt64, change: Int64)] = []
        var keys: [[UInt8]] = []
        try txn.withCursor(dbs.state) { c in
            try forEachRecord(&c, id: id) { key, v in
                keys.append(Array(key))
                for i in 0..<(v.count / entrySize) { all.append(entry(v, i)) }
            }
        }
        for k in keys { _ = try k.withUnsafeBytes { try txn.delete(dbs.state, key: $0) } }
        let levels = SavedFunnelDatabases.levels
        try FunnelDelta.bump(&txn, dbs, id: id, FunnelDelta.merged(&all), levels: Array(levels.dropFirst(SavedFunnelDatabases.directLevels)))
        let (sequence, _, _) = try meta(txn, dbs, id: id)
        try setMeta(&txn, dbs, id: id, (sequence, 0, 0))
    }

    @inline(__always) static func entry(_ v: UnsafeRawBufferPointer, _ i: Int) -> (key: UInt64, change: Int64) {
        (
            UInt64(littleEndian: v.loadUnaligned(fromByteOffset: i * entrySize, as: UInt64.self)),
            Int64(littleEndian: v.loadUnaligned(fromByteOffset: i * entrySize + 8, as: Int64.self))
        )
    }

    /// Calls `body` with each pending record (key, value) of the funnel, in sequence order, read in place.
    static func forEachRecord(_ c: inout Cursor, id: UInt32, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        let first = FunnelKeys.pendingRecords(id)
        var e = try first.withUnsafeBytes { try c.seek($0) }
        while let entry = e, entry.key.count == first.count + 8, entry.key.prefix(first.count).elementsEqual(first) {
            try body(entry.key, entry.value)
            e = try c.next()
        }
    }

    /// The pending changes of (step, kind) for durations in `lo..<hi`, summed per bucket of `shift` bits: element
    /// b is the change of bucket `lo >> shift + b`. What a reader adds to the counters of that level. Each record is
    /// binary-searched for `lo`, then read in order (no sorting).
    static func changes(_ c: inout Cursor, id: UInt32, step: Int, kind: Int, lo: UInt64, hi: UInt64, shift: UInt64) throws
        -> [Int64]
    {
        let base = lo >> shift
        var out = [Int64](repeating: 0, count: Int((hi - lo) >> shift))
        let group = UInt64(step) << 1 | UInt64(kind)
        let start = FunnelDelta.pack(step: step, kind: kind, value: Int64(min(lo, FunnelDelta.valueMask)))
        try forEachRecord(&c, id: id) { _, v in
            let n = v.count / entrySize
            var (a, b) = (0, n)
            while a < b {
                let m = (a + b) / 2
                if entry(v, m).key < start { a = m + 1 } else { b = m }
            }
            while a < n {
                let e = entry(v, a)
                let value = e.key & FunnelDelta.valueMask
                if e.key >> FunnelDelta.valueBits != group || value >= hi { break }
                out[Int((value >> shift) - base)] += e.change
                a += 1
            }
        }
        return out
    }
}
