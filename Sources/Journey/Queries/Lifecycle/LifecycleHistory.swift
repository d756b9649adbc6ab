internal import LMDB

/// A person's stage history: the rules evaluated at each of their event times (after every event at that time) and,
/// between events, at each moment a time-dependent rule can change its answer on its own (an inactivity threshold
/// of a days-since rule passing, a counted event leaving its window), up to the as-of moment. A new entry is
/// recorded whenever the stage differs from the previous one. Deterministic: a pure function of the timeline.
struct StageChange: Equatable {
    /// Stage index, -1 for no stage.
    var stage: Int32
    var time: Int64
    /// The timeline entry that caused it, -1 when time passing did.
    var entry: Int32
}

extension LifecycleEvaluator {
    /// Fills `out` with the person's stage changes up to `end` (inclusive); the timeline is already cut at `end`.
    func history(
        _ t: Timeline, fold: inout FactsFold, until end: Int64, into out: inout [StageChange],
        _ txn: borrowing ReadTransaction, scan: TimelineScan
    ) throws {
        out.removeAll(keepingCapacity: true)
        fold.reset()
        var now = Int64.min
        var i = 0
        func note(_ facts: PersonFacts, _ time: Int64, entry: Int32) {
            let s = Int32(stage(of: facts) ?? -1)
            if out.last?.stage != s { out.append(StageChange(stage: s, time: time, entry: entry)) }
        }
        /// Evaluates at every threshold moment in (now, limit].
        func thresholds(through limit: Int64) {
            while true {
                let m = min(nextThreshold(fold.facts, after: now) ?? .max, fold.nextWindowExpiry(t, after: now) ?? .max)
                guard m != .max, m <= limit else { return }
                fold.settle(t, at: m)
                note(fold.facts, m, entry: -1)
                now = m
            }
        }
        while i < t.count {
            let time = t.time(i)
            if time > end { break }
            if i > 0 { thresholds(through: time - 1) }
            var j = i + 1
            while j < t.count && t.time(j) == time { j += 1 }
            try fold.advance(t, to: j, txn, scan: scan)
            fold.settle(t, at: time)
            note(fold.facts, time, entry: Int32(j - 1))
            now = time
            i = j
        }
        if i > 0 { thresholds(through: end) }
    }
}
