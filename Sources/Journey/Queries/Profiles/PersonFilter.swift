internal import Foundation

/// A condition on a customer profile, as `journey persons --where` takes it: `plan=pro`, `traits.plan = pro`,
/// `orders>=2`, `nps<7`, `channel=email`.
///
/// A bare name is a trait (`plan` = `traits.plan`), except the profile's own fields: `orders`, `events`, `tickets`,
/// `revenue` (all currencies added), `nps` (the latest score), `nps_category`, `channel` (a channel used),
/// `event` (an event done) and `display_id`. Traits are compared on their latest value; numbers compare as
/// numbers, anything else as text. `!=` also holds when the trait is absent.
public struct PersonFilter: Sendable, Hashable, CustomStringConvertible {
    public enum Field: Sendable, Hashable {
        case trait(String)
        case orders, events, tickets, revenue, nps, npsCategory, channel, event, displayId
    }

    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    public var field: Field
    public var op: Operator
    public var value: String

    public init(field: Field, op: Operator, value: String) throws(QueryError) {
        self.field = field
        self.op = op
        self.value = value
        let ordering = op != .equal && op != .notEqual
        if ordering && Double(value) == nil {
            throw QueryError("--where \(self): \(op.rawValue) compares numbers, and \"\(value)\" is not one")
        }
        switch field {
        case .orders, .events, .tickets, .revenue, .nps:
            guard Double(value) != nil else { throw QueryError("--where \(self): \"\(value)\" is not a number") }
        case .channel, .event, .npsCategory, .displayId:
            guard !ordering else { throw QueryError("--where \(self): this field takes = or !=") }
        case .trait: break
        }
    }

    public var description: String { "\(Self.name(of: field))\(op.rawValue)\(value)" }

    private static let named: [(String, Field)] = [
        ("orders", .orders), ("events", .events), ("tickets", .tickets), ("revenue", .revenue), ("nps", .nps),
        ("nps_category", .npsCategory), ("channel", .channel), ("event", .event), ("display_id", .displayId),
    ]

    static func name(of field: Field) -> String {
        if case .trait(let t) = field { return "traits." + t }
        return named.first { $0.1 == field }?.0 ?? "?"
    }

    /// Parses `field op value` (spaces around the operator allowed; one pair of quotes around the value dropped).
    public static func parse(_ text: String) throws(QueryError) -> PersonFilter {
        for op in [Operator.notEqual, .lessOrEqual, .greaterOrEqual, .equal, .less, .greater] {
            guard let r = text.range(of: op.rawValue) else { continue }
            let name = String(text[..<r.lowerBound]).trimmingSpaces
            let value = String(text[r.upperBound...]).trimmingSpaces.unquoted
            guard !name.isEmpty else { throw QueryError("--where \"\(text)\": no field before \(op.rawValue)") }
            let field: Field
            if name.hasPrefix("traits.") {
                let trait = String(name.dropFirst("traits.".count))
                guard !trait.isEmpty else { throw QueryError("--where \"\(text)\": traits. names no trait") }
                field = .trait(trait)
            } else if let f = named.first(where: { $0.0 == name })?.1 {
                field = f
            } else if name.contains(".") {
                throw QueryError(
                    "--where \"\(text)\": \(name) is not a profile field (use traits.NAME, or one of \(named.map(\.0).joined(separator: ", ")))")
            } else {
                field = .trait(name)
            }
            return try PersonFilter(field: field, op: op, value: value)
        }
        throw QueryError("--where \"\(text)\": no operator (write e.g. plan=pro, orders>=2; operators = != < <= > >=)")
    }

    /// Whether the profile passes.
    public func matches(_ p: CustomerProfile) -> Bool {
        switch field {
        case .trait(let name):
            guard let v = p.trait(name) else { return op == .notEqual }
            if let n = v.number, let m = Double(value) { return compare(n, m) }
            if op == .equal || op == .notEqual { return (v.description == value) == (op == .equal) }
            return false
        case .orders: return compare(Double(p.orders), Double(value) ?? 0)
        case .events: return compare(Double(p.eventCount), Double(value) ?? 0)
        case .tickets: return compare(Double(p.supportTickets), Double(value) ?? 0)
        case .revenue: return compare(p.revenue.reduce(0) { $0 + $1.amount }, Double(value) ?? 0)
        case .nps:
            guard let s = p.nps?.score else { return op == .notEqual }
            return compare(s, Double(value) ?? 0)
        case .npsCategory: return (p.nps?.category?.rawValue == value) == (op == .equal)
        case .channel: return p.channels.contains { $0.name == value } == (op == .equal)
        case .event: return p.eventsByName.contains { $0.name == value } == (op == .equal)
        case .displayId: return (p.displayId == value) == (op == .equal)
        }
    }

    private func compare(_ a: Double, _ b: Double) -> Bool {
        switch op {
        case .equal: a == b
        case .notEqual: a != b
        case .less: a < b
        case .lessOrEqual: a <= b
        case .greater: a > b
        case .greaterOrEqual: a >= b
        }
    }
}
