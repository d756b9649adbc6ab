internal import LMDB

/// What the lifecycle rules know about one person as of a moment T: a fold over their timeline entries with event
/// time ≤ T (semantics §4: what an analyst would have seen then, given the events logged since).
///
/// Only the fixed 24-byte entries are read, except for the few events whose values a definition needs (revenue of
/// orders, the score of NPS answers, traits of Identify calls), which are read in place from their records.
public struct PersonFacts: Sendable, Equatable {
    /// The moment these facts describe (UTC ms).
    public var asOf: Int64 = 0
    /// Events at or before `asOf`.
    public var events = 0
    /// Some event at or before `asOf` carried a userId.
    public var identified = false
    public var orders = 0
    /// Sum of the orders' revenue (only read when a rule uses revenue).
    public var revenue = 0.0
    /// The latest NPS answer with a numeric score, and when.
    public var npsScore: Double?
    public var npsTime: Int64?
    /// First and last event time; last order time (nil: no order).
    public var firstSeen: Int64 = .max
    public var lastActivity: Int64 = .min
    public var lastOrder: Int64?
    /// Per counted window of the definition (`eventCount` rules, in `LifecycleEvaluator.windows` order): events of
    /// that name in (asOf − days, asOf].
    public var eventCounts: [Int] = []
    /// Per trait the definition reads (`LifecycleEvaluator.traits` order): the latest value, nil if never set.
    public var traits: [TraitValue?] = []

    public init() {}

    public var npsAnswer: NPSAnswer { NPSAnswer(npsScore) }

    /// Whole days from `time` to `asOf`, floored (an event 29 days 23 hours ago is 29 days ago).
    @inline(__always)
    static func days(since time: Int64, asOf: Int64) -> Double {
        let d = asOf - time
        return Double(d >= 0 ? d / dayMillis : (d - dayMillis + 1) / dayMillis)
    }

    static let dayMillis: Int64 = 86_400_000
}

/// A definition's needs resolved against the store's symbols, once per query.
struct FactsPlan: Sendable {
    /// Symbol ids (0: the name is in no record, so it never matches).
    var orderEvent: UInt32 = 0
    var npsEvent: UInt32 = 0
    var identifyEvent: UInt32 = 0
    /// Set only when a rule needs the value.
    var revenue: ResolvedPath?
    var score: ResolvedPath?
    /// (event name id, window ms) per `eventCount` rule.
    var windows: [(name: UInt32, millis: Int64)] = []
    var traits: [ResolvedPath] = []
    let symbols: SymbolTable
}

/// Folds one person's timeline forward into `PersonFacts`; times only go forward (`settle(at:)`), so a scan can ask
/// for the facts at several moments (transitions, stage history) in one pass over the entries.
struct FactsFold {
    let plan: FactsPlan
    private(set) var facts = PersonFacts()
    /// Entries consumed so far.
    private(set) var consumed = 0
    /// Per window: the first entry that may still be inside it.
    private var tails: [Int]

    init(plan: FactsPlan) {
        self.plan = plan
        tails = [Int](repeating: 0, count: plan.windows.count)
        reset()
    }

    /// Back to no events, keeping the arrays' storage (a scan resets once per person).
    mutating func reset() {
        facts.asOf = 0
        facts.events = 0
        facts.identified = false
        facts.orders = 0
        facts.revenue = 0
        facts.npsScore = nil
        facts.npsTime = nil
        facts.firstSeen = .max
        facts.lastActivity = .min
        facts.lastOrder = nil
        if facts.eventCounts.count != plan.windows.count { facts.eventCounts = [Int](repeating: 0, count: plan.windows.count) }
        for i in facts.eventCounts.indices { facts.eventCounts[i] = 0 }
        if facts.traits.count != plan.traits.count { facts.traits = [TraitValue?](repeating: nil, count: plan.traits.count) }
        for i in facts.traits.indices { facts.traits[i] = nil }
        consumed = 0
        for i in tails.indices { tails[i] = 0 }
    }

    /// Consumes the entries with event time ≤ `time`.
    mutating func advance(_ t: Timeline, through time: Int64, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws {
        var end = consumed
        while end < t.count && t.time(end) <= time { end += 1 }
        try advance(t, to: end, txn, scan: scan)
    }

    /// Consumes entries up to (not including) index `end`.
    mutating func advance(_ t: Timeline, to end: Int, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws {
        guard end > consumed else { return }
        if consumed == 0 { facts.firstSeen = t.time(0) }
        let orderEvent = plan.orderEvent
        let npsEvent = plan.npsEvent
        let identifyEvent = plan.identifyEvent
        let windows = !plan.windows.isEmpty
        facts.events += end - consumed
        facts.lastActivity = t.time(end - 1)
        for i in consumed..<end {
            let e = t[i]
            if e.kind.contains(.userId) { facts.identified = true }
            let name = e.name
            if name != orderEvent && name != npsEvent && name != identifyEvent && !windows { continue }
            if name == orderEvent {
                facts.orders += 1
                facts.lastOrder = e.time
                if let path = plan.revenue {
                    let v: Double?? = try scan.record(at: e.position, txn) { path.locate($0)?.number }
                    facts.revenue += (v ?? nil) ?? 0
                }
            }
            if name == npsEvent, let path = plan.score {
                if let s = try scan.record(at: e.position, txn, { path.locate($0)?.number }) ?? nil {
                    facts.npsScore = s
                    facts.npsTime = e.time
                }
            }
            if name == identifyEvent && !plan.traits.isEmpty {
                try readTraits(e.position, txn, scan: scan)
            }
            if windows { for w in plan.windows.indices where plan.windows[w].name == name { facts.eventCounts[w] += 1 } }
        }
        consumed = end
    }

    /// Makes `facts` those as of `time` (≥ every earlier call's): windows slide to (time − days, time].
    mutating func settle(_ t: Timeline, at time: Int64) {
        facts.asOf = time
        for w in plan.windows.indices {
            let (name, millis) = plan.windows[w]
            var i = tails[w]
            while i < consumed && t.time(i) <= time - millis {
                if t.name(i) == name { facts.eventCounts[w] -= 1 }
                i += 1
            }
            tails[w] = i
        }
    }

    /// When the next counted event leaves its window after `after` (for stage histories), or nil.
    func nextWindowExpiry(_ t: Timeline, after: Int64) -> Int64? {
        var best: Int64?
        for w in plan.windows.indices {
            let (name, millis) = plan.windows[w]
            var i = tails[w]
            while i < consumed {
                if t.name(i) == name, t.time(i) + millis > after {
                    best = min(best ?? .max, t.time(i) + millis)
                    break
                }
                i += 1
            }
        }
        return best
    }

    private mutating func readTraits(_ position: UInt64, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws {
        let symbols = plan.symbols
        let paths = plan.traits
        let values: [TraitValue?] = try scan.record(at: position, txn) { view in
            paths.map { p in p.locate(view).map { TraitValue($0, symbols: symbols) } }
        } ?? []
        for (k, v) in values.enumerated() where v != nil { facts.traits[k] = v }
    }
}

extension TraitValue {
    /// A record value as a trait (arrays and objects by kind: rules compare scalars).
    init(_ v: FieldValue, symbols: SymbolTable) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .integer, .decimal, .numberText: self = v.number.map { .number($0) } ?? .null
        case .string(let b): self = .string(String(decoding: b, as: UTF8.self))
        case .symbol(let id): self = .string(symbols.string(id) ?? "")
        case .time(let t): self = .string(TimeText.format(t))
        case .array: self = .string("(array)")
        case .object: self = .string("(object)")
        }
    }
}
