internal import Foundation
internal import LMDB
internal import Synchronization

/// The identity and timeline projections, kept up to date inside the writer's transaction (`AppendObserver`):
/// a query made after `append` returned sees the event. The timeline needs the identity's merges of the same
/// transaction, so one observer runs both, in that order, and commits both checkpoints with their state.
///
/// On open it brings the state up to the log (a store written before projections existed, or a projection whose
/// version changed in the code is rebuilt from position 1, with a message on standard error).
final class PersonProjections: AppendObserver {
    /// Positions per transaction when catching up or rebuilding: big, so that each person is written about once
    /// (bounded: about 60 MB of memory and some 100 MB of dirty pages per transaction).
    static let chunk: UInt64 = 1 << 20

    /// Positions resolved at a time by `apply` (`chunk`, except in tests).
    let appendChunk: UInt64

    /// Both sets (`PersonSets`), opened before the writer thread starts: the writer never opens a database.
    let primary: PersonDatabases?
    let alternate: PersonDatabases?
    let openError: (any Error)?
    /// The identity batch, reused by every transaction (only the writer thread applies; the lock is uncontended).
    private let scratch = Mutex(IdentityBatch())
    /// What the transaction being applied did to persons, for the observers after this one.
    private let changes = Mutex(PersonChanges())
    /// Called with each chunk's resolved identities before its persons and timelines are written (the saved funnels
    /// read the touched persons' timelines as they stood): the database set, the chunk's first position, and whether
    /// it is the transaction's first chunk.
    typealias BeforeWrite = @Sendable (borrowing WriteTransaction, borrowing IdentityBatch, PersonDatabases, UInt64, Bool) throws -> Void
    private let beforeWrite = Mutex<BeforeWrite?>(nil)

    /// Set once, before the writer starts.
    func setBeforeWrite(_ hook: @escaping BeforeWrite) { beforeWrite.withLock { $0 = hook } }

    /// Never throws (the store's initializer must not fail after taking the writer lock): a failure to open is
    /// reported by the first append; a failure to catch up is retried by it.
    init(log: EventLog, chunk: UInt64 = PersonProjections.chunk) {
        appendChunk = max(1, chunk)
        var sets: (PersonDatabases, PersonDatabases)? = nil
        var failure: (any Error)? = nil
        do {
            let registry = PersonDatabaseRegistry.shared
            if let p = try registry.databases(for: log.env, prefix: PersonSets.primary, create: true),
                let a = try registry.databases(for: log.env, prefix: PersonSets.alternate, create: true)
            {
                sets = (p, a)
                let live = try log.env.read { txn in try PersonSets.livePrefix(txn, log: log) }
                let (current, other) = live == PersonSets.primary ? (p, a) : (a, p)
                try Self.discardUnfinishedRebuild(other, log: log)
                try Self.prepare(current, other: other, log: log)
            }
        } catch {
            failure = error
        }
        primary = sets?.0
        alternate = sets?.1
        openError = failure
    }

    /// The live set as of `txn` (the writer reads the pointer in its own transaction, so a rebuild's switch,
    /// committed in a transaction of its own, is seen by the very next append).
    func live<T: TransactionReading & ~Copyable>(_ txn: borrowing T, log: EventLog) throws -> PersonDatabases {
        guard let primary, let alternate else {
            throw StoreError("the person projections could not be opened: \(openError.map { "\($0)" } ?? "unknown error")")
        }
        return try PersonSets.livePrefix(txn, log: log) == PersonSets.primary ? primary : alternate
    }

    func apply(_ txn: inout WriteTransaction, log: EventLog, first: UInt64, last: UInt64) throws {
        let dbs = try live(txn, log: log)
        changes.withLock { $0.reset() }
        // Normally checkpoint == first − 1; after a failed catch-up at open, the gap is applied here too.
        var from = try Self.checkpoint(txn, dbs) + 1
        let hook = beforeWrite.withLock { $0 }
        var firstChunk = true
        while from <= last {
            let to = min(last, from + appendChunk - 1)
            try scratch.withLock { batch in
                try Self.apply(&txn, dbs, log: log, from: from, to: to, batch: &batch) { txn, batch in
                    try hook?(txn, batch, dbs, from, firstChunk)
                }
                changes.withLock { $0.add(&batch) }
            }
            from = to + 1
            firstChunk = false
        }
    }

    /// The persons the current transaction touched and merged (valid from `apply` until the next one).
    func resolvedChanges() -> ResolvedPersonChanges { changes.withLock { $0.resolved() } }

    /// A set that is not live but holds state was left by a rebuild that did not finish (killed), or is the set a
    /// finished one switched away from: it is cleared, so the file's pages are reused.
    static func discardUnfinishedRebuild(_ dbs: PersonDatabases, log: EventLog) throws {
        guard try !log.env.read({ txn in try PersonSets.isEmpty(txn, dbs) }) else { return }
        try log.env.write { txn in try dbs.clearAll(&txn) }
    }

    func committed() {}
    func aborted() {}

    // MARK: Engine

    static func checkpoint<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases) throws -> UInt64 {
        let i = try ProjectionMeta.read(txn, dbs.meta, name: IdentityProjection.name)?.checkpoint ?? 0
        let t = try ProjectionMeta.read(txn, dbs.meta, name: TimelineProjection.name)?.checkpoint ?? 0
        guard i == t else {
            throw StoreError("person projections: identity is at position \(i) but timeline at \(t); rebuild them")
        }
        return i
    }

    /// Applies log positions `from...to` to both projections in `txn`; `beforeWrite` sees the resolved batch first.
    static func apply(
        _ txn: inout WriteTransaction, _ dbs: PersonDatabases, log: EventLog, from: UInt64, to: UInt64,
        batch: inout IdentityBatch,
        beforeWrite: ((borrowing WriteTransaction, borrowing IdentityBatch) throws -> Void)? = nil
    ) throws {
        let meta = try ProjectionMeta.read(txn, dbs.meta, name: IdentityProjection.name)
        let identity = IdentityProjection(dbs: dbs)
        try identity.resolve(txn, log: log, from: from, to: to, nextPerson: UInt32(meta?.counter ?? 1), into: &batch)
        try beforeWrite?(txn, batch)
        try identity.write(&txn, &batch, through: to)
        try TimelineProjection(dbs: dbs).write(&txn, &batch, through: to)
    }

    /// Checks versions and catches up. When the stored state was written by another version of the code (or its two
    /// projections disagree, or there is none over a non-empty log), it is rebuilt from scratch into `other` (empty:
    /// an unfinished rebuild was discarded just before) and switched to in one commit, as `journey rebuild` does: a
    /// process reading meanwhile sees the old set (refused when its version is not the code's), never a half-built one.
    static func prepare(_ dbs: PersonDatabases, other: PersonDatabases, log: EventLog) throws {
        let (identity, timeline, lastPosition) = try log.env.read { txn in
            (
                try ProjectionMeta.read(txn, dbs.meta, name: IdentityProjection.name),
                try ProjectionMeta.read(txn, dbs.meta, name: TimelineProjection.name),
                try log.lastPosition(txn)
            )
        }
        var reason: String? = nil
        if let identity, identity.version != IdentityProjection.version {
            reason = "rebuilding the person projections (identity projection version \(identity.version) → \(IdentityProjection.version))"
        } else if let timeline, timeline.version != TimelineProjection.version {
            reason = "rebuilding the person projections (timeline projection version \(timeline.version) → \(TimelineProjection.version))"
        } else if (identity == nil) != (timeline == nil) || identity?.checkpoint != timeline?.checkpoint {
            reason = "rebuilding the person projections (identity and timeline projections are at different positions)"
        } else if identity == nil && lastPosition > 0 {
            reason = "building the person projections over \(lastPosition) events"
        }
        guard let reason else {
            try catchUp(dbs, log: log, through: lastPosition)
            return
        }
        FileHandle.standardError.write(Data("journey: \(reason)\n".utf8))
        _ = try rebuild(into: other, replacing: dbs.prefix, log: log)
        try log.env.write { txn in try dbs.clearAll(&txn) }
    }

    /// Applies the log from the checkpoint through `through`, one transaction per chunk.
    static func catchUp(
        _ dbs: PersonDatabases, log: EventLog, through: UInt64, chunk: UInt64 = chunk,
        progress: ((UInt64) -> Void)? = nil
    ) throws {
        if try log.env.read({ txn in try checkpoint(txn, dbs) }) >= through { return }
        var batch = IdentityBatch(expectedEvents: Int(min(chunk, through)))
        while true {
            let done = try log.env.write { txn -> UInt64 in
                let from = try checkpoint(txn, dbs) + 1
                guard from <= through else { return from - 1 }
                let to = min(through, from + chunk - 1)
                try apply(&txn, dbs, log: log, from: from, to: to, batch: &batch)
                return to
            }
            progress?(done)
            if done >= through { return }
        }
    }

    /// Log positions resolved in memory at once by a rebuild from nothing (`PersonBulkRebuild`): the whole of a
    /// 10M-event store, in about 2 GB of memory; a longer log continues in chunks.
    static let rebuildSpan: UInt64 = 1 << 24

    /// Builds the projections into `copy` (the set that is not live) up to the end of the log, catches it up with
    /// what was appended meanwhile, then applies the last appends and makes it live in one write transaction, so
    /// readers and the writer switch at one commit and no event is lost. Returns the checkpoint and how many events
    /// the switch applied. The old set is the caller's to clear. `journey rebuild` and a version change at open.
    static func rebuild(
        into copy: PersonDatabases, replacing live: String, log: EventLog, chunk: UInt64 = chunk,
        span: UInt64 = rebuildSpan, progress: ((_ done: UInt64, _ total: UInt64) -> Void)? = nil
    ) throws -> (checkpoint: UInt64, applied: UInt64) {
        let target = try log.env.read { txn in try log.lastPosition(txn) }
        try rebuild(into: copy, log: log, through: target, chunk: chunk, span: span) { progress?($0, target) }
        // Catch up with what was appended meanwhile outside the switch, so the switch itself stays short.
        while true {
            let (at, end) = try log.env.read { txn in (try checkpoint(txn, copy), try log.lastPosition(txn)) }
            if end <= at || end - at <= 65_536 { break }
            try catchUp(copy, log: log, through: end, chunk: chunk) { progress?($0, end) }
        }
        return try log.env.write { txn -> (UInt64, UInt64) in
            guard try PersonSets.livePrefix(txn, log: log) == live else {
                throw StoreError("rebuild: the live projections changed while rebuilding; run it again")
            }
            let from = try checkpoint(txn, copy) + 1
            let last = try log.lastPosition(txn)
            if from <= last {
                var batch = IdentityBatch(expectedEvents: Int(min(last - from + 1, chunk)))
                var next = from
                while next <= last {
                    let to = min(last, next + chunk - 1)
                    try apply(&txn, copy, log: log, from: next, to: to, batch: &batch)
                    next = to + 1
                }
            }
            try PersonSets.setLive(&txn, log: log, prefix: copy.prefix)
            return (last, last >= from ? last - from + 1 : 0)
        }
    }

    /// Builds the projections from position 1 through `through` into `dbs` (a scratch copy), from nothing: the
    /// first `span` positions in memory, the rest in chunks.
    static func rebuild(
        into dbs: PersonDatabases, log: EventLog, through: UInt64, chunk: UInt64 = chunk, span: UInt64 = rebuildSpan,
        progress: ((UInt64) -> Void)? = nil
    ) throws {
        try log.env.write { txn in try dbs.clearAll(&txn) }
        let first = min(through, max(1, span))
        if first > 0 {
            try PersonBulkRebuild.build(dbs, log: log, through: first)
            progress?(first)
        }
        try catchUp(dbs, log: log, through: through, chunk: chunk, progress: progress)
    }
}
