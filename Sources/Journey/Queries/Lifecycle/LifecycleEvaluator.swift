/// The lifecycle rules compiled for evaluation: facts in, stage out (first match wins). A pure value type, so the
/// same evaluator serves whole-store counts, transitions, stage histories and unit tests alike.
public struct LifecycleEvaluator: Sendable {
    public let definition: LifecycleDefinition
    /// The windows `eventCount` rules count in (`PersonFacts.eventCounts` order), deduplicated.
    public let windows: [(event: String, days: Int)]
    /// The traits rules read (`PersonFacts.traits` order), deduplicated.
    public let traits: [FieldPath]
    /// The rules as one flat program (see `RuleNode`), and where each stage's rule starts in it.
    let nodes: [RuleNode]
    let roots: [Int]
    /// Trait tests, referenced by `RuleNode.index` (strings: kept out of the flat nodes).
    let traitTests: [(trait: Int, test: TraitTest)]
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
        var roots: [Int] = []
        for stage in definition.stages {
            roots.append(b.nodes.count)
            b.compile(stage.rule)
        }
        self.roots = roots
        nodes = b.nodes
        traitTests = b.traitTests
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
        nodes.withUnsafeBufferPointer { n in
            roots.withUnsafeBufferPointer { roots in
                for (i, root) in roots.enumerated() where evaluate(n, root, facts) { return i }
                return nil
            }
        }
    }

    /// Evaluates the subtree at `i`: plain loads and compares, no reference counting on the way.
    private func evaluate(_ n: UnsafeBufferPointer<RuleNode>, _ i: Int, _ f: borrowing PersonFacts) -> Bool {
        let node = n[i]
        switch node.op {
        case .all, .any:
            let want = node.op == .any
            var j = i + 1
            for _ in 0..<node.children {
                if evaluate(n, j, f) == want { return want }
                j += Int(n[j].size)
            }
            return !want
        case .not: return !evaluate(n, i + 1, f)
        case .identified: return f.identified == (node.mask != 0)
        case .orders: return node.compare(Double(f.orders))
        case .revenue: return node.compare(f.revenue)
        case .npsScore:
            guard let s = f.npsScore else { return false }
            return node.compare(s)
        case .npsCategory: return node.mask & NPSAnswer(f.npsScore).bit != 0
        case .daysSinceLastActivity: return f.events > 0 && node.compare(PersonFacts.days(since: f.lastActivity, asOf: f.asOf))
        case .daysSinceLastOrder:
            guard let o = f.lastOrder else { return false }
            return node.compare(PersonFacts.days(since: o, asOf: f.asOf))
        case .daysSinceFirstSeen: return f.events > 0 && node.compare(PersonFacts.days(since: f.firstSeen, asOf: f.asOf))
        case .eventCount:
            let k = Int(node.index)
            return k < f.eventCounts.count && node.compare(Double(f.eventCounts[k]))
        case .trait:
            let t = traitTests[Int(node.index)]
            return t.test.matches(t.trait < f.traits.count ? f.traits[t.trait] : nil)
        }
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

        var nodes: [RuleNode] = []
        var traitTests: [(trait: Int, test: TraitTest)] = []

        /// Appends `r`'s subtree in preorder, each node with its subtree size.
        mutating func compile(_ r: LifecycleRule) {
            let at = nodes.count
            switch r {
            case .all(let rs), .any(let rs):
                nodes.append(RuleNode(r.isAny ? .any : .all, children: rs.count))
                for x in rs { compile(x) }
            case .not(let x):
                nodes.append(RuleNode(.not, children: 1))
                compile(x)
            case .identified(let b): nodes.append(RuleNode(.identified, mask: b ? 1 : 0))
            case .orders(let t): numbers(.orders, t)
            case .revenue(let t):
                revenue = true
                numbers(.revenue, t)
            case .npsScore(let t):
                score = true
                numbers(.npsScore, t)
            case .npsCategory(let c):
                score = true
                nodes.append(RuleNode(.npsCategory, mask: c.reduce(0) { $0 | $1.bit }))
            case .daysSinceLastActivity(let t):
                activity += t.comparisons.map(\.value)
                numbers(.daysSinceLastActivity, t)
            case .daysSinceLastOrder(let t):
                order += t.comparisons.map(\.value)
                numbers(.daysSinceLastOrder, t)
            case .daysSinceFirstSeen(let t):
                firstSeen += t.comparisons.map(\.value)
                numbers(.daysSinceFirstSeen, t)
            case .eventCount(let event, let days, let t):
                let i = windows.firstIndex { $0.event == event && $0.days == days } ?? windows.count
                if i == windows.count { windows.append((event, days)) }
                numbers(.eventCount, t, index: i)
            case .trait(let path, let t):
                let i = traits.firstIndex(of: path) ?? traits.count
                if i == traits.count { traits.append(path) }
                traitTests.append((i, t))
                nodes.append(RuleNode(.trait, index: traitTests.count - 1))
            }
            nodes[at].size = Int32(nodes.count - at)
        }

        /// One node per comparison (all must hold).
        private mutating func numbers(_ op: RuleNode.Op, _ t: NumberTest, index: Int = 0) {
            if t.comparisons.count != 1 { nodes.append(RuleNode(.all, children: t.comparisons.count)) }
            let at = nodes.count
            for c in t.comparisons {
                var node = RuleNode(op, index: index)
                node.comparison = c.op
                node.value = c.value
                nodes.append(node)
            }
            if t.comparisons.count != 1 { nodes[at - 1].size = Int32(nodes.count - at + 1) }
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

/// One node of the flat rule program: plain data, so evaluating a rule touches no reference counts. Children of
/// `all` / `any` / `not` follow their parent in preorder; `size` (the subtree's node count) skips a child.
struct RuleNode: Sendable {
    enum Op: UInt8, Sendable {
        case all, any, not, identified, orders, revenue, npsScore, npsCategory, daysSinceLastActivity, daysSinceLastOrder
        case daysSinceFirstSeen, eventCount, trait
    }

    var op: Op
    var comparison: NumberTest.Operator = .equal
    /// `identified`: 1 for true; `npsCategory`: the categories' bits.
    var mask: UInt8 = 0
    var size: Int32 = 1
    var children: Int32 = 0
    /// Window (eventCount) or trait test (trait) index.
    var index: Int32 = 0
    var value: Double = 0

    init(_ op: Op, children: Int = 0, mask: UInt8 = 0, index: Int = 0) {
        self.op = op
        self.children = Int32(children)
        self.mask = mask
        self.index = Int32(index)
    }

    @inline(__always)
    func compare(_ x: Double) -> Bool {
        switch comparison {
        case .equal: x == value
        case .notEqual: x != value
        case .less: x < value
        case .lessOrEqual: x <= value
        case .greater: x > value
        case .greaterOrEqual: x >= value
        }
    }
}

extension NPSAnswer {
    var bit: UInt8 {
        switch self {
        case .promoter: 1
        case .passive: 2
        case .detractor: 4
        case .unanswered: 8
        }
    }
}

extension LifecycleRule {
    var isAny: Bool { if case .any = self { true } else { false } }
}
