import Foundation
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
        var lines = generatedLines(customers: 400, seed: 11)
        var rng = SplitMix64(seed: 5)
        // Shuffle: late events and merges arrive in any order.
        for i in stride(from: lines.count - 1, to: 0, by: -1) { lines.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
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
            #expect(verified.count == 4 && verified.allSatisfy(\.matches))
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
            #expect(try store.savedFunnels().count == 4)
            #expect(try store.deleteFunnel(named: "checkout"))
            #expect(try store.savedFunnelResult(named: "checkout") == nil)
            #expect(try !store.deleteFunnel(named: "checkout"))
            // More appends keep the remaining ones right.
            _ = try store.appendSync(json: generatedLines(customers: 50, seed: 4).map { Array($0.utf8) })
            for d in try definitions().dropFirst() { try expectEqual(store, d) }
        }
    }

    @Test("a merge folds two persons' progress into one: the absorbed person's row goes, the survivor is re-evaluated")
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
}
