internal import LMDB

/// Saved funnels: named definitions kept in the store and maintained as a projection (`SavedFunnelProjection`):
/// each person's best attempt and the aggregates are updated with every append, so `show` reads counts and exact
/// time quantiles without scanning journeys.
extension JourneyStore {
    /// Stores (or replaces) a named definition and computes its state over every journey, in one transaction.
    /// Needs a store opened for writing.
    public func saveFunnel(_ definition: FunnelDefinition) throws {
        try definition.validate()
        guard let name = definition.name else { throw QueryError("name: a saved funnel needs a name") }
        guard !env.readOnly, let dbs = try SavedFunnelRegistry.shared.databases(for: env, create: true) else {
            throw StoreError("saving a funnel needs the store opened for writing")
        }
        try refreshSymbols()
        let sets = try personSets()
        try env.write { txn in
            guard let persons = try PersonSets.live(txn, log: log, in: sets) else {
                throw StoreError("the store has no person projections yet")
            }
            try SavedFunnelStore.remove(&txn, dbs, name: name)
            let id = try SavedFunnelStore.nextId(&txn, dbs)
            let text = Array(definition.json.utf8)
            try Array(name.utf8).withUnsafeBytes { k in try text.withUnsafeBytes { v in try txn.put(dbs.definitions, key: k, value: v) } }
            let compiled = try CompiledFunnel(definition, options: FunnelOptions(), symbols: symbols)
            let funnel = LoadedFunnel(id: id, name: name, definition: definition, compiled: compiled)
            // A state of another layout (a store written by an older version) is recomputed with it.
            if try SavedFunnelStore.stateVersion(txn, dbs) != SavedFunnelDatabases.stateVersion {
                try SavedFunnelProjection.recomputeAll(&txn, dbs, persons: persons, log: log, symbols: symbols)
            }
            let checkpoint = try PersonProjections.checkpoint(txn, persons)
            try SavedFunnelProjection.recompute(&txn, dbs, funnel, persons: persons, log: log, symbols: symbols, through: checkpoint)
            try SavedFunnelStore.setStateVersion(&txn, dbs)
            try SavedFunnelStore.bumpGeneration(&txn, dbs)
        }
    }

    /// Removes a saved funnel and its state; false when there was none of that name.
    @discardableResult
    public func deleteFunnel(named name: String) throws -> Bool {
        guard !env.readOnly, let dbs = try SavedFunnelRegistry.shared.databases(for: env, create: true) else {
            throw StoreError("deleting a funnel needs the store opened for writing")
        }
        return try env.write { txn in
            let removed = try SavedFunnelStore.remove(&txn, dbs, name: name)
            if removed { try SavedFunnelStore.bumpGeneration(&txn, dbs) }
            return removed
        }
    }

    /// Every saved funnel, by name.
    public func savedFunnels() throws -> [FunnelDefinition] {
        guard let dbs = try SavedFunnelRegistry.shared.databases(for: env, create: !env.readOnly) else { return [] }
        let stored = try env.read { txn in try SavedFunnelStore.definitions(txn, dbs) }
        return try stored.map { name, bytes in try FunnelDefinition.load(json: bytes, source: "saved funnel \(name)") }
    }

    /// The saved funnel of this name, or nil.
    public func savedFunnel(named name: String) throws -> FunnelDefinition? {
        guard let dbs = try SavedFunnelRegistry.shared.databases(for: env, create: !env.readOnly) else { return nil }
        let bytes: [UInt8]? = try env.read { txn in
            try Array(name.utf8).withUnsafeBytes { k in try txn.withValue(dbs.definitions, key: k) { Array($0) } }
        }
        return try bytes.map { try FunnelDefinition.load(json: $0, source: "saved funnel \(name)") }
    }

    /// A saved funnel's result from its projection (no journey scan): persons per step, conversions, drop-off and
    /// exact median / p90 / mean times. nil when there is no such funnel. Breakdowns and query options (ranges,
    /// periods, histograms, time travel) are computed by `funnel(_:options:)` from the journeys instead.
    public func savedFunnelResult(named name: String) throws -> FunnelResult? {
        try savedFunnelResult(named: name, journeysIfBehind: true)
    }

    /// With `journeysIfBehind: false` (verify), the state as maintained even when it is behind the journeys.
    func savedFunnelResult(named name: String, journeysIfBehind: Bool) throws -> FunnelResult? {
        let sets = try personSets()  // and the projections made current
        guard let dbs = try SavedFunnelRegistry.shared.databases(for: env, create: !env.readOnly) else { return nil }
        guard let definition = try savedFunnel(named: name) else { return nil }
        let maintained = try env.read { txn -> FunnelResult?? in
            guard let meta = try SavedFunnelStore.meta(txn, dbs, name: name) else { return .some(nil) }
            // A state of another layout, or behind the journeys (a crash before its deferred update, in a store no
            // writer opened since), is recomputed by the next writer; meanwhile the journeys answer.
            guard try SavedFunnelStore.stateVersion(txn, dbs) == SavedFunnelDatabases.stateVersion else { return nil }
            if journeysIfBehind, let persons = try PersonSets.live(txn, log: log, in: sets, checkingVersions: false),
                try PersonProjections.checkpoint(txn, persons) != meta.checkpoint
            {
                return nil
            }
            return try SavedFunnelStore.result(txn, dbs, id: meta.id, definition: definition)
        }
        if let maintained { return maintained }
        return try funnel(definition)
    }

    public func savedFunnelResult(named name: String) async throws -> FunnelResult? {
        try await offCooperativePool { try self.savedFunnelResult(named: name) }
    }
}

/// Reads and writes of the saved-funnel databases.
enum SavedFunnelStore {
    static let generationKey: [UInt8] = [0] + Array("generation".utf8)
    static let nextKey: [UInt8] = [0] + Array("next".utf8)
    static let versionKey: [UInt8] = [0] + Array("version".utf8)

    static func counter<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases, _ key: [UInt8]) throws -> UInt64 {
        try key.withUnsafeBytes { k in try txn.withValue(dbs.meta, key: k) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } } ?? 0
    }

    static func setCounter(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, _ key: [UInt8], _ value: UInt64) throws {
        var v = value.littleEndian
        try key.withUnsafeBytes { k in try withUnsafeBytes(of: &v) { try txn.put(dbs.meta, key: k, value: $0) } }
    }

    static func generation<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases) throws -> UInt64 {
        try counter(txn, dbs, generationKey)
    }

    static func bumpGeneration(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases) throws {
        try setCounter(&txn, dbs, generationKey, try generation(txn, dbs) + 1)
    }

    /// The layout version of `funnel_state` (1: written before it was recorded).
    static func stateVersion<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases) throws -> UInt64 {
        max(1, try counter(txn, dbs, versionKey))
    }

    static func setStateVersion(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases) throws {
        try setCounter(&txn, dbs, versionKey, SavedFunnelDatabases.stateVersion)
    }

    static func nextId(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases) throws -> UInt32 {
        let id = try counter(txn, dbs, nextKey) + 1
        try setCounter(&txn, dbs, nextKey, id)
        return UInt32(truncatingIfNeeded: id)
    }

    /// (id, checkpoint) of a named funnel.
    static func meta<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases, name: String) throws
        -> (id: UInt32, checkpoint: UInt64)?
    {
        try Array(name.utf8).withUnsafeBytes { k in
            try txn.withValue(dbs.meta, key: k) { v -> (UInt32, UInt64)? in
                guard v.count >= 16 else { return nil }
                return (UInt32(littleEndian: v.loadUnaligned(as: UInt32.self)), UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            } ?? nil
        }
    }

    static func setCheckpoint(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, name: String, id: UInt32, checkpoint: UInt64) throws {
        var v = [UInt8](repeating: 0, count: 16)
        v.withUnsafeMutableBytes { b in
            b.storeBytes(of: id.littleEndian, toByteOffset: 0, as: UInt32.self)
            b.storeBytes(of: checkpoint.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        try Array(name.utf8).withUnsafeBytes { k in try v.withUnsafeBytes { try txn.put(dbs.meta, key: k, value: $0) } }
    }

    /// (name, definition JSON) of every saved funnel, by name.
    static func definitions<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases) throws
        -> [(name: String, json: [UInt8])]
    {
        try txn.withCursor(dbs.definitions) { c in
            var out: [(name: String, json: [UInt8])] = []
            var e = try c.first()
            while let entry = e {
                out.append((String(decoding: entry.key, as: UTF8.self), Array(entry.value)))
                e = try c.next()
            }
            return out
        }
    }

    /// Every saved funnel with its id, compiled against the current symbols.
    static func load<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: SavedFunnelDatabases, symbols: SymbolTable) throws -> [LoadedFunnel] {
        return try definitions(txn, dbs).compactMap { name, bytes -> LoadedFunnel? in
            guard let m = try meta(txn, dbs, name: name) else { return nil }
            let d = try FunnelDefinition.load(json: bytes, source: "saved funnel \(name)")
            return LoadedFunnel(id: m.id, name: name, definition: d, compiled: try CompiledFunnel(d, options: FunnelOptions(), symbols: symbols))
        }
    }

    /// Deletes a funnel's definition, meta and state; false when it did not exist.
    @discardableResult
    static func remove(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, name: String) throws -> Bool {
        let m = try meta(txn, dbs, name: name)
        let nameBytes = Array(name.utf8)
        let hadDefinition = try nameBytes.withUnsafeBytes { k in try txn.delete(dbs.definitions, key: k) }
        _ = try nameBytes.withUnsafeBytes { k in try txn.delete(dbs.meta, key: k) }
        guard let id = m?.id else { return hadDefinition }
        try clearState(&txn, dbs, id: id)
        return true
    }

    /// Deletes every `funnel_state` entry of a funnel.
    static func clearState(_ txn: inout WriteTransaction, _ dbs: SavedFunnelDatabases, id: UInt32) throws {
        let prefix = FunnelKeys.prefix(id)
        var keys: [[UInt8]] = []
        try txn.withCursor(dbs.state) { c in
            var e = try prefix.withUnsafeBytes { try c.seek($0) }
            while let entry = e, entry.key.count >= 4, entry.key.prefix(4).elementsEqual(prefix) {
                keys.append(Array(entry.key))
                e = try c.next()
            }
        }
        for k in keys { _ = try k.withUnsafeBytes { try txn.delete(dbs.state, key: $0) } }
    }

    /// The funnel's result from its summary and duration counters.
    static func result<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, _ dbs: SavedFunnelDatabases, id: UInt32, definition: FunnelDefinition
    ) throws -> FunnelResult {
        let n = definition.steps.count
        let summary = try FunnelKeys.summary(id).withUnsafeBytes { k in
            try txn.withValue(dbs.state, key: k) { b -> [Int64] in
                (0..<(b.count / 8)).map { Int64(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
            }
        } ?? []
        let s = summary.count == 1 + 3 * n ? summary : [Int64](repeating: 0, count: 1 + 3 * n)
        let counts = (0..<n).map { Int(s[1 + $0]) }
        var steps: [FunnelStepResult] = []
        for k in 0..<n {
            var fromPrevious: TimeStatistics? = nil
            var fromStart: TimeStatistics? = nil
            if k > 0 && counts[k] > 0 {
                fromPrevious = try statistics(txn, dbs, id: id, step: k, kind: 0, count: counts[k], sum: s[1 + n + k])
                fromStart = try statistics(txn, dbs, id: id, step: k, kind: 1, count: counts[k], sum: s[1 + 2 * n + k])
            }
            steps.append(FunnelStepResult(
                index: k, name: definition.steps[k].label, counts: counts, fromPrevious: fromPrevious, fromStart: fromStart))
        }
        return FunnelResult(steps: steps, excludedPersons: Int(s[0]), unknownEvents: [])
    }

    /// Median, p90 (interpolated as `TimeStatistics.quantile`) and mean from the duration counters.
    static func statistics<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, _ dbs: SavedFunnelDatabases, id: UInt32, step: Int, kind: Int, count: Int, sum: Int64
    ) throws -> TimeStatistics {
        let hm = Double(count - 1) * 0.5
        let h9 = Double(count - 1) * 0.9
        let m = Int(hm.rounded(.down))
        let p = Int(h9.rounded(.down))
        let ranks = [m, min(m + 1, count - 1), p, min(p + 1, count - 1)]
        let values = try valuesAtRanks(txn, dbs, id: id, step: step, kind: kind, ranks: ranks)
        let median = Double(values[0]) + (hm - Double(m)) * Double(values[1] - values[0])
        let p90 = Double(values[2]) + (h9 - Double(p)) * Double(values[3] - values[2])
        return TimeStatistics(median: median / 1000, p90: p90 / 1000, mean: Double(sum) / Double(count) / 1000)
    }

    /// The durations of `ranks` (0-based): from the coarsest counters down to the exact values, each level walking
    /// only the buckets inside the one found above it. The levels with pending records (`FunnelPending`) have their
    /// changes in that range added as the counters are walked.
    static func valuesAtRanks<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, _ dbs: SavedFunnelDatabases, id: UInt32, step: Int, kind: Int, ranks: [Int]
    ) throws -> [Int64] {
        try txn.withCursor(dbs.state) { c in
            try txn.withCursor(dbs.state) { pendingCursor in
                // The pending changes of the range last walked at each level (neighbouring ranks share ranges).
                var overlays: [Int: (lo: UInt64, changes: [Int64])] = [:]
                return try ranks.map { rank -> Int64 in
                    var before: Int64 = 0
                    var bucket: UInt64 = 0
                    var parentShift: UInt64 = 64
                    for (index, level) in SavedFunnelDatabases.levels.enumerated() {
                        let parent = parentShift == 64 ? nil : bucket
                        var pending: [Int64] = []
                        if index >= SavedFunnelDatabases.directLevels, let parent {
                            let lo = parent << parentShift
                            if let cached = overlays[index], cached.lo == lo {
                                pending = cached.changes
                            } else {
                                pending = try FunnelPending.changes(
                                    &pendingCursor, id: id, step: step, kind: kind, lo: lo, hi: (parent + 1) << parentShift,
                                    shift: level.shift)
                                overlays[index] = (lo, pending)
                            }
                        }
                        guard
                            let found = try bucketAtRank(
                                &c, id: id, step: step, kind: kind, tag: level.tag, span: parentShift - level.shift,
                                parent: parent, pending: pending, rank: rank, before: &before)
                        else {
                            throw StoreError("saved funnel \(id): its duration counters are inconsistent (rank \(rank)); redefine it")
                        }
                        bucket = found
                        parentShift = level.shift
                    }
                    return Int64(bitPattern: bucket)
                }
            }
        }
    }

    /// Walks one level's counters in bucket order, inside the `parent` bucket (`span` bits finer) or all of them at
    /// the first level, with `pending[b]` added to the range's bucket b; counts persons into `before` and returns
    /// the bucket that holds `rank`.
    static func bucketAtRank(
        _ c: inout Cursor, id: UInt32, step: Int, kind: Int, tag: UInt8, span: UInt64, parent: UInt64?,
        pending: [Int64], rank: Int, before: inout Int64
    ) throws -> UInt64? {
        let first = parent.map { $0 << span } ?? 0
        let start = FunnelKeys.duration(id, tag: tag, step: step, kind: kind, value: first)
        let group = Array(start.prefix(7))
        var e = try start.withUnsafeBytes { try c.seek($0) }
        var p = 0
        while true {
            while p < pending.count && pending[p] == 0 { p += 1 }
            var stored: (value: UInt64, n: Int64)? = nil
            if let entry = e, entry.key.count == 15, entry.key.prefix(7).elementsEqual(group) {
                let value = UInt64(bigEndian: entry.key.loadUnaligned(fromByteOffset: 7, as: UInt64.self))
                if parent == nil || value >> span == parent {
                    stored = (value, Int64(littleEndian: entry.value.loadUnaligned(as: Int64.self)))
                }
            }
            let value: UInt64
            var n: Int64 = 0
            if let s = stored, p >= pending.count || s.value <= first + UInt64(p) {
                value = s.value
                n = s.n
                e = try c.next()
            } else if p < pending.count {
                value = first + UInt64(p)
            } else {
                return nil
            }
            if p < pending.count && first + UInt64(p) == value {
                n += pending[p]
                p += 1
            }
            if n > 0 && before + n > Int64(rank) { return value }
            before += max(0, n)
        }
    }
}

/// A saved funnel's maintained result beside a fresh computation from the journeys.
public struct SavedFunnelVerification: Sendable, Equatable {
    public var name: String
    public var maintained: FunnelResult
    public var recomputed: FunnelResult
    public var matches: Bool { maintained.steps == recomputed.steps && maintained.excludedPersons == recomputed.excludedPersons }
}

extension JourneyStore {
    /// Recomputes every saved funnel from the journeys and compares it with what the projection maintains (counts,
    /// drop-off, exact time statistics). Retried when appends land between the two reads.
    public func verifySavedFunnels() throws -> [SavedFunnelVerification] {
        var out: [SavedFunnelVerification] = []
        for definition in try savedFunnels() {
            guard let name = definition.name else { continue }
            var attempt = 0
            while true {
                let before = try lastPosition()
                guard let maintained = try savedFunnelResult(named: name, journeysIfBehind: false) else { break }
                let recomputed = try funnel(definition)
                let v = SavedFunnelVerification(name: name, maintained: maintained, recomputed: recomputed)
                attempt += 1
                let after = try lastPosition()
                if v.matches || attempt >= 3 || after == before {
                    out.append(v)
                    break
                }
            }
        }
        return out
    }
}
