internal import LMDB

/// What the close-the-loop list looks for (semantics §5); the defaults match the generated data's event names.
public struct AlertOptions: Sendable, Hashable {
    public var nps: VoiceMetric = .defaultNPS
    public var checkoutEvent = "Checkout Started"
    public var orderEvent = "Order Completed"
    public var ticketEvent = "Support Ticket Opened"
    public var ticketTopic = FieldPath(extras: ["properties", "topic"])
    /// A checkout with no order within this long after it (inclusive) was abandoned.
    public var checkoutWindowMillis: Int64 = 7 * 86_400_000
    /// Only events with event time ≤ this (default: all).
    public var asOf: Int64?

    public init() {}
}

/// A person to contact: a detractor, or someone who abandoned a checkout and then complained.
public struct VoiceAlert: Sendable, Equatable {
    public var person: UInt32
    public var displayId: String
    /// The latest answer is a detractor's.
    public var detractor: Bool
    /// The abandoned checkout followed by a ticket or a detractor answer (the latest such), if any.
    public var abandonedCheckoutAt: Int64?
    /// When the trouble began: the abandoned checkout, else the detractor answer.
    public var since: Int64
    /// The latest signal (ticket or detractor answer) behind the alert: the list's order, newest first.
    public var signalAt: Int64
    public var npsScore: Double?
    public var npsAt: Int64?
    /// Topic of the person's latest support ticket, and how many tickets since `since`.
    public var ticketTopic: String?
    public var ticketsSince: Int
    /// What the person did last.
    public var lastEvent: String
    public var lastChannel: String?
    public var lastAt: Int64
}

extension JourneyStore {
    /// The close-the-loop list, newest signal first.
    public func alerts(_ options: AlertOptions = AlertOptions(), limit: Int = 50) throws -> [VoiceAlert] {
        guard let dbs = try personDatabases() else { throw StoreError("this store has no person projections yet; open it for writing once") }
        try refreshSymbols()
        let ids = AlertSymbols(options, symbols: symbols)
        let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: options.asOf)
        let parts = try scan.run(make: { [AlertCandidate]() }) { found, person, t, txn in
            if let c = try ids.candidate(person, t, txn, scan: scan) { found.append(c) }
        }
        var all = parts.flatMap { $0 }
        all.sort { $0.signalAt != $1.signalAt ? $0.signalAt > $1.signalAt : $0.person < $1.person }
        let chosen = all.prefix(max(0, limit))
        return try env.read { txn in
            var joined: [UInt8] = []
            return try chosen.compactMap { c -> VoiceAlert? in
                let display = try Self.summary(txn, dbs, number: c.person)?.displayId ?? "#\(c.person)"
                return try TimelineChunks.withTimeline(txn, dbs.timelines, person: c.person, scratch: &joined) { bytes in
                    try ids.describe(c, displayId: display, Timeline(bytes, asOf: options.asOf), txn, scan: scan)
                } ?? nil
            }
        }
    }

    public func alerts(_ options: AlertOptions = AlertOptions(), limit: Int = 50) async throws -> [VoiceAlert] {
        try await offCooperativePool { try self.alerts(options, limit: limit) }
    }
}

/// One alerting person as found by the scan (details are read afterwards, for the listed ones only).
struct AlertCandidate {
    var person: UInt32
    var detractor: Bool
    var checkout: Int64?
    var signalAt: Int64
    var npsScore: Double?
    var npsAt: Int64?
}

/// The options resolved against the store's symbols, and the per-person logic.
struct AlertSymbols: Sendable {
    let options: AlertOptions
    let nps: UInt32
    let checkout: UInt32
    let order: UInt32
    let ticket: UInt32
    let score: ResolvedPath
    let topic: ResolvedPath
    let symbols: SymbolTable

    init(_ o: AlertOptions, symbols: SymbolTable) {
        options = o
        nps = symbols.id(of: o.nps.event) ?? 0
        checkout = symbols.id(of: o.checkoutEvent) ?? 0
        order = symbols.id(of: o.orderEvent) ?? 0
        ticket = symbols.id(of: o.ticketEvent) ?? 0
        score = ResolvedPath(o.nps.property, symbols: symbols)
        topic = ResolvedPath(o.ticketTopic, symbols: symbols)
        self.symbols = symbols
    }

    func scoreAt(_ t: Timeline, _ i: Int, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws -> Double? {
        try scan.record(at: t[i].position, txn) { score.locate($0)?.number } ?? nil
    }

    /// Walks the timeline backwards once: the latest NPS answer, and the latest abandoned checkout (no order within
    /// the window after it) with a ticket or a detractor answer after it.
    func candidate(_ person: UInt32, _ t: Timeline, _ txn: borrowing ReadTransaction, scan: TimelineScan) throws -> AlertCandidate? {
        var hasCheckout = false
        var hasNPS = false
        for i in 0..<t.count {
            let n = t.name(i)
            if n == checkout { hasCheckout = true }
            if n == nps { hasNPS = true }
        }
        guard hasNPS || hasCheckout else { return nil }
        var c = AlertCandidate(person: person, detractor: false, checkout: nil, signalAt: .min)
        var nextOrder = Int64.max
        var firstSignal = Int64.max
        var latestScoreSeen = false
        var latestDetractor = Int64.min
        for i in stride(from: t.count - 1, through: 0, by: -1) {
            let n = t.name(i)
            let time = t.time(i)
            if n == order { nextOrder = time }
            if n == ticket { firstSignal = time }
            if n == nps, hasCheckout || !latestScoreSeen, let s = try scoreAt(t, i, txn, scan: scan) {
                if !latestScoreSeen {
                    latestScoreSeen = true
                    c.npsScore = s
                    c.npsAt = time
                    c.detractor = NPSCategory(score: s) == .detractor
                    if c.detractor { c.signalAt = time }
                }
                if NPSCategory(score: s) == .detractor {
                    firstSignal = time
                    latestDetractor = max(latestDetractor, time)
                }
            }
            if n == checkout, c.checkout == nil, firstSignal != .max, nextOrder > time + options.checkoutWindowMillis {
                c.checkout = time
                // The latest signal after it is the newest reason to call.
                c.signalAt = max(c.signalAt, latestDetractor, latestSignal(t, after: i))
                if latestScoreSeen { break }
            }
        }
        return c.detractor || c.checkout != nil ? c : nil
    }

    /// Time of the latest ticket after entry `i` (detractor answers are already in `signalAt`).
    private func latestSignal(_ t: Timeline, after i: Int) -> Int64 {
        var j = t.count - 1
        while j > i {
            if t.name(j) == ticket { return t.time(j) }
            j -= 1
        }
        return .min
    }

    func describe(
        _ c: AlertCandidate, displayId: String, _ t: Timeline, _ txn: borrowing ReadTransaction, scan: TimelineScan
    ) throws -> VoiceAlert? {
        guard t.count > 0 else { return nil }
        let last = t[t.count - 1]
        let since = c.checkout ?? c.npsAt ?? c.signalAt
        var alert = VoiceAlert(
            person: c.person, displayId: displayId, detractor: c.detractor, abandonedCheckoutAt: c.checkout, since: since,
            signalAt: c.signalAt, npsScore: c.npsScore, npsAt: c.npsAt, ticketTopic: nil, ticketsSince: 0,
            lastEvent: symbols.string(last.name) ?? "#\(last.name)", lastChannel: last.channel == 0 ? nil : symbols.string(last.channel),
            lastAt: last.time)
        for i in stride(from: t.count - 1, through: 0, by: -1) where t.name(i) == ticket {
            if alert.ticketTopic == nil {
                alert.ticketTopic = try scan.record(at: t[i].position, txn) { topic.locate($0)?.text(symbols: symbols) } ?? nil
            }
            if t.time(i) >= since { alert.ticketsSince += 1 }
        }
        return alert
    }
}
