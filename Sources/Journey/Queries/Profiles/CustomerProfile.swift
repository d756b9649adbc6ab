/// A customer as analysts look them up (issue 3): identity, traits, activity, orders, voice and support, computed at
/// query time from the person's timeline and their records read in place, so any moment in the past is exact.
public struct CustomerProfile: Sendable, Equatable {
    /// The person's number (stable until merged into a lower-numbered person).
    public var person: UInt32
    /// The smallest userId, else the first-seen anonymous id (semantics §2).
    public var displayId: String
    public var userIds: [String]
    public var anonymousIds: [String]
    /// Persons folded into this one, in log order.
    public var merges: [PersonMerge]
    /// The latest value of each trait by event time (then log position), from `identify` calls; by name.
    public var traits: [ProfileTrait]
    /// Earliest and latest event time in view, UTC ms.
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var eventCount: Int
    /// Most frequent first, then by name.
    public var eventsByName: [ProfileCount]
    /// Channels used, most frequent first (events without a channel are not counted).
    public var channels: [ProfileCount]
    /// `Order Completed` events.
    public var orders: Int
    /// Revenue per currency (`properties.revenue`, `properties.currency`), by currency.
    public var revenue: [ProfileRevenue]
    /// The latest `NPS Responded` answer with a numeric `properties.score`.
    public var nps: ProfileNPS?
    /// `Support Ticket Opened` events.
    public var supportTickets: Int
    /// `properties.topic` of the latest ticket.
    public var lastTicketTopic: String?
    /// The latest track, page or screen event (the latest event of any call if there is none).
    public var lastTouchpoint: ProfileTouchpoint?
    /// The moment the profile is computed at: events with event time ≤ `asOf`, log up to `asOfPosition`.
    public var asOf: Int64?
    public var asOfPosition: UInt64?

    /// The latest value of trait `name`, if the person has it.
    public func trait(_ name: String) -> ProfileValue? { traits.first { $0.name == name }?.value }
}

/// A trait's latest value and when it was set.
public struct ProfileTrait: Sendable, Equatable {
    public var name: String
    public var value: ProfileValue
    /// Event time of the identify call that set it, UTC ms.
    public var time: Int64
}

/// A value as the message carried it, without going through a JSON parser.
public enum ProfileValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    /// A number, as its exact text (`19.90` stays `19.90`).
    case number(String)
    case bool(Bool)
    case null
    /// An array or object, as JSON text.
    case json(String)

    /// Plain text: strings as they are, everything else as JSON.
    public var description: String {
        switch self {
        case .string(let s): s
        case .number(let s), .json(let s): s
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    /// The value as a JSON literal.
    public var jsonText: String {
        if case .string(let s) = self {
            var w = ByteWriter(capacity: s.utf8.count + 2)
            RecordJSON.writeString(s, into: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        return description
    }

    /// The number, for comparisons (numbers, and strings that read as numbers).
    public var number: Double? {
        switch self {
        case .number(let s), .string(let s): Double(s)
        default: nil
        }
    }
}

public struct ProfileCount: Sendable, Equatable {
    public var name: String
    public var count: Int
}

public struct ProfileRevenue: Sendable, Equatable {
    /// Nil when the orders named no currency.
    public var currency: String?
    public var orders: Int
    /// The sum, exact as text (decimal places as written, e.g. `324.63`).
    public var total: String
    public var amount: Double { Double(total) ?? 0 }
}

/// A Net Promoter answer (semantics §5: promoters 9–10, passives 7–8, detractors 0–6).
public struct ProfileNPS: Sendable, Equatable {
    public typealias Category = NPSCategory

    public var score: Double
    /// Nil for a score outside 0–10.
    public var category: Category?
    /// Event time of the answer, UTC ms.
    public var time: Int64

}

public struct ProfileTouchpoint: Sendable, Equatable {
    public var event: String
    public var channel: String?
    /// Event time, UTC ms.
    public var time: Int64
    public var position: UInt64
}
