import Foundation
import Journey
import Testing

/// Tests of the synthetic NDJSON generator. Validity is checked independently of the engine's own parser:
/// Foundation's JSONSerialization plus the acceptance rules written out again here.
@Suite struct GeneratorTests {
    struct Run {
        var lines: [[UInt8]]
        var summary: GeneratorSummary
    }

    static func run(_ options: GeneratorOptions) -> Run {
        var generator = JourneyGenerator(options: options)
        var lines: [[UInt8]] = []
        let summary = generator.generate { lines.append(Array($0)) }
        return Run(lines: lines, summary: summary)
    }

    static func object(_ line: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
    }

    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }()

    /// UTC milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` time, nil unless it names a real instant. Stricter than
    /// RFC 3339 on purpose: it is the one format the generator writes.
    static func millis(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."),
            b[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let ms = number(20, 3),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let parts = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = utc.date(from: parts) else { return nil }
        // Calendar rolls 2026-02-30 over to March; a real date comes back unchanged.
        let back = utc.dateComponents([.year, .month, .day], from: date)
        guard back.year == year, back.month == month, back.day == day else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded()) + Int64(ms)
    }

    static let types: Set<String> = ["track", "identify", "page", "screen", "alias", "group"]

    /// The acceptance rules: known type, messageId of 1–100 characters, an identity (alias: userId +
    /// previousId), an event for track, and every time given parseable.
    static func isValid(_ m: [String: Any]) -> Bool {
        guard let type = m["type"] as? String, types.contains(type) else { return false }
        guard let id = m["messageId"] as? String, (1...100).contains(id.count) else { return false }
        if type == "alias" {
            guard m["userId"] is String, m["previousId"] is String else { return false }
        } else {
            guard m["userId"] is String || m["anonymousId"] is String else { return false }
        }
        if type == "track" {
            guard let event = m["event"] as? String, !event.isEmpty else { return false }
        }
        for key in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
            if let value = m[key] {
                guard let text = value as? String, millis(text) != nil else { return false }
            }
        }
        return true
    }

    /// Segment's rule: `timestamp`, else `receivedAt - (sentAt - originalTimestamp)`.
    static func eventMillis(_ m: [String: Any]) -> Int64? {
        if let t = m["timestamp"] as? String { return millis(t) }
        guard let o = (m["originalTimestamp"] as? String).flatMap(millis), let s = (m["sentAt"] as? String).flatMap(millis),
            let r = (m["receivedAt"] as? String).flatMap(millis)
        else { return nil }
        return r - (s - o)
    }

    static func eventName(_ m: [String: Any]) -> String {
        switch m["type"] as? String {
        case "page": "Page Viewed"
        case "screen": "Screen Viewed"
        case "identify": "Identify"
        case "alias": "Alias"
        case "group": "Group"
        default: m["event"] as? String ?? ""
        }
    }

    @Test func sameSeedGivesIdenticalBytes() {
        let options = GeneratorOptions(customers: 500, seed: 7, duplicates: 0.02, broken: 0.01)
        let a = Self.run(options)
        let b = Self.run(options)
        #expect(a.summary == b.summary)
        #expect(a.lines == b.lines)
        // A generator can be run again and starts afresh.
        var generator = JourneyGenerator(options: options)
        var first: [[UInt8]] = []
        var second: [[UInt8]] = []
        _ = generator.generate { first.append(Array($0)) }
        _ = generator.generate { second.append(Array($0)) }
        #expect(first == second)
        #expect(first == a.lines)
    }

    @Test func differentSeedGivesDifferentBytes() {
        let a = Self.run(GeneratorOptions(customers: 200, seed: 1))
        let b = Self.run(GeneratorOptions(customers: 200, seed: 2))
        #expect(a.lines != b.lines)
        let idsA = Set(a.lines.compactMap { Self.object($0)?["messageId"] as? String })
        let idsB = Set(b.lines.compactMap { Self.object($0)?["messageId"] as? String })
        #expect(idsA.isDisjoint(with: idsB), "seeds are part of message ids, so generated sets can be combined")
    }

    @Test func summaryMatchesEmittedLines() {
        let r = Self.run(GeneratorOptions(customers: 1000, seed: 3, duplicates: 0.03, broken: 0.02))
        #expect(r.summary.lines == r.lines.count)
        #expect(r.summary.messages + r.summary.duplicates + r.summary.broken == r.summary.lines)
        var valid = 0
        var ids = Set<String>()
        for line in r.lines {
            guard let m = Self.object(line), Self.isValid(m), let id = m["messageId"] as? String else { continue }
            valid += 1
            ids.insert(id)
        }
        #expect(valid == r.summary.messages + r.summary.duplicates)
        #expect(ids.count == r.summary.messages)
        #expect(r.lines.count - valid == r.summary.broken)
    }

    @Test func duplicatesAreEarlierLinesResentAndRoughlyTheRequestedShare() {
        let r = Self.run(GeneratorOptions(customers: 2000, seed: 4, duplicates: 0.05))
        let share = Double(r.summary.duplicates) / Double(r.summary.lines)
        #expect(share > 0.04 && share < 0.06, "duplicate share \(share)")
        var firstSeen: [String: [UInt8]] = [:]
        var repeats = 0
        for line in r.lines {
            guard let id = Self.object(line)?["messageId"] as? String else { continue }
            if let earlier = firstSeen[id] {
                #expect(earlier == line, "a re-send has the same bytes")
                repeats += 1
            } else {
                firstSeen[id] = line
            }
        }
        #expect(repeats == r.summary.duplicates)
        #expect(r.summary.broken == 0)

        let none = Self.run(GeneratorOptions(customers: 300, seed: 4, duplicates: 0))
        #expect(none.summary.duplicates == 0)
        #expect(Set(none.lines).count == none.lines.count)
    }

    @Test func duplicateAndBrokenFractionsDoNotChangeTheMessages() {
        let plain = Self.run(GeneratorOptions(customers: 400, seed: 5, duplicates: 0, broken: 0))
        let noisy = Self.run(GeneratorOptions(customers: 400, seed: 5, duplicates: 0.1, broken: 0.05))
        let valid = Set(noisy.lines.filter { Self.object($0).map(Self.isValid) ?? false })
        #expect(valid == Set(plain.lines))
        #expect(noisy.summary.messages == plain.summary.messages)
        #expect(plain.lines != Array(valid), "arrival order is shuffled, not kept")
    }

    @Test func everyValidLineIsWellFormedAndEveryBrokenKindOccurs() {
        let r = Self.run(GeneratorOptions(customers: 2000, seed: 6, broken: 0.03))
        var broken = 0
        var kinds = Set<String>()
        for line in r.lines {
            guard let m = Self.object(line) else {
                broken += 1
                kinds.insert(line.first == UInt8(ascii: "{") ? "truncated" : "not json")
                continue
            }
            guard Self.isValid(m) else {
                broken += 1
                if let type = m["type"] as? String, !Self.types.contains(type) { kinds.insert("unknown type") }
                if m["userId"] == nil && m["anonymousId"] == nil { kinds.insert("no identity") }
                if m["timestamp"] as? String == "yesterday" { kinds.insert("bad time") }
                if let id = m["messageId"] as? String, id.count > 100 { kinds.insert("long id") }
                if m["type"] as? String == "track" && m["event"] == nil { kinds.insert("no event") }
                continue
            }
            // Well-formed beyond the rules: a time the engine can order by, ids of the documented shapes.
            let time = Self.eventMillis(m)
            #expect(time != nil, "\(String(decoding: line, as: UTF8.self))")
            if let id = m["messageId"] as? String { #expect(id.hasPrefix("g6-")) }
            if let anon = m["anonymousId"] as? String {
                let parts = anon.split(separator: "-")
                #expect(parts.count == 2 && parts[0].hasPrefix("a") && parts[1].count == 8)
            }
            if let user = m["userId"] as? String { #expect(user.hasPrefix("u")) }
            #expect(line.count < 500)
        }
        #expect(broken == r.summary.broken)
        let share = Double(r.summary.broken) / Double(r.summary.lines)
        #expect(share > 0.02 && share < 0.04, "broken share \(share)")
        #expect(kinds == ["not json", "truncated", "unknown type", "no identity", "bad time", "long id", "no event"])
    }

    @Test func journeysLookLikeTheGoldenSet() {
        let customers = 2000
        let r = Self.run(GeneratorOptions(customers: customers, seed: 2026))
        let perCustomer = Double(r.summary.messages) / Double(customers)
        #expect(perCustomer > 5 && perCustomer < 7, "messages per customer \(perCustomer)")
        let bytesPerLine = Double(r.lines.reduce(0) { $0 + $1.count }) / Double(r.lines.count)
        #expect(bytesPerLine > 170 && bytesPerLine < 230, "bytes per line \(bytesPerLine)")

        var names: [String: Int] = [:]
        var channels = Set<String>()
        var skewed = 0
        var withContext = 0
        var seen = Set<String>()
        // Union-find over identifiers: every customer must stitch into exactly one person.
        var parent: [String: String] = [:]
        func find(_ x: String) -> String {
            var root = x
            while let p = parent[root], p != root { root = p }
            parent[x] = root
            return root
        }
        func union(_ a: String, _ b: String) {
            let (ra, rb) = (find(a), find(b))
            if ra != rb { parent[ra] = rb }
        }
        var personEvents: [String: [(Int64, String)]] = [:]
        var firstTime = Int64.max
        var lastTime = Int64.min
        for line in r.lines {
            guard let m = Self.object(line), let id = m["messageId"] as? String, seen.insert(id).inserted else { continue }
            names[Self.eventName(m), default: 0] += 1
            if let channel = m["channel"] as? String { channels.insert(channel) }
            if m["originalTimestamp"] != nil { skewed += 1 }
            if m["context"] != nil { withContext += 1 }
            let user = m["userId"] as? String
            let anonymous = (m["anonymousId"] as? String) ?? (m["previousId"] as? String)
            for x in [user, anonymous].compactMap({ $0 }) where parent[x] == nil { parent[x] = x }
            if let user, let anonymous { union(user, anonymous) }
            if let t = Self.eventMillis(m), let key = user ?? anonymous {
                personEvents[key, default: []].append((t, Self.eventName(m)))
                firstTime = min(firstTime, t)
                lastTime = max(lastTime, t)
            }
        }
        let expected = [
            "Page Viewed", "Screen Viewed", "Identify", "Alias", "Group", "Product Viewed", "Product Added",
            "Checkout Started", "Order Completed", "NPS Responded", "Support Ticket Opened",
        ]
        for name in expected { #expect(names[name, default: 0] > 0, "no \(name)") }
        #expect(channels == ["web", "mobile", "email", "call_center", "store", "social"])
        let messages = Double(r.summary.messages)
        #expect(Double(skewed) / messages > 0.015 && Double(skewed) / messages < 0.045)
        #expect(Double(withContext) / messages > 0.02 && Double(withContext) / messages < 0.08)
        #expect(Double(names["Group", default: 0]) / messages < 0.03)
        let identified = Double(names["Identify", default: 0]) / Double(customers)
        #expect(identified > 0.4 && identified < 0.6, "identify share \(identified)")

        let roots = Set(parent.keys.map(find))
        #expect(roots.count == customers, "one person per customer after stitching")

        // A decreasing funnel: persons with each step at all.
        var persons: [String: Set<String>] = [:]
        for (key, events) in personEvents {
            let root = find(key)
            for (_, name) in events { persons[name, default: []].insert(root) }
        }
        let steps = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"].map {
            persons[$0]?.count ?? 0
        }
        #expect(steps[0] > steps[1] && steps[1] > steps[2] && steps[2] > steps[3], "\(steps)")
        #expect(Double(steps[0]) / Double(customers) > 0.75)
        #expect(Double(steps[3]) / Double(customers) > 0.15 && Double(steps[3]) / Double(customers) < 0.35)

        // Activity starts in the requested span; journeys already under way may run on a few weeks.
        let start: Int64 = 1_767_225_600_000
        #expect(firstTime >= start)
        #expect(lastTime < start + 140 * 86_400_000)
    }

    @Test(arguments: [
        Int64(1_708_905_600_000),  // 2024-02-26, a leap day ahead
        Int64(4_107_196_800_000),  // 2100-02-25, no leap day: 2100 is not a leap year
        Int64(946_252_800_000),  // 1999-12-27, a century turning
    ])
    func timesAreRealInstantsInsideTheSpan(start: Int64) {
        let days = 5
        let r = Self.run(GeneratorOptions(customers: 300, seed: 8, startMillis: start, days: days))
        var checked = 0
        for line in r.lines {
            guard let m = Self.object(line) else { continue }
            #expect(Self.isValid(m))
            for key in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
                guard let text = m[key] as? String else { continue }
                let t = Self.millis(text)
                #expect(t != nil, "\(text)")
                if let t {
                    // Skewed device clocks may read up to 5 minutes early.
                    #expect(t >= start - 300_000 && t < start + Int64(days + 90) * 86_400_000, "\(text)")
                }
                checked += 1
            }
            if let t = Self.eventMillis(m) { #expect(t >= start) }
        }
        #expect(checked >= r.lines.count)
    }

    @Test func edgeCases() {
        let empty = Self.run(GeneratorOptions(customers: 0, seed: 1, duplicates: 0.5, broken: 0.5))
        #expect(empty.lines.isEmpty)
        #expect(empty.summary.lines == 0 && empty.summary.messages == 0)

        // Out-of-range fractions are clamped: at most half the lines are re-sends or broken.
        let wild = Self.run(GeneratorOptions(customers: 300, seed: 1, duplicates: 2, broken: -1, days: 0))
        #expect(wild.summary.broken == 0)
        #expect(wild.summary.duplicates > 0 && wild.summary.duplicates <= wild.summary.messages)

        let huge = Self.run(GeneratorOptions(customers: 50, seed: .max, duplicates: 0.1, broken: 0.1))
        for line in huge.lines { #expect(line.count < 600) }
        #expect(huge.lines.contains { Self.object($0)?["messageId"] as? String == "g18446744073709551615-1" })
    }

    struct Stop: Error {}

    @Test func emitErrorsStopGeneration() {
        var generator = JourneyGenerator(options: GeneratorOptions(customers: 1000, seed: 9))
        var count = 0
        #expect(throws: Stop.self) {
            _ = try generator.generate { _ in
                count += 1
                if count == 10 { throw Stop() }
            }
        }
        #expect(count == 10)
    }
}
