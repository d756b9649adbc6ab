import Foundation
import Testing

@testable import Journey

// The activity lifecycle (semantics §4, PostHog's definitions) checked against a direct computation with
// Foundation's calendar, across the end of March DST change in Europe/Paris.

/// Period starts (UTC ms) from Foundation, independently of `CalendarPeriods`: the start of `from`'s period, one
/// before it, and on until `to`.
private func directStarts(_ interval: PeriodInterval, zone: String, from: Int64, to: Int64) throws -> [Int64] {
    var cal = Calendar(identifier: .iso8601)
    cal.timeZone = try #require(TimeZone(identifier: zone))
    let unit: Calendar.Component = interval == .day ? .day : interval == .week ? .weekOfYear : .month
    let first = try #require(cal.dateInterval(of: unit, for: Date(timeIntervalSince1970: Double(from) / 1000))).start
    var starts = [try #require(cal.date(byAdding: unit, value: -1, to: first))]
    var s = first
    while s.timeIntervalSince1970 * 1000 < Double(to) {
        starts.append(s)
        s = try #require(cal.date(byAdding: unit, value: 1, to: s))
    }
    starts.append(s)
    return starts.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
}

/// New / returning / resurrecting / dormant per reported period, straight from the definitions, with sets.
private func direct(
    events: [(person: String, name: String, time: Int64)], event: String, starts: [Int64]
) -> [(new: Int, returning: Int, resurrecting: Int, dormant: Int)] {
    func period(_ t: Int64) -> Int? {
        guard t >= starts[0], t < starts[starts.count - 1] else { return nil }
        return starts.lastIndex { $0 <= t }
    }
    var active: [String: Set<Int>] = [:]
    var firstSeen: [String: Int64] = [:]
    for e in events {
        firstSeen[e.person] = min(firstSeen[e.person] ?? .max, e.time)
        if e.name == event, let p = period(e.time) { active[e.person, default: []].insert(p) }
    }
    let n = starts.count - 2
    return (1...n).map { p in
        var r = (new: 0, returning: 0, resurrecting: 0, dormant: 0)
        for (person, set) in active {
            let fs = firstSeen[person].flatMap(period) ?? -1
            if set.contains(p) {
                if fs == p { r.new += 1 } else if set.contains(p - 1) { r.returning += 1 } else { r.resurrecting += 1 }
            } else if set.contains(p - 1) {
                r.dormant -= 1
            }
        }
        return r
    }
}

@Suite("activity lifecycle")
struct ActivityLifecycleTests {
    /// Local Paris midnight-adjacent times around 2026-03-29 (clocks go forward at 02:00 CET → 03:00 CEST).
    static let paris: [(person: String, name: String, time: Int64)] = [
        // p1: 28 March 23:30 CET (22:30Z) and 29 March 00:30 CET (23:30Z on the 28th): two Paris days, one UTC day.
        ("p1", "Page Viewed", utcMillis(2026, 3, 28, 22, 30)),
        ("p1", "Page Viewed", utcMillis(2026, 3, 28, 23, 30)),
        // p2: 29 March 23:30 CEST = 21:30Z: still the 29th in Paris; 30 March 00:30 CEST = 22:30Z on the 29th.
        ("p2", "Page Viewed", utcMillis(2026, 3, 29, 21, 30)),
        ("p2", "Page Viewed", utcMillis(2026, 3, 29, 22, 30)),
        // p3: seen first on the 26th with another event, active the 29th only: resurrecting (not new), then dormant.
        ("p3", "Identify", utcMillis(2026, 3, 26, 10)),
        ("p3", "Page Viewed", utcMillis(2026, 3, 29, 10)),
        // p4: active the 27th and the 29th, dormant the 28th, resurrecting the 29th.
        ("p4", "Page Viewed", utcMillis(2026, 3, 27, 12)),
        ("p4", "Page Viewed", utcMillis(2026, 3, 29, 12)),
        ("p4", "Page Viewed", utcMillis(2026, 3, 30, 12)),
    ]

    /// Deterministic pseudo-random events of 40 persons over five weeks around the change.
    static func generated() -> [(person: String, name: String, time: Int64)] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % n
        }
        let start = utcMillis(2026, 3, 10)
        var out: [(person: String, name: String, time: Int64)] = []
        for p in 0..<40 {
            for _ in 0..<(1 + next(12)) {
                let t = start + Int64(next(35 * 24 * 60)) * 60_000
                out.append(("g\(p)", next(3) == 0 ? "Product Viewed" : "Page Viewed", t))
            }
        }
        return out
    }

    static func store(_ store: JourneyStore, _ events: [(person: String, name: String, time: Int64)]) throws {
        try appendAll(store, events.enumerated().map { i, e in
            e.name == "Identify"
                ? lifecycleMessage("e\(i)", type: "identify", user: e.person, at: e.time)
                : lifecycleMessage("e\(i)", e.name == "Page Viewed" ? nil : e.name, type: e.name == "Page Viewed" ? "page" : "track", user: e.person, at: e.time)
        })
    }

    @Test("days in Europe/Paris across the DST change: the local day decides, 29 March is 23 hours long")
    func parisDays() async throws {
        try await withStore { store in
            try Self.store(store, Self.paris)
            let from = utcMillis(2026, 3, 26, 23)  // 27 March 00:00 CET
            let to = utcMillis(2026, 3, 30, 22)  // 31 March 00:00 CEST
            let r = try await store.activityLifecycle(event: "Page Viewed", interval: .day, timeZone: "Europe/Paris", from: from, to: to)
            #expect(r.periods.map(\.label) == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"])
            #expect(r.periods.map(\.start) == [
                utcMillis(2026, 3, 26, 23), utcMillis(2026, 3, 27, 23), utcMillis(2026, 3, 28, 23), utcMillis(2026, 3, 29, 22),
            ])
            #expect(r.periods.map(\.new) == [1, 1, 1, 0])  // p4; p1; p2
            #expect(r.periods.map(\.returning) == [0, 0, 1, 2])  // p1 on the 29th; p2 and p4 on the 30th
            #expect(r.periods.map(\.resurrecting) == [0, 0, 2, 0])  // p3 (first seen the 26th), p4
            #expect(r.periods.map(\.dormant) == [0, -1, 0, -2])  // p4 on the 28th; p1 and p3 on the 30th
        }
    }

    @Test("equals a direct computation, per day, ISO week and month, in Paris and New York", arguments: [
        (PeriodInterval.day, "Europe/Paris"), (.week, "Europe/Paris"), (.month, "Europe/Paris"), (.day, "America/New_York"),
        (.week, "UTC"),
    ])
    func matchesDirect(_ interval: PeriodInterval, _ zone: String) async throws {
        let events = Self.generated()
        try await withStore { store in
            try Self.store(store, events)
            let from = utcMillis(2026, 3, 16)
            let to = utcMillis(2026, 4, 9)
            let r = try await store.activityLifecycle(event: "Page Viewed", interval: interval, timeZone: zone, from: from, to: to)
            let starts = try directStarts(interval, zone: zone, from: from, to: to)
            #expect(r.periods.map(\.start) == Array(starts[1..<(starts.count - 1)]))
            let want = direct(events: events, event: "Page Viewed", starts: starts)
            #expect(r.periods.count == want.count)
            for (got, w) in zip(r.periods, want) {
                let engine: [Int] = [got.new, got.returning, got.resurrecting, got.dormant]
                let reference: [Int] = [w.new, w.returning, w.resurrecting, w.dormant]
                #expect(engine == reference, "\(got.label)")
            }
            #expect(r.periods.contains { $0.new + $0.returning + $0.resurrecting > 0 })
        }
    }

    @Test("an unknown event gives zero-filled periods; a bad time zone is refused")
    func zeroFilled() async throws {
        try await withStore { store in
            try Self.store(store, Self.paris)
            let r = try await store.activityLifecycle(event: "Nope", interval: .day, timeZone: "UTC", from: utcMillis(2026, 3, 1), to: utcMillis(2026, 3, 4))
            #expect(r.periods.count == 3)
            #expect(r.periods.allSatisfy { $0.new == 0 && $0.returning == 0 && $0.resurrecting == 0 && $0.dormant == 0 })
            await #expect(throws: QueryError.self) {
                _ = try await store.activityLifecycle(event: "Page Viewed", interval: .day, timeZone: "Mars/Olympus", from: 0, to: 1)
            }
        }
    }
}
