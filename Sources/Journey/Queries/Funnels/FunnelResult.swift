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
    /// Step `index` (0-based) from the persons reaching each step: conversions and drop-off follow from the counts.
    init(index k: Int, name: String, counts: [Int], fromPrevious: TimeStatistics?, fromStart: TimeStatistics?) {
        let persons = counts[k]
        let previous = k == 0 ? persons : counts[k - 1]
        step = k + 1
        self.name = name
        self.persons = persons
        conversionFromPrevious = k == 0 ? (persons > 0 ? 1 : 0) : (previous == 0 ? 0 : Double(persons) / Double(previous))
        conversionFromStart = counts[0] == 0 ? 0 : Double(persons) / Double(counts[0])
        dropOff = k == 0 ? 0 : previous - persons
        self.fromPrevious = fromPrevious
        self.fromStart = fromStart
    }

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

    /// From milliseconds. Reorders `values` (selection, not a full sort: O(n) per quantile).
    static func of(_ values: inout [Int64]) -> TimeStatistics? {
        guard !values.isEmpty else { return nil }
        var sum = 0.0
        for v in values { sum += Double(v) }
        let mean = sum / Double(values.count) / 1000
        return values.withUnsafeMutableBufferPointer { b in
            TimeStatistics(median: quantile(b, 0.5) / 1000, p90: quantile(b, 0.9) / 1000, mean: mean)
        }
    }

    /// Linear interpolation between the values of ranks ⌊h⌋ and ⌊h⌋ + 1, h = (n − 1)·q (numpy's default).
    static func quantile(_ b: UnsafeMutableBufferPointer<Int64>, _ q: Double) -> Double {
        let h = Double(b.count - 1) * q
        let lo = Int(h.rounded(.down))
        let low = select(b, lo)
        guard lo + 1 < b.count, h > Double(lo) else { return Double(low) }
        // After selection everything right of `lo` is ≥ it: the next rank is their minimum.
        var next = Int64.max
        for i in (lo + 1)..<b.count where b[i] < next { next = b[i] }
        return Double(low) + (h - Double(lo)) * Double(next - low)
    }

    /// Quickselect (median-of-three pivots): puts the value of rank `k` at index k, smaller ones left, larger right.
    static func select(_ b: UnsafeMutableBufferPointer<Int64>, _ k: Int) -> Int64 {
        var lo = 0
        var hi = b.count - 1
        while hi > lo {
            let mid = lo + (hi - lo) / 2
            if b[mid] < b[lo] { b.swapAt(mid, lo) }
            if b[hi] < b[lo] { b.swapAt(hi, lo) }
            if b[hi] < b[mid] { b.swapAt(hi, mid) }
            let pivot = b[mid]
            var i = lo
            var j = hi
            while i <= j {
                while b[i] < pivot { i += 1 }
                while b[j] > pivot { j -= 1 }
                if i <= j {
                    b.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return b[k] }
        }
        return b[k]
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

/// How a time-to-convert histogram cuts its bins.
public enum HistogramScale: String, Sendable, Equatable, CaseIterable {
    /// Bins of growing width on round durations (1m, 5m, 15m, 1h, 12h, 2d, 7d…): conversion times spread over
    /// orders of magnitude (a median of minutes, a tail of days), and equal widths put nearly everyone in the first.
    case log
    /// Equal widths from 0 to the longest time.
    case linear
}

public struct FunnelHistogram: Sendable, Equatable {
    public var fromStep: Int
    public var toStep: Int
    public var scale: HistogramScale
    public var bins: [Bin]

    public struct Bin: Sendable, Equatable {
        /// Seconds, [lower, upper).
        public var lower: Double
        public var upper: Double
        public var persons: Int
    }

    /// Round durations in ms that log-scale bins start and end on: 1 s 2 s 5 s 10 s 15 s 30 s, the same in minutes,
    /// 1 h 2 h 3 h 6 h 12 h, 1 d 2 d 3 d 7 d 14 d 30 d 60 d 90 d 180 d 365 d, then whole years.
    static func ladder(through ms: Int64) -> [Int64] {
        let s: Int64 = 1000, m = 60 * s, h = 60 * m, d = 24 * h
        var values: [Int64] = [1, 2, 5, 10, 15, 30].map { $0 * s } + [1, 2, 5, 10, 15, 30].map { $0 * m }
            + [1, 2, 3, 6, 12].map { $0 * h } + [1, 2, 3, 7, 14, 30, 60, 90, 180, 365].map { $0 * d }
        while let last = values.last, last <= ms { values.append(last + 365 * d) }
        return values
    }

    /// Edges (ms) of at most `bins` bins on round durations covering 0…the longest sample: the first bin from 0 to
    /// the round duration at or below the shortest non-zero sample (at least 1 s), the last ending above the longest.
    static func niceEdges(_ sorted: [Int64], bins: Int) -> [Int64] {
        guard let longest = sorted.last else { return [] }
        let ladder = Self.ladder(through: longest)
        let shortest = sorted.first { $0 > 0 } ?? longest
        let first = ladder.lastIndex { $0 <= shortest } ?? 0
        let last = ladder.firstIndex { $0 > longest } ?? (ladder.count - 1)
        var candidates = Array(ladder[first...last])
        let wanted = max(1, bins - 1)  // the bin from 0 is one of them
        if candidates.count > wanted {
            let stride = (candidates.count + wanted - 1) / wanted
            var thinned: [Int64] = []
            var i = candidates.count - 1  // keep the last (it covers the longest), thin towards the shortest
            while i >= 0 {
                thinned.append(candidates[i])
                i -= stride
            }
            candidates = thinned.reversed()
        }
        return [0] + candidates
    }

    /// Edges (ms) of `bins` equal bins from 0 to just above the longest sample.
    static func linearEdges(_ sorted: [Int64], bins: Int) -> [Int64] {
        let n = max(1, bins)
        let longest = sorted.last ?? 0
        let width = max(1, (longest + Int64(n)) / Int64(n))
        return (0...n).map { Int64($0) * width }
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
