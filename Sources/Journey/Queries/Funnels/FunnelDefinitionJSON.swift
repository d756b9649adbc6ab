internal import Foundation

/// Funnel definitions as JSON files (`schemas/funnel.schema.json`): read with the path of whatever is wrong
/// (`steps[2].where[0].op: "~" is not one of =, !=, …`), and written back in one canonical form.
extension FunnelDefinition {
    public static func load(json bytes: [UInt8], source: String = "definition") throws(QueryError) -> FunnelDefinition {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw QueryError("\(source): not valid JSON: \(JSONSyntaxLocation.describe(bytes) ?? error.localizedDescription)")
        }
        do {
            return try parse(root)
        } catch let e {
            throw QueryError("\(source): \(e.description)")
        }
    }

    private static func parse(_ root: Any) throws(QueryError) -> FunnelDefinition {
        guard let o = root as? [String: Any] else { throw QueryError("the definition must be a JSON object") }
        let known: Set<String> = ["$schema", "name", "description", "steps", "mode", "window", "exclusions", "breakdown", "attribution"]
        for key in o.keys.sorted() where !known.contains(key) {
            throw QueryError("\(key): unknown field (expected one of \(known.subtracting(["$schema"]).sorted().joined(separator: ", ")))")
        }
        var name: String? = nil
        if let n = o["name"] {
            guard let s = n as? String, !s.isEmpty, s.count <= 100, !s.contains("/") else {
                throw QueryError("name: must be a non-empty string of at most 100 characters without '/'")
            }
            name = s
        }
        guard let stepsValue = o["steps"] else { throw QueryError("steps: missing") }
        guard let stepList = stepsValue as? [Any], !stepList.isEmpty else { throw QueryError("steps: must be a non-empty array") }
        var steps: [FunnelStep] = []
        for (i, s) in stepList.enumerated() { steps.append(try step(s, path: "steps[\(i)]")) }
        var mode = FunnelMode.ordered
        if let m = o["mode"] {
            guard let s = m as? String, let parsed = FunnelMode(rawValue: s) else {
                throw QueryError("mode: must be \"ordered\", \"strict\" or \"unordered\"")
            }
            mode = parsed
        }
        var window: Int64 = 7 * 86_400_000
        if let w = o["window"] {
            guard let s = w as? String else { throw QueryError("window: must be a string like \"7d\"") }
            do { window = try DurationText.millis(s) } catch { throw QueryError("window: \(error.description)") }
        }
        var exclusions: [FunnelExclusion] = []
        if let x = o["exclusions"] {
            guard let list = x as? [Any] else { throw QueryError("exclusions: must be an array") }
            for (i, e) in list.enumerated() {
                let path = "exclusions[\(i)]"
                guard let eo = e as? [String: Any] else { throw QueryError("\(path): must be an object") }
                let events = try names(eo["event"], path: path + ".event")
                var from = 1
                var to = steps.count
                if let b = eo["between"] {
                    guard let pair = b as? [Any], pair.count == 2, let i = int(pair[0]), let j = int(pair[1]) else {
                        throw QueryError("\(path).between: must be two step numbers [i, j]")
                    }
                    from = i
                    to = j
                }
                exclusions.append(FunnelExclusion(
                    events: events, filters: try filters(eo["where"], path: path + ".where"), fromStep: from, toStep: to))
            }
        }
        var breakdown: FunnelBreakdown? = nil
        if let b = o["breakdown"] {
            guard let s = b as? String else { throw QueryError("breakdown: must be \"channel\" or \"property:NAME\"") }
            do { breakdown = try FunnelBreakdown.parse(s) } catch { throw QueryError("breakdown: \(error.description)") }
        }
        var attribution = FunnelAttribution.first
        if let a = o["attribution"] {
            guard let s = a as? String else { throw QueryError("attribution: must be \"first\", \"last\" or \"step:N\"") }
            attribution = try FunnelAttribution.parse(s)
        }
        return try FunnelDefinition(
            name: name, steps: steps, mode: mode, windowMillis: window, exclusions: exclusions, breakdown: breakdown,
            attribution: attribution)
    }

    private static func step(_ value: Any, path: String) throws(QueryError) -> FunnelStep {
        if let s = value as? String {
            guard !s.isEmpty else { throw QueryError("\(path): an event name must not be empty") }
            return FunnelStep(events: [s])
        }
        guard let o = value as? [String: Any] else { throw QueryError("\(path): must be an event name or an object with \"event\"") }
        for key in o.keys.sorted() where !["event", "where", "label"].contains(key) {
            throw QueryError("\(path).\(key): unknown field (expected event, where, label)")
        }
        var label: String? = nil
        if let l = o["label"] {
            guard let s = l as? String, !s.isEmpty else { throw QueryError("\(path).label: must be a non-empty string") }
            label = s
        }
        return FunnelStep(
            events: try names(o["event"], path: path + ".event"), filters: try filters(o["where"], path: path + ".where"),
            label: label)
    }

    private static func names(_ value: Any?, path: String) throws(QueryError) -> [String] {
        if let s = value as? String, !s.isEmpty { return [s] }
        if let list = value as? [Any], !list.isEmpty {
            var out: [String] = []
            for (i, v) in list.enumerated() {
                guard let s = v as? String, !s.isEmpty else { throw QueryError("\(path)[\(i)]: must be a non-empty event name") }
                out.append(s)
            }
            return out
        }
        throw QueryError("\(path): \(value == nil ? "missing" : "must be an event name or a non-empty array of them")")
    }

    private static func filters(_ value: Any?, path: String) throws(QueryError) -> [FieldFilter] {
        guard let value else { return [] }
        guard let list = value as? [Any] else { throw QueryError("\(path): must be an array of filters") }
        var out: [FieldFilter] = []
        for (i, f) in list.enumerated() {
            let p = "\(path)[\(i)]"
            if let s = f as? String {
                do { out.append(try FieldFilter.parse(s)) } catch { throw QueryError("\(p): \(error.description)") }
                continue
            }
            guard let o = f as? [String: Any] else { throw QueryError("\(p): must be \"field op value\" or {\"field\",\"op\",\"value\"}") }
            guard let field = o["field"] as? String else { throw QueryError("\(p).field: missing or not a string") }
            guard let opText = o["op"] as? String else { throw QueryError("\(p).op: missing or not a string") }
            guard let op = FieldFilter.Operator(rawValue: opText) else {
                throw QueryError("\(p).op: \"\(opText)\" is not one of \(FieldFilter.Operator.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var values: [String] = []
            switch o["value"] {
            case nil: break
            case let list as [Any]: values = list.map(text)
            case let v?: values = [text(v)]
            }
            do {
                out.append(try FieldFilter(field: try FieldPath(FieldFilter.qualified(field)), op: op, values: values))
            } catch {
                throw QueryError("\(p): \(error.description)")
            }
        }
        return out
    }

    private static func text(_ v: Any) -> String {
        if let s = v as? String { return s }
        if let n = v as? NSNumber {
            if isBool(n) { return n.boolValue ? "true" : "false" }
            return n.stringValue
        }
        return "\(v)"
    }

    /// JSON true/false come back as NSNumbers of type char.
    private static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    private static func int(_ v: Any) -> Int? {
        guard let n = v as? NSNumber, !isBool(n) else { return nil }
        return Int(exactly: n.doubleValue)
    }

    /// The canonical JSON of the definition (what `funnel define` stores and `funnel list --format json` prints).
    public var json: String {
        func q(_ s: String) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        }
        func filtersJSON(_ fs: [FieldFilter]) -> String {
            "[" + fs.map { f in
                "{\"field\":\(q(f.field.description)),\"op\":\(q(f.op.rawValue))"
                    + (f.values.isEmpty ? "" : f.op == .in ? ",\"value\":[\(f.values.map(q).joined(separator: ","))]" : ",\"value\":\(q(f.values[0]))")
                    + "}"
            }.joined(separator: ",") + "]"
        }
        var parts: [String] = []
        if let name { parts.append("\"name\":\(q(name))") }
        parts.append("\"steps\":[" + steps.map { s in
            "{\"event\":[\(s.events.map(q).joined(separator: ","))]" + (s.filters.isEmpty ? "" : ",\"where\":\(filtersJSON(s.filters))")
                + (s.label != s.events.joined(separator: " or ") ? ",\"label\":\(q(s.label))" : "") + "}"
        }.joined(separator: ",") + "]")
        parts.append("\"mode\":\(q(mode.rawValue))")
        parts.append("\"window\":\(q(DurationText.format(windowMillis)))")
        if !exclusions.isEmpty {
            parts.append("\"exclusions\":[" + exclusions.map { e in
                "{\"event\":[\(e.events.map(q).joined(separator: ","))],\"between\":[\(e.fromStep),\(e.toStep)]"
                    + (e.filters.isEmpty ? "" : ",\"where\":\(filtersJSON(e.filters))") + "}"
            }.joined(separator: ",") + "]")
        }
        if let breakdown { parts.append("\"breakdown\":\(q(breakdown.description))") }
        parts.append("\"attribution\":\(q(attribution.description))")
        return "{" + parts.joined(separator: ",") + "}"
    }
}
