internal import LMDB
internal import Glibc

/// Persons per semantics §2, kept as LMDB state: identifiers linked by a message carrying both a userId and an
/// anonymousId, or by an alias (previousId → userId), transitively and retroactively.
///
/// Per transaction the work is grouped, not done per event against LMDB:
/// 1. read the new records in place and intern their identifiers in an in-memory table (`IdentifierTable`);
/// 2. look each distinct identifier up in `person_ids` once;
/// 3. replay the events in position order in memory: create persons, merge them (the survivor is the lower person
///    number, merged ones are absorbed in increasing number order), attribute each event to its person;
/// 4. write each changed identifier, person record and merge once.
/// Step 3 does exactly what applying the events one at a time would do, so any split of the log into
/// transactions gives the same bytes (the determinism tests check this).
///
/// A previousId is looked up as an anonymous id, else as a userId; if it is neither yet, it becomes an anonymous id.
/// previousId counts only on `alias` calls (the Segment spec gives it no meaning elsewhere).
struct IdentityProjection {
    static let name: StaticString = "identity"
    /// Bump when the state's layout or meaning changes: the projection is then rebuilt on open.
    static let version: UInt32 = 1

    let dbs: PersonDatabases

    /// Reads the log's records `from...to` and resolves them to persons in memory (steps 1–3).
    /// `batch` is reset first (it is reused across transactions to keep its memory).
    func resolve(
        _ txn: borrowing WriteTransaction, log: EventLog, from: UInt64, to: UInt64, nextPerson: UInt32,
        into batch: inout IdentityBatch
    ) throws {
        batch.reset(nextPerson: nextPerson)
        try batch.readEvents(txn, log: log, from: from, to: to)
        try batch.lookUpIdentifiers(txn, dbs: dbs)
        for k in 0..<batch.events.count { try batch.attribute(k, txn, dbs: dbs) }
    }

    /// Writes what `resolve` changed (step 4) and the checkpoint.
    func write(_ txn: inout WriteTransaction, _ batch: inout IdentityBatch, through last: UInt64) throws {
        // person_ids: every identifier whose person changed (new, or its person was merged away), in key order:
        // the events' identifiers in the order they were looked up, then those read from merged persons' records.
        var changed: [Int32] = []
        var extra: [Int32] = []
        for i in batch.keyOrder where batch.ids.owner[Int(i)] >= 0 {
            if batch.ids.stored[Int(i)] != batch.persons[Int(batch.root(batch.ids.owner[Int(i)]))].number {
                changed.append(i)
            }
        }
        for i in Int32(batch.eventIdentifiers)..<Int32(batch.ids.count) where batch.ids.owner[Int(i)] >= 0 {
            if batch.ids.stored[Int(i)] != batch.persons[Int(batch.root(batch.ids.owner[Int(i)]))].number {
                extra.append(i)
            }
        }
        batch.ids.sortByKey(&extra)
        var key: [UInt8] = []
        key.reserveCapacity(64)
        var cursor = try txn.makeCursor(dbs.personIds)
        for list in [changed, extra] {
            for i in list {
                var number = batch.persons[Int(batch.root(batch.ids.owner[Int(i)]))].number.littleEndian
                batch.ids.key(i, into: &key)
                try key.withUnsafeBytes { k in
                    try withUnsafeBytes(of: &number) { try cursor.put(key: k, value: $0) }
                }
            }
        }
        _ = consume cursor

        // persons: each touched survivor once, in number order; absorbed stored persons are deleted.
        var record = ByteWriter(capacity: 256)
        var sortedIds: [Int32] = []
        batch.sortPersonsByNumber()
        var personCursor = try txn.makeCursor(dbs.persons)
        for p in batch.numberOrder {
            let state = batch.persons[Int(p)]
            if state.parent != p {
                if state.persisted {
                    var k = UInt64(state.number)
                    _ = try withUnsafeBytes(of: &k) { try txn.delete(dbs.persons, key: $0) }
                }
                continue
            }
            guard state.touched else { continue }
            batch.encode(p, into: &record, scratch: &sortedIds)
            // New persons have numbers above every stored one and come in increasing order: append.
            var k = UInt64(state.number)
            try record.withUnsafeBytes { v in
                try withUnsafeBytes(of: &k) { try personCursor.put(key: $0, value: v, flags: state.persisted ? [] : .append) }
            }
        }
        _ = consume personCursor

        // person_merges: history, keyed by the surviving person.
        for m in batch.merges {
            var value = MergeLayout.encode(position: m.position, absorbed: m.absorbed, time: m.time)
            try withUnsafeBytes(of: &value) { try txn.put(dbs.merges, key: UInt64(m.survivor), value: $0) }
        }

        try ProjectionMeta(version: Self.version, checkpoint: last, counter: UInt64(batch.nextPerson))
            .write(&txn, dbs.meta, name: Self.name)
    }
}

/// An event of the transaction on its way to a person.
struct PendingEvent {
    var time: Int64
    var name: UInt32
    var channel: UInt32
    var position: UInt64
    var kind: EntryKind
    /// Identifier indices in the batch's table, −1 when absent.
    var user: Int32 = -1
    var anonymous: Int32 = -1
    /// An alias's previousId, as an anonymous id and as a userId (which one it is is decided when it is applied).
    var previousAnonymous: Int32 = -1
    var previousUser: Int32 = -1
    /// Local index of the person it was attributed to (follow `parent` to the survivor).
    var person: Int32 = -1

    /// The record's fixed fields, its identifiers not yet interned.
    @inline(__always)
    init(position: UInt64, _ view: RecordView, _ v: RecordView.Variable) {
        time = view.eventTime
        name = view.eventName
        channel = view.channel
        self.position = position
        kind = EntryKind(userId: v.userId != nil, anonymousId: v.anonymousId != nil, callType: view.callTypeRaw)
    }
}

/// A person as the transaction sees it: loaded from `persons` on first touch, or new.
struct PersonState {
    var number: UInt32
    /// Local index of the person it was merged into; itself while it survives.
    var parent: Int32
    /// Has a record in `persons` (from an earlier transaction).
    var persisted: Bool
    /// Its record was read (always true for a new person).
    var loaded: Bool
    /// Changed by this transaction (an event, a new identifier or a merge).
    var touched = false
    /// Chain of its identifiers through `IdentifierTable.nextOfPerson`.
    var firstId: Int32 = -1
    var lastId: Int32 = -1
    /// Chain of the local persons merged into it, itself first (`nextMember`).
    var nextMember: Int32 = -1
    var lastMember: Int32
    var aggregates = PersonAggregates()
    /// Identifier index of the first-seen anonymous id, −1 if none.
    var anonymousId: Int32 = -1

    init(number: UInt32, index: Int32, persisted: Bool) {
        self.number = number
        self.parent = index
        self.persisted = persisted
        self.loaded = !persisted
        self.lastMember = index
    }
}

/// A merge made by the transaction, for `person_merges`.
struct MergeEvent {
    var survivor: UInt32
    var position: UInt64
    var absorbed: UInt32
    var time: Int64
}

/// One transaction's identity work: the identifiers and persons it touches, and its events in position order.
struct IdentityBatch {
    var ids: IdentifierTable
    var persons: [PersonState] = []
    var localOf: [UInt32: Int32] = [:]
    var events: [PendingEvent] = []
    var merges: [MergeEvent] = []
    var nextPerson: UInt32
    /// The identifiers of the events (the first `eventIdentifiers` of the table) in `person_ids` key order.
    var keyOrder: [Int32] = []
    var eventIdentifiers = 0
    /// Local persons by number, filled when writing.
    var numberOrder: [Int32] = []

    init(expectedEvents: Int = 65_536, nextPerson: UInt32 = 1) {
        ids = IdentifierTable(capacity: expectedEvents / 3)
        events.reserveCapacity(expectedEvents)
        persons.reserveCapacity(expectedEvents / 4)
        localOf.reserveCapacity(expectedEvents / 4)
        self.nextPerson = max(nextPerson, 1)
    }

    /// Empties the batch for the next transaction, keeping its memory.
    mutating func reset(nextPerson: UInt32) {
        ids.removeAll()
        persons.removeAll(keepingCapacity: true)
        localOf.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
        merges.removeAll(keepingCapacity: true)
        keyOrder.removeAll(keepingCapacity: true)
        eventIdentifiers = 0
        self.nextPerson = max(nextPerson, 1)
    }

    // MARK: Steps 1 and 2

    mutating func readEvents<T: TransactionReading & ~Copyable>(_ txn: borrowing T, log: EventLog, from: UInt64, to: UInt64)
        throws
    {
        let last = try log.forEachRecord(txn, from: from) { position, view in
            if position > to { return false }
            guard let v = view.variable else {
                throw StoreError("identity projection: the record at position \(position) is damaged")
            }
            var p = PendingEvent(position: position, view, v)
            var isNew = false
            if let u = v.userId { p.user = ids.intern(kind: IdentifierKind.user, u, isNew: &isNew) }
            if let a = v.anonymousId { p.anonymous = ids.intern(kind: IdentifierKind.anonymous, a, isNew: &isNew) }
            if view.callTypeRaw == CallType.alias.rawValue, let prev = v.previousId {
                p.previousAnonymous = ids.intern(kind: IdentifierKind.anonymous, prev, isNew: &isNew)
                p.previousUser = ids.intern(kind: IdentifierKind.user, prev, isNew: &isNew)
            }
            events.append(p)
            return position < to
        }
        if last != to {
            throw StoreError("identity projection: the log ends at position \(last), expected \(to)")
        }
    }

    /// One `person_ids` lookup per distinct identifier of the transaction.
    mutating func lookUpIdentifiers(_ txn: borrowing WriteTransaction, dbs: PersonDatabases) throws {
        // In key order through one cursor: LMDB then searches only the current page while keys stay on it.
        eventIdentifiers = ids.count
        keyOrder.removeAll(keepingCapacity: true)
        keyOrder.append(contentsOf: 0..<Int32(ids.count))
        ids.sortByKey(&keyOrder)
        var key: [UInt8] = []
        key.reserveCapacity(64)
        var cursor = try txn.makeCursor(dbs.personIds)
        for i in keyOrder {
            ids.key(i, into: &key)
            let found = try key.withUnsafeBytes { k -> UInt32? in
                guard let e = try cursor.seek(k), e.key.count == k.count, let eb = e.key.baseAddress,
                    let kb = k.baseAddress, memcmp(eb, kb, k.count) == 0
                else { return nil }
                return UInt32(littleEndian: e.value.loadUnaligned(as: UInt32.self))
            }
            if let found {
                ids.stored[Int(i)] = found
                ids.owner[Int(i)] = local(found)
            }
        }
    }

    /// The local index of a stored person, registered (not yet loaded) on first sight.
    mutating func local(_ number: UInt32) -> Int32 {
        if let i = localOf[number] { return i }
        let i = Int32(persons.count)
        persons.append(PersonState(number: number, index: i, persisted: true))
        localOf[number] = i
        return i
    }

    // MARK: Step 3

    /// Points every person straight at its survivor, so `survivor(of:)` is one read and the batch can be shared
    /// read-only (the bulk rebuild's writers and its helper thread).
    mutating func flattenRoots() {
        for i in persons.indices { persons[i].parent = root(Int32(i)) }
    }

    /// The survivor of `i`, without shortening the path (`root` does): for a batch shared read-only.
    @inline(__always)
    func survivor(of i: Int32) -> Int32 {
        var x = i
        while persons[Int(x)].parent != x { x = persons[Int(x)].parent }
        return x
    }

    /// The surviving person of local person `i` (path-halving union-find).
    @inline(__always)
    mutating func root(_ i: Int32) -> Int32 {
        var x = i
        while true {
            let p = persons[Int(x)].parent
            if p == x { return x }
            let gp = persons[Int(p)].parent
            persons[Int(x)].parent = gp
            x = gp
        }
    }

    /// The survivor of `i`, with its record loaded.
    @inline(__always)
    mutating func loadedRoot<T: TransactionReading & ~Copyable>(_ i: Int32, _ txn: borrowing T, dbs: PersonDatabases) throws
        -> Int32
    {
        let r = root(i)
        if !persons[Int(r)].loaded { try load(r, txn, dbs: dbs) }
        return r
    }

    /// Reads a stored person's record: its aggregates and all its identifiers (registered in the table).
    mutating func load<T: TransactionReading & ~Copyable>(_ p: Int32, _ txn: borrowing T, dbs: PersonDatabases) throws {
        let number = persons[Int(p)].number
        let ok = try txn.withValue(dbs.persons, key: UInt64(number)) { bytes -> Bool in
            guard let r = PersonRecordView(bytes) else { return false }
            var a = PersonAggregates()
            a.events = r.events
            a.firstSeen = r.firstSeen
            a.lastSeen = r.lastSeen
            a.firstPosition = r.firstPosition
            a.lastPosition = r.lastPosition
            a.merges = r.merges
            a.anonymousTime = r.anonymousTime
            a.anonymousPosition = r.anonymousPosition
            persons[Int(p)].aggregates = a
            let anonymousIndex = r.anonymousIndex
            var consistent = true
            let complete = r.forEachIdentifier { index, kind, b in
                var isNew = false
                let id = ids.intern(kind: kind, b, isNew: &isNew)
                if isNew {
                    ids.stored[Int(id)] = number
                    ids.owner[Int(id)] = p
                } else if ids.owner[Int(id)] != p {
                    consistent = false
                }
                link(id, to: p)
                if UInt32(index) == anonymousIndex { persons[Int(p)].anonymousId = id }
            }
            return complete && consistent
        }
        guard ok == true else {
            throw StoreError(
                "identity projection: the record of person \(number) is missing or does not match person_ids; rebuild the projections")
        }
        persons[Int(p)].loaded = true
    }

    @inline(__always)
    mutating func link(_ id: Int32, to p: Int32) {
        ids.nextOfPerson[Int(id)] = -1
        let last = persons[Int(p)].lastId
        if last < 0 {
            persons[Int(p)].firstId = id
        } else {
            ids.nextOfPerson[Int(last)] = id
        }
        persons[Int(p)].lastId = id
    }

    /// Applies event `k`: links its identifiers (creating or merging persons) and attributes it.
    mutating func attribute<T: TransactionReading & ~Copyable>(_ k: Int, _ txn: borrowing T, dbs: PersonDatabases) throws {
        let e = events[k]
        var previous: Int32 = -1
        if e.previousAnonymous >= 0 {
            if ids.owner[Int(e.previousAnonymous)] >= 0 {
                previous = e.previousAnonymous
            } else if ids.owner[Int(e.previousUser)] >= 0 {
                previous = e.previousUser
            } else {
                previous = e.previousAnonymous
            }
        }
        // The distinct persons these identifiers already belong to (at most three), by increasing number.
        var roots: (Int32, Int32, Int32) = (-1, -1, -1)
        var n = 0
        try addRoot(of: e.user, &roots, &n, txn, dbs: dbs)
        try addRoot(of: e.anonymous, &roots, &n, txn, dbs: dbs)
        try addRoot(of: previous, &roots, &n, txn, dbs: dbs)

        let survivor: Int32
        switch n {
        case 0:
            survivor = Int32(persons.count)
            // New persons are never looked up by number in this transaction: no `localOf` entry.
            persons.append(PersonState(number: nextPerson, index: survivor, persisted: false))
            nextPerson += 1
        case 1:
            survivor = roots.0
        default:
            // The lowest person number survives; the others are absorbed in increasing number order.
            survivor = roots.0
            merge(roots.1, into: survivor, time: e.time, position: e.position)
            if n == 3 { merge(roots.2, into: survivor, time: e.time, position: e.position) }
        }

        assign(e.user, to: survivor)
        assign(e.anonymous, to: survivor)
        assign(previous, to: survivor)

        persons[Int(survivor)].touched = true
        persons[Int(survivor)].aggregates.add(time: e.time, position: e.position)
        if e.anonymous >= 0 { offerAnonymous(e.anonymous, to: survivor, time: e.time, position: e.position) }
        if previous >= 0 && ids.kinds[Int(previous)] == IdentifierKind.anonymous {
            offerAnonymous(previous, to: survivor, time: e.time, position: e.position)
        }
        events[k].person = survivor
    }

    /// Adds the survivor of identifier `id`'s person to `roots` (kept sorted by person number, no repeats).
    @inline(__always)
    mutating func addRoot<T: TransactionReading & ~Copyable>(
        of id: Int32, _ roots: inout (Int32, Int32, Int32), _ n: inout Int, _ txn: borrowing T, dbs: PersonDatabases
    ) throws {
        guard id >= 0, ids.owner[Int(id)] >= 0 else { return }
        let r = try loadedRoot(ids.owner[Int(id)], txn, dbs: dbs)
        if r == roots.0 || r == roots.1 || r == roots.2 { return }
        let number = persons[Int(r)].number
        switch n {
        case 0:
            roots.0 = r
        case 1:
            if number < persons[Int(roots.0)].number { roots = (r, roots.0, -1) } else { roots.1 = r }
        default:
            if number < persons[Int(roots.0)].number {
                roots = (r, roots.0, roots.1)
            } else if number < persons[Int(roots.1)].number {
                roots = (roots.0, r, roots.1)
            } else {
                roots.2 = r
            }
        }
        n += 1
    }

    /// Gives a still unassigned identifier to person `p`.
    @inline(__always)
    mutating func assign(_ id: Int32, to p: Int32) {
        guard id >= 0, ids.owner[Int(id)] < 0 else { return }
        ids.owner[Int(id)] = p
        link(id, to: p)
    }

    /// Keeps the anonymous id seen first: earliest (event time, position), then the smaller bytes.
    mutating func offerAnonymous(_ id: Int32, to p: Int32, time: Int64, position: UInt64) {
        let a = persons[Int(p)].aggregates
        let current = persons[Int(p)].anonymousId
        if current < 0 || time < a.anonymousTime
            || (time == a.anonymousTime && position < a.anonymousPosition)
            || (time == a.anonymousTime && position == a.anonymousPosition && ids.less(id, current))
        {
            persons[Int(p)].anonymousId = id
            persons[Int(p)].aggregates.anonymousTime = time
            persons[Int(p)].aggregates.anonymousPosition = position
        }
    }

    mutating func merge(_ q: Int32, into s: Int32, time: Int64, position: UInt64) {
        let absorbed = persons[Int(q)]
        persons[Int(s)].aggregates.absorb(absorbed.aggregates)
        if absorbed.anonymousId >= 0 {
            offerAnonymous(
                absorbed.anonymousId, to: s, time: absorbed.aggregates.anonymousTime,
                position: absorbed.aggregates.anonymousPosition)
        }
        // Identifiers and members: append q's chains to s's.
        if absorbed.firstId >= 0 {
            if persons[Int(s)].lastId < 0 {
                persons[Int(s)].firstId = absorbed.firstId
            } else {
                ids.nextOfPerson[Int(persons[Int(s)].lastId)] = absorbed.firstId
            }
            persons[Int(s)].lastId = absorbed.lastId
        }
        persons[Int(persons[Int(s)].lastMember)].nextMember = q
        persons[Int(s)].lastMember = absorbed.lastMember
        persons[Int(q)].parent = s
        persons[Int(q)].touched = true
        persons[Int(s)].touched = true
        merges.append(MergeEvent(survivor: persons[Int(s)].number, position: position, absorbed: absorbed.number, time: time))
    }

    // MARK: Step 4 helpers

    /// Local persons ordered by number (puts in key order touch each page once).
    /// Fills `numberOrder`: local persons by number (puts in key order touch each page once).
    mutating func sortPersonsByNumber() {
        var keyed = persons.indices.map { (persons[$0].number, Int32($0)) }
        keyed.sort { $0.0 < $1.0 }
        numberOrder.removeAll(keepingCapacity: true)
        numberOrder.append(contentsOf: keyed.lazy.map(\.1))
    }

    /// The record of survivor `p`.
    func encode(_ p: Int32, into w: inout ByteWriter, scratch: inout [Int32]) {
        let state = persons[Int(p)]
        scratch.removeAll(keepingCapacity: true)
        var id = state.firstId
        while id >= 0 {
            scratch.append(id)
            id = ids.nextOfPerson[Int(id)]
        }
        ids.sort(&scratch)
        var display = UInt32(0)
        var anonymousIndex = PersonLayout.none
        var firstUser: UInt32? = nil
        for (i, x) in scratch.enumerated() {
            if x == state.anonymousId { anonymousIndex = UInt32(i) }
            if firstUser == nil && ids.kinds[Int(x)] == IdentifierKind.user { firstUser = UInt32(i) }
        }
        if let firstUser { display = firstUser } else if anonymousIndex != PersonLayout.none { display = anonymousIndex }
        w.removeAll()
        w.appendPersonHeader(
            state.aggregates, identifierCount: scratch.count, displayIndex: display, anonymousIndex: anonymousIndex)
        for x in scratch {
            w.append(ids.kinds[Int(x)])
            ids.withBytes(x) { w.appendBytesWithLength($0) }
        }
    }
}
