internal import Foundation

/// Reading lifecycle definitions from JSON (`schemas/lifecycle.schema.json`). Every refusal names the JSON path that
/// is wrong and why (`stages[2].rule.orders: expected an object like {">=": 2}`), so a definition can be fixed
/// without reading this code. Foundation parses the text: definitions are small and read once per query.
extension LifecycleDefinition {
    /// Parses and validates a definition.
    public static func parse(_ data: [UInt8]) throws(QueryError) -> LifecycleDefinition {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(data), options: [])
        } catch {
            throw QueryError("the definition is not valid JSON: \(JSONSyntaxLocation.describe(data) ?? error.localizedDescription)")
        }
        return try DefinitionReader().definition(root)
    }

    public static func parse(_ text: String) throws(QueryError) -> LifecycleDefinition { try parse(Array(text.utf8)) }

    /// Reads and parses a definition file; errors name the file.
    public static func load(path: String) throws(QueryError) -> LifecycleDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QueryError("\(path): cannot read the lifecycle definition")
        }
        do {
            return try parse(Array(data))
        } catch {
            throw QueryError("\(path): \(error.description)")
        }
    }

    /// The shipped default (`schemas/lifecycle.default.json`; a test checks they are the same).
    public static let standard: LifecycleDefinition = {
        do {
            return try parse(LifecycleDefaultText.json)
        } catch {
            preconditionFailure("the built-in lifecycle definition does not parse: \(error)")
        }
    }()
}

/// Walks the parsed JSON with the path of the value in hand.
private struct DefinitionReader {
    static let conditions = [
        "all", "any", "not", "identified", "orders", "revenue", "nps_category", "nps_score", "days_since_last_activity",
        "days_since_last_order", "days_since_first_seen", "event_count", "trait",
    ]

    func definition(_ root: Any) throws(QueryError) -> LifecycleDefinition {
        guard let o = root as? [String: Any] else { throw QueryError("(root): expected an object with \"stages\"") }
        try known(o, ["$schema", "description", "stages", "order_event", "revenue_property", "nps"], path: "")
        guard let list = o["stages"] as? [Any], !list.isEmpty else {
            throw QueryError("stages: expected a non-empty array of stages")
        }
        var d = LifecycleDefinition(stages: [])
        if let v = o["order_event"] { d.orderEvent = try nonEmptyString(v, path: "order_event") }
        if let v = o["revenue_property"] { d.revenueProperty = try field(v, path: "revenue_property") }
        if let v = o["nps"] {
            guard let n = v as? [String: Any] else { throw QueryError("nps: expected an object like {\"event\": \"NPS Responded\", \"property\": \"properties.score\"}") }
            try known(n, ["event", "property"], path: "nps")
            if let e = n["event"] { d.nps.event = try nonEmptyString(e, path: "nps.event") }
            if let p = n["property"] { d.nps.property = try field(p, path: "nps.property") }
        }
        for (i, s) in list.enumerated() {
            let path = "stages[\(i)]"
            guard let so = s as? [String: Any] else { throw QueryError("\(path): expected an object with \"name\" and \"rule\"") }
            try known(so, ["name", "rule", "kind", "rank", "description"], path: path)
            let name = try nonEmptyString(so["name"] as Any, path: path + ".name")
            if d.stages.contains(where: { $0.name == name }) {
                throw QueryError("\(path).name: duplicate stage name \"\(name)\"")
            }
            guard let r = so["rule"] else { throw QueryError("\(path).rule: missing (write {\"all\": []} for a stage that takes everyone)") }
            var stage = LifecycleStage(name: name, rule: try rule(r, path: path + ".rule"))
            if let k = so["kind"] {
                guard let ks = k as? String, let kind = LifecycleStageKind(rawValue: ks) else {
                    throw QueryError("\(path).kind: expected one of journey, at_risk, churned")
                }
                stage.kind = kind
            }
            if let r = so["rank"] {
                guard let n = number(r), n == n.rounded(), abs(n) < 1e6 else { throw QueryError("\(path).rank: expected an integer") }
                stage.rank = Int(n)
            }
            if let desc = so["description"] {
                guard let ds = desc as? String else { throw QueryError("\(path).description: expected a string") }
                stage.description = ds
            }
            d.stages.append(stage)
        }
        return d
    }

    func rule(_ v: Any, path: String) throws(QueryError) -> LifecycleRule {
        guard let o = v as? [String: Any] else {
            throw QueryError("\(path): expected a rule object like {\"orders\": {\">=\": 1}}")
        }
        var parts: [LifecycleRule] = []
        for key in o.keys.sorted() {
            guard let value = o[key] else { continue }
            parts.append(try condition(key, value, path: path.isEmpty ? key : path + "." + key))
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    func condition(_ key: String, _ v: Any, path: String) throws(QueryError) -> LifecycleRule {
        switch key {
        case "all", "any":
            guard let list = v as? [Any] else { throw QueryError("\(path): expected an array of rules") }
            var rs: [LifecycleRule] = []
            for (i, r) in list.enumerated() { rs.append(try rule(r, path: "\(path)[\(i)]")) }
            return key == "all" ? .all(rs) : .any(rs)
        case "not": return .not(try rule(v, path: path))
        case "identified":
            guard let b = bool(v) else { throw QueryError("\(path): expected true or false") }
            return .identified(b)
        case "orders": return .orders(try numberTest(v, path: path, example: #"{">=": 2}"#))
        case "revenue": return .revenue(try numberTest(v, path: path, example: #"{">=": 100}"#))
        case "nps_score": return .npsScore(try numberTest(v, path: path, example: #"{"<=": 6}"#))
        case "days_since_last_activity": return .daysSinceLastActivity(try numberTest(v, path: path, example: #"{">=": 30}"#))
        case "days_since_last_order": return .daysSinceLastOrder(try numberTest(v, path: path, example: #"{">=": 60}"#))
        case "days_since_first_seen": return .daysSinceFirstSeen(try numberTest(v, path: path, example: #"{"<": 7}"#))
        case "nps_category":
            let names: [Any] = (v as? [Any]) ?? [v]
            var out: [NPSAnswer] = []
            for n in names {
                guard let s = n as? String, let a = NPSAnswer(rawValue: s) else {
                    throw QueryError("\(path): expected promoter, passive, detractor or none (or an array of them)")
                }
                out.append(a)
            }
            guard !out.isEmpty else { throw QueryError("\(path): expected at least one category") }
            return .npsCategory(out)
        case "event_count":
            let example = #"{"event": "Page Viewed", "days": 30, "count": {">=": 3}}"#
            guard let o = v as? [String: Any] else { throw QueryError("\(path): expected an object like \(example)") }
            try known(o, ["event", "days", "count"], path: path)
            let event = try nonEmptyString(o["event"] as Any, path: path + ".event")
            guard let d = o["days"].flatMap(number), d == d.rounded(), d >= 1, d <= 36_500 else {
                throw QueryError("\(path).days: expected a whole number of days, 1…36500")
            }
            guard let c = o["count"] else { throw QueryError("\(path).count: missing (e.g. {\">=\": 3})") }
            return .eventCount(event: event, days: Int(d), try numberTest(c, path: path + ".count", example: #"{">=": 3}"#))
        case "trait": return try trait(v, path: path)
        default:
            throw QueryError("\(path): unknown condition (expected one of \(Self.conditions.joined(separator: ", ")))")
        }
    }

    func trait(_ v: Any, path: String) throws(QueryError) -> LifecycleRule {
        let example = #"{"path": "traits.plan", "=": "pro"}"#
        guard let o = v as? [String: Any] else { throw QueryError("\(path): expected an object like \(example)") }
        try known(o, ["path", "=", "!=", "in", "not_in", "exists", "<", "<=", ">", ">="], path: path)
        let text = try nonEmptyString(o["path"] as Any, path: path + ".path")
        let field = try field(text.contains(".") ? text : "traits." + text, path: path + ".path")
        let ops = o.keys.filter { $0 != "path" }
        guard ops.count == 1 || ops.allSatisfy({ ["<", "<=", ">", ">="].contains($0) }), !ops.isEmpty else {
            throw QueryError("\(path): expected one test beside \"path\" (=, !=, in, not_in, exists, or numeric comparisons)")
        }
        let op = ops.sorted()[0]
        let opPath = path + "." + op
        switch op {
        case "=", "!=", "in", "not_in":
            let raw: [Any] = op == "in" || op == "not_in" ? ((o[op] as? [Any]) ?? []) : [o[op] as Any]
            guard !raw.isEmpty else { throw QueryError("\(opPath): expected a non-empty array of values") }
            var values: [TraitValue] = []
            for x in raw {
                guard let tv = traitValue(x) else { throw QueryError("\(opPath): expected strings, numbers, booleans or null") }
                values.append(tv)
            }
            return .trait(field, op == "=" || op == "in" ? .oneOf(values) : .noneOf(values))
        case "exists":
            guard let b = bool(o[op] as Any) else { throw QueryError("\(opPath): expected true or false") }
            return .trait(field, .exists(b))
        default:
            var test = o
            test["path"] = nil
            return .trait(field, .number(try numberTest(test, path: path, example: #"{">=": 3}"#)))
        }
    }

    func numberTest(_ v: Any, path: String, example: String) throws(QueryError) -> NumberTest {
        guard let o = v as? [String: Any], !o.isEmpty else { throw QueryError("\(path): expected an object like \(example)") }
        var out: [NumberTest.Comparison] = []
        for key in o.keys.sorted() {
            guard let op = NumberTest.Operator(rawValue: key) else {
                throw QueryError("\(path).\(key): unknown comparison (expected =, !=, <, <=, >, >=)")
            }
            guard let n = o[key].flatMap(number), n.isFinite else { throw QueryError("\(path).\(key): expected a number") }
            out.append(NumberTest.Comparison(op, n))
        }
        return NumberTest(out)
    }

    func known(_ o: [String: Any], _ keys: Set<String>, path: String) throws(QueryError) {
        for k in o.keys.sorted() where !keys.contains(k) {
            throw QueryError("\(path.isEmpty ? k : path + "." + k): unknown member (expected \(keys.sorted().joined(separator: ", ")))")
        }
    }

    func nonEmptyString(_ v: Any, path: String) throws(QueryError) -> String {
        guard let s = v as? String, !s.isEmpty else { throw QueryError("\(path): expected a non-empty string") }
        return s
    }

    func field(_ v: Any, path: String) throws(QueryError) -> FieldPath {
        let s = try nonEmptyString(v, path: path)
        do {
            return try FieldPath(s)
        } catch {
            throw QueryError("\(path): \(error.description)")
        }
    }

    /// JSONSerialization gives booleans and numbers both as NSNumber; booleans have the objCType "c".
    func isBool(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    func bool(_ v: Any) -> Bool? { isBool(v) ? (v as? NSNumber)?.boolValue : nil }

    func number(_ v: Any) -> Double? {
        guard !isBool(v), let n = v as? NSNumber else { return nil }
        return n.doubleValue
    }

    func traitValue(_ v: Any) -> TraitValue? {
        if v is NSNull { return .null }
        if let s = v as? String { return .string(s) }
        if let b = bool(v) { return .bool(b) }
        if let n = number(v) { return .number(n) }
        return nil
    }
}
