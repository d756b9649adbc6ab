internal import LMDB

/// How `voice` groups answers.
public enum VoiceBreakdown: Sendable, Hashable {
    case none
    /// The channel of the answer event.
    case channel
    /// The person's lifecycle stage just before they answered (their facts through the events before the answer),
    /// so a detractor answer does not make its own "at risk" group.
    case stage(LifecycleDefinition)
    /// The furthest funnel step the person reached (best attempt, whole journey); "(not entered)" for persons who
    /// never did step 1.
    case step(FunnelDefinition)
}

/// A survey metric's figures, overall and per group.
public struct VoiceReport: Sendable, Equatable {
    public var metric: VoiceMetricKind
    public var event: String
    public var from: Int64?
    public var to: Int64?
    public var total: VoiceGroup
    /// Largest first (ties by name); empty without a breakdown.
    public var groups: [VoiceGroup]
}

public struct VoiceGroup: Sendable, Equatable {
    /// Nil for the total, and for answers without a channel.
    public var group: String?
    public var tally: VoiceTally
    /// NPS −100…100, CSAT 0…100, CES mean 1…7; nil without answers.
    public var score: Double?
}

extension JourneyStore {
    /// Scores from each person's latest answer with an event time in [from, to) (one voice per person: a person who
    /// answered five times counts once, with what they think now). Answers without a numeric score are skipped.
    public func voice(
        _ metric: VoiceMetric = .defaultNPS, by breakdown: VoiceBreakdown = .none, from: Int64? = nil, to: Int64? = nil
    ) throws -> VoiceReport {
        guard let dbs = try personDatabases() else { throw StoreError("this store has no person projections yet; open it for writing once") }
        try refreshSymbols()
        let lo = from ?? .min
        let hi = to ?? .max
        guard lo < hi else { throw QueryError("--from must be before --to") }
        var report = VoiceReport(
            metric: metric.kind, event: metric.event, from: from, to: to, total: VoiceGroup(group: nil, tally: VoiceTally(), score: nil),
            groups: [])
        guard let event = symbols.id(of: metric.event) else { return report }
        let path = ResolvedPath(metric.property, symbols: symbols)
        let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: to.map { $0 - 1 })
        var stageEvaluator: LifecycleEvaluator?
        var plan: FactsPlan?
        if case .stage(let d) = breakdown {
            stageEvaluator = LifecycleEvaluator(d)
            plan = stageEvaluator?.plan(symbols: symbols)
        }
        var funnel: CompiledFunnel?
        if case .step(let f) = breakdown {
            try f.validate()
            funnel = try CompiledFunnel(f, options: FunnelOptions(), symbols: symbols)
        }
        struct State {
            var fold: FactsFold?
            var funnel: FunnelScanState?
            var total = VoiceTally()
            /// Key: channel symbol, stage index (count = none) or funnel step reached (0 = not entered).
            var groups: [UInt32: VoiceTally] = [:]
        }
        let parts = try scan.run(make: { State(fold: plan.map { FactsFold(plan: $0) }, funnel: funnel.map { FunnelScanState($0) }) }) {
            st, _, t, txn in
            var i = t.count - 1
            while i >= 0 && t.time(i) >= lo {
                if t.name(i) == event, let score = try scan.record(at: t[i].position, txn, { path.locate($0)?.number }) ?? nil {
                    st.total.add(score, kind: metric.kind)
                    switch breakdown {
                    case .none: break
                    case .channel: st.groups[t[i].channel, default: VoiceTally()].add(score, kind: metric.kind)
                    case .stage:
                        guard let evaluator = stageEvaluator, var fold = st.fold else { break }
                        fold.reset()
                        try fold.advance(t, to: i, txn, scan: scan)
                        fold.settle(t, at: t.time(i))
                        let s = evaluator.stage(of: fold.facts) ?? evaluator.definition.stages.count
                        st.fold = fold
                        st.groups[UInt32(s), default: VoiceTally()].add(score, kind: metric.kind)
                    case .step:
                        guard var f = st.funnel else { break }
                        var reached: UInt32 = 0
                        if try f.collectHits(t, txn, scan: scan) {
                            f.evaluateHits()
                            reached = f.outcome.excluded ? 0 : UInt32(max(0, f.outcome.reached))
                        }
                        st.funnel = f
                        st.groups[reached, default: VoiceTally()].add(score, kind: metric.kind)
                    }
                    return
                }
                i -= 1
            }
        }
        var groups: [UInt32: VoiceTally] = [:]
        for p in parts {
            report.total.tally.merge(p.total)
            for (k, v) in p.groups { groups[k, default: VoiceTally()].merge(v) }
        }
        report.total.score = report.total.tally.score(metric.kind)
        report.groups = groups.map { key, tally in
            let name: String? = switch breakdown {
            case .none: nil
            case .channel: key == 0 ? nil : symbols.string(key)
            case .stage(let d): Int(key) < d.stages.count ? d.stages[Int(key)].name : "(none)"
            case .step(let f): key == 0 ? "(not entered)" : "\(key). \(f.steps[Int(key) - 1].label)"
            }
            return VoiceGroup(group: name, tally: tally, score: tally.score(metric.kind))
        }
        report.groups.sort {
            $0.tally.responses != $1.tally.responses ? $0.tally.responses > $1.tally.responses : ($0.group ?? "") < ($1.group ?? "")
        }
        return report
    }

    public func voice(
        _ metric: VoiceMetric = .defaultNPS, by breakdown: VoiceBreakdown = .none, from: Int64? = nil, to: Int64? = nil
    ) async throws -> VoiceReport {
        try await offCooperativePool { try self.voice(metric, by: breakdown, from: from, to: to) }
    }
}
