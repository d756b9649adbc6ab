internal import LMDB

/// Computes a `CustomerProfile` from a person's timeline (already cut to the moment asked for) and their records,
/// read in place with `ResolvedPath`: counts come from the packed entries alone; only orders, NPS answers, tickets
/// and identify calls cost a record lookup each. Nothing is parsed as JSON.
///
/// It resolves event names and field keys against the symbols once: the store keeps one while the symbols do not
/// grow (`JourneyStore.profileBuilder()`).
struct ProfileBuilder {
    let log: EventLog
    let symbols: SymbolTable
    private let orderName: UInt32?
    private let npsName: UInt32?
    private let ticketName: UInt32?
    private let traitsKey: UInt32?
    private let revenue: ResolvedPath
    private let currency: ResolvedPath
    private let score: ResolvedPath
    private let topic: ResolvedPath

    /// The symbol table's size when the names and keys were resolved (`count` read before resolving).
    let symbolCount: Int

    init(log: EventLog, symbols: SymbolTable, symbolCount: Int) {
        self.log = log
        self.symbols = symbols
        self.symbolCount = symbolCount
        orderName = symbols.id(of: "Order Completed")
        npsName = symbols.id(of: "NPS Responded")
        ticketName = symbols.id(of: "Support Ticket Opened")
        traitsKey = symbols.id(of: "traits")
        revenue = ResolvedPath(FieldPath(extras: ["properties", "revenue"]), symbols: symbols)
        currency = ResolvedPath(FieldPath(extras: ["properties", "currency"]), symbols: symbols)
        score = ResolvedPath(FieldPath(extras: ["properties", "score"]), symbols: symbols)
        topic = ResolvedPath(FieldPath(extras: ["properties", "topic"]), symbols: symbols)
    }

    /// The profile of `summary`'s person over the entries of `timeline` (which has at least one).
    func build<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, summary: PersonSummary, timeline t: Timeline
    ) throws -> CustomerProfile {
        var names: [(id: UInt32, count: Int)] = []
        var channels: [(id: UInt32, count: Int)] = []
        var orders = 0
        var tickets = 0
        var sums: [(currency: String?, orders: Int, sum: DecimalSum)] = []
        for i in 0..<t.count {
            let e = t[i]
            Self.count(e.name, in: &names)
            if e.channel != 0 { Self.count(e.channel, in: &channels) }
            if e.name == orderName {
                orders += 1
                try record(txn, e.position) { view in
                    let c = currency.locate(view).flatMap { text($0) }
                    let k = sums.firstIndex { $0.currency == c } ?? {
                        sums.append((c, 0, DecimalSum()))
                        return sums.count - 1
                    }()
                    sums[k].orders += 1
                    if let v = revenue.locate(view) { sums[k].sum.add(v) }
                }
            } else if e.name == ticketName {
                tickets += 1
            }
        }

        // Backwards, newest first: the latest answer, topic, touchpoint and trait values are the first found.
        var nps: ProfileNPS? = nil
        var lastTopic: String? = nil
        var touchpoint: ProfileTouchpoint? = nil
        var traits: [ProfileTrait] = []
        var seenTraits: Set<String> = []
        for i in stride(from: t.count - 1, through: 0, by: -1) {
            let e = t[i]
            let call = e.kind.callType
            if touchpoint == nil && (call == .track || call == .page || call == .screen) {
                touchpoint = ProfileTouchpoint(
                    event: string(e.name), channel: e.channel == 0 ? nil : string(e.channel), time: e.time,
                    position: e.position)
            }
            if nps == nil && e.name == npsName {
                nps = try record(txn, e.position) { view in
                    score.locate(view)?.number.map { ProfileNPS(score: $0, category: NPSCategory(score: $0), time: e.time) }
                } ?? nil
            }
            if lastTopic == nil && e.name == ticketName {
                lastTopic = try record(txn, e.position) { view in topic.locate(view).flatMap { text($0) } } ?? nil
            }
            if call == .identify, let traitsKey {
                try record(txn, e.position) { view in
                    forEachEntry(of: traitsKey, in: view) { name, value in
                        if seenTraits.insert(name).inserted { traits.append(ProfileTrait(name: name, value: value, time: e.time)) }
                    }
                }
            }
        }
        if touchpoint == nil {
            let e = t[t.count - 1]
            touchpoint = ProfileTouchpoint(
                event: string(e.name), channel: e.channel == 0 ? nil : string(e.channel), time: e.time, position: e.position)
        }
        traits.sort { $0.name < $1.name }

        func counted(_ list: [(id: UInt32, count: Int)]) -> [ProfileCount] {
            list.map { ProfileCount(name: string($0.id), count: $0.count) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
        }
        return CustomerProfile(
            person: summary.person, displayId: summary.displayId, userIds: summary.userIds,
            anonymousIds: summary.anonymousIds, merges: summary.merges, traits: traits, firstSeen: t.time(0),
            lastSeen: t.time(t.count - 1), eventCount: t.count, eventsByName: counted(names), channels: counted(channels),
            orders: orders,
            revenue: sums.map { ProfileRevenue(currency: $0.currency, orders: $0.orders, total: $0.sum.text) }
                .sorted { ($0.currency ?? "") < ($1.currency ?? "") },
            nps: nps, supportTickets: tickets, lastTicketTopic: lastTopic, lastTouchpoint: touchpoint)
    }

    @inline(__always)
    private static func count(_ id: UInt32, in list: inout [(id: UInt32, count: Int)]) {
        if let k = list.firstIndex(where: { $0.id == id }) { list[k].count += 1 } else { list.append((id, 1)) }
    }

    private func string(_ id: UInt32) -> String { symbols.string(id) ?? "#\(id)" }

    /// Runs `body` on the record at `position` (a timeline entry always has one: damaged or missing is an error).
    private func record<T: TransactionReading & ~Copyable, R>(
        _ txn: borrowing T, _ position: UInt64, _ body: (RecordView) throws -> R
    ) throws -> R {
        guard let value = try log.withRecord(txn, at: position, body) else {
            throw StoreError("profile: the record at position \(position) is missing or damaged")
        }
        return value
    }

    /// A scalar field as text (strings, symbols, numbers), nil for anything else.
    private func text(_ v: FieldValue) -> String? { v.text(symbols: symbols) }

    /// Calls `body` with each (key, value) of the top-level object field `key` of the record (`traits`).
    private func forEachEntry(of key: UInt32, in view: RecordView, _ body: (String, ProfileValue) -> Void) {
        guard let extras = view.variable?.extras else { return }
        var r = ByteReader(extras)
        while let k = r.varint(), k != 0 {
            var isKey = false
            if k & 1 == 1 {
                guard r.bytes(Int(k >> 1)) != nil else { return }
            } else {
                isKey = UInt64(key) == (k >> 1) - 1
            }
            if !isKey {
                guard ResolvedPath.skipValue(&r) else { return }
                continue
            }
            guard r.byte() == ValueTag.object else { return }
            while let k = r.varint(), k != 0 {
                let name: String
                if k & 1 == 1 {
                    guard let b = r.bytes(Int(k >> 1)) else { return }
                    name = String(decoding: b, as: UTF8.self)
                } else {
                    name = string(UInt32(truncatingIfNeeded: (k >> 1) - 1))
                }
                guard let value = value(&r) else { return }
                body(name, value)
            }
            return
        }
    }

    /// Reads one tagged value as a `ProfileValue`.
    private func value(_ r: inout ByteReader) -> ProfileValue? {
        let start = r.offset
        guard let tag = r.byte() else { return nil }
        switch tag {
        case ValueTag.null: return .null
        case ValueTag.false: return .bool(false)
        case ValueTag.true: return .bool(true)
        case ValueTag.string: return r.lengthPrefixed().map { .string(String(decoding: $0, as: UTF8.self)) }
        case ValueTag.symbol: return r.varint().map { .string(string(UInt32(truncatingIfNeeded: $0))) }
        case ValueTag.time: return r.signedVarint().map { .string(TimeText.format($0)) }
        default:
            // Numbers keep their exact text; arrays and objects become JSON, both through the export writer.
            r.offset = start
            var w = ByteWriter(capacity: 32)
            guard RecordJSON(symbols: symbols).writeValue(&r, into: &w) else { return nil }
            let s = String(decoding: w.bytes, as: UTF8.self)
            return tag == ValueTag.array || tag == ValueTag.object ? .json(s) : .number(s)
        }
    }
}

/// An exact sum of decimal amounts (mantissa and decimal places, as records keep numbers), falling back to a
/// binary double only for numbers kept as text or sums past 18 digits.
struct DecimalSum {
    private var mantissa: Int64 = 0
    private var scale = 0
    private var inexact: Double? = nil

    mutating func add(_ v: FieldValue) {
        switch v {
        case .integer(let m): add(m, scale: 0)
        case .decimal(let m, let s): add(m, scale: Int(s))
        case .numberText, .string:
            guard let d = v.number ?? (v.stringBytes.flatMap { Double(String(decoding: $0, as: UTF8.self)) }) else { return }
            inexact = (inexact ?? exactValue) + d
        default: return
        }
    }

    private var exactValue: Double {
        var d = Double(mantissa)
        for _ in 0..<scale { d /= 10 }
        return d
    }

    private mutating func add(_ m: Int64, scale s: Int) {
        if let x = inexact {
            var d = Double(m)
            for _ in 0..<s { d /= 10 }
            inexact = x + d
            return
        }
        var a = mantissa
        var b = m
        var overflow = false
        for _ in scale..<max(scale, s) { (a, overflow) = a.multipliedReportingOverflow(by: 10); if overflow { break } }
        if !overflow { for _ in s..<max(scale, s) { (b, overflow) = b.multipliedReportingOverflow(by: 10); if overflow { break } } }
        let (sum, o2) = a.addingReportingOverflow(b)
        if overflow || o2 {
            var d = Double(m)
            for _ in 0..<s { d /= 10 }
            inexact = exactValue + d
            return
        }
        mantissa = sum
        scale = max(scale, s)
    }

    /// The sum as text: exact decimal places when exact.
    var text: String {
        if let inexact { return "\(inexact)" }
        var w = ByteWriter(capacity: 24)
        if scale == 0 { w.appendDecimal(mantissa) } else { RecordJSON.writeDecimal(mantissa, scale: scale, into: &w) }
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Writes a number value as its text.
    static func write(_ v: FieldValue, into w: inout ByteWriter) {
        switch v {
        case .integer(let m): w.appendDecimal(m)
        case .decimal(let m, let s): RecordJSON.writeDecimal(m, scale: Int(s), into: &w)
        case .numberText(let b): w.append(b)
        default: break
        }
    }
}

extension FieldValue {
    fileprivate var stringBytes: UnsafeRawBufferPointer? {
        if case .string(let b) = self { return b }
        return nil
    }
}
