internal import Foundation

/// A condition on one field of an event (semantics §3: `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `contains`, `exists`).
///
/// Values compare by kind: numbers numerically (the operand must be a number for `<`…`>=`), times (RFC 3339
/// values) against an RFC 3339 or millisecond operand, strings by bytes, booleans against `true` / `false`.
/// `!=` holds when the field is absent (PostHog's "is not"); every other operator needs the field present.
public struct FieldFilter: Sendable, Hashable, CustomStringConvertible {
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case `in`, contains, exists, notExists = "not_exists"
    }

    public var field: FieldPath
    public var op: Operator
    /// One operand, several for `in`, none for `exists` / `not_exists`.
    public var values: [String]

    public init(field: FieldPath, op: Operator, values: [String] = []) throws(QueryError) {
        self.field = field
        self.op = op
        self.values = values
        switch op {
        case .exists, .notExists:
            guard values.isEmpty else { throw QueryError("\(op.rawValue) takes no value (field \(field))") }
        case .in:
            guard !values.isEmpty else { throw QueryError("in needs at least one value (field \(field))") }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            guard values.count == 1 else { throw QueryError("\(op.rawValue) takes one value (field \(field))") }
            guard Double(values[0]) != nil || RFC3339.parseMillis(string: values[0]) != nil else {
                throw QueryError("\(op.rawValue) compares numbers or times: \"\(values[0])\" is neither (field \(field))")
            }
        default:
            guard values.count == 1 else { throw QueryError("\(op.rawValue) takes one value (field \(field))") }
        }
    }

    public var description: String {
        switch op {
        case .exists, .notExists: return "\(field) \(op.rawValue)"
        case .in: return "\(field) in \(values.joined(separator: ","))"
        default: return "\(field) \(op.rawValue) \(values.first ?? "")"
        }
    }

    /// Parses `prop op value` as written on the command line: `properties.plan = pro`, `revenue > 100`,
    /// `channel in web,app`, `properties.coupon exists`. A bare key (no dot) means `properties.KEY`, except the
    /// top-level fields `channel`, `event`, `type`, `userId`, `anonymousId`, `previousId`, `name`.
    public static func parse(_ text: String) throws(QueryError) -> FieldFilter {
        let t = text.trimmingSpaces
        let ops: [(String, Operator)] = [
            (" not_exists", .notExists), (" exists", .exists), (" contains ", .contains), (" in ", .in),
            ("!=", .notEqual), ("<=", .lessOrEqual), (">=", .greaterOrEqual), ("=", .equal), ("<", .less), (">", .greater),
        ]
        for (token, op) in ops {
            guard let r = t.range(of: token) else { continue }
            let field = String(t[..<r.lowerBound]).trimmingSpaces
            let value = String(t[r.upperBound...]).trimmingSpaces
            guard !field.isEmpty else { throw QueryError("the filter \"\(text)\" names no field") }
            let path = try FieldPath(Self.qualified(field))
            switch op {
            case .exists, .notExists:
                guard value.isEmpty else { throw QueryError("the filter \"\(text)\": \(op.rawValue) takes no value") }
                return try FieldFilter(field: path, op: op)
            case .in:
                return try FieldFilter(
                    field: path, op: op, values: value.split(separator: ",").map { String($0).trimmingSpaces.unquoted })
            default:
                guard !value.isEmpty else { throw QueryError("the filter \"\(text)\" has no value after \(op.rawValue)") }
                return try FieldFilter(field: path, op: op, values: [value.unquoted])
            }
        }
        throw QueryError(
            "the filter \"\(text)\" has no operator (use =, !=, <, <=, >, >=, in, contains, exists, not_exists)")
    }

    static func qualified(_ field: String) -> String {
        let topLevel: Set<String> = ["channel", "event", "type", "userId", "anonymousId", "previousId", "name"]
        return field.contains(".") || topLevel.contains(field) ? field : "properties." + field
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    /// Drops one pair of surrounding quotes, so `'plan = "pro plan"'` works.
    var unquoted: String {
        if count >= 2, let f = first, let l = last, f == l, f == "\"" || f == "'" { return String(dropFirst().dropLast()) }
        return self
    }
}

/// A filter compiled against a store's symbols: operands pre-parsed as bytes, numbers, times and symbol ids.
struct CompiledFilter {
    struct Operand {
        var bytes: [UInt8]
        var symbol: UInt32?
        var number: Double?
        var time: Int64?
        var bool: Bool?
    }

    let path: ResolvedPath
    let op: FieldFilter.Operator
    let operands: [Operand]

    init(_ filter: FieldFilter, symbols: SymbolTable) {
        path = ResolvedPath(filter.field, symbols: symbols)
        op = filter.op
        operands = filter.values.map { v in
            let time = RFC3339.parseMillis(string: v)
            return Operand(
                bytes: Array(v.utf8), symbol: symbols.id(of: v), number: Double(v), time: time ?? Int64(v),
                bool: v == "true" ? true : v == "false" ? false : nil)
        }
    }

    /// Whether the event `view` passes. Symbol values are compared by id (or by bytes through `symbols` for
    /// `contains` and orderings).
    func matches(_ view: RecordView, symbols: SymbolTable) -> Bool {
        guard let value = path.locate(view) else { return op == .notEqual || op == .notExists }
        switch op {
        case .exists: if case .null = value { return false } else { return true }
        case .notExists: if case .null = value { return true } else { return false }
        case .equal: return equals(value, operands[0], symbols: symbols)
        case .notEqual: return !equals(value, operands[0], symbols: symbols)
        case .in: return operands.contains { equals(value, $0, symbols: symbols) }
        case .contains:
            let o = operands[0]
            switch value {
            case .string(let b): return Self.contains(b, o.bytes)
            case .symbol(let id): return symbols.withBytes(id) { Self.contains($0, o.bytes) } ?? false
            case .array(let encoded):
                var found = false
                ResolvedPath.forEachElement(encoded) { e in
                    found = equals(e, o, symbols: symbols)
                    return !found
                }
                return found
            default: return false
            }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let o = operands[0]
            let c: Int
            if case .time(let t) = value {
                guard let ot = o.time else { return false }
                c = t < ot ? -1 : t > ot ? 1 : 0
            } else {
                guard let n = value.number, let on = o.number else { return false }
                c = n < on ? -1 : n > on ? 1 : 0
            }
            switch op {
            case .less: return c < 0
            case .lessOrEqual: return c <= 0
            case .greater: return c > 0
            default: return c >= 0
            }
        }
    }

    private func equals(_ value: FieldValue, _ o: Operand, symbols: SymbolTable) -> Bool {
        switch value {
        case .null: return o.bytes.elementsEqual("null".utf8)
        case .bool(let b): return o.bool == b
        case .integer, .decimal, .numberText:
            guard let n = value.number, let on = o.number else { return false }
            return n == on
        case .string(let b): return o.bytes.withUnsafeBytes { $0.elementsEqual(b) }
        case .symbol(let id):
            if let s = o.symbol { return s == id }
            return false
        case .time(let t): return o.time == t
        case .array, .object: return false
        }
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        guard haystack.count >= needle.count else { return false }
        let first = needle[0]
        for i in 0...(haystack.count - needle.count) where haystack[i] == first {
            var j = 1
            while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
            if j == needle.count { return true }
        }
        return false
    }
}
