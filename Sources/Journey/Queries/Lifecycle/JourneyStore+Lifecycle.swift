internal import Foundation
internal import LMDB

/// Which moment a lifecycle query looks at: a time (events with event time ≤ it; default now), optionally on the
/// log as it stood at a position (identity included, via `withPersonView`). With a position and no time, the
/// moment is the event time of the record at that position.
public struct LifecycleMoment: Sendable, Hashable {
    public var time: Int64?
    public var position: UInt64?

    public init(time: Int64? = nil, position: UInt64? = nil) {
        self.time = time
        self.position = position
    }

    public static let now = LifecycleMoment()
}

/// Persons in one stage.
public struct LifecycleStagePersons: Sendable, Equatable {
    public var stage: String
    public var asOf: Int64
    /// All persons in the stage (`persons` holds the first `limit` by person number).
    public var total: Int
    public var persons: [LifecyclePerson]
}

extension JourneyStore {
    /// Persons per stage as of a moment (semantics §4).
    public func lifecycle(_ definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now) throws -> LifecycleCounts {
        let evaluator = LifecycleEvaluator(definition)
        return try withLifecycleScan(moment) { scan, asOf in
            let plan = evaluator.plan(symbols: symbols)
            let n = definition.stages.count
            let parts = try scan.run(make: { (FactsFold(plan: plan), [Int](repeating: 0, count: n + 1)) }) { acc, _, t, txn in
                acc.0.reset()
                try acc.0.advance(t, to: t.count, txn, scan: scan)
                acc.0.settle(t, at: asOf)
                let s = evaluator.stage(of: acc.0.facts) ?? n
                acc.1[s] += 1
            }
            var counts = [Int](repeating: 0, count: n + 1)
            for p in parts { for i in counts.indices { counts[i] += p.1[i] } }
            let total = counts.reduce(0, +)
            return LifecycleCounts(
                asOf: asOf,
                stages: definition.stages.indices.map {
                    LifecycleStageCount(
                        stage: definition.stages[$0].name, persons: counts[$0],
                        share: total == 0 ? 0 : Double(counts[$0]) / Double(total))
                },
                unmatched: counts[n], persons: total)
        }
    }

    public func lifecycle(_ definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now) async throws -> LifecycleCounts {
        try await offCooperativePool { try self.lifecycle(definition, at: moment) }
    }

    /// The stage-to-stage matrix between two moments (`from` < `to`), with up to `personsPerCell` display ids per cell.
    public func lifecycleTransitions(
        _ definition: LifecycleDefinition = .standard, from: Int64, to: Int64, personsPerCell: Int = 0
    ) throws -> LifecycleTransitions {
        guard from < to else { throw QueryError("--from must be before --to") }
        let evaluator = LifecycleEvaluator(definition)
        let n = definition.stages.count
        // Rows and columns: the stages, then n = no stage matched, then (rows only) n + 1 = no event yet.
        let width = n + 2
        struct State {
            var fold: FactsFold
            var matrix: [Int]
            var persons: [[UInt32]]
        }
        let (matrix, cellPersons, dbs) = try withLifecycleScan(LifecycleMoment(time: to)) { scan, _ in
            let plan = evaluator.plan(symbols: symbols)
            let parts = try scan.run(make: {
                State(fold: FactsFold(plan: plan), matrix: [Int](repeating: 0, count: width * width), persons: [[UInt32]](repeating: [], count: width * width))
            }) { st, person, t, txn in
                st.fold.reset()
                try st.fold.advance(t, through: from, txn, scan: scan)
                st.fold.settle(t, at: from)
                let a = st.fold.consumed == 0 ? n + 1 : evaluator.stage(of: st.fold.facts) ?? n
                try st.fold.advance(t, to: t.count, txn, scan: scan)
                st.fold.settle(t, at: to)
                let b = evaluator.stage(of: st.fold.facts) ?? n
                let cell = a * width + b
                st.matrix[cell] += 1
                if st.persons[cell].count < personsPerCell { st.persons[cell].append(person) }
            }
            var matrix = [Int](repeating: 0, count: width * width)
            var persons = [[UInt32]](repeating: [], count: width * width)
            for p in parts {
                for c in matrix.indices {
                    matrix[c] += p.matrix[c]
                    if persons[c].count < personsPerCell { persons[c] += p.persons[c].prefix(personsPerCell - persons[c].count) }
                }
            }
            return (matrix, persons, scan.dbs)
        }
        var result = LifecycleTransitions(from: from, to: to, stages: definition.stages.map(\.name), cells: [], moves: [:])
        try env.read { txn in
            for a in 0..<width {
                for b in 0..<width where matrix[a * width + b] > 0 {
                    let move = Self.move(definition, from: a == n + 1 ? nil : a, to: b)
                    let ids = try cellPersons[a * width + b].map { try Self.summary(txn, dbs, number: $0)?.displayId ?? "#\($0)" }
                    result.cells.append(LifecycleTransitionCell(
                        from: a == n + 1 ? nil : evaluator.name(a == n ? nil : a), to: evaluator.name(b == n ? nil : b),
                        persons: matrix[a * width + b], move: move, personIds: ids))
                    result.moves[move, default: 0] += matrix[a * width + b]
                }
            }
        }
        return result
    }

    public func lifecycleTransitions(
        _ definition: LifecycleDefinition = .standard, from: Int64, to: Int64, personsPerCell: Int = 0
    ) async throws -> LifecycleTransitions {
        try await offCooperativePool { try self.lifecycleTransitions(definition, from: from, to: to, personsPerCell: personsPerCell) }
    }

    /// Classifies a move between stage indices (`definition.stages.count` = no stage; `from` nil = no event yet).
    static func move(_ d: LifecycleDefinition, from a: Int?, to b: Int) -> LifecycleMove {
        guard let a else { return .new }
        if a == b { return .stayed }
        let n = d.stages.count
        guard a < n, b < n else { return b == n ? .back : .forward }
        let x = d.stages[a]
        let y = d.stages[b]
        switch (x.kind, y.kind) {
        case (_, .churned): return .churned
        case (.churned, _): return .cameBack
        case (.atRisk, .journey): return .cameBack
        case (_, .atRisk): return .back
        default: return y.rank >= x.rank ? .forward : .back
        }
    }

    /// The persons in a stage as of a moment: how many, and the first `limit` by person number with when they
    /// entered it (from their stage history).
    public func lifecyclePersons(
        _ definition: LifecycleDefinition = .standard, stage: String, at moment: LifecycleMoment = .now, limit: Int = 50
    ) throws -> LifecycleStagePersons {
        guard let index = definition.index(ofStage: stage) else {
            throw QueryError("--stage: \"\(stage)\" is not a stage of the definition (\(definition.stages.map(\.name).joined(separator: ", ")))")
        }
        let evaluator = LifecycleEvaluator(definition)
        struct Found {
            var person: UInt32
            var since: Int64
            var facts: PersonFacts
        }
        struct State {
            var fold: FactsFold
            var total = 0
            var found: [Found] = []
            var changes: [StageChange] = []
        }
        return try withLifecycleScan(moment) { scan, asOf in
            let plan = evaluator.plan(symbols: symbols)
            let parts = try scan.run(make: { State(fold: FactsFold(plan: plan)) }) { st, person, t, txn in
                st.fold.reset()
                try st.fold.advance(t, to: t.count, txn, scan: scan)
                st.fold.settle(t, at: asOf)
                guard evaluator.stage(of: st.fold.facts) == index else { return }
                let facts = st.fold.facts
                st.total += 1
                guard st.found.count < limit else { return }
                try evaluator.history(t, fold: &st.fold, until: asOf, into: &st.changes, txn, scan: scan)
                st.found.append(Found(person: person, since: st.changes.last?.time ?? facts.firstSeen, facts: facts))
            }
            let found = parts.flatMap(\.found).prefix(max(0, limit))
            let persons = try env.read { txn in
                try found.map { f in
                    LifecyclePerson(
                        person: f.person, displayId: try Self.summary(txn, scan.dbs, number: f.person)?.displayId ?? "#\(f.person)",
                        stage: stage, since: f.since, lastActivity: f.facts.lastActivity, orders: f.facts.orders,
                        npsScore: f.facts.npsScore)
                }
            }
            return LifecycleStagePersons(stage: stage, asOf: asOf, total: parts.reduce(0) { $0 + $1.total }, persons: persons)
        }
    }

    public func lifecyclePersons(
        _ definition: LifecycleDefinition = .standard, stage: String, at moment: LifecycleMoment = .now, limit: Int = 50
    ) async throws -> LifecycleStagePersons {
        try await offCooperativePool { try self.lifecyclePersons(definition, stage: stage, at: moment, limit: limit) }
    }

    /// Time spent per stage: the median length of completed stints over every person's stage history up to the
    /// moment, and the persons in each stage at the moment.
    public func lifecycleDurations(_ definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now) throws
        -> [LifecycleStageDuration]
    {
        let evaluator = LifecycleEvaluator(definition)
        let n = definition.stages.count
        struct State {
            var fold: FactsFold
            var changes: [StageChange] = []
            var lengths: [[Int64]]
            var ongoing: [Int]
        }
        return try withLifecycleScan(moment) { scan, asOf in
            let plan = evaluator.plan(symbols: symbols)
            let parts = try scan.run(make: {
                State(fold: FactsFold(plan: plan), lengths: [[Int64]](repeating: [], count: n), ongoing: [Int](repeating: 0, count: n))
            }) { st, _, t, txn in
                try evaluator.history(t, fold: &st.fold, until: asOf, into: &st.changes, txn, scan: scan)
                for (k, c) in st.changes.enumerated() where c.stage >= 0 {
                    if k + 1 < st.changes.count {
                        st.lengths[Int(c.stage)].append(st.changes[k + 1].time - c.time)
                    } else {
                        st.ongoing[Int(c.stage)] += 1
                    }
                }
            }
            return definition.stages.indices.map { s in
                var all = parts.flatMap { $0.lengths[s] }
                all.sort()
                let median: Double? = all.isEmpty ? nil
                    : all.count % 2 == 1 ? Double(all[all.count / 2])
                    : (Double(all[all.count / 2 - 1]) + Double(all[all.count / 2])) / 2
                return LifecycleStageDuration(
                    stage: definition.stages[s].name, completed: all.count, medianDays: median.map { $0 / 86_400_000 },
                    ongoing: parts.reduce(0) { $0 + $1.ongoing[s] })
            }
        }
    }

    public func lifecycleDurations(_ definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now) async throws
        -> [LifecycleStageDuration]
    {
        try await offCooperativePool { try self.lifecycleDurations(definition, at: moment) }
    }

    /// A person's stage history up to the moment (when they entered each stage, and what moved them); nil when no
    /// person has this id. Part of their profile.
    public func stageHistory(
        for id: String, definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now
    ) throws -> [LifecycleStageEntry]? {
        let evaluator = LifecycleEvaluator(definition)
        return try withLifecycleScan(moment) { scan, asOf in
            let found: [(StageChange, UInt32?)]? = try env.read { txn in
                guard let number = try Self.personNumber(txn, scan.dbs, id: id) else { return nil }
                var fold = FactsFold(plan: evaluator.plan(symbols: symbols))
                var out: [StageChange] = []
                var joined: [UInt8] = []
                return try TimelineChunks.withTimeline(txn, scan.dbs.timelines, person: number, scratch: &joined) { bytes in
                    let t = Timeline(bytes, asOf: asOf)
                    try evaluator.history(t, fold: &fold, until: asOf, into: &out, txn, scan: scan)
                    // The names of the events that caused each change, while the timeline is in hand.
                    return out.map { c in (c, c.entry >= 0 && Int(c.entry) < t.count ? t.name(Int(c.entry)) : nil) }
                } ?? []
            }
            guard let found else { return nil }
            return found.map { c, name in
                LifecycleStageEntry(
                    stage: evaluator.name(c.stage < 0 ? nil : Int(c.stage)), enteredAt: c.time,
                    event: name.flatMap { symbols.string($0) })
            }
        }
    }

    public func stageHistory(
        for id: String, definition: LifecycleDefinition = .standard, at moment: LifecycleMoment = .now
    ) async throws -> [LifecycleStageEntry]? {
        try await offCooperativePool { try self.stageHistory(for: id, definition: definition, at: moment) }
    }

    /// Runs `body` with a timeline scan over the person databases of the moment, and the moment's time.
    func withLifecycleScan<R>(_ moment: LifecycleMoment, _ body: (TimelineScan, Int64) throws -> R) throws -> R {
        try refreshSymbols()
        return try withPersonView(asOfPosition: moment.position) { dbs in
            var time = moment.time
            if time == nil, let p = moment.position {
                time = try env.read { txn in try log.withRecord(txn, at: p) { $0.eventTime } }
            }
            let asOf = time ?? Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            return try body(TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: asOf), asOf)
        }
    }
}
