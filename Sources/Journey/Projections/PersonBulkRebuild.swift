internal import Dispatch
internal import Glibc
internal import LMDB
internal import Synchronization

/// A rebuild of the person projections from nothing, resolved in memory over a long span of the log and written
/// once, in key order.
///
/// The chunked path (`PersonProjections.catchUp`) reads back and rewrites every person and timeline a chunk
/// touches, so over a long log each is written many times. Here nothing is stored yet, so there is nothing to
/// look up or load: the span is resolved by the same `IdentityBatch` steps as one big transaction would be, which
/// gives the same bytes (any split of the log does), and each table is then filled in key order with `MDB_APPEND`
/// (full pages, no searches) over several write transactions of bounded size. The checkpoints are written last:
/// until then the set holds state without a checkpoint, which every reader of a scratch set treats as unfinished
/// (it is cleared at open, by the next rebuild, or by `buildView`).
enum PersonBulkRebuild {
    /// Log positions read per read transaction (a long-lived reader would pin pages).
    static let readChunk: UInt64 = 1 << 18
    /// Bytes put per write transaction: bounded, so LMDB's dirty page list stays short.
    static let transactionBytes = 64 << 20

    /// Builds positions 1...`last` into `dbs`, which must be empty.
    static func build(_ dbs: PersonDatabases, log: EventLog, through last: UInt64) throws {
        var batch = IdentityBatch(expectedEvents: Int(last))
        batch.reset(nextPerson: 1)
        try resolve(log: log, through: last, into: &batch, dbs: dbs)
        batch.eventIdentifiers = batch.ids.count
        batch.sortPersonsByNumber()
        batch.flattenRoots()
        // Read-only from here, so the CPU-only steps go to a helper thread while this one writes: the identifiers'
        // key order (needed third), then the timelines' grouping and sorting (needed last).
        let resolved = batch
        let identifierOrder = Handoff<[Int32]>()
        let timelineGroups = Handoff<TimelineGroups>()
        DispatchQueue.global().async {
            identifierOrder.put(Self.identifierOrder(resolved))
            timelineGroups.put(TimelineGroups(resolved))
        }
        try writePersons(dbs, log: log, resolved)
        try writeMerges(dbs, log: log, resolved)
        try writeIdentifiers(dbs, log: log, resolved, order: identifierOrder.take())
        try writeTimelines(dbs, log: log, timelineGroups.take(), persons: resolved.persons)
        let counter = UInt64(resolved.nextPerson)
        try log.env.write { txn in
            try ProjectionMeta(version: IdentityProjection.version, checkpoint: last, counter: counter)
                .write(&txn, dbs.meta, name: IdentityProjection.name)
            try TimelineProjection.writeMeta(&txn, dbs, through: last)
        }
    }

    /// Steps 1 and 3 on two threads: a helper decodes the next range of the log (copying out the identifiers and
    /// hashing them) while this thread interns and attributes the current one.
    private static func resolve(
        log: EventLog, through last: UInt64, into batch: inout IdentityBatch, dbs: PersonDatabases
    ) throws {
        var ranges: [ClosedRange<UInt64>] = []
        var from: UInt64 = 1
        while from <= last {
            let to = min(last, from + readChunk - 1)
            ranges.append(from...to)
            from = to + 1
        }
        guard let first = ranges.first else { return }
        var current = try DecodedRange(log: log, range: first)
        for r in ranges.indices {
            let group = DispatchGroup()
            let next = ResultBox()
            if r + 1 < ranges.count {
                let range = ranges[r + 1]
                DispatchQueue.global().async(group: group) {
                    next.result.withLock { $0 = Result { try DecodedRange(log: log, range: range) } }
                }
            }
            let base = batch.events.count
            batch.intern(current)
            try log.env.read { txn in
                for k in base..<batch.events.count { try batch.attribute(k, txn, dbs: dbs) }
            }
            group.wait()
            if r + 1 < ranges.count {
                guard let decoded = next.result.withLock({ $0 }) else { throw StoreError("rebuild: a log range was not read") }
                current = try decoded.get()
            }
        }
    }

    /// Runs `body(&txn, start)` in successive write transactions; each returns where the next one starts, until
    /// `count`. (`Environment.write` may run a body twice after growing the map: the start is only advanced after
    /// a commit.)
    private static func inTransactions(
        _ env: Environment, count: Int, _ body: (inout WriteTransaction, Int) throws -> Int
    ) throws {
        var start = 0
        while start < count { start = try env.write { txn in try body(&txn, start) } }
    }

    /// Every identifier that has a person, in `person_ids` key order.
    private static func identifierOrder(_ batch: borrowing IdentityBatch) -> [Int32] {
        var order: [Int32] = []
        order.reserveCapacity(batch.ids.count)
        for i in 0..<Int32(batch.ids.count) where batch.ids.owner[Int(i)] >= 0 { order.append(i) }
        batch.ids.sortByKey(&order)
        return order
    }

    /// `person_ids`: the identifiers of `order`, in that (key) order.
    private static func writeIdentifiers(
        _ dbs: PersonDatabases, log: EventLog, _ batch: borrowing IdentityBatch, order: [Int32]
    ) throws {
        var numbers = [UInt32](repeating: 0, count: order.count)
        for (j, i) in order.enumerated() { numbers[j] = batch.persons[Int(batch.survivor(of: batch.ids.owner[Int(i)]))].number }
        let ids = batch.ids
        var key: [UInt8] = []
        var previous: [UInt8] = []
        key.reserveCapacity(IdentifierKind.maxInlineLength + 1)
        previous.reserveCapacity(IdentifierKind.maxInlineLength + 1)
        try inTransactions(log.env, count: order.count) { txn, start in
            var cursor = try txn.makeCursor(dbs.personIds)
            var bytes = 0
            var j = start
            // A new transaction's cursor starts unpositioned; `MDB_APPEND` still finds the end itself.
            previous.removeAll(keepingCapacity: true)
            if start > 0 { ids.key(order[start - 1], into: &previous) }
            while j < order.count && bytes < transactionBytes {
                ids.key(order[j], into: &key)
                // The key sort is exact up to 510 bytes; a longer identifier may land out of order: plain put.
                let inOrder = previous.isEmpty || Self.less(previous, key)
                var number = numbers[j].littleEndian
                try key.withUnsafeBytes { k in
                    try withUnsafeBytes(of: &number) { try cursor.put(key: k, value: $0, flags: inOrder ? .append : []) }
                }
                if inOrder { swap(&previous, &key) }
                bytes += key.count + 16
                j += 1
            }
            return j
        }
    }

    /// LMDB's default key order: bytes, then length.
    private static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                let n = min(x.count, y.count)
                if n > 0, let xb = x.baseAddress, let yb = y.baseAddress {
                    let c = memcmp(xb, yb, n)
                    if c != 0 { return c < 0 }
                }
                return x.count < y.count
            }
        }
    }

    /// `persons`: each surviving person's record, in number order.
    /// Takes the batch as a value, not `inout`: reached through an `inout` in the closure below, each `encode` call
    /// copied and destroyed the whole batch (~10% of a 10M-event rebuild, perf).
    private static func writePersons(_ dbs: PersonDatabases, log: EventLog, _ batch: IdentityBatch) throws {
        let order = batch.numberOrder
        var record = ByteWriter(capacity: 256)
        var sortedIds: [Int32] = []
        try inTransactions(log.env, count: order.count) { txn, start in
            var cursor = try txn.makeCursor(dbs.persons)
            var bytes = 0
            var j = start
            while j < order.count && bytes < transactionBytes {
                let p = order[j]
                j += 1
                let state = batch.persons[Int(p)]
                guard state.parent == p, state.touched else { continue }
                batch.encode(p, into: &record, scratch: &sortedIds)
                var k = UInt64(state.number)
                try record.withUnsafeBytes { v in
                    try withUnsafeBytes(of: &k) { try cursor.put(key: $0, value: v, flags: .append) }
                }
                bytes += record.count + 16
            }
            return j
        }
    }

    /// `person_merges`: the merge history, keyed by survivor (sorted, so the puts walk the tree in order).
    private static func writeMerges(_ dbs: PersonDatabases, log: EventLog, _ batch: borrowing IdentityBatch) throws {
        let merges = batch.merges.sorted { ($0.survivor, $0.position) < ($1.survivor, $1.position) }
        try inTransactions(log.env, count: merges.count) { txn, start in
            var j = start
            while j < merges.count && j - start < transactionBytes / 64 {
                let m = merges[j]
                var value = MergeLayout.encode(position: m.position, absorbed: m.absorbed, time: m.time)
                try withUnsafeBytes(of: &value) { try txn.put(dbs.merges, key: UInt64(m.survivor), value: $0) }
                j += 1
            }
            return j
        }
    }

    /// `timelines`: each surviving person's entries, in number order, split into chunks (`TimelineChunks`) as the
    /// incremental writer splits them; a person's chunks go in one transaction.
    private static func writeTimelines(
        _ dbs: PersonDatabases, log: EventLog, _ groups: TimelineGroups, persons: [PersonState]
    ) throws {
        let survivors = groups.survivors
        let size = TimelineLayout.entrySize
        try groups.entries.withUnsafeBufferPointer { all in
            try inTransactions(log.env, count: survivors.count) { txn, start in
                var cursor = try txn.makeCursor(dbs.timelines)
                var bytes = 0
                var b = start
                while b < survivors.count && bytes < transactionBytes {
                    let value = UnsafeRawBufferPointer(
                        UnsafeBufferPointer(rebasing: all[groups.starts[b]..<groups.starts[b + 1]]))
                    let number = persons[Int(survivors[b])].number
                    var offset = 0
                    var chunk: UInt32 = 0
                    while offset < value.count {
                        let end = min(value.count, offset + TimelineChunks.capacity * size)
                        var k = TimelineChunks.key(number, chunk: chunk)
                        try withUnsafeBytes(of: &k) {
                            try cursor.put(key: $0, value: UnsafeRawBufferPointer(rebasing: value[offset..<end]), flags: .append)
                        }
                        offset = end
                        chunk += 1
                        bytes += 16
                    }
                    b += 1
                    bytes += value.count
                }
                return b
            }
        }
    }
}

/// A value computed on a helper thread, taken (waiting if need be) by the thread that needs it.
private final class Handoff<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func put(_ v: T) {
        value.withLock { $0 = v }
        ready.signal()
    }

    func take() -> T {
        ready.wait()
        return value.withLock { v in
            guard let t = v else { preconditionFailure("Handoff.take before put") }
            v = nil
            return t
        }
    }
}

/// The helper thread's answer.
private final class ResultBox: Sendable {
    let result = Mutex<Result<DecodedRange, any Error>?>(nil)
}

/// A range of the log decoded for the resolver: its events, and their identifiers' bytes copied out of the map
/// with their hashes. In `events`, `user`, `anonymous` and `previousAnonymous` index `refs` (−1: absent).
struct DecodedRange: Sendable {
    struct Ref {
        var start: UInt32
        var length: UInt32
        var hash: UInt64
    }

    var events: [PendingEvent] = []
    var bytes: [UInt8] = []
    var refs: [Ref] = []

    init(log: EventLog, range: ClosedRange<UInt64>) throws {
        let count = Int(range.count)
        events.reserveCapacity(count)
        refs.reserveCapacity(count * 2)
        bytes.reserveCapacity(count * 24)
        try log.env.read { txn in
            let last = try log.forEachRecord(txn, from: range.lowerBound) { position, view in
                if position > range.upperBound { return false }
                guard let v = view.variable else {
                    throw StoreError("identity projection: the record at position \(position) is damaged")
                }
                var p = PendingEvent(position: position, view, v)
                if let u = v.userId { p.user = add(u) }
                if let a = v.anonymousId { p.anonymous = add(a) }
                if view.callTypeRaw == CallType.alias.rawValue, let prev = v.previousId { p.previousAnonymous = add(prev) }
                events.append(p)
                return position < range.upperBound
            }
            if last != range.upperBound {
                throw StoreError("identity projection: the log ends at position \(last), expected \(range.upperBound)")
            }
        }
    }

    private mutating func add(_ b: UnsafeRawBufferPointer) -> Int32 {
        refs.append(Ref(start: UInt32(bytes.count), length: UInt32(b.count), hash: Hashing.hash64(b)))
        bytes.appendRaw(b)
        return Int32(refs.count - 1)
    }
}

extension IdentityBatch {
    /// Events whose identifiers `intern` looks up together.
    static let touchGroup = 32

    /// Step 1 for a decoded range: interns its identifiers (as `readEvents` does) and appends its events.
    mutating func intern(_ range: DecodedRange) {
        var keys: [(kind: UInt8, hash64: UInt64)] = []
        keys.reserveCapacity(3 * Self.touchGroup)
        var scratch: [UInt32] = []
        scratch.reserveCapacity(3 * Self.touchGroup)
        range.bytes.withUnsafeBytes { all in
            range.refs.withUnsafeBufferPointer { refs in
                for (k, var p) in range.events.enumerated() {
                    if k % Self.touchGroup == 0 {
                        // The table's slots and entries of the next events' identifiers, loaded together (`touch`).
                        keys.removeAll(keepingCapacity: true)
                        for q in range.events[k..<min(k + Self.touchGroup, range.events.count)] {
                            if q.user >= 0 { keys.append((IdentifierKind.user, refs[Int(q.user)].hash)) }
                            if q.anonymous >= 0 { keys.append((IdentifierKind.anonymous, refs[Int(q.anonymous)].hash)) }
                        }
                        keys.withUnsafeBufferPointer { ids.touch($0, scratch: &scratch) }
                    }
                    var isNew = false
                    func id(_ kind: UInt8, _ r: Int32) -> Int32 {
                        let ref = refs[Int(r)]
                        let start = Int(ref.start)
                        let b = UnsafeRawBufferPointer(rebasing: all[start..<(start + Int(ref.length))])
                        return ids.intern(kind: kind, b, hash64: ref.hash, isNew: &isNew)
                    }
                    if p.user >= 0 { p.user = id(IdentifierKind.user, p.user) }
                    if p.anonymous >= 0 { p.anonymous = id(IdentifierKind.anonymous, p.anonymous) }
                    if p.previousAnonymous >= 0 {
                        let r = p.previousAnonymous
                        p.previousAnonymous = id(IdentifierKind.anonymous, r)
                        p.previousUser = id(IdentifierKind.user, r)
                    }
                    events.append(p)
                }
            }
        }
    }
}
