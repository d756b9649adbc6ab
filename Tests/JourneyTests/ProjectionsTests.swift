import Foundation
import Testing

@testable import Journey
import LMDB

// Identity and timeline projections (semantics §2, §6): persons, merges, timelines, determinism, catch-up.

/// A Segment message as JSON text. `at` is seconds after 2026-01-01T00:00:00Z.
private func message(
    _ id: String, _ type: String = "track", user: String? = nil, anon: String? = nil, previous: String? = nil,
    event: String = "Product Viewed", at seconds: Int, channel: String? = "web"
) -> String {
    var fields = ["\"messageId\":\"\(id)\"", "\"type\":\"\(type)\""]
    if let user { fields.append("\"userId\":\"\(user)\"") }
    if let anon { fields.append("\"anonymousId\":\"\(anon)\"") }
    if let previous { fields.append("\"previousId\":\"\(previous)\"") }
    if type == "track" { fields.append("\"event\":\"\(event)\"") }
    if let channel { fields.append("\"channel\":\"\(channel)\"") }
    fields.append("\"timestamp\":\"\(timestamp(seconds))\"")
    return "{" + fields.joined(separator: ",") + "}"
}

private let base = utcMillis(2026, 1, 1)

private func timestamp(_ seconds: Int) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(base) / 1000 + Double(seconds)))
}

private func ms(_ seconds: Int) -> Int64 { base + Int64(seconds) * 1000 }

/// Appends each group as one batch (one or more writer transactions).
private func append(_ store: JourneyStore, batches: [[String]]) throws {
    for b in batches where !b.isEmpty {
        let outcomes = try appendSync(store, b)
        for o in outcomes { if case .rejected(let r) = o { throw TestFailure("rejected: \(r)") } }
    }
}

/// All persons, paging through `persons(limit:after:)`.
private func allPersons(_ store: JourneyStore) throws -> [PersonSummary] {
    var out: [PersonSummary] = []
    while true {
        let page = try store.persons(limit: 500, after: out.last?.person ?? 0)
        if page.isEmpty { return out }
        out += page
    }
}

/// A view of the projections that does not depend on log positions or person numbers: each person's sorted ids,
/// display id, counts and times, and their journey as (time, event, channel) in order.
private func semanticState(_ store: JourneyStore) throws -> [String] {
    try allPersons(store).map { p in
        let journey = try store.timeline(for: p.displayId) ?? []
        // Same-time events keep position order, which depends on arrival: compare them as a sorted group.
        let steps = journey.map { "\($0.time) \($0.name) \($0.channel ?? "-")" }.sorted()
        return "\(p.displayId) u=\(p.userIds) a=\(p.anonymousIds) n=\(p.eventCount) \(p.firstSeen)…\(p.lastSeen) "
            + steps.joined(separator: "; ")
    }.sorted()
}

private func goldenLines() throws -> [String] {
    try Golden.lines().map(String.init)
}

@Suite("person projections")
struct ProjectionsTests {
    // MARK: Golden data

    @Test("golden data: 3,000 persons; every accepted event is in exactly one timeline, its own person's")
    func goldenPersons() throws {
        let expectedJSON = try jsonObject(String(contentsOf: Golden.directory.appendingPathComponent("expected.json"), encoding: .utf8))
        let expectedPersons = try #require(jsonInt(expectedJSON["persons"]))
        let expected = try Golden.expected()
        try withStore { store in
            _ = try Importer(store: store).run([Golden.events.path])
            #expect(try store.personCount() == expectedPersons)
            #expect(expectedPersons == 3000)
            let persons = try allPersons(store)
            #expect(persons.count == expectedPersons)
            #expect(persons.reduce(0) { $0 + $1.eventCount } == expected.accepted)

            // Position → person, from the timelines.
            var personAt: [UInt64: UInt32] = [:]
            for p in persons {
                let t = try #require(try store.timeline(for: p.displayId))
                #expect(t.count == p.eventCount)
                #expect(zip(t, t.dropFirst()).allSatisfy { ($0.time, $0.position) < ($1.time, $1.position) })
                #expect(t.first?.time == p.firstSeen && t.last?.time == p.lastSeen)
                for e in t {
                    #expect(personAt[e.position] == nil, "position \(e.position) in two timelines")
                    personAt[e.position] = p.person
                }
                // Display id: the smallest userId, else an anonymous id.
                if let smallest = p.userIds.min(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                    #expect(p.displayId == smallest)
                } else {
                    #expect(p.anonymousIds.contains(p.displayId))
                }
            }
            #expect(personAt.count == expected.accepted)
            // Each event belongs to the person of each of its ids.
            for e in try allEvents(store) {
                for id in [e.userId, e.anonymousId].compactMap({ $0 }) {
                    #expect(try store.person(for: id)?.person == personAt[e.position], "event \(e.position), id \(id)")
                }
            }
            #expect(try store.verifyProjections().allSatisfy(\.matches))
        }
    }

    @Test("golden data: a person who browsed anonymously and identified later has those events in their timeline")
    func goldenAnonymousThenIdentified() throws {
        try withStore { store in
            _ = try Importer(store: store).run([Golden.events.path])
            let events = try allEvents(store)
            // Anonymous ids whose earliest event carries no userId, and that some later event links to a userId.
            var firstAnonymousOnly: [String: StoredEvent] = [:]
            var linkedUser: [String: String] = [:]
            for e in events.sorted(by: { ($0.eventTime, $0.position) < ($1.eventTime, $1.position) }) {
                guard let a = e.anonymousId ?? (e.type == .alias ? e.previousId : nil) else { continue }
                if e.userId == nil, firstAnonymousOnly[a] == nil, linkedUser[a] == nil { firstAnonymousOnly[a] = e }
                if let u = e.userId { linkedUser[a] = linkedUser[a] ?? u }
            }
            let cases = firstAnonymousOnly.keys.filter { linkedUser[$0] != nil }.sorted()
            #expect(cases.count > 100, "the golden data has many anonymous-then-identified persons")
            for a in cases {
                let user = linkedUser[a]!
                let person = try #require(try store.person(for: user))
                #expect(person.anonymousIds.contains(a))
                #expect(person.userIds.contains(user))
                #expect(person.displayId != a)
                let anonymousPositions = Set(events.filter { $0.anonymousId == a && $0.userId == nil }.map(\.position))
                let timeline = try #require(try store.timeline(for: user))
                #expect(anonymousPositions.isSubset(of: Set(timeline.map(\.position))), "\(a) → \(user)")
                #expect(try store.timeline(for: a) == timeline)
            }
        }
    }

    // MARK: Identity

    @Test("anonymous browsing, then identify: one person with the anonymous events, display id the userId")
    func anonymousThenIdentify() throws {
        try withStore { store in
            try append(store, batches: [[
                message("m1", "page", anon: "a1", at: 10),
                message("m2", anon: "a1", at: 20),
            ]])
            #expect(try store.person(for: "a1")?.displayId == "a1")
            try append(store, batches: [[
                message("m3", "identify", user: "u1", anon: "a1", at: 30),
                message("m4", user: "u1", event: "Order Completed", at: 40, channel: "mobile"),
            ]])
            let p = try #require(try store.person(for: "u1"))
            #expect(p.person == 1)
            #expect(p.displayId == "u1")
            #expect(p.userIds == ["u1"] && p.anonymousIds == ["a1"])
            #expect(p.eventCount == 4 && p.mergeCount == 0)
            #expect(p.firstSeen == ms(10) && p.lastSeen == ms(40))
            #expect(try store.person(for: "a1") == p)
            let t = try #require(try store.timeline(for: "a1"))
            #expect(t.map(\.name) == ["Page Viewed", "Product Viewed", "Identify", "Order Completed"])
            #expect(t.map(\.position) == [1, 2, 3, 4])
            #expect(t.map(\.channel) == ["web", "web", "web", "mobile"])
            #expect(try store.timeline(for: "u1", limit: 2, newestFirst: true)?.map(\.position) == [4, 3])
            #expect(try store.person(for: "nobody") == nil)
            #expect(try store.timeline(for: "nobody") == nil)
            #expect(try store.personCount() == 1)
        }
    }

    @Test("alias merges an anonymous person into a known user; the lower number survives, history is kept")
    func aliasMerge() throws {
        try withStore { store in
            try append(store, batches: [
                [message("m1", user: "u2", at: 100)],                         // person 1
                [message("m2", anon: "a2", at: 50), message("m3", anon: "a2", at: 60)],  // person 2
            ])
            #expect(try store.personCount() == 2)
            try append(store, batches: [[message("m4", "alias", user: "u2", previous: "a2", at: 110)]])
            #expect(try store.personCount() == 1)
            let p = try #require(try store.person(for: "a2"))
            #expect(p.person == 1 && p.displayId == "u2")
            #expect(p.anonymousIds == ["a2"] && p.userIds == ["u2"])
            #expect(p.eventCount == 4 && p.mergeCount == 1)
            #expect(p.merges == [PersonMerge(position: 4, time: ms(110), survivor: 1, absorbed: 2)])
            #expect(try store.person(number: 2) == nil)
            #expect(try store.timeline(for: "u2")?.map(\.position) == [2, 3, 1, 4])
            #expect(try store.verifyProjections().allSatisfy(\.matches))
        }
    }

    @Test("a message linking two persons that each have history merges them, transitively")
    func mergeTwoPersonsWithHistory() throws {
        try withStore { store in
            try append(store, batches: [
                // Person 1: a3 then u3 (alias merge of 1 and 2).
                [message("m1", anon: "a3", at: 1), message("m2", user: "u3", at: 2)],
                [message("m3", "alias", user: "u3", previous: "a3", at: 3)],
                // Person 3: a4, u4 linked by identify; person 4: a5 alone.
                [message("m4", anon: "a4", at: 4), message("m5", "identify", user: "u4", anon: "a4", at: 5)],
                [message("m6", anon: "a5", at: 6)],
            ])
            #expect(try store.personCount() == 3)
            // One alias carrying u4 (person 3), previousId a3 (person 1) and anonymousId a5 (person 4).
            try append(store, batches: [[message("m7", "alias", user: "u4", anon: "a5", previous: "a3", at: 7)]])
            #expect(try store.personCount() == 1)
            let p = try #require(try store.person(for: "a5"))
            #expect(p.person == 1)
            #expect(p.userIds == ["u3", "u4"] && p.anonymousIds == ["a3", "a4", "a5"])
            #expect(p.displayId == "u3")
            #expect(p.eventCount == 7 && p.mergeCount == 3)
            #expect(p.merges == [
                PersonMerge(position: 3, time: ms(3), survivor: 1, absorbed: 2),
                PersonMerge(position: 7, time: ms(7), survivor: 1, absorbed: 3),
                PersonMerge(position: 7, time: ms(7), survivor: 1, absorbed: 4),
            ])
            #expect(try store.timeline(for: "u4")?.map(\.position) == [1, 2, 3, 4, 5, 6, 7])
            for id in ["u3", "u4", "a3", "a4", "a5"] { #expect(try store.person(for: id)?.person == 1) }
            #expect(try store.verifyProjections().allSatisfy(\.matches))
        }
    }

    @Test("previousId: an existing userId is linked as a userId; an unknown one becomes an anonymous id")
    func previousIdKinds() throws {
        try withStore { store in
            try append(store, batches: [
                [message("m1", user: "u10", at: 1), message("m2", user: "u9", at: 2)],
                [message("m3", "alias", user: "u9", previous: "u10", at: 3)],
                [message("m4", "alias", user: "u11", previous: "x1", at: 4)],
            ])
            let p = try #require(try store.person(for: "u9"))
            #expect(p.userIds == ["u10", "u9"] && p.anonymousIds.isEmpty)
            #expect(p.displayId == "u10", "the smallest userId by bytes")
            let q = try #require(try store.person(for: "x1"))
            #expect(q.anonymousIds == ["x1"] && q.userIds == ["u11"])
            #expect(try store.personCount() == 2)
        }
    }

    @Test("the display id of an anonymous person is the anonymous id seen first by event time")
    func anonymousDisplayId() throws {
        try withStore { store in
            try append(store, batches: [
                [message("m1", anon: "b-late", at: 50)],
                [message("m2", anon: "a-early", at: 10)],
            ])
            #expect(try store.person(for: "b-late")?.displayId == "b-late")
            #expect(try store.person(for: "a-early")?.displayId == "a-early")
        }
    }

    @Test("identifiers over 510 bytes (longer than an LMDB key) work, and differ from their prefixes")
    func longIdentifiers() throws {
        let long = String(repeating: "x", count: 700)
        let other = String(repeating: "x", count: 699) + "y"
        try withStore { store in
            try append(store, batches: [[
                message("m1", user: long, at: 1), message("m2", user: other, at: 2), message("m3", anon: long, at: 3),
            ]])
            #expect(try store.personCount() == 3)
            #expect(try store.person(for: long)?.userIds == [long])
            #expect(try store.person(for: other)?.eventCount == 1)
        }
    }

    // MARK: Timelines

    @Test("out-of-order event times end up sorted by (time, position), also across merges")
    func outOfOrder() throws {
        try withStore { store in
            try append(store, batches: [
                [message("m1", user: "u1", at: 500), message("m2", user: "u1", at: 100)],
                [message("m3", user: "u1", at: 300), message("m4", user: "u1", at: 100)],
                [message("m5", anon: "a1", at: 200), message("m6", anon: "a1", at: 50)],
                [message("m7", "identify", user: "u1", anon: "a1", at: 400)],
                [message("m8", user: "u1", at: 1)],
            ])
            let t = try #require(try store.timeline(for: "u1"))
            #expect(t.map(\.time) == [1, 50, 100, 100, 200, 300, 400, 500].map(ms))
            #expect(t.map(\.position) == [8, 6, 2, 4, 5, 3, 7, 1])
            let p = try #require(try store.person(for: "a1"))
            #expect(p.firstSeen == ms(1) && p.lastSeen == ms(500) && p.eventCount == 8)
            #expect(try store.verifyProjections().allSatisfy(\.matches))
        }
    }

    // MARK: Determinism

    @Test("the golden data split into different batches gives byte-identical projection state")
    func batchSplitsAreIdentical() throws {
        let lines = try goldenLines()
        var digests: [[ProjectionDigest]] = []
        for size in [lines.count, 4096, 997, 61] {
            try withStore { store in
                try append(store, batches: stride(from: 0, to: lines.count, by: size).map {
                    Array(lines[$0..<min($0 + size, lines.count)])
                }, allowingRejects: true)
                #expect(try store.personCount() == 3000)
                digests.append(try store.projectionDigests())
                #expect(try store.verifyProjections().allSatisfy(\.matches))
            }
        }
        #expect(digests.count == 4)
        for d in digests.dropFirst() { #expect(d == digests[0]) }
    }

    @Test("the same events in a different order: rebuild equals incremental, and the same persons and journeys")
    func differentOrders() throws {
        let lines = try goldenLines()
        var states: [[String]] = []
        for seed: UInt64 in [0, 1, 2] {
            var order = lines
            if seed > 0 {
                var rng = SplitMix64(seed: seed)
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            }
            try withStore { store in
                try append(store, batches: stride(from: 0, to: order.count, by: 1500).map {
                    Array(order[$0..<min($0 + 1500, order.count)])
                }, allowingRejects: true)
                #expect(try store.personCount() == 3000)
                #expect(try store.verifyProjections().allSatisfy(\.matches))
                states.append(try semanticState(store))
            }
        }
        for s in states.dropFirst() {
            #expect(s.count == states[0].count)
            let firstDifference = s.indices.first { $0 < states[0].count && s[$0] != states[0][$0] }
            #expect(firstDifference == nil, "\(firstDifference.map { "\(s[$0]) vs \(states[0][$0])" } ?? "")")
        }
    }

    // MARK: Checkpoints, reopening, catching up

    @Test("projections survive reopening, continue from their checkpoint, and are rebuilt when missing or outdated")
    func reopenAndCatchUp() throws {
        let lines = try goldenLines()
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            var digests: [ProjectionDigest] = []
            do {
                let store = try JourneyStore(path: path)
                try append(store, batches: [Array(lines[0..<8000])], allowingRejects: true)
                store.close()
            }
            do {
                let store = try JourneyStore(path: path)
                try append(store, batches: [Array(lines[8000...])], allowingRejects: true)
                #expect(try store.personCount() == 3000)
                let status = try store.projectionStatus()
                #expect(status.map(\.name) == ["identity", "timeline"])
                #expect(status.allSatisfy { $0.lag == 0 && $0.checkpoint == 17232 && $0.version >= 1 })
                digests = try store.projectionDigests()
                #expect(try store.verifyProjections().allSatisfy(\.matches))
                // Drop the projections' state, as in a store written before they existed.
                let dbs = try #require(try store.personDatabases())
                try store.env.write { txn in try dbs.clearAll(&txn) }
                store.close()
            }
            do {
                let store = try JourneyStore(path: path)  // catches up on open
                #expect(try store.projectionDigests() == digests)
                // An outdated version is rebuilt on open.
                let dbs = try #require(try store.personDatabases())
                try store.env.write { txn in
                    var m = try #require(try ProjectionMeta.read(txn, dbs.meta, name: IdentityProjection.name))
                    m.version = 0
                    try m.write(&txn, dbs.meta, name: IdentityProjection.name)
                }
                store.close()
            }
            do {
                let store = try JourneyStore(path: path)
                #expect(try store.projectionDigests() == digests)
                store.close()
            }
            let reader = try JourneyStore(path: path, mode: .readOnly)
            #expect(try reader.personCount() == 3000)
            #expect(try reader.person(for: "u4")?.displayId == "u4")
        }
    }
}

/// Appends batches, allowing rejected lines (the golden data has some on purpose).
private func append(_ store: JourneyStore, batches: [[String]], allowingRejects: Bool) throws {
    for b in batches where !b.isEmpty { _ = try appendSync(store, b) }
}

@Suite("person commands")
struct PersonCommandTests {
    @Test("profile, persons, timeline and verify on the golden data; an unknown id exits 1")
    func personCommands() async throws {
        try await withSandbox { s in
            let store = s.path("store")
            _ = try await s.run(["--store", store, "import", Golden.events.path, "--quiet"])

            let profile = try await s.run(["--store", store, "profile", "a4-37b22fdd", "--format", "json"])
            #expect(profile.exitCode == 0, "\(profile)")
            let p = try profile.jsonObject()
            #expect(p["display_id"] as? String == "u4")
            #expect(p["user_ids"] as? [String] == ["u4"])
            #expect(p["anonymous_ids"] as? [String] == ["a4-37b22fdd"])
            let events = try #require(jsonInt(p["events"]))
            #expect(events > 0)

            let table = try await s.run(["--store", store, "profile", "u4"])
            #expect(table.exitCode == 0 && table.stdout.contains("display id     u4"), "\(table)")

            let timeline = try await s.run(["--store", store, "timeline", "u4", "--format", "json"])
            #expect(timeline.exitCode == 0, "\(timeline)")
            let entries = try #require(try JSONSerialization.jsonObject(with: timeline.stdoutData) as? [[String: Any]])
            #expect(entries.count == events)
            let times = entries.compactMap { $0["time"] as? String }
            #expect(times == times.sorted(), "oldest first")
            let newest = try await s.run(["--store", store, "timeline", "u4", "--newest-first", "--limit", "2", "--format", "ndjson"])
            #expect(newest.stdoutLines.count == 2)
            #expect((parseJSONLine(newest.stdoutLines[0]) as? [String: Any])?["time"] as? String == times.last)

            let persons = try await s.run(["--store", store, "persons", "--limit", "5", "--format", "json"])
            #expect(persons.exitCode == 0, "\(persons)")
            let list = try #require(try JSONSerialization.jsonObject(with: persons.stdoutData) as? [[String: Any]])
            #expect(list.count == 5)
            #expect(list.compactMap { jsonInt($0["person"]) } == [1, 2, 3, 4, 5])
            let personsTable = try await s.run(["--store", store, "persons", "--limit", "3"])
            #expect(personsTable.stdout.contains("3 of 3000 persons"), "\(personsTable)")

            let missing = try await s.run(["--store", store, "profile", "nobody"])
            #expect(missing.exitCode == 1 && missing.stderr.contains("no person with id nobody"), "\(missing)")
            let missingTimeline = try await s.run(["--store", store, "timeline", "nobody"])
            #expect(missingTimeline.exitCode == 1, "\(missingTimeline)")

            let verify = try await s.run(["--store", store, "verify", "--format", "json"])
            #expect(verify.exitCode == 0, "\(verify)")
            let v = try verify.jsonObject()
            let projections = try #require(v["projections"] as? [[String: Any]])
            #expect(projections.compactMap { $0["name"] as? String } == ["identity", "timeline"])
            #expect(projections.allSatisfy { ($0["ok"] as? Bool) == true && jsonInt($0["checkpoint"]) == 17232 })
        }
    }
}
