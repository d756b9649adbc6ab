internal import Foundation
internal import LMDB
internal import Synchronization

/// The saved funnels' databases. Global to the store, not per person set: a rebuilt person set has the same person
/// numbers and timelines (identity is deterministic), so funnel state stays valid across `journey rebuild`.
///
/// | database | key | value |
/// |---|---|---|
/// | `saved_funnels` | funnel name (UTF-8) | the definition's canonical JSON |
/// | `funnel_meta` | funnel name | funnel id UInt32 LE, 4 zero bytes, checkpoint UInt64 LE; `\0generation` → UInt64 (bumped by define/delete), `\0next` → next id, `\0version` → the state's layout version |
/// | `funnel_state` | id UInt32 BE + tag byte + … (below) | |
///
/// `funnel_state` keys: tag 0 = the funnel's summary (Int64 LE: excluded persons, then per step persons, then per
/// step the sums of ms from the previous step and from step 1); tag 1 + step + kind (0 from previous, 1 from start)
/// + duration ms UInt64 BE → number of persons with that duration; tags 7, 2, 6 + step + kind + (duration >> 8,
/// 16, 24) BE → the same counted per 256 ms, 65.5 s and 4.7 h bucket, so a quantile walks at most a few hundred
/// counters per level. Tags 6 and 2 are kept exact by every transaction; tags 7 and 1 lag behind by the pending
/// records (tag 9 + sequence UInt64 BE, `FunnelPending`; tag 8 → their next sequence, count and number of changes),
/// which readers add. Persons' attempts are not stored: a transaction evaluates the touched persons' timelines
/// before and after it (`SavedFunnelProjection`).
struct SavedFunnelDatabases: Sendable {
    let definitions: Database
    let meta: Database
    let state: Database

    static let summaryTag: UInt8 = 0
    static let pendingMetaTag: UInt8 = 8
    static let pendingTag: UInt8 = 9
    /// Duration counter levels, coarsest first, ending with the exact values.
    static let levels: [(tag: UInt8, shift: UInt64)] = [(6, 24), (2, 16), (7, 8), (1, 0)]
    /// The first levels, kept exact by each transaction; the others have pending records.
    static let directLevels = 2
    /// The layout of `funnel_state`: stores of another version have their saved funnels recomputed on open.
    static let stateVersion: UInt64 = 2
}

/// One handle set per environment (LMDB wants each name opened once).
final class SavedFunnelRegistry: Sendable {
    static let shared = SavedFunnelRegistry()
    private let handles = EnvironmentHandles<SavedFunnelDatabases>()

    /// nil for a read-only store that has never had a saved funnel.
    func databases(for env: Environment, create: Bool) throws -> SavedFunnelDatabases? {
        try handles.handles(for: env, name: "saved_funnels") {
            let opened = try env.openDatabases(
                [("saved_funnels", []), ("funnel_meta", []), ("funnel_state", [])], create: create && !env.readOnly)
            return SavedFunnelDatabases(definitions: opened[0], meta: opened[1], state: opened[2])
        }
    }
}

/// A saved funnel as the projection holds it.
struct LoadedFunnel: Sendable {
    let id: UInt32
    let name: String
    let definition: FunnelDefinition
    let compiled: CompiledFunnel
}

/// Per funnel, the attempts of the persons a transaction touches as they stood before it, read from their
/// timelines before the person projections wrote (`SavedFunnelProjection.capture`).
struct CapturedAttempts {
    var persons: [UInt32] = []
    /// Person i's row (`FunnelRow`, empty when they had not entered) is `rows[ends[i − 1]..<ends[i]]`.
    var rows: [UInt8] = []
    var ends: [Int] = []
    /// `persons` as a set, built when a transaction has a second chunk (the first needs no check).
    var seen: Set<UInt32> = []

    /// Adds `person`, whose row was just appended to `rows`; `remember`: also to `seen`.
    mutating func record(_ person: UInt32, remember: Bool) {
        persons.append(person)
        if remember { seen.insert(person) }
        ends.append(rows.count)
    }

    /// Person i's row, read in place.
    func withRow<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        rows.withUnsafeBytes { b in body(UnsafeRawBufferPointer(rebasing: b[(i == 0 ? 0 : ends[i - 1])..<ends[i]])) }
    }
}

/// Keeps every saved funnel's aggregates up to date in the writer's transaction, after the person projections of
/// the same transaction (so it sees merged persons and their new timelines).
///
/// The aggregates are sums over persons of their best attempts, and an attempt is a pure function of the person's
/// timeline. So a transaction changes them by (attempts after) − (attempts before) of the persons it touches: the
/// before is evaluated from their timelines just before the person projections write them (a hook the person
/// projections call), the after from the timelines they wrote. Persons' attempts are not stored, so a transaction
/// writes the summary, a few coarse counters and one record of fine changes (`FunnelPending`), whatever the number
/// of persons it touches. A funnel whose checkpoint is not where the transaction starts (or whose state has another
/// layout version) is recomputed from every timeline instead.
final class SavedFunnelProjection: AppendObserver {
    let log: EventLog
    let symbols: SymbolTable
    let databases: SavedFunnelDatabases?
    let personSets: (primary: PersonDatabases?, alternate: PersonDatabases?)
    private struct Cache {
        var generation: UInt64 = .max
        var symbolCount = -1
        var funnels: [LoadedFunnel] = []
    }
    private let cache = Mutex(Cache())

    /// What the transaction being applied captured before the person projections wrote.
    private struct Capture {
        var active = false
        var checkpointBefore: UInt64 = 0
        /// Persons numbered from here on were created by this transaction (no attempt before it).
        var firstNew: UInt32 = .max
        var funnels: [LoadedFunnel] = []
        var attempts: [CapturedAttempts] = []
    }
    private let captured = Mutex(Capture())

    /// Per funnel id, the attempts this writer last evaluated (`FunnelAttemptCache`), so `capture` need not evaluate
    /// them again.
    private let attemptCache = Mutex<[UInt32: FunnelAttemptCache]>([:])
    /// What the transaction being applied evaluated, for `attemptCache` once it commits.
    private struct Evaluated {
        var before: UInt64 = 0
        var through: UInt64 = 0
        var funnels: [(id: UInt32, rows: CapturedAttempts?)] = []
        var absorbed: [UInt32] = []
    }
    private let evaluated = Mutex<Evaluated?>(nil)

    /// The person projections of the same writer, which apply first in each transaction.
    let persons: PersonProjections

    init(log: EventLog, symbols: SymbolTable, persons: PersonProjections) {
        self.log = log
        self.symbols = symbols
        self.persons = persons
        databases = try? SavedFunnelRegistry.shared.databases(for: log.env, create: true)
        personSets = (try? PersonSets.open(log.env)) ?? (nil, nil)
        persons.setBeforeWrite { [weak self] txn, batch, dbs, from, firstChunk in
            try self?.capture(txn, batch, dbs, from: from, firstChunk: firstChunk)
        }
        do {
            try upgradeIfNeeded()
            try recomputeBehind()
        } catch {
            // Retried by the first append (`apply` recomputes funnels of another version or checkpoint).
            FileHandle.standardError.write(Data("journey: the saved funnels could not be recomputed: \(error)\n".utf8))
        }
    }

    /// Recomputes the saved funnels whose checkpoint is behind the person projections'. A crash between a commit of
    /// the log and the transaction of its deferred projections (`LogWriter`) leaves both behind; the person
    /// projections catch up when the store opens (`PersonProjections.prepare`) without this projection's hook, so
    /// the funnels it leaves behind are computed afresh from the timelines here, before any append or query.
    private func recomputeBehind() throws {
        guard let dbs = databases else { return }
        // Looked for in a read transaction first: a store whose funnels are current opens without a write.
        guard try log.env.read({ txn in try !behind(txn, dbs).funnels.isEmpty }) else { return }
        try log.env.write { txn in
            let (funnels, persons, through) = try behind(txn, dbs)
            guard let persons else { return }
            for f in funnels {
                try Self.recompute(&txn, dbs, f, persons: persons, log: log, symbols: symbols, through: through)
            }
        }
    }

    /// The saved funnels whose checkpoint is behind the live person projections', with those and their checkpoint.
    private func behind<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases) throws
        -> (funnels: [LoadedFunnel], persons: PersonDatabases?, through: UInt64)
    {
        guard let persons = try PersonSets.live(txn, log: log, in: personSets) else { return ([], nil, 0) }
        let through = try PersonProjections.checkpoint(txn, persons)
        let funnels = try SavedFunnelStore.load(txn, dbs, symbols: symbols).filter {
            (try SavedFunnelStore.meta(txn, dbs, name: $0.name)?.checkpoint ?? through) < through
        }
        return (funnels, persons, through)
    }

    func committed() {
        _ = takeCapture()
        guard let e = evaluated.withLock({ v in defer { v = nil }; return v }) else { return }
        attemptCache.withLock { cache in
            let ids = Set(e.funnels.map(\.id))
            for id in cache.keys where !ids.contains(id) { cache[id] = nil }
            for (id, rows) in e.funnels {
                guard let rows else {
                    // Recomputed: any attempt may have changed.
                    cache[id] = FunnelAttemptCache(through: e.through)
                    continue
                }
                // A cache that did not hold where the transaction started starts afresh (its rows may be stale).
                if cache[id]?.through != e.before { cache[id] = FunnelAttemptCache(through: e.before) }
                cache[id]?.update(absorbed: e.absorbed, rows, through: e.through)
            }
        }
    }

    func aborted() {
        _ = takeCapture()
        evaluated.withLock { $0 = nil }
    }

    /// What was captured for the transaction being applied, leaving the slot empty.
    private func takeCapture() -> Capture {
        captured.withLock { c in
            let v = c
            c = Capture()
            return v
        }
    }

    /// Recomputes the saved funnels of a store whose funnel state has another layout version, with a message.
    private func upgradeIfNeeded() throws {
        guard let dbs = databases else { return }
        let stored = try log.env.read { txn -> UInt64? in
            let v = try SavedFunnelStore.stateVersion(txn, dbs)
            if v == SavedFunnelDatabases.stateVersion { return nil }
            return try SavedFunnelStore.definitions(txn, dbs).isEmpty ? nil : v
        }
        guard let stored else { return }
        FileHandle.standardError.write(Data(
            "journey: recomputing the saved funnels (funnel state version \(stored) → \(SavedFunnelDatabases.stateVersion))\n".utf8))
        try log.env.write { txn in
            guard let persons = try PersonSets.live(txn, log: log, in: personSets) else { return }
            try Self.recomputeAll(&txn, dbs, persons: persons, log: log, symbols: symbols)
        }
    }

    /// Every saved funnel computed afresh, and the state marked with this layout version.
    static func recomputeAll(
        _ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, persons: PersonDatabases, log: EventLog, symbols: SymbolTable
    ) throws {
        let checkpoint = try PersonProjections.checkpoint(txn, persons)
        for f in try SavedFunnelStore.load(txn, dbs, symbols: symbols) {
            try recompute(&txn, dbs, f, persons: persons, log: log, symbols: symbols, through: checkpoint)
        }
        try SavedFunnelStore.setStateVersion(&txn, dbs)
    }

    /// The person projections' hook, called with each chunk's resolved identities before its persons and
    /// timelines are written: evaluates, per funnel, the attempts of the stored persons whose attempt the chunk may
    /// change (an event that can match a step or an exclusion, or a merge; any event for a strict funnel), each
    /// person once per transaction.
    func capture(
        _ txn: borrowing WriteTransaction, _ batch: borrowing IdentityBatch, _ persons: PersonDatabases, from: UInt64,
        firstChunk: Bool
    ) throws {
        guard let dbs = databases else { return }
        let funnels = firstChunk ? try loaded(txn, dbs) : nil
        var c = takeCapture()
        defer { captured.withLock { [c] in $0 = c } }
        if let funnels {
            c = Capture()
            c.active = true
            c.checkpointBefore = from - 1
            c.funnels = funnels
            c.attempts = funnels.map { _ in CapturedAttempts() }
        }
        guard c.active, !c.funnels.isEmpty else { return }
        if !firstChunk {
            for f in c.attempts.indices where c.attempts[f].seen.count != c.attempts[f].persons.count {
                c.attempts[f].seen.formUnion(c.attempts[f].persons)
            }
        }
        let n = batch.persons.count
        for p in batch.persons where !p.persisted { c.firstNew = min(c.firstNew, p.number) }
        var needed: [[Bool]] = []
        for f in c.funnels {
            let strict = f.definition.mode == .strict
            var r = [Bool](repeating: strict, count: n)
            if !strict {
                for e in batch.events where e.person >= 0 && f.compiled.canChangeAttempt(name: e.name) {
                    r[Int(batch.survivor(of: e.person))] = true
                }
                for i in 0..<n where batch.persons[i].persisted {
                    let s = batch.survivor(of: Int32(i))
                    if s != Int32(i) { r[Int(s)] = true }
                }
            }
            needed.append(r)
        }
        let scan = TimelineScan(env: log.env, log: log, dbs: persons, symbols: symbols, asOf: nil)
        var states = c.funnels.map { FunnelScanState($0.compiled) }
        var which: [Int] = []
        var reached = [Bool](repeating: false, count: c.funnels.count)
        var joined: [UInt8] = []
        try attemptCache.withLock { cache in
            // The writer's cached attempts hold for where this transaction started, or are not used.
            let cached = c.funnels.map { cache[$0.id]?.through == c.checkpointBefore }
            for i in 0..<n where batch.persons[i].persisted && batch.persons[i].number < c.firstNew {
                let number = batch.persons[i].number
                let s = Int(batch.survivor(of: Int32(i)))
                which.removeAll(keepingCapacity: true)
                for f in c.funnels.indices where needed[f][s] && (firstChunk || !c.attempts[f].seen.contains(number)) {
                    if cached[f], cache[c.funnels[f].id]?.withRow(number, { c.attempts[f].rows.appendRaw($0) }) != nil {
                        c.attempts[f].record(number, remember: !firstChunk)
                    } else {
                        which.append(f)
                    }
                }
                if which.isEmpty { continue }
                for f in which { reached[f] = false }
                _ = try TimelineChunks.withTimeline(txn, persons.timelines, person: number, scratch: &joined) { bytes in
                    for f in which {
                        reached[f] = try Self.evaluate(bytes, &states[f], txn, scan: scan)
                    }
                }
                for f in which {
                    if reached[f] { FunnelRow.encode(states[f].outcome, into: &c.attempts[f].rows) }
                    c.attempts[f].record(number, remember: !firstChunk)
                }
            }
        }
    }

    /// A person's best attempt from their timeline into `state.outcome`; false when they never entered.
    @inline(__always)
    static func evaluate<T: TransactionReading & ~Copyable>(
        _ bytes: UnsafeRawBufferPointer, _ state: inout FunnelScanState, _ txn: borrowing T, scan: TimelineScan
    ) throws -> Bool {
        guard try state.collectHits(Timeline(bytes), txn, scan: scan) else { return false }
        state.evaluateHits()
        return state.outcome.reached > 0
    }

    func apply(_ txn: inout WriteTransaction, log: EventLog, first: UInt64, last: UInt64) throws {
        guard let dbs = databases else { return }
        let c = takeCapture()
        let funnels = c.active ? c.funnels : try loaded(txn, dbs)
        var e = Evaluated(before: c.checkpointBefore, through: last)
        defer { evaluated.withLock { [e] in $0 = e } }
        if funnels.isEmpty { return }
        guard let persons = try PersonSets.live(txn, log: log, in: personSets) else { return }
        guard try SavedFunnelStore.stateVersion(txn, dbs) == SavedFunnelDatabases.stateVersion else {
            try Self.recomputeAll(&txn, dbs, persons: persons, log: log, symbols: symbols)
            e.funnels = funnels.map { ($0.id, nil) }
            return
        }
        let t = self.persons.resolvedChanges()
        var work: [(funnel: LoadedFunnel, touched: [UInt32], before: CapturedAttempts)] = []
        for (k, f) in funnels.enumerated() {
            let checkpoint = try SavedFunnelStore.meta(txn, dbs, name: f.name)?.checkpoint
            if c.active && checkpoint == c.checkpointBefore {
                work.append((f, Self.relevant(t, to: f, before: c.attempts[k]), c.attempts[k]))
            } else {
                try Self.recompute(&txn, dbs, f, persons: persons, log: log, symbols: symbols, through: last)
                e.funnels.append((f.id, nil))
            }
        }
        let after = try Self.update(&txn, dbs, work, persons: persons, log: log, symbols: symbols, through: last)
        e.funnels += zip(work, after).map { ($0.funnel.id, $1) }
        e.absorbed = t.absorbed
    }

    /// The persons whose attempt may have changed, as the transaction left them: those with a new event that can
    /// match a step or an exclusion of `f` (events matching neither leave an ordered or unordered funnel's hits as
    /// they were), those who absorbed someone, and the survivors of every person whose attempt was captured before.
    /// A strict funnel is broken by any event: all touched persons.
    static func relevant(_ t: ResolvedPersonChanges, to f: LoadedFunnel, before: CapturedAttempts) -> [UInt32] {
        var out: [UInt32] = []
        if f.definition.mode == .strict {
            out = t.touched
        } else {
            for e in t.events where f.compiled.canChangeAttempt(name: e.name) { out.append(e.person) }
            out.append(contentsOf: t.mergedSurvivors)
        }
        for p in before.persons { out.append(t.survivor(of: p)) }
        var unique = PersonChanges.uniqueSorted(out)
        if !t.absorbed.isEmpty {
            let gone = Set(t.absorbed)
            unique.removeAll { gone.contains($0) }
        }
        return unique
    }

    /// The saved funnels, reloaded when one was defined or deleted, and recompiled when new symbols may name one
    /// of their events or filter values.
    private func loaded(_ txn: borrowing WriteTransaction, _ dbs: SavedFunnelDatabases) throws -> [LoadedFunnel] {
        let generation = try SavedFunnelStore.generation(txn, dbs)
        return try cache.withLock { c in
            let stale = c.funnels.contains { !$0.compiled.unknownEvents.isEmpty || $0.definition.hasFilters }
            if c.generation != generation || (stale && c.symbolCount != symbols.count) {
                c.funnels = try SavedFunnelStore.load(txn, dbs, symbols: symbols)
                c.generation = generation
                c.symbolCount = symbols.count
            }
            return c.funnels
        }
    }

    /// Adds each funnel's change: minus the captured attempts, plus the `touched` persons' attempts as their
    /// timelines now are; then the checkpoints. With several funnels, the touched persons' timelines are copied out
    /// once for all of them (a few hundred bytes each). Returns, per funnel, the touched persons' attempts now.
    static func update(
        _ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases,
        _ work: [(funnel: LoadedFunnel, touched: [UInt32], before: CapturedAttempts)],
        persons: PersonDatabases, log: EventLog, symbols: SymbolTable, through: UInt64
    ) throws -> [CapturedAttempts] {
        var evaluated: [CapturedAttempts] = []
        let scan = TimelineScan(env: log.env, log: log, dbs: persons, symbols: symbols, asOf: nil)
        let everyone = work.count > 1 ? PersonChanges.uniqueSorted(work.flatMap(\.touched)) : []
        var timelines: [UInt8] = []
        var ends: [Int] = []
        ends.reserveCapacity(everyone.count)
        var joined: [UInt8] = []
        for number in everyone {
            _ = try TimelineChunks.withTimeline(txn, persons.timelines, person: number, scratch: &joined) {
                timelines.appendRaw($0)
            }
            ends.append(timelines.count)
        }
        for w in work {
            var delta = FunnelDelta(steps: w.funnel.definition.steps.count)
            // The captured attempts by person number (number << 32 | index), to pair each touched person's attempt
            // before and after: most re-evaluations change nothing, and an unchanged pair is skipped rather than
            // added and subtracted (fewer durations to sort and count). Unpaired ones (persons merged away) are
            // subtracted.
            var captured = w.before.persons.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }
            captured.sort()
            var b = 0
            func subtractCaptured(_ k: Int, _ delta: inout FunnelDelta) {
                w.before.withRow(Int(truncatingIfNeeded: captured[k] & 0xFFFF_FFFF)) { delta.add($0, sign: -1) }
            }
            var state = FunnelScanState(w.funnel.compiled)
            var after = CapturedAttempts()
            after.persons.reserveCapacity(w.touched.count)
            after.ends.reserveCapacity(w.touched.count)
            var u = 0
            for number in w.touched {
                while b < captured.count && UInt32(truncatingIfNeeded: captured[b] >> 32) < number {
                    subtractCaptured(b, &delta)
                    b += 1
                }
                let paired = b < captured.count && UInt32(truncatingIfNeeded: captured[b] >> 32) == number ? b : nil
                if paired != nil { b += 1 }
                let evaluated: Bool
                if everyone.isEmpty {
                    evaluated = try TimelineChunks.withTimeline(txn, persons.timelines, person: number, scratch: &joined) {
                        try evaluate($0, &state, txn, scan: scan)
                    } ?? false
                } else {
                    while everyone[u] < number { u += 1 }
                    let (start, end) = (u == 0 ? 0 : ends[u - 1], ends[u])
                    evaluated = try start == end ? false : timelines.withUnsafeBytes {
                        try evaluate(UnsafeRawBufferPointer(rebasing: $0[start..<end]), &state, txn, scan: scan)
                    }
                }
                // Encoded once, into the attempts returned for the writer's cache, and read back from there.
                if evaluated { FunnelRow.encode(state.outcome, into: &after.rows) }
                after.record(number, remember: false)
                let i = after.persons.count - 1
                if let paired {
                    let unchanged = w.before.withRow(Int(truncatingIfNeeded: captured[paired] & 0xFFFF_FFFF)) { old in
                        after.withRow(i) { old.elementsEqual($0) }
                    }
                    if unchanged { continue }
                    subtractCaptured(paired, &delta)
                }
                after.withRow(i) { delta.add($0, sign: 1) }
            }
            while b < captured.count {
                subtractCaptured(b, &delta)
                b += 1
            }
            try delta.write(&txn, dbs, id: w.funnel.id, pending: true)
            try SavedFunnelStore.setCheckpoint(&txn, dbs, name: w.funnel.name, id: w.funnel.id, checkpoint: through)
            evaluated.append(after)
        }
        return evaluated
    }

    /// A funnel computed afresh from every timeline (definition, a lagging checkpoint, another layout version): its
    /// state is cleared and every level of counters written.
    static func recompute(
        _ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, _ funnel: LoadedFunnel, persons: PersonDatabases,
        log: EventLog, symbols: SymbolTable, through: UInt64
    ) throws {
        try SavedFunnelStore.clearState(&txn, dbs, id: funnel.id)
        let scan = TimelineScan(env: log.env, log: log, dbs: persons, symbols: symbols, asOf: nil)
        var delta = FunnelDelta(steps: funnel.definition.steps.count)
        var state = FunnelScanState(funnel.compiled)
        var row: [UInt8] = []
        var joined: [UInt8] = []
        // Every person with a timeline, in number order (each has a first chunk).
        var everyone: [UInt32] = []
        try txn.withCursor(persons.timelines) { c in
            var e = try c.first()
            while let entry = e {
                if TimelineChunks.chunk(entry.integerKey) == 0 { everyone.append(TimelineChunks.person(entry.integerKey)) }
                e = try c.next()
            }
        }
        for number in everyone {
            let evaluated = try TimelineChunks.withTimeline(txn, persons.timelines, person: number, scratch: &joined) {
                try evaluate($0, &state, txn, scan: scan)
            } ?? false
            guard evaluated else { continue }
            row.removeAll(keepingCapacity: true)
            FunnelRow.encode(state.outcome, into: &row)
            row.withUnsafeBytes { delta.add($0, sign: 1) }
        }
        try delta.write(&txn, dbs, id: funnel.id, pending: false)
        try SavedFunnelStore.setCheckpoint(&txn, dbs, name: funnel.name, id: funnel.id, checkpoint: through)
    }
}

extension FunnelDefinition {
    var hasFilters: Bool { steps.contains { !$0.filters.isEmpty } || exclusions.contains { !$0.filters.isEmpty } }
}
