import Foundation
import Testing

@testable import Journey
import LMDB

// Chunked timelines (`TimelineChunks`): long timelines appended one event at a time, late events landing in the
// first chunk, merges of persons with several chunks. The chunks must stay canonical (byte-identical to a rebuild)
// and every reader must see each person's whole timeline.

private let base = utcMillis(2026, 1, 1)

/// A Segment message as JSON text; `at` is seconds after 2026-01-01T00:00:00Z.
private func message(
    _ id: String, _ type: String = "track", user: String? = nil, anon: String? = nil, at seconds: Int
) -> String {
    var fields = ["\"messageId\":\"\(id)\"", "\"type\":\"\(type)\""]
    if let user { fields.append("\"userId\":\"\(user)\"") }
    if let anon { fields.append("\"anonymousId\":\"\(anon)\"") }
    if type == "track" { fields.append("\"event\":\"Product Viewed\"") }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let t = f.string(from: Date(timeIntervalSince1970: Double(base) / 1000 + Double(seconds)))
    fields.append("\"timestamp\":\"\(t)\"")
    return "{" + fields.joined(separator: ",") + "}"
}

/// Appends messages as one batch; each must be accepted (so positions are 1, 2, 3… in append order).
private func appendAccepted(_ store: JourneyStore, _ messages: [String]) throws {
    for o in try appendSync(store, messages) {
        if case .rejected(let r) = o { throw TestFailure("rejected: \(r)") }
    }
}

/// One expected timeline entry.
private struct Expected: Comparable {
    var time: Int64
    var position: UInt64
    static func < (a: Expected, b: Expected) -> Bool { (a.time, a.position) < (b.time, b.position) }
}

/// The stored chunks of `person`: (chunk index, entry count), in key order.
private func chunks(_ store: JourneyStore, person: UInt32) throws -> [(UInt32, Int)] {
    let dbs = try #require(try store.personDatabases())
    return try store.env.read { txn in
        try txn.withCursor(dbs.timelines) { c in
            var out: [(UInt32, Int)] = []
            var e = try c.seek(TimelineChunks.key(person, chunk: 0))
            while let entry = e, TimelineChunks.person(entry.integerKey) == person {
                out.append((TimelineChunks.chunk(entry.integerKey), entry.value.count / TimelineLayout.entrySize))
                e = try c.next()
            }
            return out
        }
    }
}

/// Every person's timeline as the whole-store scan yields it: (person, positions in order).
private func scanned(_ store: JourneyStore) throws -> [UInt32: [UInt64]] {
    let dbs = try #require(try store.personDatabases())
    let scan = TimelineScan(env: store.env, log: store.log, dbs: dbs, symbols: store.symbols, asOf: nil)
    let parts = try scan.run(make: { [(UInt32, [UInt64])]() }) { found, person, t, _ in
        found.append((person, (0..<t.count).map { t[$0].position }))
    }
    var out: [UInt32: [UInt64]] = [:]
    for (person, positions) in parts.joined() {
        #expect(out[person] == nil, "person \(person) yielded twice")
        out[person] = positions
    }
    return out
}

/// The canonical split: every chunk full but the last, indices 0, 1, 2…, ⌈count / N⌉ of them.
private func expectCanonical(_ found: [(UInt32, Int)], count: Int, _ comment: Comment? = nil) {
    let n = TimelineChunks.capacity
    let expected = (0..<((count + n - 1) / n)).map { c in (UInt32(c), min(n, count - c * n)) }
    #expect(found.map(\.0) == expected.map(\.0), comment)
    #expect(found.map(\.1) == expected.map(\.1), comment)
}

@Suite("chunked timelines")
struct TimelineChunkTests {
    @Test("one event per append past 3 chunks, late events into the first chunk, a merge of two multi-chunk persons")
    func appendsLateEventsAndMerge() throws {
        let n = TimelineChunks.capacity
        try withStore { store in
            var position: UInt64 = 0
            var u1: [Expected] = []
            var a2: [Expected] = []
            func add(_ list: inout [Expected], _ seconds: Int) {
                position += 1
                list.append(Expected(time: base + Int64(seconds) * 1000, position: position))
            }
            // Person 1: 3N + 17 events, one per append, in time order.
            for i in 0..<(3 * n + 17) {
                try appendAccepted(store, [message("u1-\(i)", user: "u1", at: 1000 + 10 * i)])
                add(&u1, 1000 + 10 * i)
            }
            expectCanonical(try chunks(store, person: 1), count: u1.count)
            #expect(try store.timeline(for: "u1")?.map(\.position) == u1.sorted().map(\.position))

            // Late events: all sort into chunk 0 (a batch of two, then three single appends).
            let late = [1025, 1003, 1071, 1000, 1299]
            try appendAccepted(store, [message("late-0", user: "u1", at: late[0]), message("late-1", user: "u1", at: late[1])])
            add(&u1, late[0])
            add(&u1, late[1])
            for (k, s) in late.enumerated().dropFirst(2) {
                try appendAccepted(store, [message("late-\(k)", user: "u1", at: s)])
                add(&u1, s)
            }
            expectCanonical(try chunks(store, person: 1), count: u1.count)
            #expect(try store.timeline(for: "u1")?.map(\.position) == u1.sorted().map(\.position))
            #expect(try store.verifyProjections().allSatisfy(\.matches))

            // Person 2: 2N + 30 anonymous events interleaved in time with person 1's, in batches of 7.
            let times = (0..<(2 * n + 30)).map { 1003 + 10 * $0 }
            for start in stride(from: 0, to: times.count, by: 7) {
                let slice = times[start..<min(times.count, start + 7)]
                try appendAccepted(store, slice.enumerated().map { message("a2-\(start + $0.offset)", anon: "a2", at: $0.element) })
                for s in slice { add(&a2, s) }
            }
            #expect(try store.person(for: "a2")?.person == 2)
            expectCanonical(try chunks(store, person: 2), count: a2.count)

            // The merge: an identify linking u1 and a2; person 1 survives and absorbs person 2's chunks.
            try appendAccepted(store, [message("merge", "identify", user: "u1", anon: "a2", at: 1500)])
            add(&u1, 1500)
            let all = (u1 + a2).sorted()
            #expect(try store.person(for: "a2")?.person == 1)
            #expect(try chunks(store, person: 2).isEmpty, "the absorbed person's chunks are deleted")
            expectCanonical(try chunks(store, person: 1), count: all.count)
            let timeline = try #require(try store.timeline(for: "a2"))
            #expect(timeline.map(\.position) == all.map(\.position))
            #expect(timeline.map(\.time) == all.map(\.time))
            #expect(try store.timeline(for: "u1", limit: 3, newestFirst: true)?.map(\.position)
                == all.suffix(3).reversed().map(\.position))
            #expect(try scanned(store) == [1: all.map(\.position)])
            #expect(try store.profile(for: "u1")?.eventCount == all.count)

            // A few more in-order appends after the merge touch only the last chunk.
            for i in 0..<3 {
                try appendAccepted(store, [message("after-\(i)", user: "u1", at: 9000 + i)])
                add(&u1, 9000 + i)
            }
            let final = (u1 + a2).sorted()
            expectCanonical(try chunks(store, person: 1), count: final.count)
            #expect(try store.timeline(for: "u1")?.map(\.position) == final.map(\.position))
            let verified = try store.verifyProjections()
            #expect(verified.count == 2 && verified.allSatisfy(\.matches), "\(verified)")
        }
    }

    @Test("timelines an older version wrote: read-only queries refuse them, opening for writing rebuilds the chunks")
    func olderVersionRebuiltAtOpen() throws {
        let n = TimelineChunks.capacity
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            var digests: [ProjectionDigest] = []
            do {
                let store = try JourneyStore(path: path)
                try appendAccepted(
                    store, (0..<(2 * n + 5)).map { message("m\($0)", user: "u1", at: $0) } + [message("x", anon: "a9", at: 3)])
                digests = try store.projectionDigests()
                // Version 2's layout: one value per person, keyed by the person number.
                let dbs = try #require(try store.personDatabases())
                try store.env.write { txn in
                    var values: [UInt64: [UInt8]] = [:]
                    try txn.withCursor(dbs.timelines) { c in
                        var e = try c.first()
                        while let entry = e {
                            values[UInt64(TimelineChunks.person(entry.integerKey)), default: []].append(contentsOf: entry.value)
                            e = try c.next()
                        }
                    }
                    try txn.clear(dbs.timelines)
                    for (k, v) in values.sorted(by: { $0.key < $1.key }) {
                        try v.withUnsafeBytes { try txn.put(dbs.timelines, key: k, value: $0) }
                    }
                    var m = try #require(try ProjectionMeta.read(txn, dbs.meta, name: TimelineProjection.name))
                    m.version = 2
                    try m.write(&txn, dbs.meta, name: TimelineProjection.name)
                }
                store.close()
            }
            do {
                let reader = try JourneyStore(path: path, mode: .readOnly)
                #expect(throws: StoreError.self) { try reader.timeline(for: "u1") }
                let funnel = try FunnelDefinition(steps: [FunnelStep(events: ["Product Viewed"])])
                #expect(throws: StoreError.self) { try reader.funnel(funnel) }
                #expect(try reader.projectionStatus().map(\.version) == [Int(IdentityProjection.version), 2])
                #expect(try reader.personCount() == 2)
                reader.close()
            }
            let store = try JourneyStore(path: path)  // rebuilds at open
            #expect(try store.projectionDigests() == digests)
            #expect(try store.timeline(for: "u1")?.count == 2 * n + 5)
            store.close()
        }
    }

    /// Property: persons of a few hundred events each, random times, random batch sizes, merged at random moments:
    /// every timeline is its events sorted by (time, position), split canonically, equal to a rebuild's bytes, and
    /// the same events in other batch splits give the same digests.
    @Test("property: random times, batches and merges keep whole, canonical timelines", arguments: [21, 22, 23] as [UInt64])
    func randomTimesBatchesAndMerges(_ seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        // Five anonymous visitors; identify calls link some of them to u1 or u2 along the way (merges).
        var messages: [(id: String, user: String?, anon: String, type: String, at: Int)] = []
        for i in 0..<900 {
            let anon = "a\(rng.below(5))"
            if rng.below(120) == 0 {
                messages.append(("m\(i)", rng.below(2) == 0 ? "u1" : "u2", anon, "identify", rng.below(100_000)))
            } else {
                messages.append(("m\(i)", nil, anon, "track", rng.below(100_000)))
            }
        }
        let texts = messages.map { message($0.id, $0.type, user: $0.user, anon: $0.anon, at: $0.at) }
        var digests: [[ProjectionDigest]] = []
        for split in 0..<2 {
            try withStore { store in
                var i = 0
                while i < texts.count {
                    let size = split == 0 ? 1 + rng.below(rng.below(4) == 0 ? 120 : 12) : 50
                    try appendAccepted(store, Array(texts[i..<min(texts.count, i + size)]))
                    i += size
                }
                let seen = try scanned(store)
                var covered = 0
                for p in try store.persons(limit: 100) {
                    let ids = Set(p.userIds + p.anonymousIds)
                    let expected = messages.enumerated().compactMap { k, m -> Expected? in
                        ids.contains(m.anon) || m.user.map(ids.contains) == true
                            ? Expected(time: base + Int64(m.at) * 1000, position: UInt64(k + 1)) : nil
                    }.sorted()
                    covered += expected.count
                    let timeline = try #require(try store.timeline(for: p.displayId))
                    #expect(timeline.map(\.position) == expected.map(\.position), "seed \(seed), \(p.displayId)")
                    #expect(seen[p.person] == expected.map(\.position), "seed \(seed), scan of \(p.displayId)")
                    expectCanonical(try chunks(store, person: p.person), count: expected.count, "seed \(seed)")
                }
                #expect(covered == messages.count)
                #expect(seen.count == (try store.personCount()))
                let verified = try store.verifyProjections()
                let matches = verified.allSatisfy { $0.matches }
                #expect(matches, "seed \(seed): \(verified)")
                digests.append(try store.projectionDigests())
            }
        }
        #expect(digests[0] == digests[1], "seed \(seed): two batch splits of one order")
    }
}
