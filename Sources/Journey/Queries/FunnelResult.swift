/// What a funnel query returns: per step counts, conversions and times to convert; optionally per breakdown value,
/// per entry period, and a time-to-convert histogram.
public struct FunnelResult: Sendable, Equatable {
    public var steps: [FunnelStepResult]
    /// With a breakdown: one funnel per value, largest first (ties by value).
    public var breakdown: [FunnelBreakdownGroup]?
    /// With `--by`: per entry period, persons entering and converting.
    public var periods: [FunnelPeriodRow]?
    public var histogram: FunnelHistogram?
    /// Persons whose best attempt was voided by an exclusion (counted in no step).
    public var excludedPersons: Int
    /// Step event names with no event in the store (a typo shows here rather than as a silent zero).
    public var unknownEvents: [String]
}

public struct FunnelStepResult: Sendable, Equatable {
    public var step: Int
    public var name: String
    public var persons: Int
    /// Fractions 0…1 (1 for step 1; 0 when the previous step has no one).
    public var conversionFromPrevious: Double
    public var conversionFromStart: Double
    /// Persons at the previous step who did not reach this one (0 for step 1).
    public var dropOff: Int
    /// Seconds, over the persons reaching this step, on each person's best attempt (nil for step 1 / no one).
    public var fromPrevious: TimeStatistics?
    public var fromStart: TimeStatistics?
}

/// Median, 90th percentile and mean of durations in seconds (quantiles by linear interpolation between ranks).
public struct TimeStatistics: Sendable, Equatable {
    public var median: Double
    public var p90: Double
    public var mean: Double

    /// From milliseconds; sorts `values` in place.
    static func of(_ values: inout [Int64]) -> TimeStatistics? {
        guard !values.isEmpty else { return nil }
        values.sort()
        var sum = 0.0
        for v in values { sum += Double(v) }
        return TimeStatistics(
            median: quantile(values, 0.5) / 1000, p90: quantile(values, 0.9) / 1000, mean: sum / Double(values.count) / 1000)
    }

    static func quantile(_ sorted: [Int64], _ q: Double) -> Double {
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        return Double(sorted[lo]) + (h - Double(lo)) * Double(sorted[hi] - sorted[lo])
    }
}

public struct FunnelBreakdownGroup: Sendable, Equatable {
    /// The breakdown value as text; nil when the attributed event has none.
    public var value: String?
    public var steps: [FunnelStepResult]
}

public struct FunnelPeriodRow: Sendable, Equatable {
    /// Period start, UTC ms, and its label in the time zone (`2026-03-29`, `2026-W13`…`2026-03`).
    public var start: Int64
    public var label: String
    public var entered: Int
    public var converted: Int
    public var conversion: Double
}

public struct FunnelHistogram: Sendable, Equatable {
    public var fromStep: Int
    public var toStep: Int
    public var bins: [Bin]

    public struct Bin: Sendable, Equatable {
        /// Seconds, [lower, upper).
        public var lower: Double
        public var upper: Double
        public var persons: Int
    }
}

/// A person whose best attempt stopped at a step (semantics §3 drop-off), with the "why" beside the "who".
public struct AbandonedPerson: Sendable, Equatable {
    public var person: UInt32
    public var displayId: String
    /// When they reached the step they stopped at (UTC ms).
    public var reachedAt: Int64
    public var lastEvent: String
    public var lastChannel: String?
    public var lastTime: Int64
    /// Latest NPS answer (0–10) and when, if any.
    public var npsScore: Double?
    public var npsTime: Int64?
    /// Support tickets opened since `reachedAt`, and the latest one's topic.
    public var ticketsSince: Int
    public var lastTicketTopic: String?
}
