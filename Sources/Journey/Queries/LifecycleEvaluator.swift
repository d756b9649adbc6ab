/// The lifecycle rules compiled for evaluation: facts in, stage out (first match wins). A pure value type, so the
/// same evaluator serves whole-store counts, transitions, stage histories and unit tests alike.
public struct LifecycleEvaluator: Sendable {
    public let definition: LifecycleDefinition
    /// The windows `eventCount` rules count in (`PersonFacts.eventCounts` order), deduplicated.
    public let windows: [(event: String, days: Int)]
    /// The traits rules read (`PersonFacts.traits` order), deduplicated.
    public let traits: [FieldPath]
    let rules: [CompiledRule]
    /// Moments after a last event / last order / first event at which a days-since rule can change its answer
    /// (ms offsets, ascending): stage histories evaluate there between events.
    let activityOffsets: [Int64]
    let orderOffsets: [Int64]
    let firstSeenOffsets: [Int64]
    let needsRevenue: Bool
    let needsScore: Bool

    public init(_ definition: LifecycleDefinition) {
        self.definition = definition
        var b = Builder()
        rules = definition.stages.map { b.compile($0.rule) }
        windows = b.windows
        traits = b.traits
        activityOffsets = b.offsets(b.activity)
        orderOffsets = b.offsets(b.order)
        firstSeenOffsets = b.offsets(b.firstSeen)
        needsRevenue = b.revenue
        needsScore = b.score
    }

    /// The index of the first stage whose rule holds for `facts`, or nil when none does.
    public func stage(of facts: PersonFacts) -> Int? {
        for (i, r) in rules.enumerated() where r.matches(facts) { return i }
        return nil
    }

    /// The stage's name, or "(none)".
    public func name(_ stage: Int?) -> String { stage.map { definition.stages[$0].name } ?? "(none)" }

    /// Resolves what the facts fold must read against the store's symbols.
    func plan(symbols: SymbolTable) -> FactsPlan {
        var p = FactsPlan(symbols: symbols)
        p.orderEvent = symbols.id(of: definition.orderEvent) ?? 0
        p.npsEvent = symbols.id(of: definition.nps.event) ?? 0
        p.identifyEvent = symbols.id(of: "Identify") ?? 0
        if needsRevenue { p.revenue = ResolvedPath(definition.revenueProperty, symbols: symbols) }
        if needsScore { p.score = ResolvedPath(definition.nps.property, symbols: symbols) }
        p.windows = windows.map { (symbols.id(of: $0.event) ?? 0, Int64($0.days) * PersonFacts.dayMillis) }
        p.traits = traits.map { ResolvedPath($0, symbols: symbols) }
        return p
    }

    /// The next moment after `after` at which a time-dependent rule may change its answer without any new event
    /// (an inactivity threshold passing, a counted event leaving its window), or nil.
    func nextThreshold(_ facts: PersonFacts, after: Int64) -> Int64? {
        var best = Int64.max
        func consider(_ base: Int64?, _ offsets: [Int64]) {
            guard let base else { return }
            for o in offsets where base + o > after {
                best = min(best, base + o)
                return
            }
        }
        if facts.events > 0 {
            consider(facts.lastActivity, activityOffsets)
            consider(facts.lastOrder, orderOffsets)
            consider(facts.firstSeen, firstSeenOffsets)
        }
        return best == .max ? nil : best
    }

    /// Collects what the rules need while compiling them.
    private struct Builder {
        var windows: [(event: String, days: Int)] = []
        var traits: [FieldPath] = []
        var activity: [Double] = []
        var order: [Double] = []
        var firstSeen: [Double] = []
        var revenue = false
        var score = false

        mutating func compile(_ r: LifecycleRule) -> CompiledRule {
            switch r {
            case .all(let rs): return .all(rs.map { compile($0) })
            case .any(let rs): return .any(rs.map { compile($0) })
            case .not(let r): return .not(compile(r))
            case .identified, .orders: return .fact(r)
            case .revenue:
                revenue = true
                return .fact(r)
            case .npsCategory, .npsScore:
                score = true
                return .fact(r)
            case .daysSinceLastActivity(let t):
                activity += t.comparisons.map(\.value)
                return .fact(r)
            case .daysSinceLastOrder(let t):
                order += t.comparisons.map(\.value)
                return .fact(r)
            case .daysSinceFirstSeen(let t):
                firstSeen += t.comparisons.map(\.value)
                return .fact(r)
            case .eventCount(let event, let days, let t):
                if let i = windows.firstIndex(where: { $0.event == event && $0.days == days }) { return .eventCount(i, t) }
                windows.append((event, days))
                return .eventCount(windows.count - 1, t)
            case .trait(let path, let t):
                if let i = traits.firstIndex(of: path) { return .trait(i, t) }
                traits.append(path)
                return .trait(traits.count - 1, t)
            }
        }

        /// Days are whole (floored), so a comparison with c can flip when the days reach ⌈c⌉ or ⌊c⌋ + 1.
        func offsets(_ constants: [Double]) -> [Int64] {
            var out = Set<Int64>()
            for c in constants where c.isFinite && abs(c) < 1e6 {
                out.insert(Int64(c.rounded(.up)))
                out.insert(Int64(c.rounded(.down)) + 1)
            }
            return out.filter { $0 > 0 }.sorted().map { $0 * PersonFacts.dayMillis }
        }
    }
}

/// A rule with its window and trait references turned into indices into the facts; every other condition is
/// evaluated as written.
indirect enum CompiledRule: Sendable {
    case all([CompiledRule])
    case any([CompiledRule])
    case not(CompiledRule)
    case fact(LifecycleRule)
    case eventCount(Int, NumberTest)
    case trait(Int, TraitTest)

    func matches(_ f: PersonFacts) -> Bool {
        switch self {
        case .all(let rs):
            for r in rs where !r.matches(f) { return false }
            return true
        case .any(let rs):
            for r in rs where r.matches(f) { return true }
            return false
        case .not(let r): return !r.matches(f)
        case .fact(let r): return r.matchesFact(f)
        case .eventCount(let i, let t): return i < f.eventCounts.count && t.matches(Double(f.eventCounts[i]))
        case .trait(let i, let t): return t.matches(i < f.traits.count ? f.traits[i] : nil)
        }
    }
}

extension LifecycleRule {
    /// A single condition on the facts (combinators, counts and traits are compiled into `CompiledRule`).
    func matchesFact(_ f: PersonFacts) -> Bool {
        switch self {
        case .identified(let b): return f.identified == b
        case .orders(let t): return t.matches(Double(f.orders))
        case .revenue(let t): return t.matches(f.revenue)
        case .npsCategory(let c): return c.contains(f.npsAnswer)
        case .npsScore(let t): return f.npsScore.map { t.matches($0) } ?? false
        case .daysSinceLastActivity(let t):
            return f.events > 0 && t.matches(PersonFacts.days(since: f.lastActivity, asOf: f.asOf))
        case .daysSinceLastOrder(let t):
            return f.lastOrder.map { t.matches(PersonFacts.days(since: $0, asOf: f.asOf)) } ?? false
        case .daysSinceFirstSeen(let t):
            return f.events > 0 && t.matches(PersonFacts.days(since: f.firstSeen, asOf: f.asOf))
        case .all, .any, .not, .eventCount, .trait: return false
        }
    }
}
