import Testing

@testable import Journey

// The funnel evaluator alone (semantics §3): hand-made hit sequences, no store.

private let day: Int64 = 86_400_000

/// Hits from (time, step) pairs, 1-based steps; step 0 = an event matching no step; negative = exclusion −k.
private func hits(_ events: [(Int64, Int)]) -> [FunnelHit] {
    var out: [FunnelHit] = []
    for (i, (t, s)) in events.enumerated() {
        let code: UInt16 = s > 0 ? UInt16(s - 1) : s == 0 ? FunnelHit.unmatched : FunnelHit.exclusionBase + UInt16(-s - 1)
        out.append(FunnelHit(time: t, code: code, entry: Int32(i)))
    }
    out.sort(by: FunnelHit.before)
    return out
}

private func evaluate(
    _ events: [(Int64, Int)], steps: Int, window: Int64 = 7 * day, mode: FunnelMode = .ordered,
    exclusions: [FunnelEvaluator.Exclusion] = [], from: Int64 = .min, to: Int64 = .max
) -> FunnelOutcome {
    var e = FunnelEvaluator(steps: steps, window: window, mode: mode, exclusions: exclusions, entryFrom: from, entryTo: to)
    var o = FunnelOutcome()
    hits(events).withUnsafeBufferPointer { e.evaluate($0, into: &o) }
    return o
}

@Suite("funnel evaluator")
struct FunnelEvaluatorTests {
    @Test("ordered: other events may occur between steps; the window bounds step 1 → last step, inclusive")
    func orderedWindow() {
        #expect(evaluate([(0, 1), (1, 0), (2, 2), (3, 3)], steps: 3).reached == 3)
        // A at 0, B at 6 days, C at 8 days: C is outside A's 7-day window even though B → C is 2 days.
        #expect(evaluate([(0, 1), (6 * day, 2), (8 * day, 3)], steps: 3).reached == 2)
        // Exactly at the window's end still counts.
        #expect(evaluate([(0, 1), (7 * day, 2)], steps: 2).reached == 2)
        #expect(evaluate([(0, 1), (7 * day + 1, 2)], steps: 2).reached == 1)
        // Steps out of order do not count: B before A.
        #expect(evaluate([(0, 2), (1, 1)], steps: 2).reached == 1)
        // No step 1: not in the funnel.
        #expect(evaluate([(0, 2), (1, 3)], steps: 3).reached == 0)
    }

    @Test("re-entry: a later step 1 starts a new attempt with its own window, and its times are reported")
    func reentry() {
        let o = evaluate([(0, 1), (1 * day, 2), (8 * day, 1), (9 * day, 2), (10 * day, 3)], steps: 3)
        #expect(o.reached == 3)
        #expect(Array(o.times.prefix(3)) == [8 * day, 9 * day, 10 * day])
    }

    @Test("ties at the same millisecond: steps at one time complete in step order, whatever their log order")
    func ties() {
        // B logged before A, both at t=5: windowFunnel sorts by (time, step), so A → B converts.
        let o = evaluate([(5, 2), (5, 1), (6, 3)], steps: 3)
        #expect(o.reached == 3)
        #expect(Array(o.times.prefix(3)) == [5, 5, 6])
    }

    @Test("strict: A B B C converts; A B D C stops at 2; C after A breaks")
    func strict() {
        #expect(evaluate([(0, 1), (1, 2), (2, 2), (3, 3)], steps: 3, mode: .strict).reached == 3)
        #expect(evaluate([(0, 1), (1, 2), (2, 0), (3, 3)], steps: 3, mode: .strict).reached == 2)
        #expect(evaluate([(0, 1), (1, 3), (2, 2), (3, 3)], steps: 3, mode: .strict).reached == 1)
        // The same in ordered mode converts.
        #expect(evaluate([(0, 1), (1, 2), (2, 0), (3, 3)], steps: 3, mode: .ordered).reached == 3)
        // An event before step 1 does not matter.
        #expect(evaluate([(0, 0), (1, 1), (2, 2)], steps: 2, mode: .strict).reached == 2)
    }

    @Test("unordered: distinct steps inside one window, any order, step 1 among them")
    func unordered() {
        #expect(evaluate([(0, 3), (1, 2), (2, 1)], steps: 3, mode: .unordered).reached == 3)
        // Without step 1 nothing counts.
        #expect(evaluate([(0, 3), (1, 2)], steps: 3, mode: .unordered).reached == 0)
        // Too far apart for one window: the best window has 2 of them.
        #expect(evaluate([(0, 3), (1, 1), (9 * day, 2)], steps: 3, mode: .unordered).reached == 2)
        // Repeats of one step count once.
        #expect(evaluate([(0, 1), (1, 1), (2, 1)], steps: 3, mode: .unordered).reached == 1)
    }

    @Test("exclusions: an excluded event between steps i and j voids the attempt; a voided best attempt excludes the person")
    func exclusions() {
        let x = [FunnelEvaluator.Exclusion(from: 1, to: 2)]  // between step 2 and step 3
        let voided = evaluate([(0, 1), (1, 2), (2, -1), (3, 3)], steps: 3, exclusions: x)
        #expect(voided.reached == 3 && voided.excluded)
        // Before step 2 it is outside the range.
        let fine = evaluate([(0, 1), (1, -1), (2, 2), (3, 3)], steps: 3, exclusions: x)
        #expect(fine.reached == 3 && !fine.excluded)
        // After the last step it does not matter.
        #expect(!evaluate([(0, 1), (1, 2), (3, 3), (4, -1)], steps: 3, exclusions: x).excluded)
        // Voided attempt, then a clean attempt that gets as far: the clean one completes later, the voided one is best.
        let both = evaluate([(0, 1), (1, 2), (2, -1), (3, 3), (10 * day, 1), (10 * day + 1, 2), (10 * day + 2, 3)], steps: 3, exclusions: x)
        #expect(both.reached == 3 && both.excluded)
    }

    @Test("entry-anchored date range: step 1 must fall in [from, to); later steps may complete after `to`")
    func dateRange() {
        let from = 10 * day
        let to = 11 * day
        #expect(evaluate([(9 * day, 1), (9 * day + 5, 2)], steps: 2, from: from, to: to).reached == 0)
        let o = evaluate([(10 * day + 5, 1), (12 * day, 2)], steps: 2, from: from, to: to)
        #expect(o.reached == 2)
        #expect(evaluate([(11 * day, 1), (11 * day + 5, 2)], steps: 2, from: from, to: to).reached == 0)
    }

    @Test("the one-pass level algorithm and per-attempt evaluation agree on random journeys (reached and times)")
    func levelsEqualAttempts() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            let steps = Int(rng.next() % 4) + 2
            let count = Int(rng.next() % 14)
            var events: [(Int64, Int)] = []
            for _ in 0..<count { events.append((Int64(rng.next() % 20) * day / 4, Int(rng.next() % UInt64(steps + 1)))) }
            let window = Int64(rng.next() % 8 + 1) * day / 2
            let fast = evaluate(events, steps: steps, window: window)
            // An exclusion that never occurs forces the per-attempt path.
            let slow = evaluate(events, steps: steps, window: window, exclusions: [.init(from: 0, to: 1)])
            #expect(fast.reached == slow.reached, "\(events) window \(window)")
            #expect(Array(fast.times.prefix(fast.reached)) == Array(slow.times.prefix(slow.reached)), "\(events)")
        }
    }
}
