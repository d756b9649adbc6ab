import Foundation
import Testing

@testable import Journey

// Voice of the customer (semantics §5): NPS arithmetic, CSAT and CES, one latest answer per person, breakdowns, and
// the close-the-loop alerts.

private let d = lifecycleDay
private let t0 = lifecycleT0

private func answer(_ id: String, _ user: String, _ score: String, at: Int64, event: String = "NPS Responded", channel: String = "email") -> String {
    lifecycleMessage(id, event, user: user, at: at, channel: channel, properties: "{\"score\":\(score)}")
}

@Suite("voice of the customer")
struct VoiceTests {
    @Test("NPS arithmetic: promoters 9–10, passives 7–8, detractors 0–6; NPS = %promoters − %detractors")
    func arithmetic() {
        func nps(_ scores: [Double]) -> Double? {
            var t = VoiceTally()
            for s in scores { t.add(s, kind: .nps) }
            return t.score(.nps)
        }
        #expect(nps([9, 10, 10]) == 100)
        #expect(nps([0, 6, 3]) == -100)
        #expect(nps([7, 8]) == 0)
        #expect(nps([10, 9, 7, 3]) == 25)
        #expect(nps([10, 0]) == 0)
        #expect(nps([10, 8, 8]).map { abs($0 - 100.0 / 3) < 1e-9 } == true)
        #expect(nps([]) == nil)
        var t = VoiceTally()
        t.add(11, kind: .nps)
        t.add(-1, kind: .nps)
        #expect(t.invalid == 2 && t.responses == 0)
        #expect(NPSCategory(score: 6.5) == .detractor)
        #expect(NPSCategory(score: 8.9) == .passive)
        var csat = VoiceTally()
        for s in [5.0, 4, 2] { csat.add(s, kind: .csat) }
        #expect(csat.score(.csat).map { abs($0 - 200.0 / 3) < 1e-9 } == true)
        var ces = VoiceTally()
        for s in [7.0, 3] { ces.add(s, kind: .ces) }
        #expect(ces.score(.ces) == 5)
        #expect(ces.positive == 1 && ces.negative == 1)
    }

    @Test("on a store: all promoters = 100, all detractors = −100, a mix; each person's latest answer in range counts once")
    func store() async throws {
        try await withStore { store in
            try appendAll(store, [
                answer("1", "a", "10", at: t0),
                answer("2", "b", "9", at: t0, channel: "web"),
                answer("3", "c", "0", at: t0 + d),
                answer("4", "c", "10", at: t0 + 2 * d),  // c's latest: a promoter
                answer("5", "d", "3", at: t0 + 10 * d),
                answer("6", "e", "7", at: t0 + 10 * d),
                answer("7", "f", "\"n/a\"", at: t0 + 10 * d),  // no numeric score: skipped
            ])
            let early = try await store.voice(from: t0, to: t0 + 3 * d)
            #expect(early.total.tally.responses == 3)
            #expect(early.total.score == 100)
            let detractors = try await store.voice(from: t0 + d, to: t0 + 2 * d)
            #expect(detractors.total.score == -100)
            let all = try await store.voice(by: .channel)
            // a 10, b 9, c 10, d 3, e 7: 3 promoters, 1 passive, 1 detractor of 5 → 40.
            #expect(all.total.tally.positive == 3 && all.total.tally.neutral == 1 && all.total.tally.negative == 1)
            #expect(all.total.score == 40)
            #expect(all.groups.map(\.group) == ["email", "web"])
            #expect(all.groups.first { $0.group == "web" }?.score == 100)
            #expect(all.groups.first { $0.group == "email" }?.score == 25)
            let none = try await store.voice(VoiceMetric(kind: .nps, event: "Nothing", property: try FieldPath("properties.score")))
            #expect(none.total.score == nil)
        }
    }

    @Test("CSAT and CES from configured events; NPS by the stage the person was in just before answering")
    func configured() async throws {
        try await withStore { store in
            try appendAll(store, [
                answer("1", "a", "5", at: t0, event: "CSAT"),
                answer("2", "b", "2", at: t0, event: "CSAT"),
                answer("3", "a", "6", at: t0, event: "CES"),
                answer("4", "b", "2", at: t0, event: "CES"),
                lifecycleMessage("5", "Order Completed", user: "a", at: t0 + d),
                answer("6", "a", "10", at: t0 + 2 * d),
                answer("7", "b", "1", at: t0 + 2 * d),
            ])
            let csat = try await store.voice(VoiceMetric(kind: .csat, event: "CSAT", property: try FieldPath("properties.score")))
            #expect(csat.total.score == 50)
            let ces = try await store.voice(VoiceMetric(kind: .ces, event: "CES", property: try FieldPath("properties.score")))
            #expect(ces.total.score == 4)
            let byStage = try await store.voice(by: .stage(.standard))
            #expect(Dictionary(uniqueKeysWithValues: byStage.groups.map { ($0.group ?? "", $0.score ?? 0) }) == ["customer": 100, "lead": -100])
        }
    }

    @Test("NPS by the furthest funnel step reached")
    func byFunnelStep() async throws {
        try await withStore { store in
            try appendAll(store, [
                lifecycleMessage("1", "Product Viewed", user: "a", at: t0),
                lifecycleMessage("2", "Order Completed", user: "a", at: t0 + 60_000),
                answer("3", "a", "10", at: t0 + d),
                lifecycleMessage("4", "Product Viewed", user: "b", at: t0),
                answer("5", "b", "0", at: t0 + d),
                answer("6", "c", "5", at: t0 + d),
            ])
            let funnel = try FunnelDefinition(steps: [FunnelStep(events: ["Product Viewed"]), FunnelStep(events: ["Order Completed"])])
            let r = try await store.voice(by: .step(funnel))
            let scores = Dictionary(uniqueKeysWithValues: r.groups.map { ($0.group ?? "", $0.score ?? 0) })
            #expect(scores == ["2. Order Completed": 100, "1. Product Viewed": -100, "(not entered)": -100])
        }
    }

    @Test("alerts: detractors, and abandoned checkouts followed by a ticket or a detractor answer, newest first")
    func alerts() async throws {
        try await withStore { store in
            try appendAll(store, [
                answer("1", "det", "2", at: t0 + d),
                lifecycleMessage("2", "Checkout Started", user: "ab", at: t0),
                lifecycleMessage("3", "Support Ticket Opened", user: "ab", at: t0 + 2 * d, properties: #"{"topic":"payment"}"#),
                lifecycleMessage("4", "Checkout Started", user: "ok", at: t0),
                lifecycleMessage("5", "Order Completed", user: "ok", at: t0 + 3_600_000),
                lifecycleMessage("6", "Support Ticket Opened", user: "ok", at: t0 + 2 * d, properties: #"{"topic":"delivery"}"#),
                lifecycleMessage("7", "Checkout Started", user: "late", at: t0),
                answer("8", "late", "9", at: t0 + 3 * d),
                answer("9", "late", "4", at: t0 + 4 * d),
                lifecycleMessage("10", "Order Completed", user: "late", at: t0 + 8 * d),
                lifecycleMessage("11", "Checkout Started", user: "quiet", at: t0),
                answer("12", "happy", "10", at: t0 + 5 * d),
            ])
            let list = try await store.alerts()
            #expect(list.map(\.displayId) == ["late", "ab", "det"])
            let late = try #require(list.first)
            #expect(late.detractor && late.abandonedCheckoutAt == t0)
            #expect(late.signalAt == t0 + 4 * d)
            #expect(late.npsScore == 4)
            #expect(late.lastEvent == "Order Completed")
            let ab = list[1]
            #expect(!ab.detractor && ab.abandonedCheckoutAt == t0 && ab.since == t0)
            #expect(ab.ticketTopic == "payment" && ab.ticketsSince == 1)
            #expect(list[2].since == t0 + d && list[2].abandonedCheckoutAt == nil)
            #expect(try await store.alerts(limit: 1).map(\.displayId) == ["late"])
            var past = AlertOptions()
            past.asOf = t0 + 3 * d
            #expect(try await store.alerts(past).map(\.displayId) == ["ab", "det"])
        }
    }
}
