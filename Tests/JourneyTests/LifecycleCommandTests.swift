import Foundation
import Testing

@testable import Journey

// `journey lifecycle`, `journey nps` and `journey alerts` end to end: the built binary on the golden data set.

@Suite("lifecycle and voice commands")
struct LifecycleCommandTests {
    @Test("golden data: stage counts sum to the persons, transitions, activity, nps, alerts; a bad definition exits 64 with its path")
    func golden() async throws {
        let expected = try jsonObject(String(contentsOf: Golden.directory.appendingPathComponent("expected.json"), encoding: .utf8))
        let persons = try #require(jsonInt(expected["persons"]))
        try await withSandbox { s in
            let store = s.path("store")
            let imported = try await s.run(["--store", store, "import", Golden.events.path, "--quiet"])
            #expect(imported.exitCode == 65, "\(imported)")

            let stages = try await s.run(["--store", store, "lifecycle", "--as-of", "2026-04-01", "--format", "json"])
            #expect(stages.exitCode == 0, "\(stages)")
            let json = try stages.jsonObject()
            #expect(json["as_of"] as? String == "2026-04-01T00:00:00.000Z")
            let list = try #require(json["stages"] as? [[String: Any]])
            #expect(list.compactMap { $0["stage"] as? String } == LifecycleDefinition.standard.stages.map(\.name))
            #expect(list.compactMap { jsonInt($0["persons"]) }.reduce(0, +) == persons)
            #expect(abs(list.compactMap { jsonDouble($0["share"]) }.reduce(0, +) - 1) < 0.001)
            #expect(stages.stdout.hasPrefix(#"{"as_of":"#))
            // The same figures as the library on the same store.
            let library = try JourneyStore(path: store, mode: .readOnly)
            let counts = try await library.lifecycle(at: LifecycleMoment(time: utcMillis(2026, 4, 1)))
            library.close()
            #expect(list.compactMap { jsonInt($0["persons"]) } == counts.stages.map(\.persons))

            let table = try await s.run(["--store", store, "lifecycle", "--as-of", "2026-04-01"])
            #expect(table.exitCode == 0 && table.stdout.contains("repeat customer") && table.stdout.contains("█"), "\(table)")

            let moves = try await s.run(["--store", store, "lifecycle", "transitions", "--from", "2026-02-15", "--to", "2026-04-01", "--format", "json"])
            #expect(moves.exitCode == 0, "\(moves)")
            let cells = try #require(try moves.jsonObject()["cells"] as? [[String: Any]])
            #expect(cells.compactMap { jsonInt($0["persons"]) }.reduce(0, +) == persons)

            let activity = try await s.run([
                "--store", store, "lifecycle", "activity", "--event", "Page Viewed", "--interval", "week", "--tz", "Europe/Paris",
                "--from", "2026-01-01", "--to", "2026-04-01", "--format", "json",
            ])
            #expect(activity.exitCode == 0, "\(activity)")
            let periods = try #require(try activity.jsonObject()["periods"] as? [[String: Any]])
            #expect(periods.count == 14)
            #expect(periods.allSatisfy { (jsonInt($0["dormant"]) ?? 1) <= 0 })

            let nps = try await s.run(["--store", store, "nps", "--by", "channel", "--format", "json"])
            #expect(nps.exitCode == 0, "\(nps)")
            let n = try #require(try nps.jsonObject()["nps"] as? [String: Any])
            let p = try #require(jsonInt(n["promoters"]))
            let d = try #require(jsonInt(n["detractors"]))
            let r = try #require(jsonInt(n["responses"]))
            #expect(r > 0 && r == p + d + (jsonInt(n["passives"]) ?? -1))
            #expect(abs((jsonDouble(n["score"]) ?? 999) - Double(p - d) * 100 / Double(r)) < 0.06)
            let groups = try #require(n["groups"] as? [[String: Any]])
            #expect(groups.compactMap { jsonInt($0["responses"]) }.reduce(0, +) == r)

            let alerts = try await s.run(["--store", store, "alerts", "--limit", "5", "--format", "json"])
            #expect(alerts.exitCode == 0, "\(alerts)")
            let rows = try #require(try JSONSerialization.jsonObject(with: alerts.stdoutData) as? [[String: Any]])
            #expect(rows.count == 5)
            let signals = rows.compactMap { $0["signal_at"] as? String }
            #expect(signals == signals.sorted(by: >))

            let bad = s.path("bad.json")
            try Data(#"{"stages":[{"name":"x","rule":{"orders":2}}]}"#.utf8).write(to: URL(fileURLWithPath: bad))
            let refused = try await s.run(["--store", store, "lifecycle", "--definition", bad])
            #expect(refused.exitCode == 64, "\(refused)")
            #expect(refused.stderr.contains(#"stages[0].rule.orders: expected an object like {">=": 2}"#), "\(refused)")
        }
    }
}
