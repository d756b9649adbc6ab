internal import LMDB
internal import Synchronization

/// The saved funnels' databases. Global to the store, not per person set: a rebuilt person set has the same person
/// numbers and timelines (identity is deterministic), so funnel state stays valid across `journey rebuild`.
///
/// | database | key | value |
/// |---|---|---|
/// | `saved_funnels` | funnel name (UTF-8) | the definition's canonical JSON |
/// | `funnel_meta` | funnel name | funnel id UInt32 LE, 4 zero bytes, checkpoint UInt64 LE; `\0generation` → UInt64 (bumped by define/delete), `\0next` → next id |
/// | `funnel_state` | id UInt32 BE + tag byte + … (below) | |
///
/// `funnel_state` keys: tag 0 = the funnel's summary (Int64 LE: excluded persons, then per step persons, then per
/// step the sums of ms from the previous step and from step 1); tag 1 + step + kind (0 from previous, 1 from start)
/// + duration ms UInt64 BE → number of persons with that duration; tags 7, 2, 6 + step + kind + (duration >> 8,
/// 16, 24) BE → the same counted per 256 ms, 65.5 s and 4.7 h bucket, so a quantile walks at most a few hundred
/// counters per level; tag 3 + person UInt32 BE → that person's best attempt: reached UInt8, excluded UInt8, then
/// the step times Int64 LE.
struct SavedFunnelDatabases: Sendable {
    let definitions: Database
    let meta: Database
    let state: Database

    static let summaryTag: UInt8 = 0
    static let fineTag: UInt8 = 1
    static let personTag: UInt8 = 3
    /// Duration counter levels, coarsest first, ending with the exact values.
    static let levels: [(tag: UInt8, shift: UInt64)] = [(6, 24), (2, 16), (7, 8), (1, 0)]
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

/// Keeps every saved funnel's per-person best attempt and its aggregates up to date in the writer's transaction,
/// after the person projections of the same transaction (so it sees merged persons and their new timelines).
///
/// Only the persons a transaction touches are re-evaluated: those of its events (as the person projections of the
/// same transaction stitched them: `PersonChanges`) and those merged away in it (their rows are dropped). A late event or a merge thus recomputes
/// just that person, and `funnel show` reads counts and exact time quantiles from the aggregates.
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

    /// The person projections of the same writer, which apply first in each transaction.
    let persons: PersonProjections

    init(log: EventLog, symbols: SymbolTable, persons: PersonProjections) {
        self.log = log
        self.symbols = symbols
        self.persons = persons
        databases = try? SavedFunnelRegistry.shared.databases(for: log.env, create: true)
        personSets = (try? PersonSets.open(log.env)) ?? (nil, nil)
    }

    func committed() {}
    func aborted() {}

    func apply(_ txn: inout WriteTransaction, log: EventLog, first: UInt64, last: UInt64) throws {
        guard let dbs = databases else { return }
        let funnels = try loaded(txn, dbs)
        if funnels.isEmpty { return }
        guard let persons = try PersonSets.live(txn, log: log, in: personSets) else { return }
        let t = self.persons.resolvedChanges()
        try Self.update(
            &txn, dbs, funnels.map { ($0, Self.relevant(t, to: $0)) }, persons: persons, log: log, symbols: symbols,
            absorbed: t.absorbed, through: last)
    }

    /// The touched persons whose best attempt may have changed: those with a new event that can match a step or an
    /// exclusion of `f` (events matching neither leave an ordered or unordered funnel's hits as they were), and
    /// those who absorbed someone. A strict funnel is broken by any event: all touched persons.
    static func relevant(_ t: ResolvedPersonChanges, to f: LoadedFunnel) -> [UInt32] {
        if f.definition.mode == .strict { return t.touched }
        let steps = f.compiled.stepMask
        let exclusions = f.compiled.exclusionMask
        let unknownNames = !f.compiled.unknownEvents.isEmpty
        var out: [UInt32] = []
        for e in t.events {
            let name = Int(e.name)
            let matches = name < steps.count ? (steps[name] | exclusions[name]) != 0 : unknownNames
            if matches { out.append(e.person) }
        }
        out.append(contentsOf: t.mergedSurvivors)
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

    /// Re-evaluates each funnel's `touched` persons, drops `absorbed`, and writes the aggregates' changes and the
    /// checkpoints. With several funnels, the touched persons' timelines are copied out once for all of them (a few
    /// hundred bytes each);
    /// then each funnel walks its persons in number order with one cursor, so its rows are read and replaced page
    /// after page instead of by a search from the root each.
    static func update(
        _ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, _ work: [(funnel: LoadedFunnel, touched: [UInt32])],
        persons: PersonDatabases, log: EventLog, symbols: SymbolTable, absorbed: [UInt32], through: UInt64
    ) throws {
        let scan = TimelineScan(env: log.env, log: log, dbs: persons, symbols: symbols, asOf: nil)
        // With several funnels: every person any of them needs, once, in number order, with their timeline's
        // bytes. With one (and for a definition over the whole store), each timeline is read as it comes.
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
            var state = FunnelScanState(w.funnel.compiled)
            var row: [UInt8] = []
            var key = FunnelKeys.person(w.funnel.id, 0)
            try txn.withCursor(dbs.state) { c in
                for number in absorbed {
                    FunnelKeys.setPerson(&key, number)
                    try key.withUnsafeBytes { k in
                        if let e = try c.seek(k), e.key.elementsEqual(k) {
                            delta.add(e.value, sign: -1)
                            try c.deleteCurrent()
                        }
                    }
                }
                var u = 0
                for number in w.touched {
                    // The new best attempt, from the timeline as this transaction left it.
                    func evaluate(_ bytes: UnsafeRawBufferPointer, _ state: inout FunnelScanState) throws -> Bool {
                        guard try state.collectHits(Timeline(bytes), txn, scan: scan) else { return false }
                        state.evaluateHits()
                        return state.outcome.reached > 0
                    }
                    let evaluated: Bool
                    if everyone.isEmpty {
                        evaluated = try TimelineChunks.withTimeline(txn, persons.timelines, person: number, scratch: &joined) {
                            try evaluate($0, &state)
                        } ?? false
                    } else {
                        while everyone[u] < number { u += 1 }
                        let (start, end) = (u == 0 ? 0 : ends[u - 1], ends[u])
                        evaluated = try start == end ? false : timelines.withUnsafeBytes {
                            try evaluate(UnsafeRawBufferPointer(rebasing: $0[start..<end]), &state)
                        }
                    }
                    row.removeAll(keepingCapacity: true)
                    if evaluated { FunnelRow.encode(state.outcome, into: &row) }
                    FunnelKeys.setPerson(&key, number)
                    try key.withUnsafeBytes { k in
                        // Compared in place: most re-evaluations leave the row as it was.
                        var had = false
                        if let e = try c.seek(k), e.key.elementsEqual(k) {
                            if e.value.elementsEqual(row) { return }
                            had = true
                            delta.add(e.value, sign: -1)
                        }
                        if row.isEmpty {
                            if had { try c.deleteCurrent() }
                        } else {
                            delta.add(row, sign: 1)
                            try row.withUnsafeBytes { v in try c.put(key: k, value: v, flags: had ? .current : []) }
                        }
                    }
                }
            }
            try delta.write(&txn, dbs, id: w.funnel.id)
            try SavedFunnelStore.setCheckpoint(&txn, dbs, name: w.funnel.name, id: w.funnel.id, checkpoint: through)
        }
    }
}

/// Keys of `funnel_state`.
enum FunnelKeys {
    static func summary(_ id: UInt32) -> [UInt8] { prefix(id) + [SavedFunnelDatabases.summaryTag] }

    static func prefix(_ id: UInt32) -> [UInt8] {
        withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    static func person(_ id: UInt32, _ number: UInt32) -> [UInt8] {
        var k = prefix(id) + [SavedFunnelDatabases.personTag, 0, 0, 0, 0]
        setPerson(&k, number)
        return k
    }

    static func setPerson(_ k: inout [UInt8], _ number: UInt32) {
        k[5] = UInt8(truncatingIfNeeded: number >> 24)
        k[6] = UInt8(truncatingIfNeeded: number >> 16)
        k[7] = UInt8(truncatingIfNeeded: number >> 8)
        k[8] = UInt8(truncatingIfNeeded: number)
    }

    /// Fine (tag 1) or coarse (tag 2) duration key.
    static func duration(_ id: UInt32, tag: UInt8, step: Int, kind: Int, value: UInt64) -> [UInt8] {
        var k = prefix(id) + [tag, UInt8(step), UInt8(kind)]
        withUnsafeBytes(of: value.bigEndian) { k.appendRaw($0) }
        return k
    }
}

/// A person's stored best attempt.
enum FunnelRow {
    static func encode(_ o: FunnelOutcome, into row: inout [UInt8]) {
        row.append(UInt8(o.reached))
        row.append(o.excluded ? 1 : 0)
        for k in 0..<o.reached { withUnsafeBytes(of: o.times[k].littleEndian) { row.appendRaw($0) } }
    }
}

/// What one transaction changes in a funnel's aggregates.
struct FunnelDelta {
    let steps: Int
    var excluded: Int64 = 0
    var counts: [Int64]
    var sumPrevious: [Int64]
    var sumStart: [Int64]
    /// (packed step, kind and duration, change): sorted and merged at write time, so the counters are bumped in
    /// key order (no hashing, page after page).
    var durations: [(key: UInt64, change: Int64)] = []

    static let valueBits: UInt64 = 48
    static let valueMask: UInt64 = (1 << 48) - 1

    init(steps: Int) {
        self.steps = steps
        counts = [Int64](repeating: 0, count: steps)
        sumPrevious = counts
        sumStart = counts
    }

    @inline(__always) static func pack(step: Int, kind: Int, value: Int64) -> UInt64 {
        UInt64(step) << 50 | UInt64(kind) << 49 | (UInt64(max(0, value)) & valueMask)
    }

    mutating func add(_ row: [UInt8], sign: Int64) {
        row.withUnsafeBytes { add($0, sign: sign) }
    }

    /// Adds (sign 1) or removes (sign −1) a stored row's contribution, read in place.
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
            durations.append((Self.pack(step: k, kind: 0, value: t - previousTime), sign))
            durations.append((Self.pack(step: k, kind: 1, value: t - t0), sign))
            previousTime = t
        }
    }

    mutating func write(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32) throws {
        durations.sort { $0.key < $1.key }
        // Merge equal keys; drop the ones that cancel out (a person re-evaluated to the same times).
        var merged: [(key: UInt64, change: Int64)] = []
        merged.reserveCapacity(durations.count)
        for d in durations {
            if let last = merged.last, last.key == d.key {
                merged[merged.count - 1].change += d.change
            } else {
                merged.append(d)
            }
        }
        merged.removeAll { $0.change == 0 }
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
        // Each level in key order: shifting the value keeps (step, kind, value) order, so equal buckets are adjacent.
        var key = FunnelKeys.duration(id, tag: 0, step: 0, kind: 0, value: 0)
        try txn.withCursor(dbs.state) { c in
            for level in SavedFunnelDatabases.levels {
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
                    key[5] = UInt8(truncatingIfNeeded: group >> 2)
                    key[6] = UInt8(truncatingIfNeeded: (group >> 1) & 1)
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

extension FunnelDefinition {
    var hasFilters: Bool { steps.contains { !$0.filters.isEmpty } || exclusions.contains { !$0.filters.isEmpty } }
}
