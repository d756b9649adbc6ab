/// The activity lifecycle (semantics §4, PostHog's definitions) of one event, per calendar period in a time zone:
/// - new: active in P and first seen in P (first seen = the person's first event of any kind, after stitching);
/// - returning: active in P and in P−1;
/// - resurrecting: active in P, not in P−1, and not new;
/// - dormant: active in P−1, not in P (counted once, in the first inactive period; negative).
/// Periods come from `CalendarPeriods` (DST-safe, zero-filled); the period before `from` is looked at too, so the
/// first period's returning and dormant counts are right.
public struct ActivityLifecycle: Sendable, Equatable {
    public var event: String
    public var interval: PeriodInterval
    public var timeZone: String
    public var periods: [ActivityPeriod]
}

public struct ActivityPeriod: Sendable, Equatable {
    /// `2026-03-29` (day, week: its Monday) or `2026-03` (month), in the time zone.
    public var label: String
    /// UTC ms.
    public var start: Int64
    public var new: Int
    public var returning: Int
    public var resurrecting: Int
    /// ≤ 0.
    public var dormant: Int
}

/// Counts one person's active periods into the four series: pure, so tests can check it against a direct
/// computation.
struct ActivityCounter {
    /// Per reported period k = 1…n (index 0 is the period before the range).
    var new: [Int]
    var returning: [Int]
    var resurrecting: [Int]
    var dormant: [Int]

    init(periods n: Int) {
        new = [Int](repeating: 0, count: n + 1)
        returning = new
        resurrecting = new
        dormant = new
    }

    /// `active`: ascending distinct period indices 0…n; `firstSeen`: the period of the first event (-1 if before
    /// period 0).
    mutating func add(active: UnsafeBufferPointer<Int32>, firstSeen: Int32) {
        let n = Int32(new.count - 1)
        for j in active.indices {
            let k = active[j]
            let previous = j > 0 && active[j - 1] == k - 1
            if k >= 1 {
                if k == firstSeen { new[Int(k)] += 1 } else if previous { returning[Int(k)] += 1 } else { resurrecting[Int(k)] += 1 }
            }
            let next = j + 1 < active.count && active[j + 1] == k + 1
            if !next && k + 1 <= n { dormant[Int(k) + 1] -= 1 }
        }
    }

    mutating func merge(_ o: ActivityCounter) {
        for k in new.indices {
            new[k] += o.new[k]
            returning[k] += o.returning[k]
            resurrecting[k] += o.resurrecting[k]
            dormant[k] += o.dormant[k]
        }
    }
}

extension JourneyStore {
    /// New, returning, resurrecting and dormant persons per period of [from, to) for one event.
    public func activityLifecycle(
        event: String, interval: PeriodInterval, timeZone: String = "UTC", from: Int64, to: Int64
    ) throws -> ActivityLifecycle {
        let periods = try CalendarPeriods(interval: interval, timeZone: timeZone, from: from, to: to)
        guard let first = periods.starts.first else { throw QueryError("the period range is empty (from must be before to)") }
        let before = try CalendarPeriods(interval: interval, timeZone: timeZone, from: first - 1, to: first)
        let starts = [before.starts.first ?? first] + periods.starts
        let end = periods.end
        let n = periods.starts.count
        guard let dbs = try personDatabases() else { throw StoreError("this store has no person projections yet; open it for writing once") }
        try refreshSymbols()
        var result = ActivityLifecycle(event: event, interval: interval, timeZone: timeZone, periods: [])
        var total = ActivityCounter(periods: n)
        if let name = symbols.id(of: event) {
            let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: end - 1)
            let parts = try scan.run(make: { (ActivityCounter(periods: n), [Int32]()) }) { acc, _, t, _ in
                acc.1.removeAll(keepingCapacity: true)
                var k = 0
                var i = 0
                // Entries are time-ordered: skip those before the first period, then walk the periods forward.
                while i < t.count && t.time(i) < starts[0] { i += 1 }
                while i < t.count {
                    let time = t.time(i)
                    if t.name(i) == name {
                        while k + 1 < starts.count && time >= starts[k + 1] { k += 1 }
                        if acc.1.last != Int32(k) { acc.1.append(Int32(k)) }
                    }
                    i += 1
                }
                guard !acc.1.isEmpty else { return }
                let seen = t.time(0)
                var fs: Int32 = -1
                if seen >= starts[0] {
                    var p = 0
                    while p + 1 < starts.count && seen >= starts[p + 1] { p += 1 }
                    fs = Int32(p)
                }
                acc.1.withUnsafeBufferPointer { acc.0.add(active: $0, firstSeen: fs) }
            }
            for p in parts { total.merge(p.0) }
        }
        for k in 1...n {
            result.periods.append(ActivityPeriod(
                label: periods.labels[k - 1], start: starts[k], new: total.new[k], returning: total.returning[k],
                resurrecting: total.resurrecting[k], dormant: total.dormant[k]))
        }
        return result
    }

    public func activityLifecycle(
        event: String, interval: PeriodInterval, timeZone: String = "UTC", from: Int64, to: Int64
    ) async throws -> ActivityLifecycle {
        try await offCooperativePool {
            try self.activityLifecycle(event: event, interval: interval, timeZone: timeZone, from: from, to: to)
        }
    }
}
