internal import Foundation

/// A funnel as analysts define it (semantics §3): ordered steps, each one or more event names with optional property
/// filters, a conversion window, a mode, exclusions, a breakdown and its attribution. Plain data: compiled against a
/// store by `FunnelQuery`, evaluated per person by `FunnelEvaluator`.
public struct FunnelDefinition: Sendable, Hashable {
    public var name: String?
    public var steps: [FunnelStep]
    public var mode: FunnelMode = .ordered
    /// The whole funnel's window, step 1 → last step, in milliseconds (inclusive).
    public var windowMillis: Int64 = 7 * 86_400_000
    public var exclusions: [FunnelExclusion] = []
    public var breakdown: FunnelBreakdown? = nil
    public var attribution: FunnelAttribution = .first

    public static let maxSteps = 32

    public init(
        name: String? = nil, steps: [FunnelStep], mode: FunnelMode = .ordered, windowMillis: Int64 = 7 * 86_400_000,
        exclusions: [FunnelExclusion] = [], breakdown: FunnelBreakdown? = nil, attribution: FunnelAttribution = .first
    ) throws(QueryError) {
        self.name = name
        self.steps = steps
        self.mode = mode
        self.windowMillis = windowMillis
        self.exclusions = exclusions
        self.breakdown = breakdown
        self.attribution = attribution
        try validate()
    }

    /// Cross-field rules, with the path of what is wrong.
    func validate() throws(QueryError) {
        guard !steps.isEmpty else { throw QueryError("steps: a funnel needs at least one step") }
        guard steps.count <= Self.maxSteps else { throw QueryError("steps: at most \(Self.maxSteps) steps") }
        for (i, s) in steps.enumerated() where s.events.isEmpty || s.events.contains(where: \.isEmpty) {
            throw QueryError("steps[\(i)].event: a step needs one or more non-empty event names")
        }
        guard windowMillis > 0 else { throw QueryError("window: must be positive") }
        for (i, e) in exclusions.enumerated() {
            guard mode != .unordered else {
                throw QueryError("exclusions[\(i)]: exclusions need an ordered or strict funnel (the order of steps defines \"between\")")
            }
            guard !e.events.isEmpty, !e.events.contains(where: \.isEmpty) else {
                throw QueryError("exclusions[\(i)].event: needs one or more non-empty event names")
            }
            guard e.fromStep >= 1, e.toStep <= steps.count, e.fromStep < e.toStep else {
                throw QueryError(
                    "exclusions[\(i)].between: [\(e.fromStep), \(e.toStep)] must be two steps i < j within 1…\(steps.count)")
            }
        }
        if case .step(let k) = attribution, k < 1 || k > steps.count {
            throw QueryError("attribution: step:\(k) is not a step of this funnel (1…\(steps.count))")
        }
    }
}

public struct FunnelStep: Sendable, Hashable {
    /// Any of these event names matches.
    public var events: [String]
    /// All must hold.
    public var filters: [FieldFilter]
    /// What output calls the step (default: the event names joined by " or ").
    public var label: String

    public init(events: [String], filters: [FieldFilter] = [], label: String? = nil) {
        self.events = events
        self.filters = filters
        self.label = label ?? events.joined(separator: " or ")
    }
}

public enum FunnelMode: String, Sendable, Hashable, CaseIterable {
    case ordered, strict, unordered
}

/// An event that voids an attempt when it occurs between two of its steps (1-based, i < j).
public struct FunnelExclusion: Sendable, Hashable {
    public var events: [String]
    public var filters: [FieldFilter]
    public var fromStep: Int
    public var toStep: Int

    public init(events: [String], filters: [FieldFilter] = [], fromStep: Int, toStep: Int) {
        self.events = events
        self.filters = filters
        self.fromStep = fromStep
        self.toStep = toStep
    }
}

public enum FunnelBreakdown: Sendable, Hashable, CustomStringConvertible {
    case channel
    case property(FieldPath)

    /// `channel`, `property:NAME` or a field path (`properties.plan`; a bare name means `properties.NAME`).
    public static func parse(_ text: String) throws(QueryError) -> FunnelBreakdown {
        if text == "channel" { return .channel }
        var name = text
        if text.hasPrefix("property:") { name = String(text.dropFirst("property:".count)) }
        guard !name.isEmpty else { throw QueryError("breakdown: \"\(text)\" names no property") }
        let path = try FieldPath(FieldFilter.qualified(name))
        return path.root == .channel ? .channel : .property(path)
    }

    public var description: String {
        switch self {
        case .channel: "channel"
        case .property(let p): "property:\(p)"
        }
    }
}

/// Which event of a person's best attempt gives their breakdown value (semantics §3).
public enum FunnelAttribution: Sendable, Hashable, CustomStringConvertible {
    case first, last
    case step(Int)

    public static func parse(_ text: String) throws(QueryError) -> FunnelAttribution {
        switch text {
        case "first", "first_touch": return .first
        case "last", "last_touch": return .last
        default:
            if text.hasPrefix("step:"), let k = Int(text.dropFirst(5)) { return .step(k) }
            throw QueryError("attribution: \"\(text)\" is not first, last or step:N")
        }
    }

    public var description: String {
        switch self {
        case .first: "first"
        case .last: "last"
        case .step(let k): "step:\(k)"
        }
    }
}

/// Durations as analysts write them: `90s`, `30m`, `2h`, `7d`, `1w` (also `500ms`).
public enum DurationText {
    public static func millis(_ text: String) throws(QueryError) -> Int64 {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let n = Int64(number), n > 0, n <= Int64.max / scale { return n * scale }
        }
        throw QueryError("\"\(text)\" is not a duration (write e.g. 90s, 30m, 2h, 7d, 1w)")
    }

    public static func format(_ millis: Int64) -> String {
        for (suffix, scale) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where millis % scale == 0 {
            return "\(millis / scale)\(suffix)"
        }
        return "\(millis)ms"
    }
}
