import Foundation
import Testing

@testable import Journey

// The profile shows the person's lifecycle stage history (issue 5: "a person's stage history is part of their
// profile"), as of the same moment as the rest of the profile.

@Suite("profile stage history")
struct ProfileStageHistoryTests {
    @Test("journey profile --format json has stage_history; --as-of cuts it at that time")
    func stageHistoryInProfile() async throws {
        try await withSandbox { s in
            let store = s.path("store")
            _ = try await s.run(["--store", store, "import", Golden.events.path, "--quiet"])
            let now = try await s.run(["profile", "u2", "--store", store, "--format", "json"])
            #expect(now.exitCode == 0, "\(now)")
            let history = try #require(try now.jsonObject()["stage_history"] as? [[String: Any]])
            let stages = history.compactMap { $0["stage"] as? String }
            #expect(Array(stages.prefix(3)) == ["visitor", "lead", "customer"], "\(stages)")
            let ordered = history.compactMap { $0["entered_at"] as? String }
            #expect(ordered == ordered.sorted())
            // Before the order: no customer stage yet.
            let then = try await s.run(["profile", "u2", "--store", store, "--format", "json", "--as-of", "2026-03-01"])
            let earlier = try #require(try then.jsonObject()["stage_history"] as? [[String: Any]]).compactMap { $0["stage"] as? String }
            #expect(earlier.last == "lead", "\(earlier)")
            let table = try await s.run(["profile", "u2", "--store", store])
            #expect(table.stdout.contains("stage history") && table.stdout.contains("customer"))
        }
    }
}
