import Foundation
import LMDB
import Testing

@testable import Journey

// Saved funnels as a projection: kept up to date by every append (late events, identity merges), equal to the
// ad-hoc query of the same definition.

private func generatedLines(customers: Int, seed: UInt64) -> [String] {
    var g = JourneyGenerator(options: GeneratorOptions(customers: customers, seed: seed, duplicates: 0.02, broken: 0))
    var lines: [String] = []
    _ = g.generate { lines.append(String(decoding: $0, as: UTF8.self)) }
    return lines
}

/// Lines in a random order (Fisher–Yates): late events and merges arrive in any order.
private func shuffled(_ lines: [String], _ rng: inout SplitMix64) -> [String] {
    var lines = lines
    for i in stride(from: lines.count - 1, to: 0, by: -1) { lines.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return lines
}

private func definitions() throws -> [FunnelDefinition] {
    let checkout = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"].map { FunnelStep(events: [$0]) }
    return [
        try FunnelDefinition(name: "checkout", steps: checkout),
        try FunnelDefinition(name: "checkout-1h", steps: checkout, windowMillis: 3_600_000),
        try FunnelDefinition(
            name: "strict-pricey",
            steps: [FunnelStep(events: ["Product Viewed"], filters: [try FieldFilter.parse("price > 100")]), FunnelStep(events: ["Product Added"])],
            mode: .strict, windowMillis: 86_400_000),
        try FunnelDefinition(
            name: "excluded", steps: [FunnelStep(events: ["Checkout Started"]), FunnelStep(events: ["Order Completed"])],
            exclusions: [FunnelExclusion(events: ["Support Ticket Opened"], fromStep: 1, toStep: 2)]),
        try FunnelDefinition(
            name: "any-order", steps: [FunnelStep(events: ["Order Completed"]), FunnelStep(events: ["NPS Responded", "Support Ticket Opened"])],
            mode: .unordered, windowMillis: 14 * 86_400_000),
    ]
}

/// The saved result must equal the ad-hoc one exactly (counts, conversions, drop-off, time statistics).
private func expectEqual(_ store: JourneyStore, _ d: FunnelDefinition, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let saved = try #require(try store.savedFunnelResult(named: d.name ?? ""), sourceLocation: sourceLocation)
    let adhoc = try store.funnel(d)
    #expect(saved.steps == adhoc.steps, "\(d.name ?? "")", sourceLocation: sourceLocation)
    #expect(saved.excludedPersons == adhoc.excludedPersons, sourceLocation: sourceLocation)
}

@Suite("saved funnels")
struct SavedFunnelTests {
    @Test("defined on an empty store, kept up by appends in random batches in random order: always equal to ad hoc")
    func incremental() throws {
        var rng = SplitMix64(seed: 5)
        let lines = shuffled(generatedLines(customers: 400, seed: 11), &rng)
        try withStore { store in
            for d in try definitions() { try store.saveFunnel(d) }
            var i = 0
            var checks = 0
            while i < lines.count {
                let n = Int(rng.next() % 300) + 1
                _ = try store.appendSync(json: lines[i..<min(lines.count, i + n)].map { Array($0.utf8) })
                i += n
                if rng.next() % 4 == 0 {
                    for d in try definitions() { try expectEqual(store, d) }
                    checks += 1
                }
            }
            for d in try definitions() { try expectEqual(store, d) }
            #expect(checks > 3)
            let saved = try #require(try store.savedFunnelResult(named: "checkout"))
            #expect(saved.steps[0].persons > 100 && saved.steps[3].persons > 10)
            let verified = try store.verifySavedFunnels()
            #expect(verified.count == 5 && verified.allSatisfy(\.matches))
        }
    }

    @Test("transactions resolved in several chunks, a store reopened between appends, a map that fills and grows mid-transaction: always equal to ad hoc")
    func severalChunksReopenAndRetries() throws {
        var rng = SplitMix64(seed: 21)
        let lines = shuffled(generatedLines(customers: 300, seed: 17), &rng)
        try withTemporaryDirectory { dir in
            var i = 0
            for session in 0..<3 {
                // 37 positions per chunk: most transactions capture persons over several chunks; a tiny map makes
                // transactions fail with MDB_MAP_FULL and run again after the map grew.
                let store = try JourneyStore(
                    path: dir + "/store", mode: .readWrite, mapSize: 1 << 16, bulkWrites: false, personChunk: 37)
                defer { store.close() }
                if session == 0 { for d in try definitions() { try store.saveFunnel(d) } }
                let end = (session + 1) * lines.count / 3
                while i < end {
                    let n = Int(rng.next() % 400) + 1
                    _ = try store.appendSync(json: lines[i..<min(end, i + n)].map { Array($0.utf8) })
                    i = min(end, i + n)
                    if rng.next() % 3 == 0 { for d in try definitions() { try expectEqual(store, d) } }
                }
                for d in try definitions() { try expectEqual(store, d) }
                #expect(try store.verifySavedFunnels().allSatisfy(\.matches))
            }
        }
    }

    @Test("defined after the data: the full computation equals ad hoc; redefining and deleting work")
    func defineLater() throws {
        let lines = generatedLines(customers: 300, seed: 3)
        try withStore { store in
            _ = try store.appendSync(json: lines.map { Array($0.utf8) })
            for d in try definitions() {
                try store.saveFunnel(d)
                try expectEqual(store, d)
            }
            var changed = try definitions()[0]
            changed.windowMillis = 600_000
            try store.saveFunnel(changed)
            try expectEqual(store, changed)
            #expect(try store.savedFunnels().count == 5)
            #expect(try store.deleteFunnel(named: "checkout"))
            #expect(try store.savedFunnelResult(named: "checkout") == nil)
            #expect(try !store.deleteFunnel(named: "checkout"))
            // More appends keep the remaining ones right.
            _ = try store.appendSync(json: generatedLines(customers: 50, seed: 4).map { Array($0.utf8) })
            for d in try definitions().dropFirst() { try expectEqual(store, d) }
        }
    }

    @Test("a merge folds two persons' progress into one: the absorbed person's attempt leaves the counts, the survivor is re-evaluated")
    func merges() throws {
        func track(_ id: String, _ event: String, user: String? = nil, anon: String? = nil, minute: Int) -> [UInt8] {
            var f = ["\"messageId\":\"\(id)\"", "\"type\":\"track\"", "\"event\":\"\(event)\""]
            if let user { f.append("\"userId\":\"\(user)\"") }
            if let anon { f.append("\"anonymousId\":\"\(anon)\"") }
            f.append("\"timestamp\":\"\(TimeText.format(utcMillis(2026, 3, 1) + Int64(minute) * 60_000))\"")
            return Array(("{" + f.joined(separator: ",") + "}").utf8)
        }
        try withStore { store in
            let d = try FunnelDefinition(name: "ab", steps: [FunnelStep(events: ["A"]), FunnelStep(events: ["B"])])
            try store.saveFunnel(d)
            _ = try store.appendSync(json: [track("1", "A", anon: "x", minute: 0), track("2", "B", user: "u", minute: 5)])
            #expect(try store.savedFunnelResult(named: "ab")?.steps.map(\.persons) == [1, 0])
            // The identify links x and u: one person who did A then B.
            _ = try store.appendSync(json: [track("3", "Login", user: "u", anon: "x", minute: 6)])
            let r = try #require(try store.savedFunnelResult(named: "ab"))
            #expect(r.steps.map(\.persons) == [1, 1])
            #expect(r.steps[1].fromPrevious?.median == 300)
            try expectEqual(store, d)
        }
    }

    @Test("hundreds of small commits: the fine counters' pending changes are folded in as they pile up, and the quantiles stay exact throughout")
    func pendingAndFolds() throws {
        var rng = SplitMix64(seed: 9)
        let lines = shuffled(generatedLines(customers: 250, seed: 21), &rng)
        try withStore { store in
            let ds = try definitions()
            for d in ds { try store.saveFunnel(d) }
            var i = 0
            var commits = 0
            var sawPending = false
            var sawFold = false
            var lastRecords: UInt64 = 0
            while i < lines.count {
                let n = Int(rng.next() % 8) + 1
                _ = try store.appendSync(json: lines[i..<min(lines.count, i + n)].map { Array($0.utf8) })
                i += n
                commits += 1
                let records = try pendingRecords(store, funnel: "checkout")
                #expect(records < FunnelPending.foldRecords)
                if records > 0 { sawPending = true }
                if records < lastRecords { sawFold = true }
                lastRecords = records
                if commits % 37 == 0 { for d in ds { try expectEqual(store, d) } }
            }
            for d in ds { try expectEqual(store, d) }
            #expect(sawPending && sawFold && commits > 2 * Int(FunnelPending.foldRecords))
        }
    }

    @Test("a store whose funnel state has an older layout, or whose funnel lags behind the persons, is recomputed; readers meanwhile get the journeys' answer")
    func olderStateIsRecomputed() throws {
        let lines = generatedLines(customers: 200, seed: 8)
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            let d = try definitions()[0]
            do {
                let store = try JourneyStore(path: path, mode: .readWrite)
                _ = try store.appendSync(json: lines.prefix(600).map { Array($0.utf8) })
                try store.saveFunnel(d)
                // What an older version left: no layout version, and counters that are not this layout's.
                let dbs = try #require(try SavedFunnelRegistry.shared.databases(for: store.env, create: false))
                try store.env.write { txn in
                    _ = try SavedFunnelStore.versionKey.withUnsafeBytes { try txn.delete(dbs.meta, key: $0) }
                    try FunnelKeys.summary(1).withUnsafeBytes { k in
                        try [Int64](repeating: 7, count: 13).withUnsafeBytes { try txn.put(dbs.state, key: k, value: $0) }
                    }
                }
                store.close()
            }
            do {
                let reader = try JourneyStore(path: path, mode: .readOnly)
                defer { reader.close() }
                try expectEqual(reader, d)
            }
            let store = try JourneyStore(path: path, mode: .readWrite)
            defer { store.close() }
            try expectEqual(store, d)
            // A checkpoint that is not where the next transaction starts: that funnel is recomputed by it.
            let dbs = try #require(try SavedFunnelRegistry.shared.databases(for: store.env, create: false))
            try store.env.write { txn in
                try SavedFunnelStore.setCheckpoint(&txn, dbs, name: "checkout", id: 1, checkpoint: 3)
                try FunnelKeys.summary(1).withUnsafeBytes { k in
                    try [Int64](repeating: 7, count: 13).withUnsafeBytes { try txn.put(dbs.state, key: k, value: $0) }
                }
            }
            _ = try store.appendSync(json: lines.dropFirst(600).map { Array($0.utf8) })
            try expectEqual(store, d)
        }
    }
}

/// The number of pending records of a saved funnel's fine counters.
private func pendingRecords(_ store: JourneyStore, funnel: String) throws -> UInt64 {
    guard let dbs = try SavedFunnelRegistry.shared.databases(for: store.env, create: false) else { return 0 }
    return try store.env.read { txn in
        guard let id = try SavedFunnelStore.meta(txn, dbs, name: funnel)?.id else { return 0 }
        var n: UInt64 = 0
        try txn.withCursor(dbs.state) { c in try FunnelPending.forEachRecord(&c, id: id) { _, _ in n += 1 } }
        return n
    }
}
