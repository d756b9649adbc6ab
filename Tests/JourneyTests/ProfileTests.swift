import Foundation
import Testing

@testable import Journey

// Customer profiles (issue 3) on the golden data, checked against values computed here from the raw NDJSON with
// Foundation, independently of the engine; and time travel (--as-of, --as-of-position).

/// One accepted golden message, as Foundation reads it.
private struct RawEvent {
    var line: String
    var position: Int
    var type: String
    var name: String
    var userId: String?
    var anonymousId: String?
    var channel: String?
    var time: Int64
    var properties: [String: Any]
    var traits: [String: Any]
}

/// The accepted messages in log order: first occurrence of each messageId among the valid lines.
private func acceptedGoldenEvents() throws -> [RawEvent] {
    let iso = ISO8601DateFormatter()
    iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let isoPlain = ISO8601DateFormatter()
    let implied = ["page": "Page Viewed", "screen": "Screen Viewed", "identify": "Identify", "alias": "Alias", "group": "Group"]
    var seen: Set<String> = []
    var out: [RawEvent] = []
    for line in try Golden.lines() {
        guard let o = parseJSONLine(line) as? [String: Any], let type = o["type"] as? String,
            let mid = o["messageId"] as? String, !mid.isEmpty
        else { continue }
        let user = o["userId"] as? String
        let anon = o["anonymousId"] as? String
        guard user != nil || anon != nil, let ts = o["timestamp"] as? String,
            let date = iso.date(from: ts) ?? isoPlain.date(from: ts)
        else { continue }
        let name: String
        if type == "track" {
            guard let e = o["event"] as? String else { continue }
            name = e
        } else {
            guard let n = implied[type] else { continue }
            name = n
        }
        guard seen.insert(mid).inserted else { continue }
        out.append(RawEvent(
            line: String(line), position: out.count + 1, type: type, name: name, userId: user, anonymousId: anon, channel: o["channel"] as? String,
            time: Int64((date.timeIntervalSince1970 * 1000).rounded()), properties: o["properties"] as? [String: Any] ?? [:],
            traits: o["traits"] as? [String: Any] ?? [:]))
    }
    return out
}

/// What a profile should say, computed from raw events already sorted by (time, position).
private struct ExpectedProfile: Equatable {
    var events = 0
    var byName: [String: Int] = [:]
    var channels: [String: Int] = [:]
    var firstSeen: Int64 = .max
    var lastSeen: Int64 = .min
    var orders = 0
    var revenue: [String: Double] = [:]
    var nps: Double?
    var npsCategory: String?
    var tickets = 0
    var lastTopic: String?
    var traits: [String: String] = [:]
    var lastTouch: String?

    init(_ events: [RawEvent]) {
        for e in events {
            self.events += 1
            byName[e.name, default: 0] += 1
            if let c = e.channel { channels[c, default: 0] += 1 }
            firstSeen = min(firstSeen, e.time)
            lastSeen = max(lastSeen, e.time)
            if e.name == "Order Completed" {
                orders += 1
                if let r = (e.properties["revenue"] as? NSNumber)?.doubleValue {
                    revenue[e.properties["currency"] as? String ?? "-", default: 0] += r
                }
            }
            if e.name == "NPS Responded", let s = (e.properties["score"] as? NSNumber)?.doubleValue {
                nps = s
                npsCategory = s >= 9 ? "promoter" : s >= 7 ? "passive" : "detractor"
            }
            if e.name == "Support Ticket Opened" {
                tickets += 1
                if let t = e.properties["topic"] as? String { lastTopic = t }
            }
            if e.type == "identify" {
                for (k, v) in e.traits { traits[k] = v is NSNull ? "null" : "\(v)" }
            }
            if ["track", "page", "screen"].contains(e.type) { lastTouch = "\(e.name) \(e.channel ?? "-") \(e.time)" }
        }
    }

    init(_ p: CustomerProfile) {
        events = p.eventCount
        byName = Dictionary(uniqueKeysWithValues: p.eventsByName.map { ($0.name, $0.count) })
        channels = Dictionary(uniqueKeysWithValues: p.channels.map { ($0.name, $0.count) })
        firstSeen = p.firstSeen
        lastSeen = p.lastSeen
        orders = p.orders
        revenue = Dictionary(uniqueKeysWithValues: p.revenue.map { ($0.currency ?? "-", $0.amount) })
        nps = p.nps?.score
        npsCategory = p.nps?.category?.rawValue
        tickets = p.supportTickets
        lastTopic = p.lastTicketTopic
        traits = Dictionary(uniqueKeysWithValues: p.traits.map { ($0.name, $0.value.description) })
        lastTouch = p.lastTouchpoint.map { "\($0.event) \($0.channel ?? "-") \($0.time)" }
    }

    /// Revenue compared to the cent (the engine sums exactly; Foundation's doubles are near).
    func same(_ o: ExpectedProfile) -> Bool {
        var a = self
        var b = o
        a.revenue = a.revenue.mapValues { ($0 * 100).rounded() }
        b.revenue = b.revenue.mapValues { ($0 * 100).rounded() }
        return a == b
    }
}

/// The person's raw events (by the ids the engine stitched together), in timeline order, cut as asked.
private func rawEvents(of p: CustomerProfile, in all: [RawEvent], asOf: Int64? = nil) -> [RawEvent] {
    let users = Set(p.userIds)
    let anons = Set(p.anonymousIds)
    return all.filter { e in
        (e.userId.map(users.contains) ?? false || e.anonymousId.map(anons.contains) ?? false)
            && (asOf.map { e.time <= $0 } ?? true)
    }.sorted { ($0.time, $0.position) < ($1.time, $1.position) }
}

@Suite("customer profiles")
struct ProfileTests {
    @Test("golden data: profiles of persons with orders, NPS answers, tickets and traits match the raw events")
    func goldenProfiles() async throws {
        let raw = try acceptedGoldenEvents()
        #expect(raw.count == 17232, "the independent reading of the golden file must accept what expected.json says")
        try await withStore { store in
            _ = try Importer(store: store).run([Golden.events.path])
            let all = try await store.profiles(limit: 5000)
            #expect(all.count == 3000)
            // Everyone with something to check beyond counts; plus every 10th person.
            let chosen = all.filter { $0.nps != nil || $0.supportTickets > 0 || $0.orders > 1 || $0.person % 10 == 0 }
            #expect(chosen.count > 300)
            #expect(chosen.contains { $0.nps?.category == .promoter } && chosen.contains { $0.nps?.category == .detractor })
            #expect(chosen.contains { $0.traits.count >= 2 } && chosen.contains { $0.revenue.count >= 1 })
            let cut = utcMillis(2026, 3, 1)
            for p in chosen {
                let want = ExpectedProfile(rawEvents(of: p, in: raw))
                #expect(want.same(ExpectedProfile(p)), "person \(p.displayId): \(ExpectedProfile(p)) vs \(want)")
                // Any of their ids finds the same profile; the async form gives the same.
                let byOtherId = try await store.profile(for: p.anonymousIds.first ?? p.displayId)
                #expect(byOtherId == p)
                // As of a time: only the events up to then.
                let earlier = rawEvents(of: p, in: raw, asOf: cut)
                let then = try await store.profile(for: p.displayId, asOf: cut)
                if earlier.isEmpty {
                    #expect(then == nil)
                } else {
                    let got = try #require(then)
                    #expect(ExpectedProfile(earlier).same(ExpectedProfile(got)), "person \(p.displayId) as of 2026-03-01")
                    #expect(got.asOf == cut && got.userIds == p.userIds)
                }
            }
            #expect(try await store.profile(for: "nobody") == nil)
        }
    }

    @Test("persons --where: trait, count and NPS filters select exactly the matching profiles")
    func whereFilters() throws {
        try withStore { store in
            _ = try Importer(store: store).run([Golden.events.path])
            let all = try store.profiles(limit: 5000)
            let cases: [(String, (CustomerProfile) -> Bool)] = [
                ("plan=pro", { $0.trait("plan") == .string("pro") }),
                ("traits.country = DE", { $0.trait("country") == .string("DE") }),
                ("orders>=2", { $0.orders >= 2 }),
                ("nps<7", { ($0.nps?.score ?? 99) < 7 }),
                ("plan!=pro", { $0.trait("plan") != .string("pro") }),
            ]
            for (text, predicate) in cases {
                let got = try store.profiles(where: [try PersonFilter.parse(text)], limit: 5000)
                let want = all.filter(predicate)
                #expect(!want.isEmpty, "\(text)")
                #expect(got.map(\.person) == want.map(\.person), "\(text): \(got.count) vs \(want.count)")
            }
            let both = try store.profiles(where: [try PersonFilter.parse("plan=pro"), try PersonFilter.parse("orders>=2")], limit: 3)
            #expect(both.count == 3 && both.allSatisfy { $0.orders >= 2 && $0.trait("plan") == .string("pro") })
            #expect(throws: QueryError.self) { try PersonFilter.parse("orders>=many") }
            #expect(throws: QueryError.self) { try PersonFilter.parse("plan") }
        }
    }

    @Test("as of a log position: the same profiles, persons and timelines as a store holding only that much of the log")
    func asOfPosition() throws {
        let lines = try Golden.lines().map(String.init)
        let raw = try acceptedGoldenEvents()
        let n: UInt64 = 6000
        try withStore { full in
            _ = try appendSync(full, lines)
            // The store holding the log up to n: the first n accepted messages in the same order, so positions agree.
            try withStore { partial in
                let kept = raw.prefix(Int(n)).map(\.line)
                let outcomes = try appendSync(partial, kept)
                try #require(try partial.lastPosition() == n, "\(outcomes.filter { $0.rejection != nil }.count) rejected")
                #expect(try full.personCount(asOfPosition: n) == (try partial.personCount()))
                var differs = 0
                for p in try partial.profiles(limit: 5000) {
                    var then = try #require(try full.profile(for: p.displayId, asOfPosition: n))
                    #expect(then.asOfPosition == n)
                    then.asOfPosition = nil
                    #expect(then == p, "person \(p.displayId) as of position \(n)")
                    if try full.profile(for: p.displayId) != p { differs += 1 }
                    #expect(try full.timeline(for: p.displayId, asOfPosition: n) == (try partial.timeline(for: p.displayId)))
                }
                #expect(differs > 0, "the past must differ from now for some persons")
                #expect(try full.profiles(limit: 400, asOfPosition: n).map(\.displayId) == (try partial.profiles(limit: 400)).map(\.displayId))
                // A later position reuses and catches up the scratch copy; at the end of the log it is the live state.
                #expect(try full.profile(for: "u2", asOfPosition: n + 1000) != nil)
                #expect(try full.profile(for: "u2", asOfPosition: 17232) == (try full.profile(for: "u2"))?.with(asOfPosition: 17232))
                #expect(try full.verifyProjections().allSatisfy(\.matches))
            }
        }
    }

    @Test("--as-of and --as-of-position on the command line; a past position needs the writer lock")
    func timeTravelCommands() async throws {
        try await withSandbox { s in
            let store = s.path("store")
            _ = try await s.run(["--store", store, "import", Golden.events.path, "--quiet"])
            let now = try await s.run(["--store", store, "profile", "u2", "--format", "json"])
            let then = try await s.run(["--store", store, "profile", "u2", "--as-of", "2026-03-01", "--format", "json"])
            #expect(now.exitCode == 0 && then.exitCode == 0, "\(then)")
            let a = try now.jsonObject()
            let b = try then.jsonObject()
            #expect(jsonInt(b["events"])! < jsonInt(a["events"])!)
            #expect(b["as_of"] as? String == "2026-03-01T00:00:00.000Z")
            #expect((a["traits"] as? [String: Any])?["plan"] as? String == "pro")
            let early = try await s.run(["--store", store, "profile", "u2", "--as-of-position", "10", "--format", "json"])
            #expect(early.exitCode == 0, "\(early)")
            #expect(jsonInt(try early.jsonObject()["as_of_position"]) == 10)
            #expect(jsonInt(try early.jsonObject()["events"])! < jsonInt(a["events"])!)
            let timeline = try await s.run(["--store", store, "timeline", "u2", "--as-of", "2026-03-01", "--format", "ndjson"])
            #expect(timeline.stdoutLines.count == jsonInt(b["events"]))
            let persons = try await s.run(["--store", store, "persons", "--where", "plan=pro", "--where", "orders>=2", "--format", "ndjson", "--limit", "1000"])
            #expect(persons.exitCode == 0 && !persons.stdoutLines.isEmpty, "\(persons)")
            for line in persons.stdoutLines {
                let o = try #require(parseJSONLine(line) as? [String: Any])
                #expect((o["traits"] as? [String: Any])?["plan"] as? String == "pro" && jsonInt(o["orders"])! >= 2)
            }
            let bad = try await s.run(["--store", store, "persons", "--where", "orders>=lots"])
            #expect(bad.exitCode == 64 && bad.stderr.contains("orders"), "\(bad)")
            let badTime = try await s.run(["--store", store, "profile", "u2", "--as-of", "yesterday"])
            #expect(badTime.exitCode == 64 && badTime.stderr.contains("--as-of"), "\(badTime)")
            // While another process holds the writer lock, a past position is refused with a clear message.
            let holder = try s.start(["--store", store, "import", "-", "--quiet"], stdin: .pipe)
            try await Task.sleep(for: .milliseconds(500))
            let locked = try await s.run(["--store", store, "profile", "u2", "--as-of-position", "10"])
            #expect(locked.exitCode == 1 && locked.stderr.contains("--as-of-position 10"), "\(locked)")
            holder.closeStdin()
            _ = await holder.finish()
        }
    }
}

extension CustomerProfile {
    fileprivate func with(asOfPosition n: UInt64) -> CustomerProfile {
        var p = self
        p.asOfPosition = n
        return p
    }
}
