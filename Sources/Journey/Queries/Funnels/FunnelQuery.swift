internal import Dispatch
internal import LMDB

/// Query-time options of a funnel (the definition says what a funnel is; these say what to look at).
public struct FunnelOptions: Sendable, Equatable {
    /// Entry range: step 1 in [from, to), UTC ms (semantics §3: later steps may complete after `to`).
    public var from: Int64?
    public var to: Int64?
    /// Only events with event time ≤ this (time travel; identity as known now).
    public var asOf: Int64?
    /// Only what the log held up to this position, identity included (served from a scratch copy of the person
    /// projections: needs a store opened for writing; see `withPersonView`).
    public var asOfPosition: UInt64?
    /// Conversion over time: entering and converting persons per entry period in `timeZone`.
    public var by: PeriodInterval?
    public var timeZone = "UTC"
    /// Time-to-convert histogram between two steps (1-based).
    public var histogram: (from: Int, to: Int)? {
        get { histogramSteps.map { ($0[0], $0[1]) } }
        set { histogramSteps = newValue.map { [$0.from, $0.to] } }
    }
    var histogramSteps: [Int]?
    /// Histogram bins, at most (default 10).
    public var histogramBins = 10
    /// How the histogram's bins are cut (default `.log`).
    public var histogramScale = HistogramScale.log

    public init() {}
}

extension JourneyStore {
    /// Computes a funnel over every person's journey (ad hoc: straight from the timelines).
    public func funnel(_ definition: FunnelDefinition, options: FunnelOptions = FunnelOptions()) throws -> FunnelResult {
        try definition.validate()
        try refreshSymbols()
        let compiled = try CompiledFunnel(definition, options: options, symbols: symbols)
        return try withPersonView(asOfPosition: options.asOfPosition) { dbs in
            let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: options.asOf)
            let parts = try scan.run(make: { FunnelScanState(compiled) }) { state, _, timeline, txn in
                try state.add(timeline, txn, scan: scan)
            }
            return try compiled.finish(parts, symbols: symbols)
        }
    }

    /// `funnel(_:options:)` for async callers: runs on a Dispatch thread.
    public func funnel(_ definition: FunnelDefinition, options: FunnelOptions = FunnelOptions()) async throws -> FunnelResult {
        try await offCooperativePool { try self.funnel(definition, options: options) }
    }

    /// Persons whose best attempt reached step `atStep` (1-based) but not the next one, newest first, with their last
    /// touchpoint, latest NPS answer and support tickets since.
    public func abandoned(
        _ definition: FunnelDefinition, atStep: Int, options: FunnelOptions = FunnelOptions(), limit: Int = 50
    ) throws -> [AbandonedPerson] {
        try definition.validate()
        guard atStep >= 1 && atStep < definition.steps.count else {
            throw QueryError("--at-step: \(atStep) must be a step before the last (1…\(definition.steps.count - 1))")
        }
        try refreshSymbols()
        let compiled = try CompiledFunnel(definition, options: options, symbols: symbols)
        return try withPersonView(asOfPosition: options.asOfPosition) { dbs in
            try abandoned(compiled, atStep: atStep, options: options, limit: limit, dbs: dbs)
        }
    }

    private func abandoned(
        _ compiled: CompiledFunnel, atStep: Int, options: FunnelOptions, limit: Int, dbs: PersonDatabases
    ) throws -> [AbandonedPerson] {
        let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: options.asOf)
        let parts = try scan.run(make: { FunnelScanState(compiled) }) { state, person, timeline, txn in
            try state.collectAbandoned(person, timeline, txn, scan: scan, atStep: atStep)
        }
        var found = parts.flatMap(\.abandoned)
        found.sort { $0.time != $1.time ? $0.time > $1.time : $0.person < $1.person }
        let chosen = found.prefix(max(0, limit))
        return try env.read { txn in
            var joined: [UInt8] = []
            return try chosen.compactMap { a -> AbandonedPerson? in
                guard let summary = try Self.summary(txn, dbs, number: a.person) else { return nil }
                return try TimelineChunks.withTimeline(txn, dbs.timelines, person: a.person, scratch: &joined) { bytes in
                    try AbandonmentDetails(symbols: symbols, scan: scan).describe(
                        a, displayId: summary.displayId, timeline: Timeline(bytes, asOf: options.asOf), txn)
                } ?? nil
            }
        }
    }

    public func abandoned(
        _ definition: FunnelDefinition, atStep: Int, options: FunnelOptions = FunnelOptions(), limit: Int = 50
    ) async throws -> [AbandonedPerson] {
        try await offCooperativePool { try self.abandoned(definition, atStep: atStep, options: options, limit: limit) }
    }
}

/// A definition resolved against the store's symbols: per event-name id, the steps and exclusions it may match.
/// A class: scan states copy it per partition and read it per person, so one reference instead of ten arrays.
final class CompiledFunnel: Sendable {
    let definition: FunnelDefinition
    let options: FunnelOptions
    let evaluator: FunnelEvaluator
    /// Indexed by event-name symbol id: bit k = step k / exclusion k.
    let stepMask: [UInt32]
    let exclusionMask: [UInt32]
    /// Steps / exclusions with property filters (checked on the record).
    let filteredSteps: UInt32
    let filteredExclusions: UInt32
    /// Most hits one event can give: every step and exclusion it matches, plus strict mode's "unmatched".
    let hitsPerEvent: Int
    let stepFilters: [[CompiledFilter]]
    let exclusionFilters: [[CompiledFilter]]
    let breakdownPath: ResolvedPath?
    let unknownEvents: [String]
    let periods: CalendarPeriods?

    init(_ d: FunnelDefinition, options: FunnelOptions, symbols: SymbolTable) throws {
        definition = d
        self.options = options
        var unknown: [String] = []
        let size = symbols.count + 1
        func masks(_ groups: [[String]]) -> [UInt32] {
            var m = [UInt32](repeating: 0, count: size)
            for (k, names) in groups.enumerated() {
                for name in names {
                    if let id = symbols.id(of: name), Int(id) < size { m[Int(id)] |= 1 << UInt32(k) } else if !unknown.contains(name) { unknown.append(name) }
                }
            }
            return m
        }
        stepMask = masks(d.steps.map(\.events))
        exclusionMask = masks(d.exclusions.map(\.events))
        unknownEvents = unknown
        hitsPerEvent = d.steps.count + d.exclusions.count + 1
        var fs: UInt32 = 0
        for (k, s) in d.steps.enumerated() where !s.filters.isEmpty { fs |= 1 << UInt32(k) }
        var fx: UInt32 = 0
        for (k, e) in d.exclusions.enumerated() where !e.filters.isEmpty { fx |= 1 << UInt32(k) }
        filteredSteps = fs
        filteredExclusions = fx
        stepFilters = d.steps.map { $0.filters.map { CompiledFilter($0, symbols: symbols) } }
        exclusionFilters = d.exclusions.map { $0.filters.map { CompiledFilter($0, symbols: symbols) } }
        if case .property(let p) = d.breakdown {
            breakdownPath = ResolvedPath(p, symbols: symbols)
        } else {
            breakdownPath = nil
        }
        if let h = options.histogramSteps {
            guard h[0] >= 1, h[1] <= d.steps.count, h[0] < h[1] else {
                throw QueryError("--from-step/--to-step: \(h[0])…\(h[1]) must be two steps i < j within 1…\(d.steps.count)")
            }
        }
        if let from = options.from, let to = options.to, from >= to {
            throw QueryError("--from must be before --to (step 1 at or after --from, before --to)")
        }
        if let by = options.by {
            guard let from = options.from, let to = options.to else {
                throw QueryError("--by needs --from and --to (the entry periods to show, zero-filled)")
            }
            periods = try CalendarPeriods(interval: by, timeZone: options.timeZone, from: from, to: to)
        } else {
            periods = nil
        }
        evaluator = FunnelEvaluator(
            steps: d.steps.count, window: d.windowMillis, mode: d.mode,
            exclusions: d.exclusions.map { FunnelEvaluator.Exclusion(from: $0.fromStep - 1, to: $0.toStep - 1) },
            entryFrom: options.from ?? .min, entryTo: options.to ?? .max)
    }

    /// Whether an event of this name can change a person's best attempt: it can match a step or an exclusion (an
    /// unknown name may be one the funnel names but no event had when it was compiled). Events matching neither
    /// leave an ordered or unordered funnel's hits as they were (a strict funnel is broken by any event).
    @inline(__always)
    func canChangeAttempt(name: UInt32) -> Bool {
        let n = Int(name)
        return n < stepMask.count ? (stepMask[n] | exclusionMask[n]) != 0 : !unknownEvents.isEmpty
    }
}

/// Each statistics job touches only its own slots.
private struct SendableBuffers: @unchecked Sendable {
    let arrays: UnsafeMutableBufferPointer<[Int64]>
    let out: UnsafeMutableBufferPointer<TimeStatistics?>
}

/// A breakdown value as collected in the scan: symbol ids stay ids until the end.
enum BreakdownKey: Hashable {
    case none
    case symbol(UInt32)
    case text(String)
}

/// Per step: persons reaching it, and their times from the previous step and from step 1 (ms).
struct StepAccumulator {
    var counts: [Int]
    var fromPrevious: [[Int64]]
    var fromStart: [[Int64]]

    init(steps: Int) {
        counts = [Int](repeating: 0, count: steps)
        fromPrevious = [[Int64]](repeating: [], count: steps)
        fromStart = [[Int64]](repeating: [], count: steps)
    }

    @inline(__always) mutating func add(_ o: FunnelOutcome) {
        counts[0] += 1
        if o.reached < 2 { return }
        for k in 1..<o.reached {
            counts[k] += 1
            fromPrevious[k].append(o.times[k] - o.times[k - 1])
            fromStart[k].append(o.times[k] - o.times[0])
        }
    }

    mutating func merge(_ other: StepAccumulator) {
        for k in counts.indices {
            counts[k] += other.counts[k]
            fromPrevious[k].append(contentsOf: other.fromPrevious[k])
            fromStart[k].append(contentsOf: other.fromStart[k])
        }
    }
}

/// Hit scratch of one scan state (used by one thread at a time): grown, never shrunk, written through a pointer so
/// that filling it costs no per-hit uniqueness check or retain.
final class HitBuffer {
    private(set) var base: UnsafeMutablePointer<FunnelHit>
    private var capacity: Int

    init() {
        capacity = 256
        base = .allocate(capacity: 256)
    }

    /// Room for `n` hits (contents not kept).
    @inline(__always) func reserve(_ n: Int) -> UnsafeMutableBufferPointer<FunnelHit> {
        if n > capacity {
            base.deallocate()
            capacity = Swift.max(n, 2 &* capacity)
            base = .allocate(capacity: capacity)
        }
        return UnsafeMutableBufferPointer(start: base, count: capacity)
    }

    deinit { base.deallocate() }
}

/// One partition's scan state: the evaluator's scratch, the hits buffer, and what is being counted.
struct FunnelScanState {
    let compiled: CompiledFunnel
    var evaluator: FunnelEvaluator
    var outcome = FunnelOutcome()
    /// Scratch for one timeline's hits; the first `hitCount` are meaningful.
    let hits = HitBuffer()
    var hitCount = 0
    var total: StepAccumulator
    var groups: [BreakdownKey: StepAccumulator] = [:]
    var excluded = 0
    var entries: [Int64] = []
    var converted: [Bool] = []
    var samples: [Int64] = []
    var abandoned: [(time: Int64, person: UInt32, step: Int32)] = []

    init(_ compiled: CompiledFunnel) {
        self.compiled = compiled
        evaluator = compiled.evaluator
        total = StepAccumulator(steps: compiled.definition.steps.count)
    }

    /// Fills `hits` from a timeline; false when no step-1 event is in view (nothing to evaluate).
    ///
    /// The buffer is sized once per timeline and written through a pointer: no per-hit uniqueness checks.
    mutating func collectHits<T: TransactionReading & ~Copyable>(_ t: Timeline, _ txn: borrowing T, scan: TimelineScan) throws -> Bool {
        let out = hits.reserve(t.count &* compiled.hitsPerEvent)
        let (n, hasStart) = try Self.fill(out, t, txn, scan: scan, compiled: compiled)
        hitCount = n
        return hasStart
    }

    /// Evaluates the collected hits into `outcome`.
    mutating func evaluateHits() {
        evaluator.evaluate(UnsafeBufferPointer(start: hits.base, count: hitCount), into: &outcome)
    }

    private static func fill<T: TransactionReading & ~Copyable>(
        _ out: UnsafeMutableBufferPointer<FunnelHit>, _ t: Timeline, _ txn: borrowing T, scan: TimelineScan,
        compiled: CompiledFunnel
    ) throws -> (Int, Bool) {
        let strict = compiled.definition.mode == .strict
        let filteredSteps = compiled.filteredSteps
        let filteredExclusions = compiled.filteredExclusions
        let filtered = filteredSteps | filteredExclusions != 0
        var hasStart = false
        var sorted = true
        var lastTime = Int64.min
        var lastCode: UInt16 = 0
        var n = 0
        @inline(__always) func append(_ time: Int64, _ code: UInt16, _ entry: Int) {
            if time == lastTime && code < lastCode { sorted = false }
            lastTime = time
            lastCode = code
            out[n] = FunnelHit(time: time, code: code, entry: Int32(truncatingIfNeeded: entry))
            n &+= 1
        }
        try compiled.stepMask.withUnsafeBufferPointer { stepMask in
            try compiled.exclusionMask.withUnsafeBufferPointer { exclusionMask in
                let names = stepMask.count
                for i in 0..<t.count {
                    let name = Int(t.name(i))
                    var m: UInt32 = name < names ? stepMask[name] : 0
                    var x: UInt32 = name < exclusionMask.count ? exclusionMask[name] : 0
                    if filtered && (m & filteredSteps) | (x & filteredExclusions) != 0 {
                        (m, x) = try filter(m, x, position: t[i].position, txn, scan: scan, compiled: compiled)
                    }
                    if m == 0 && x == 0 {
                        if strict { append(t.time(i), FunnelHit.unmatched, i) }
                        continue
                    }
                    let time = t.time(i)
                    if m & 1 != 0 { hasStart = true }
                    let noStep = m == 0
                    while m != 0 {
                        append(time, UInt16(m.trailingZeroBitCount), i)
                        m &= m &- 1
                    }
                    while x != 0 {
                        append(time, FunnelHit.exclusionBase + UInt16(x.trailingZeroBitCount), i)
                        x &= x &- 1
                    }
                    if strict && noStep { append(time, FunnelHit.unmatched, i) }
                }
            }
        }
        if !sorted {
            var used = UnsafeMutableBufferPointer(rebasing: out[0..<n])
            used.sort(by: FunnelHit.before)
        }
        return (n, hasStart)
    }

    /// Drops the steps and exclusions whose property filters the record fails.
    private static func filter<T: TransactionReading & ~Copyable>(
        _ m: UInt32, _ x: UInt32, position: UInt64, _ txn: borrowing T, scan: TimelineScan, compiled: CompiledFunnel
    )
        throws -> (UInt32, UInt32)
    {
        let symbols = scan.symbols
        return try scan.record(at: position, txn) { view -> (UInt32, UInt32) in
            var m = m
            var x = x
            var bits = m & compiled.filteredSteps
            while bits != 0 {
                let k = bits.trailingZeroBitCount
                if !compiled.stepFilters[k].allSatisfy({ $0.matches(view, symbols: symbols) }) { m &= ~(1 << UInt32(k)) }
                bits &= bits &- 1
            }
            bits = x & compiled.filteredExclusions
            while bits != 0 {
                let k = bits.trailingZeroBitCount
                if !compiled.exclusionFilters[k].allSatisfy({ $0.matches(view, symbols: symbols) }) { x &= ~(1 << UInt32(k)) }
                bits &= bits &- 1
            }
            return (m, x)
        } ?? (0, 0)
    }

    /// Evaluates one person and counts them.
    mutating func add(_ t: Timeline, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws {
        guard try collectHits(t, txn, scan: scan) else { return }
        evaluateHits()
        guard outcome.reached > 0 else { return }
        if outcome.excluded {
            excluded += 1
            return
        }
        let steps = compiled.definition.steps.count
        if compiled.definition.breakdown != nil {
            let key = try breakdownKey(t, txn, scan: scan)
            groups[key, default: StepAccumulator(steps: steps)].add(outcome)
        }
        total.add(outcome)
        if compiled.periods != nil {
            entries.append(outcome.times[0])
            converted.append(outcome.reached == steps)
        }
        if let h = compiled.options.histogramSteps, outcome.reached >= h[1] {
            samples.append(outcome.times[h[1] - 1] - outcome.times[h[0] - 1])
        }
    }

    mutating func collectAbandoned(
        _ person: UInt32, _ t: Timeline, _ txn: borrowing ReadTransaction, scan: TimelineScan, atStep: Int
    ) throws {
        guard try collectHits(t, txn, scan: scan) else { return }
        evaluateHits()
        guard outcome.reached == atStep, !outcome.excluded else { return }
        abandoned.append((outcome.times[atStep - 1], person, outcome.entries[atStep - 1]))
    }

    /// The value of the attributed event of the best attempt.
    func breakdownKey<T: TransactionReading & ~Copyable>(_ t: Timeline, _ txn: borrowing T, scan: TimelineScan) throws -> BreakdownKey {
        let entry: Int32
        switch compiled.definition.attribution {
        case .first: entry = outcome.entries[0]
        case .last: entry = outcome.entries[outcome.reached - 1]
        case .step(let k):
            guard outcome.reached >= k else { return .none }
            entry = outcome.entries[k - 1]
        }
        let e = t[Int(entry)]
        guard let path = compiled.breakdownPath else { return e.channel == 0 ? .none : .symbol(e.channel) }
        return try scan.record(at: e.position, txn) { view -> BreakdownKey in
            guard let v = path.locate(view) else { return .none }
            return BreakdownKey(v, symbols: scan.symbols)
        } ?? .none
    }
}

extension BreakdownKey {
    init(_ v: FieldValue, symbols: SymbolTable) {
        switch v {
        case .null: self = .none
        case .bool(let b): self = .text(b ? "true" : "false")
        case .symbol(let id): self = .symbol(id)
        case .array: self = .text("(array)")
        case .object: self = .text("(object)")
        default: self = v.text(symbols: symbols).map { .text($0) } ?? .none
        }
    }
}

extension CompiledFunnel {
    /// Merges the partitions (in order) into the result.
    func finish(_ parts: [FunnelScanState], symbols: SymbolTable) throws -> FunnelResult {
        let n = definition.steps.count
        var total = StepAccumulator(steps: n)
        var groups: [BreakdownKey: StepAccumulator] = [:]
        var excluded = 0
        for p in parts {
            total.merge(p.total)
            excluded += p.excluded
            for (k, g) in p.groups { groups[k, default: StepAccumulator(steps: n)].merge(g) }
        }
        var result = FunnelResult(
            steps: stepResults(&total), breakdown: nil, periods: nil, histogram: nil, excludedPersons: excluded,
            unknownEvents: unknownEvents)
        if definition.breakdown != nil {
            var out: [FunnelBreakdownGroup] = []
            for (key, var acc) in groups {
                let value: String? = switch key {
                case .none: nil
                case .symbol(let id): symbols.string(id) ?? "#\(id)"
                case .text(let s): s
                }
                out.append(FunnelBreakdownGroup(value: value, steps: stepResults(&acc)))
            }
            out.sort {
                let a = $0.steps[0].persons
                let b = $1.steps[0].persons
                return a != b ? a > b : ($0.value ?? "") < ($1.value ?? "")
            }
            result.breakdown = out
        }
        if let periods {
            var entered = [Int](repeating: 0, count: periods.starts.count)
            var conv = [Int](repeating: 0, count: periods.starts.count)
            for p in parts {
                for (i, t) in p.entries.enumerated() {
                    guard let k = periods.index(of: t) else { continue }
                    entered[k] += 1
                    if p.converted[i] { conv[k] += 1 }
                }
            }
            result.periods = periods.starts.indices.map { k in
                FunnelPeriodRow(
                    start: periods.starts[k], label: periods.labels[k], entered: entered[k], converted: conv[k],
                    conversion: entered[k] == 0 ? 0 : Double(conv[k]) / Double(entered[k]))
            }
        }
        if let h = options.histogramSteps {
            var samples = parts.flatMap(\.samples)
            samples.sort()
            let edges = options.histogramScale == .log
                ? FunnelHistogram.niceEdges(samples, bins: options.histogramBins)
                : FunnelHistogram.linearEdges(samples, bins: options.histogramBins)
            var counts = [Int](repeating: 0, count: max(0, edges.count - 1))
            var k = 0
            for s in samples {
                while k + 2 < edges.count && s >= edges[k + 1] { k += 1 }
                counts[k] += 1
            }
            result.histogram = FunnelHistogram(
                fromStep: h[0], toStep: h[1], scale: options.histogramScale,
                bins: counts.indices.map { k in
                    FunnelHistogram.Bin(lower: Double(edges[k]) / 1000, upper: Double(edges[k + 1]) / 1000, persons: counts[k])
                })
        }
        return result
    }

    func stepResults(_ acc: inout StepAccumulator) -> [FunnelStepResult] {
        let stats = Self.statistics(&acc)
        return definition.steps.indices.map { k in
            FunnelStepResult(
                index: k, name: definition.steps[k].label, counts: acc.counts, fromPrevious: stats[2 * k],
                fromStart: stats[2 * k + 1])
        }
    }

    /// Time statistics of every step (from previous, from start), computed on all cores: with millions of persons
    /// these selections are most of a funnel's time after the scan.
    static func statistics(_ acc: inout StepAccumulator) -> [TimeStatistics?] {
        let n = acc.counts.count
        var arrays: [[Int64]] = []
        for k in 0..<n {
            arrays.append(acc.fromPrevious[k])
            arrays.append(acc.fromStart[k])
        }
        acc.fromPrevious = []
        acc.fromStart = []
        var out = [TimeStatistics?](repeating: nil, count: 2 * n)
        arrays.withUnsafeMutableBufferPointer { arrays in
            out.withUnsafeMutableBufferPointer { out in
                let work = SendableBuffers(arrays: arrays, out: out)
                DispatchQueue.concurrentPerform(iterations: 2 * n) { i in
                    if i >= 2 { work.out[i] = TimeStatistics.of(&work.arrays[i]) }
                }
            }
        }
        return out
    }
}

/// The "why" beside the "who": last touchpoint, latest NPS answer, support tickets since the drop-off.
struct AbandonmentDetails {
    let symbols: SymbolTable
    let scan: TimelineScan

    func describe(
        _ a: (time: Int64, person: UInt32, step: Int32), displayId: String, timeline t: Timeline,
        _ txn: borrowing ReadTransaction
    ) throws -> AbandonedPerson? {
        guard t.count > 0 else { return nil }
        let last = t[t.count - 1]
        var out = AbandonedPerson(
            person: a.person, displayId: displayId, reachedAt: a.time, lastEvent: symbols.string(last.name) ?? "#\(last.name)",
            lastChannel: last.channel == 0 ? nil : symbols.string(last.channel), lastTime: last.time, npsScore: nil,
            npsTime: nil, ticketsSince: 0, lastTicketTopic: nil)
        let defaults = AlertOptions()
        let nps = symbols.id(of: defaults.nps.event)
        let ticket = symbols.id(of: defaults.ticketEvent)
        let score = ResolvedPath(defaults.nps.property, symbols: symbols)
        let topic = ResolvedPath(defaults.ticketTopic, symbols: symbols)
        var lastTicket: UInt64? = nil
        for i in stride(from: t.count - 1, through: 0, by: -1) {
            let e = t[i]
            if let nps, e.name == nps, out.npsScore == nil {
                out.npsScore = try scan.record(at: e.position, txn) { score.locate($0)?.number } ?? nil
                if out.npsScore != nil { out.npsTime = e.time }
            }
            if let ticket, e.name == ticket, e.time >= a.time {
                out.ticketsSince += 1
                if lastTicket == nil { lastTicket = e.position }
            }
            if out.npsScore != nil && e.time < a.time { break }
        }
        if let p = lastTicket {
            out.lastTicketTopic = try scan.record(at: p, txn) { topic.locate($0)?.text(symbols: symbols) } ?? nil
        }
        return out
    }
}
