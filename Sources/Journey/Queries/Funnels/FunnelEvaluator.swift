/// One matched event of a person, as the evaluator sees it: its time, what it matched and which timeline entry it is.
///
/// A timeline entry matching several steps gives several hits. Hits are ordered by (time, code), and by entry order
/// inside that: at one millisecond, steps come in step order (as ClickHouse `windowFunnel` sorts its events), so
/// equal timestamps may complete steps in order.
public struct FunnelHit: Sendable, Equatable {
    public var time: Int64
    /// 0…31: step index; `exclusionBase + e`: exclusion e; `unmatched`: an event matching nothing (strict mode).
    public var code: UInt16
    /// The timeline entry (for times, channels, breakdown lookups).
    public var entry: Int32

    public static let exclusionBase: UInt16 = 64
    public static let unmatched: UInt16 = 200

    public init(time: Int64, code: UInt16, entry: Int32) {
        self.time = time
        self.code = code
        self.entry = entry
    }

    @inline(__always) static func before(_ a: FunnelHit, _ b: FunnelHit) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.code != b.code { return a.code < b.code }
        return a.entry < b.entry
    }
}

/// A person's best attempt: how far it got and the hit of each step it reached.
public struct FunnelOutcome: Sendable, Equatable {
    /// Steps reached (0: never entered in range).
    public var reached: Int = 0
    /// The best attempt was voided by an exclusion: the person counts in no step (PostHog's rule).
    public var excluded = false
    /// Time and entry of each reached step, step order (`reached` of them are meaningful).
    public var times: [Int64] = []
    public var entries: [Int32] = []

    public init() {}
}

/// Funnel semantics (semantics §3) over one person's hits: pure, no store, no allocation after warm-up.
///
/// - ordered: every step-1 hit in the entry range starts an attempt, which takes the earliest next-step hit after
///   its current one, no later than its start + window. Without exclusions this runs as `windowFunnel`'s one-pass
///   level algorithm (the latest start that reached level k dominates for going further), keeping the chain of the
///   first attempt to reach each level so that the best attempt's times are exact.
/// - strict: as ordered, but an event that is neither the next step nor a repeat of the step just reached ends the
///   attempt where it stands (A B B C converts, A B D C stops at 2).
/// - unordered: the most distinct steps inside one window that also holds a step-1 hit.
/// The best attempt reaches the most steps; ties go to the earliest completion, then the latest start.
public struct FunnelEvaluator: Sendable {
    public struct Exclusion: Sendable {
        /// 0-based steps: voids an attempt that meets it after reaching `from` and before reaching `to`.
        public var from: Int
        public var to: Int
        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    public let steps: Int
    public let window: Int64
    public let mode: FunnelMode
    public let exclusions: [Exclusion]
    /// Entry range for step 1 (semantics §3: entry-anchored `[from, to)`).
    public let entryFrom: Int64
    public let entryTo: Int64

    // Scratch, reused across persons.
    private var levelStart: [Int64] = []
    private var levelSet: [Bool] = []
    private var chainTimes: [Int64] = []
    private var chainEntries: [Int32] = []
    private var stepCount: [Int32] = []
    private var firstHit: [Int] = []

    public init(
        steps: Int, window: Int64, mode: FunnelMode = .ordered, exclusions: [Exclusion] = [],
        entryFrom: Int64 = .min, entryTo: Int64 = .max
    ) {
        precondition(steps >= 1 && steps <= FunnelDefinition.maxSteps)
        self.steps = steps
        self.window = window
        self.mode = mode
        self.exclusions = exclusions
        self.entryFrom = entryFrom
        self.entryTo = entryTo
    }

    @inline(__always) func inRange(_ t: Int64) -> Bool { Self.inRange(t, from: entryFrom, to: entryTo) }

    @inline(__always) func deadline(_ start: Int64) -> Int64 { Self.deadline(start, window: window) }

    /// Static forms, for the level pass: it holds its scratch (properties of `self`) through pointers, so it cannot
    /// call methods on `self` meanwhile.
    @inline(__always) static func inRange(_ t: Int64, from: Int64, to: Int64) -> Bool { t >= from && t < to }

    @inline(__always) static func deadline(_ start: Int64, window: Int64) -> Int64 {
        let (d, overflow) = start.addingReportingOverflow(window)
        return overflow ? .max : d
    }

    /// Evaluates one person. `hits` must be sorted by `FunnelHit.before`.
    public mutating func evaluate(_ hits: UnsafeBufferPointer<FunnelHit>, into out: inout FunnelOutcome) {
        out.reached = 0
        out.excluded = false
        if out.times.count < steps {
            out.times = [Int64](repeating: 0, count: steps)
            out.entries = [Int32](repeating: 0, count: steps)
        }
        switch mode {
        case .ordered where exclusions.isEmpty: levels(hits, &out)
        case .ordered, .strict: attempts(hits, &out)
        case .unordered: unordered(hits, &out)
        }
    }

    /// windowFunnel's pass: `levelStart[k]` is the latest start whose attempt reached step k; its chain is kept in
    /// row k of `chainTimes` / `chainEntries` (replaced only by a strictly later start, which dominates).
    private mutating func levels(_ hits: UnsafeBufferPointer<FunnelHit>, _ out: inout FunnelOutcome) {
        let n = steps
        if levelSet.count != n {
            levelStart = [Int64](repeating: 0, count: n)
            levelSet = [Bool](repeating: false, count: n)
            chainTimes = [Int64](repeating: 0, count: n * n)
            chainEntries = [Int32](repeating: 0, count: n * n)
        }
        let from = entryFrom
        let to = entryTo
        let window = self.window
        var best = 0
        // Pointers to the scratch: no uniqueness check per write in the loop (callgrind, 4-step funnel over 1M events:
        // this pass 81M instructions with array subscripts, 44M through pointers).
        levelStart.withUnsafeMutableBufferPointer { levelStart in
            levelSet.withUnsafeMutableBufferPointer { levelSet in
                chainTimes.withUnsafeMutableBufferPointer { chainTimes in
                    chainEntries.withUnsafeMutableBufferPointer { chainEntries in
                        out.times.withUnsafeMutableBufferPointer { outTimes in
                            out.entries.withUnsafeMutableBufferPointer { outEntries in
                                for k in 0..<n { levelSet[k] = false }
                                for h in hits {
                                    let s = Int(h.code)
                                    guard s < n else { continue }
                                    if s == 0 {
                                        guard Self.inRange(h.time, from: from, to: to) else { continue }
                                        levelStart[0] = h.time
                                        levelSet[0] = true
                                        chainTimes[0] = h.time
                                        chainEntries[0] = h.entry
                                    } else {
                                        guard levelSet[s - 1] else { continue }
                                        let start = levelStart[s - 1]
                                        guard h.time <= Self.deadline(start, window: window) else { continue }
                                        if levelSet[s] && levelStart[s] >= start { continue }
                                        levelStart[s] = start
                                        levelSet[s] = true
                                        let row = s * n
                                        let previous = (s - 1) * n
                                        for j in 0..<s {
                                            chainTimes[row + j] = chainTimes[previous + j]
                                            chainEntries[row + j] = chainEntries[previous + j]
                                        }
                                        chainTimes[row + s] = h.time
                                        chainEntries[row + s] = h.entry
                                    }
                                    if s + 1 > best {
                                        best = s + 1
                                        let row = s * n
                                        for j in 0...s {
                                            outTimes[j] = chainTimes[row + j]
                                            outEntries[j] = chainEntries[row + j]
                                        }
                                        if best == n { break }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out.reached = best
    }

    /// One attempt per step-1 hit, each followed on its own (needed for strict mode and exclusions).
    private mutating func attempts(_ hits: UnsafeBufferPointer<FunnelHit>, _ out: inout FunnelOutcome) {
        let n = steps
        if chainTimes.count < n {
            chainTimes = [Int64](repeating: 0, count: n)
            chainEntries = [Int32](repeating: 0, count: n)
        }
        var bestReached = 0
        var bestCompletion = Int64.max
        var bestStart = Int64.min
        var bestExcluded = false
        for (i, h) in hits.enumerated() where h.code == 0 && inRange(h.time) {
            let start = h.time
            let end = deadline(start)
            var level = 1
            var voided = false
            chainTimes[0] = start
            chainEntries[0] = h.entry
            var j = i + 1
            while j < hits.count && level < n {
                let e = hits[j]
                j += 1
                if e.time > end { break }
                let code = Int(e.code)
                if code < n {
                    if code == level {
                        chainTimes[level] = e.time
                        chainEntries[level] = e.entry
                        level += 1
                        continue
                    }
                    if mode == .strict && code != level - 1 && !sameEntryEarlierStep(hits, j - 1, i) { break }
                } else if code >= Int(FunnelHit.exclusionBase) && code < Int(FunnelHit.unmatched) {
                    let x = exclusions[code - Int(FunnelHit.exclusionBase)]
                    if level - 1 >= x.from && level - 1 < x.to { voided = true }
                } else if code == Int(FunnelHit.unmatched) && mode == .strict {
                    break
                }
            }
            let completion = chainTimes[level - 1]
            let better =
                level > bestReached
                || (level == bestReached && (completion < bestCompletion || (completion == bestCompletion && start > bestStart)))
            if better {
                bestReached = level
                bestCompletion = completion
                bestStart = start
                bestExcluded = voided
                for k in 0..<level {
                    out.times[k] = chainTimes[k]
                    out.entries[k] = chainEntries[k]
                }
            }
        }
        out.reached = bestReached
        out.excluded = bestExcluded
    }

    /// In strict mode, an entry that matched several steps gives several hits; the extra hits of an entry already
    /// used by the attempt (or its own start) must not count as "another event".
    @inline(__always)
    private func sameEntryEarlierStep(_ hits: UnsafeBufferPointer<FunnelHit>, _ j: Int, _ start: Int) -> Bool {
        let entry = hits[j].entry
        var k = j - 1
        while k >= start && hits[k].time == hits[j].time {
            if hits[k].entry == entry { return true }
            k -= 1
        }
        return false
    }

    /// Windows anchored at each hit: the most distinct steps inside `[t, t + window]` with a step-1 hit among them.
    private mutating func unordered(_ hits: UnsafeBufferPointer<FunnelHit>, _ out: inout FunnelOutcome) {
        let n = steps
        if stepCount.count != n {
            stepCount = [Int32](repeating: 0, count: n)
            firstHit = [Int](repeating: 0, count: n)
        }
        var bestReached = 0
        var bestCompletion = Int64.max
        var bestStart = Int64.min
        var right = 0
        var distinct = 0
        for k in 0..<n { stepCount[k] = 0 }
        for left in 0..<hits.count {
            let start = hits[left].time
            let end = deadline(start)
            while right < hits.count && hits[right].time <= end {
                let c = Int(hits[right].code)
                if c < n {
                    if stepCount[c] == 0 { distinct += 1 }
                    stepCount[c] += 1
                }
                right += 1
            }
            let c0 = Int(hits[left].code)
            // The window must start at a step hit, hold step 1 (entered in range) and beat the best so far.
            if c0 < n && stepCount[0] > 0 && distinct >= bestReached {
                // First hit of each step inside the window, and whether a step-1 hit is in the entry range.
                for k in 0..<n { firstHit[k] = -1 }
                var entered = false
                for j in left..<right {
                    let c = Int(hits[j].code)
                    guard c < n else { continue }
                    if firstHit[c] < 0 { firstHit[c] = j }
                    if c == 0 && inRange(hits[j].time) { entered = true }
                }
                if entered {
                    var completion = Int64.min
                    for k in 0..<n where firstHit[k] >= 0 { completion = max(completion, hits[firstHit[k]].time) }
                    let better =
                        distinct > bestReached
                        || (completion < bestCompletion || (completion == bestCompletion && start > bestStart))
                    if better {
                        bestReached = distinct
                        bestCompletion = completion
                        bestStart = start
                        // Steps in the order they happened: the k-th distinct step is "step k" for times.
                        var order: [Int] = []
                        for k in 0..<n where firstHit[k] >= 0 { order.append(firstHit[k]) }
                        order.sort()
                        for (k, j) in order.enumerated() {
                            out.times[k] = hits[j].time
                            out.entries[k] = hits[j].entry
                        }
                    }
                }
            }
            if c0 < n {
                stepCount[c0] -= 1
                if stepCount[c0] == 0 { distinct -= 1 }
            }
        }
        out.reached = bestReached
    }
}
