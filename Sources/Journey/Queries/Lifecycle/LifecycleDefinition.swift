/// Customer lifecycle stages as analysts configure them (semantics §4; `schemas/lifecycle.schema.json`): an ordered
/// list of stages, each a rule over a person's facts as of a moment; the first stage whose rule holds is the
/// person's stage. Plain data: loaded by `LifecycleDefinition.parse`, compiled by `LifecycleEvaluator`.
public struct LifecycleDefinition: Sendable, Hashable {
    public var stages: [LifecycleStage]
    /// The event that counts as an order, and where its revenue is.
    public var orderEvent: String
    public var revenueProperty: FieldPath
    /// The NPS answers the `nps_category` / `nps_score` facts read.
    public var nps: VoiceMetric

    public init(
        stages: [LifecycleStage], orderEvent: String = "Order Completed",
        revenueProperty: FieldPath = FieldPath(extras: ["properties", "revenue"]), nps: VoiceMetric = .defaultNPS
    ) {
        self.stages = stages
        self.orderEvent = orderEvent
        self.revenueProperty = revenueProperty
        self.nps = nps
    }

    public func index(ofStage name: String) -> Int? { stages.firstIndex { $0.name == name } }
}

/// What kind of place a stage is, for telling moves apart in transitions: journey stages are ordered by `rank`
/// (higher is further along); a move into `atRisk` is a step back, into `churned` a churn, and out of either into
/// a journey stage a come-back.
public enum LifecycleStageKind: String, Sendable, Hashable, CaseIterable {
    case journey
    case atRisk = "at_risk"
    case churned
}

public struct LifecycleStage: Sendable, Hashable {
    public var name: String
    public var rule: LifecycleRule
    public var kind: LifecycleStageKind
    /// Progress along the journey (journey stages only): visitor 0, lead 1, customer 2…
    public var rank: Int
    public var description: String?

    public init(name: String, rule: LifecycleRule, kind: LifecycleStageKind = .journey, rank: Int = 0, description: String? = nil) {
        self.name = name
        self.rule = rule
        self.kind = kind
        self.rank = rank
        self.description = description
    }
}

/// A condition over a person's facts as of a moment T.
public indirect enum LifecycleRule: Sendable, Hashable {
    /// All hold (`all: []` is true: a catch-all stage).
    case all([LifecycleRule])
    /// At least one holds.
    case any([LifecycleRule])
    case not(LifecycleRule)
    /// Some event of the person at or before T carried a userId.
    case identified(Bool)
    /// Orders at or before T.
    case orders(NumberTest)
    /// Sum of the orders' revenue property (absent or non-numeric: 0).
    case revenue(NumberTest)
    /// Category of the latest NPS answer at or before T (`unanswered`: none yet).
    case npsCategory([NPSAnswer])
    case npsScore(NumberTest)
    /// Whole days (floored) from the last event / last order / first event to T. No order: the rule is false.
    case daysSinceLastActivity(NumberTest)
    case daysSinceLastOrder(NumberTest)
    case daysSinceFirstSeen(NumberTest)
    /// Events of this name in the last `days` days: event time in (T − days, T].
    case eventCount(event: String, days: Int, NumberTest)
    /// The latest value of a trait (`traits.plan`) among the person's Identify events at or before T.
    case trait(FieldPath, TraitTest)
}

/// The latest NPS answer's category, or none yet.
public enum NPSAnswer: String, Sendable, Hashable, CaseIterable {
    case promoter, passive, detractor
    /// JSON `"none"`.
    case unanswered = "none"

    init(_ score: Double?) {
        guard let score, let c = NPSCategory(score: score) else {
            self = .unanswered
            return
        }
        switch c {
        case .promoter: self = .promoter
        case .passive: self = .passive
        case .detractor: self = .detractor
        }
    }
}

/// Comparisons that must all hold: `{">=": 2}`, `{">": 10, "<=": 100}`.
public struct NumberTest: Sendable, Hashable {
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    public struct Comparison: Sendable, Hashable {
        public var op: Operator
        public var value: Double
        public init(_ op: Operator, _ value: Double) {
            self.op = op
            self.value = value
        }
    }

    public var comparisons: [Comparison]

    public init(_ comparisons: [Comparison]) { self.comparisons = comparisons }
    public static func atLeast(_ v: Double) -> NumberTest { NumberTest([Comparison(.greaterOrEqual, v)]) }
    public static func equal(_ v: Double) -> NumberTest { NumberTest([Comparison(.equal, v)]) }

    @inline(__always)
    public func matches(_ x: Double) -> Bool {
        for c in comparisons {
            let ok: Bool
            switch c.op {
            case .equal: ok = x == c.value
            case .notEqual: ok = x != c.value
            case .less: ok = x < c.value
            case .lessOrEqual: ok = x <= c.value
            case .greater: ok = x > c.value
            case .greaterOrEqual: ok = x >= c.value
            }
            if !ok { return false }
        }
        return true
    }
}

/// A trait's latest value, as read from an Identify record.
public enum TraitValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public var description: String {
        switch self {
        case .string(let s): s
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }
}

/// A condition on a trait's latest value.
public enum TraitTest: Sendable, Hashable {
    /// Equal to one of these (strings by bytes, numbers by value).
    case oneOf([TraitValue])
    case noneOf([TraitValue])
    /// Present (not null) or absent.
    case exists(Bool)
    case number(NumberTest)

    func matches(_ v: TraitValue?) -> Bool {
        switch self {
        case .oneOf(let values): return v.map { values.contains($0) } ?? false
        case .noneOf(let values): return v.map { !values.contains($0) } ?? true
        case .exists(let want): return (v != nil && v != .null) == want
        case .number(let t):
            if case .number(let d)? = v { return t.matches(d) }
            return false
        }
    }
}
