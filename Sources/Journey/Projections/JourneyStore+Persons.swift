internal import Foundation
internal import Dispatch
internal import LMDB
internal import Synchronization

/// A person after identity stitching (semantics §2), as `journey profile` shows it.
public struct PersonSummary: Sendable, Equatable {
    /// The person's number: stable until the person is merged into a lower-numbered one.
    public var person: UInt32
    /// The smallest userId, else the first-seen anonymous id.
    public var displayId: String
    /// Sorted by bytes.
    public var userIds: [String]
    public var anonymousIds: [String]
    /// Earliest and latest event time, UTC ms.
    public var firstSeen: Int64
    public var lastSeen: Int64
    /// Smallest and largest log position of the person's events.
    public var firstPosition: UInt64
    public var lastPosition: UInt64
    public var eventCount: Int
    /// Persons merged into this one, transitively.
    public var mergeCount: Int
    /// Those merges, in log order (filled by `person(for:)` and `persons(limit:)`).
    public var merges: [PersonMerge]
}

/// Two persons found to be one: the message at `position` linked their identifiers.
public struct PersonMerge: Sendable, Equatable {
    public var position: UInt64
    /// The linking message's event time, UTC ms.
    public var time: Int64
    /// The person that remained (the lower number) and the one folded into it.
    public var survivor: UInt32
    public var absorbed: UInt32
}

/// One event of a person's journey.
public struct TimelineEntry: Sendable, Equatable {
    /// Event time, UTC ms.
    public var time: Int64
    public var name: String
    public var channel: String?
    public var position: UInt64
}

/// A projection's live digest beside the digest of a fresh rebuild from the log.
public struct ProjectionVerification: Sendable, Equatable {
    public var live: ProjectionDigest
    public var rebuilt: ProjectionDigest
    /// Seconds the rebuild from the log took (shared by the projections rebuilt together).
    public var rebuildSeconds: Double
    public var matches: Bool { live.digest == rebuilt.digest && live.checkpoint == rebuilt.checkpoint }
}

extension JourneyStore {
    /// Both person database sets (`PersonSets.open`), kept once both exist: a lookup then skips the handle
    /// registry's lock and dictionary (a profile lookup is a few microseconds).
    /// Every query comes here first: the projections are made current (`projectionsCurrent`).
    func personSets() throws -> (primary: PersonDatabases?, alternate: PersonDatabases?) {
        let sets = try openPersonSets()
        try projectionsCurrent(sets)
        return sets
    }

    private func openPersonSets() throws -> (primary: PersonDatabases?, alternate: PersonDatabases?) {
        if let kept = personSetHandles.withLock({ $0 }) { return (kept.primary, kept.alternate) }
        let sets = try PersonSets.open(env)
        if let p = sets.primary, let a = sets.alternate { personSetHandles.withLock { $0 = (p, a) } }
        return sets
    }

    /// Read-your-writes for every query: the projections cover the log as it stands when the query starts.
    /// The writer may have left them behind under concurrent appends (`LogWriter`, deferred projections): in this
    /// process it is asked to catch up; a store opened read-only beside a writer in another process waits for that
    /// writer's catch-up (`LogWriter.maxDeferral` at most while it appends), polling the projections' checkpoint.
    func projectionsCurrent() throws { try projectionsCurrent(openPersonSets()) }

    private func projectionsCurrent(_ sets: (primary: PersonDatabases?, alternate: PersonDatabases?)) throws {
        if let writer {
            if writer.projectionsLag { _ = try waitFor { writer.catchUp(completion: $0) } }
            return
        }
        var target: UInt64? = nil
        let deadline = Date(timeIntervalSinceNow: 2)
        while true {
            // Projections that cannot be read this way (another version, damaged) are for the query to report.
            let state: (last: UInt64, checkpoint: UInt64)?? = try? env.read { txn in
                guard let dbs = try PersonSets.live(txn, log: log, in: sets, checkingVersions: false) else { return nil }
                return (try log.lastPosition(txn), try PersonProjections.checkpoint(txn, dbs))
            }
            guard let state = state ?? nil else { return }
            let goal = target ?? state.last
            if state.checkpoint >= goal { return }
            target = goal
            // No writer: the lag stays until the next one opens the store (its projections catch up at open).
            guard StoreFiles.writerIsActive(path), Date() < deadline else { return }
            usleep(500)
        }
    }

    /// The live person databases (`PersonSets`); nil for a read-only store written before projections existed.
    func personDatabases() throws -> PersonDatabases? {
        let sets = try personSets()
        return try env.read { txn in try PersonSets.live(txn, log: log, in: sets) }
    }

    /// Runs `body` in one snapshot with the person databases as of `asOfPosition` (nil: live, resolved inside the
    /// snapshot); nil when the store has no projections. `checkingVersions: false` only for what reads the meta
    /// data of a set of any version (status).
    func readPersons<R>(
        asOfPosition: UInt64? = nil, checkingVersions: Bool = true,
        _ body: (borrowing ReadTransaction, PersonDatabases) throws -> R
    ) throws -> R? {
        if asOfPosition != nil {
            return try withPersonView(asOfPosition: asOfPosition) { dbs in try env.read { txn in try body(txn, dbs) } }
        }
        let sets = try personSets()
        return try env.read { txn -> R? in
            guard let dbs = try PersonSets.live(txn, log: log, in: sets, checkingVersions: checkingVersions) else {
                return nil
            }
            return try body(txn, dbs)
        }
    }

    // MARK: Persons

    /// The person with this identifier (a userId or an anonymous id, userId first), or nil.
    public func person(for id: String) throws -> PersonSummary? {
        try readPersons { txn, dbs in
            guard let number = try Self.personNumber(txn, dbs, id: id) else { return nil }
            return try Self.summary(txn, dbs, number: number)
        } ?? nil
    }

    /// The person with this number, or nil (never existed, or merged into another).
    public func person(number: UInt32) throws -> PersonSummary? {
        try readPersons { txn, dbs in try Self.summary(txn, dbs, number: number) } ?? nil
    }

    /// Persons in number order (first seen in the log first), from after `after`, at most `limit`.
    public func persons(limit: Int = 100, after: UInt32 = 0) throws -> [PersonSummary] {
        guard limit > 0 else { return [] }
        return try readPersons { txn, dbs in
            try txn.withCursor(dbs.persons) { c in
                var out: [PersonSummary] = []
                var entry = try c.seek(UInt64(after) + 1)
                while let e = entry, out.count < limit {
                    guard var s = Self.decodePerson(number: UInt32(e.integerKey), e.value) else {
                        throw StoreError("the record of person \(e.integerKey) is damaged")
                    }
                    if s.mergeCount > 0 { s.merges = try Self.mergeHistory(txn, dbs, number: s.person) }
                    out.append(s)
                    entry = try c.next()
                }
                return out
            }
        } ?? []
    }

    /// The number of persons (as of a log position: those the log had made by then).
    public func personCount(asOfPosition: UInt64? = nil) throws -> Int {
        // A count reads no layout: `status` shows it for a set of any version.
        try readPersons(asOfPosition: asOfPosition, checkingVersions: false) { txn, dbs in
            try txn.statistics(dbs.persons).entries
        } ?? 0
    }

    /// A person's events ordered by (event time, log position); nil when no person has this id.
    /// With `asOf`, only events with event time ≤ it (identity as known now); with `asOfPosition`, the person
    /// and events as the log stood at that position (identity too: `withPersonView`). Nil also when the person had
    /// no event by then.
    public func timeline(
        for id: String, limit: Int = .max, newestFirst: Bool = false, asOf: Int64? = nil, asOfPosition: UInt64? = nil
    ) throws -> [TimelineEntry]? {
        try refreshSymbols()
        let packed: [PackedEntry]? = try readPersons(asOfPosition: asOfPosition) { txn, dbs -> [PackedEntry]? in
            guard let number = try Self.personNumber(txn, dbs, id: id) else { return nil }
            var joined: [UInt8] = []
            return try TimelineChunks.withTimeline(txn, dbs.timelines, person: number, scratch: &joined) {
                v -> [PackedEntry]? in
                let t = Timeline(v, asOf: asOf)
                if t.count == 0 && asOf != nil { return nil }
                let n = t.count
                let count = min(n, max(0, limit))
                var out: [PackedEntry] = []
                out.reserveCapacity(count)
                for i in 0..<count { out.append(t[newestFirst ? n - 1 - i : i]) }
                return out
            } ?? []
        } ?? nil
        guard let packed else { return nil }
        var names: [UInt32: String] = [:]
        func string(_ id: UInt32) -> String {
            if let s = names[id] { return s }
            let s = symbols.string(id) ?? "#\(id)"
            names[id] = s
            return s
        }
        return packed.map {
            TimelineEntry(time: $0.time, name: string($0.name), channel: $0.channel == 0 ? nil : string($0.channel), position: $0.position)
        }
    }

    // MARK: Projections

    /// Version, checkpoint and lag of each projection (empty for a read-only store without projections).
    public func projectionStatus() throws -> [ProjectionStatus] {
        try readPersons(checkingVersions: false) { txn, dbs in
            let last = try log.lastPosition(txn)
            var out: [ProjectionStatus] = []
            for name: StaticString in [IdentityProjection.name, TimelineProjection.name] {
                let m = try ProjectionMeta.read(txn, dbs.meta, name: name)
                let checkpoint = m?.checkpoint ?? 0
                out.append(ProjectionStatus(
                    name: name.description, version: Int(m?.version ?? 0), checkpoint: checkpoint,
                    lag: last > checkpoint ? last - checkpoint : 0))
            }
            return out
        } ?? []
    }

    /// Digests of the live projections' state, from one snapshot.
    public func projectionDigests() throws -> [ProjectionDigest] {
        try readPersons { txn, dbs in try StateDigest.digests(txn, dbs) } ?? []
    }

    /// Rebuilds every projection from the log into a scratch copy, up to the live checkpoint, and compares digests.
    /// Appends may go on meanwhile (the live digest is taken from one snapshot). Needs a writable store.
    public func verifyProjections(progress: ((_ done: UInt64, _ total: UInt64) -> Void)? = nil) throws
        -> [ProjectionVerification]
    {
        guard !env.readOnly else { throw StoreError("verify needs the store opened for writing") }
        try projectionsCurrent()
        // One verify at a time per process: they share the scratch set.
        ScratchPrefixes.shared.take(env, PersonSets.verify)
        defer { ScratchPrefixes.shared.give(env, PersonSets.verify) }
        guard let liveDigests = try readPersons({ txn, dbs in try StateDigest.digests(txn, dbs) }) else {
            throw StoreError("the store at \(path) has no person projections")
        }
        let through = liveDigests.map(\.checkpoint).min() ?? 0
        let scratch = try scratchDatabases(PersonSets.verify)
        defer { try? env.write { txn in try scratch.clearAll(&txn) } }
        let start = DispatchTime.now().uptimeNanoseconds
        try PersonProjections.rebuild(into: scratch, log: log, through: through) { progress?($0, through) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rebuilt = try env.read { txn in try StateDigest.digests(txn, scratch) }
        return zip(liveDigests, rebuilt).map { ProjectionVerification(live: $0, rebuilt: $1, rebuildSeconds: seconds) }
    }

    // MARK: Decoding

    static func personNumber<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases, id: String)
        throws -> UInt32?
    {
        var text = id
        return try text.withUTF8 { utf8 -> UInt32? in
            let bytes = UnsafeRawBufferPointer(utf8)
            var key: [UInt8] = []
            for kind in [IdentifierKind.user, IdentifierKind.anonymous] {
                IdentifierTable.makeKey(kind: kind, bytes, into: &key)
                let found = try key.withUnsafeBytes { k in
                    try txn.withValue(dbs.personIds, key: k) { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
                }
                if let found { return found }
            }
            return nil
        }
    }

    static func summary<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases, number: UInt32)
        throws -> PersonSummary?
    {
        let decoded = try txn.withValue(dbs.persons, key: UInt64(number)) { decodePerson(number: number, $0) }
        guard let decoded else { return nil }
        guard var s = decoded else { throw StoreError("the record of person \(number) is damaged") }
        if s.mergeCount > 0 { s.merges = try mergeHistory(txn, dbs, number: number) }
        return s
    }

    static func decodePerson(number: UInt32, _ bytes: UnsafeRawBufferPointer) -> PersonSummary? {
        guard let r = PersonRecordView(bytes) else { return nil }
        var users: [String] = []
        var anonymous: [String] = []
        var display = ""
        let ok = r.forEachIdentifier { i, kind, b in
            let s = String(decoding: b, as: UTF8.self)
            if kind == IdentifierKind.user { users.append(s) } else { anonymous.append(s) }
            if UInt32(i) == r.displayIndex { display = s }
        }
        guard ok else { return nil }
        return PersonSummary(
            person: number, displayId: display, userIds: users, anonymousIds: anonymous, firstSeen: r.firstSeen,
            lastSeen: r.lastSeen, firstPosition: r.firstPosition, lastPosition: r.lastPosition,
            eventCount: Int(clamping: r.events), mergeCount: Int(r.merges), merges: [])
    }

    /// Every merge that made this person: its own, and those of the persons it absorbed, in log order.
    static func mergeHistory<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases, number: UInt32)
        throws -> [PersonMerge]
    {
        var out: [PersonMerge] = []
        var pending: [UInt32] = [number]
        try txn.withCursor(dbs.merges) { c in
            while let survivor = pending.popLast() {
                var key = UInt64(survivor)
                var entry = try withUnsafeBytes(of: &key) { try c.find($0) }
                while let e = entry {
                    if let m = MergeLayout.decode(e.value) {
                        out.append(PersonMerge(position: m.position, time: m.time, survivor: survivor, absorbed: m.absorbed))
                        pending.append(m.absorbed)
                    }
                    entry = try c.nextDuplicate()
                }
            }
        }
        out.sort { ($0.position, $0.absorbed) < ($1.position, $1.absorbed) }
        return out
    }
}
