import Foundation
import Testing

@testable import Journey

// Customer lifecycle stages (semantics §4): definitions and their refusals, the pure evaluator, every default stage
// on a real store, a person moving forward and back, and as-of giving what was true then.

private let d = lifecycleDay
private let t0 = lifecycleT0

@Suite("lifecycle definitions")
struct LifecycleDefinitionTests {
    @Test("the shipped schemas/lifecycle.default.json is the built-in default, stages in the documented order")
    func shippedDefault() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schemas/lifecycle.default.json")
        let file = try LifecycleDefinition.load(path: url.path)
        #expect(file == LifecycleDefinition.standard)
        #expect(file.stages.map(\.name) == ["churned", "at risk", "advocate", "repeat customer", "customer", "lead", "visitor"])
    }

    @Test(
        "invalid definitions are refused with the failing JSON path and why",
        arguments: [
            (#"{"stages": []}"#, "stages: expected a non-empty array"),
            (#"{"stages": [{"name": "a", "rule": {"all": []}}, {"name": "b", "rule": {}}, {"name": "c", "rule": {"orders": 2}}]}"#,
             #"stages[2].rule.orders: expected an object like {">=": 2}"#),
            (#"{"stages": [{"name": "a", "rule": {"bought": true}}]}"#, "stages[0].rule.bought: unknown condition"),
            (#"{"stages": [{"name": "a", "rule": {"any": [{"orders": {">=": 1}}, {"nps_category": "fan"}]}}]}"#,
             "stages[0].rule.any[1].nps_category: expected promoter, passive, detractor or none"),
            (#"{"stages": [{"name": "a", "rule": {"orders": {"~": 1}}}]}"#, "stages[0].rule.orders.~: unknown comparison"),
            (#"{"stages": [{"name": "a", "rule": {"orders": {">=": "1"}}}]}"#, "stages[0].rule.orders.>=: expected a number"),
            (#"{"stages": [{"name": "a", "rule": {"all": []}}, {"name": "a", "rule": {"all": []}}]}"#,
             #"stages[1].name: duplicate stage name "a""#),
            (#"{"stages": [{"name": "a", "rule": {"event_count": {"event": "X", "days": 0, "count": {">": 1}}}}]}"#,
             "stages[0].rule.event_count.days: expected a whole number of days"),
            (#"{"stages": [{"name": "a", "kind": "lost", "rule": {"all": []}}]}"#, "stages[0].kind: expected one of journey, at_risk, churned"),
            (#"{"stages": [{"name": "a"}]}"#, "stages[0].rule: missing"),
            (#"{"stages": [{"name": "a", "rule": {"not": [1]}}]}"#, "stages[0].rule.not: expected a rule object"),
            (#"{"stages": [{"name": "a", "rule": {"trait": {"path": "plan"}}}]}"#, "stages[0].rule.trait: expected one test"),
            (#"{"stage": []}"#, "stage: unknown member"),
            (#"{"stages": [ }"#, "the definition is not valid JSON"),
        ])
    func refused(_ json: String, _ expected: String) {
        #expect {
            _ = try LifecycleDefinition.parse(json)
        } throws: { error in
            guard let e = error as? QueryError else { return false }
            return e.description.hasPrefix(expected)
        }
    }

    @Test("a valid definition with every condition kind parses to the rules written")
    func everyCondition() throws {
        let json = #"""
            {"order_event": "Purchase", "nps": {"event": "Survey", "property": "properties.nps"}, "stages": [
              {"name": "vip", "rank": 5, "rule": {"revenue": {">=": 1000}, "trait": {"path": "plan", "in": ["pro", "team"]}}},
              {"name": "busy", "rule": {"event_count": {"event": "Page Viewed", "days": 7, "count": {">=": 3}}}},
              {"name": "quiet", "kind": "at_risk", "rule": {"not": {"days_since_last_order": {"<": 60}}}},
              {"name": "rest", "rule": {"all": []}}
            ]}
            """#
        let def = try LifecycleDefinition.parse(json)
        #expect(def.orderEvent == "Purchase")
        #expect(def.nps.event == "Survey")
        #expect(def.nps.property.description == "properties.nps")
        #expect(def.stages[0].rank == 5)
        #expect(def.stages[2].kind == .atRisk)
        #expect(def.stages[1].rule == .eventCount(event: "Page Viewed", days: 7, .atLeast(3)))
        let e = LifecycleEvaluator(def)
        #expect(e.windows.count == 1)
        #expect(e.traits.map(\.description) == ["traits.plan"])
    }
}

@Suite("lifecycle evaluator")
struct LifecycleEvaluatorTests {
    let evaluator = LifecycleEvaluator(.standard)

    func facts(identified: Bool = false, orders: Int = 0, nps: Double? = nil, idleDays: Int64 = 0) -> PersonFacts {
        var f = PersonFacts()
        f.events = 1 + orders
        f.identified = identified
        f.orders = orders
        f.npsScore = nps
        f.firstSeen = t0
        f.lastActivity = t0
        f.asOf = t0 + idleDays * d
        return f
    }

    @Test("each default stage from facts; first match wins")
    func stages() {
        func name(_ f: PersonFacts) -> String { evaluator.name(evaluator.stage(of: f)) }
        #expect(name(facts()) == "visitor")
        #expect(name(facts(identified: true)) == "lead")
        #expect(name(facts(identified: true, orders: 1)) == "customer")
        #expect(name(facts(orders: 1)) == "customer")
        #expect(name(facts(identified: true, orders: 2)) == "repeat customer")
        #expect(name(facts(identified: true, orders: 1, nps: 9)) == "advocate")
        #expect(name(facts(identified: true, orders: 3, nps: 10)) == "advocate")
        #expect(name(facts(identified: true, orders: 0, nps: 10)) == "lead")
        #expect(name(facts(identified: true, orders: 2, nps: 8)) == "repeat customer")
        #expect(name(facts(identified: true, orders: 2, nps: 6)) == "at risk")
        #expect(name(facts(identified: true, orders: 1, idleDays: 29)) == "customer")
        #expect(name(facts(identified: true, orders: 1, idleDays: 30)) == "at risk")
        #expect(name(facts(identified: true, orders: 1, nps: 10, idleDays: 89)) == "at risk")
        #expect(name(facts(identified: true, orders: 5, nps: 10, idleDays: 90)) == "churned")
        #expect(name(facts(idleDays: 90)) == "churned")
    }

    @Test("days since are whole days, floored: 29 days 23 hours is 29 days")
    func flooredDays() {
        var f = facts(identified: true, orders: 1)
        f.asOf = t0 + 30 * d - 1
        #expect(evaluator.name(evaluator.stage(of: f)) == "customer")
        f.asOf = t0 + 30 * d
        #expect(evaluator.name(evaluator.stage(of: f)) == "at risk")
    }
}

@Suite("lifecycle on a store")
struct LifecycleStoreTests {
    /// One person per default stage as of t0 + 100 days (two at risk: a detractor and an idle customer).
    static let stagePersons: [String] = [
        lifecycleMessage("v1", type: "page", anon: "anon-v", at: t0 + 99 * d),
        lifecycleMessage("l1", type: "identify", user: "lead", anon: "anon-l", at: t0 + 99 * d, traits: #"{"plan":"pro"}"#),
        lifecycleMessage("c1", "Order Completed", user: "customer", at: t0 + 99 * d, properties: #"{"revenue":10}"#),
        lifecycleMessage("r1", "Order Completed", user: "repeat", at: t0 + 98 * d, properties: #"{"revenue":10}"#),
        lifecycleMessage("r2", "Order Completed", user: "repeat", at: t0 + 99 * d, properties: #"{"revenue":15.5}"#),
        lifecycleMessage("a1", "Order Completed", user: "advocate", at: t0 + 98 * d),
        lifecycleMessage("a2", "NPS Responded", user: "advocate", at: t0 + 99 * d, properties: #"{"score":10}"#),
        lifecycleMessage("d1", "Order Completed", user: "detractor", at: t0 + 98 * d),
        lifecycleMessage("d2", "NPS Responded", user: "detractor", at: t0 + 99 * d, properties: #"{"score":3}"#),
        lifecycleMessage("i1", "Order Completed", user: "idle", at: t0 + 60 * d),
        lifecycleMessage("x1", type: "page", user: "gone", at: t0 + 5 * d),
    ]

    @Test("every default stage, as of a moment")
    func everyStage() async throws {
        try await withStore { store in
            try appendAll(store, Self.stagePersons)
            let r = try await store.lifecycle(.standard, at: LifecycleMoment(time: t0 + 100 * d))
            #expect(r.persons == 8)
            #expect(r.unmatched == 0)
            #expect(stageCounts(r) == [
                "visitor": 1, "lead": 1, "customer": 1, "repeat customer": 1, "advocate": 1, "at risk": 2, "churned": 1,
            ])
            #expect(abs(r.stages.map(\.share).reduce(0, +) - 1) < 1e-9)
            let atRisk = try await store.lifecyclePersons(.standard, stage: "at risk", at: LifecycleMoment(time: t0 + 100 * d))
            #expect(atRisk.total == 2)
            #expect(Set(atRisk.persons.map(\.displayId)) == ["detractor", "idle"])
            // The idle customer entered "at risk" when 30 days had passed since their order, not at an event.
            #expect(atRisk.persons.first { $0.displayId == "idle" }?.since == t0 + 90 * d)
            #expect(atRisk.persons.first { $0.displayId == "detractor" }?.npsScore == 3)
        }
    }

    @Test("revenue, event counts in a window and traits, from a custom definition")
    func customFacts() async throws {
        try await withStore { store in
            try appendAll(store, Self.stagePersons + [
                lifecycleMessage("p1", type: "page", user: "lead", at: t0 + 95 * d),
                lifecycleMessage("p2", type: "page", user: "lead", at: t0 + 97 * d),
            ])
            let def = try LifecycleDefinition.parse(#"""
                {"stages": [
                  {"name": "big spender", "rule": {"revenue": {">=": 25}}},
                  {"name": "pro", "rule": {"trait": {"path": "plan", "=": "pro"}, "event_count": {"event": "Page Viewed", "days": 3, "count": {">=": 1}}}},
                  {"name": "pro idle", "rule": {"trait": {"path": "traits.plan", "=": "pro"}}},
                  {"name": "other", "rule": {}}
                ]}
                """#)
            let at100 = stageCounts(try await store.lifecycle(def, at: LifecycleMoment(time: t0 + 100 * d)))
            #expect(at100["big spender"] == 1)
            #expect(at100["pro idle"] == 1)  // the page views of days 95 and 97 are outside (t − 3 days, t]
            let at99 = stageCounts(try await store.lifecycle(def, at: LifecycleMoment(time: t0 + 99 * d)))
            #expect(at99["pro"] == 1)  // day 97 is inside (96, 99]
            // The stage history sees the window close without any event: pro from day 99 to day 100.
            let h = try #require(try await store.stageHistory(for: "lead", definition: def, at: LifecycleMoment(time: t0 + 101 * d)))
            #expect(h.map(\.stage) == ["other", "pro", "pro idle"])
            #expect(h.last?.enteredAt == t0 + 100 * d)
            #expect(h.last?.event == nil)
        }
    }

    /// A person who becomes a lead, customer, advocate, falls to at risk, churns and comes back.
    static let journey: [String] = [
        lifecycleMessage("j1", type: "page", anon: "anon-j", at: t0),
        lifecycleMessage("j2", type: "identify", user: "jo", anon: "anon-j", at: t0 + 3_600_000),
        lifecycleMessage("j3", "Order Completed", user: "jo", at: t0 + d),
        lifecycleMessage("j4", "NPS Responded", user: "jo", at: t0 + 2 * d, properties: #"{"score":10}"#),
        lifecycleMessage("j5", "NPS Responded", user: "jo", at: t0 + 3 * d, properties: #"{"score":2}"#),
        lifecycleMessage("j6", "Order Completed", user: "jo", at: t0 + 100 * d),
        lifecycleMessage("j7", "NPS Responded", user: "jo", at: t0 + 101 * d, properties: #"{"score":9}"#),
    ]

    @Test("stage history: forward, back, churned by time passing, came back; thresholds at their exact moments")
    func forwardAndBack() async throws {
        try await withStore { store in
            try appendAll(store, Self.journey)
            let h = try #require(try await store.stageHistory(for: "anon-j", at: LifecycleMoment(time: t0 + 140 * d)))
            #expect(h.map(\.stage) == ["visitor", "lead", "customer", "advocate", "at risk", "churned", "at risk", "advocate", "at risk"])
            #expect(h.map(\.enteredAt) == [
                t0, t0 + 3_600_000, t0 + d, t0 + 2 * d, t0 + 3 * d, t0 + 93 * d, t0 + 100 * d, t0 + 101 * d, t0 + 131 * d,
            ])
            #expect(h.map(\.event) == [
                "Page Viewed", "Identify", "Order Completed", "NPS Responded", "NPS Responded", nil, "Order Completed",
                "NPS Responded", nil,
            ])
            #expect(try await store.stageHistory(for: "nobody") == nil)

            let back = try await store.lifecycleTransitions(from: t0 + 2 * d + 1, to: t0 + 95 * d, personsPerCell: 5)
            #expect(back.cells == [LifecycleTransitionCell(from: "advocate", to: "churned", persons: 1, move: .churned, personIds: ["jo"])])
            let cameBack = try await store.lifecycleTransitions(from: t0 + 95 * d, to: t0 + 102 * d)
            #expect(cameBack.cells.map(\.move) == [.cameBack])
            #expect(cameBack.cells.first?.to == "advocate")
            let forward = try await store.lifecycleTransitions(from: t0 - 1, to: t0 + d)
            #expect(forward.cells.map(\.move) == [.new])
            let up = try await store.lifecycleTransitions(from: t0 + 1, to: t0 + d)
            #expect(up.moves == [.forward: 1])
            let down = try await store.lifecycleTransitions(from: t0 + 2 * d, to: t0 + 3 * d)
            #expect(down.moves == [.back: 1])

            let durations = try await store.lifecycleDurations(at: LifecycleMoment(time: t0 + 140 * d))
            let advocate = try #require(durations.first { $0.stage == "advocate" })
            #expect(advocate.completed == 2)
            #expect(advocate.medianDays == 15.5)  // stints of 1 and 30 days
            #expect(durations.first { $0.stage == "at risk" }?.ongoing == 1)
        }
    }

    @Test("as of a time gives what was true then, given the events logged since (identity included)")
    func asOf() async throws {
        try await withStore { store in
            try appendAll(store, Self.journey)
            func stage(_ t: Int64) async throws -> [String: Int] {
                stageCounts(try await store.lifecycle(at: LifecycleMoment(time: t))).filter { $0.value > 0 }
            }
            #expect(try await stage(t0 - 1) == [:])
            // The identify came after t0, but it stitched the anonymous page view to "jo": still a visitor then.
            #expect(try await stage(t0) == ["visitor": 1])
            #expect(try await stage(t0 + d) == ["customer": 1])
            #expect(try await stage(t0 + 2 * d + 12 * 3_600_000) == ["advocate": 1])
            #expect(try await stage(t0 + 50 * d) == ["at risk": 1])
            #expect(try await stage(t0 + 99 * d) == ["churned": 1])
            #expect(try await stage(t0 + 101 * d) == ["advocate": 1])
            // As of a log position: the log as it stood after the fourth message (the promoter answer).
            let p = try await store.lifecycle(at: LifecycleMoment(position: 4))
            #expect(p.asOf == t0 + 2 * d)
            #expect(stageCounts(p).filter { $0.value > 0 } == ["advocate": 1])
            let p3 = try await store.lifecycle(at: LifecycleMoment(time: t0 + 50 * d, position: 3))
            #expect(stageCounts(p3).filter { $0.value > 0 } == ["at risk": 1])
        }
    }
}
