import Foundation
import Synchronization
import Testing

@testable import Journey
import LMDB

// Concurrent single appends may commit the log before the projections (`LogWriter`, deferred projections):
// every query made after an append returned must still see it, here and in a reader beside the writer, and the
// projections must end equal to a rebuild.

/// Task `t`'s `i`th message: anonymous for its first 10 events, then identified (an identify links both ids),
/// alternating events A and B a minute apart, and C last (the funnel's last step comes with the last appends, so a
/// funnel left behind by them shows it).
private func message(_ t: Int, _ i: Int) -> String {
    let ids = i < 10 ? #""anonymousId":"a\#(t)""# : #""anonymousId":"a\#(t)","userId":"u\#(t)""#
    let event = i == DeferredProjectionTests.perTask - 1 ? "C" : i % 2 == 0 ? "A" : "B"
    let type = i == 10 ? #""type":"identify""# : #""type":"track","event":"\#(event)""#
    let time = String(format: "2026-01-01T%02d:%02d:00.000Z", i / 60, i % 60)
    return #"{\#(type),"messageId":"m\#(t)-\#(i)",\#(ids),"timestamp":"\#(time)","channel":"web"}"#
}

private func appendConcurrently(_ store: JourneyStore, tasks: Int, perTask: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for t in 0..<tasks {
            group.addTask {
                for i in 0..<perTask {
                    let outcome = try await store.append(json: message(t, i))
                    guard outcome.appendedPosition != nil else { throw StoreError("not appended: \(outcome)") }
                }
            }
        }
        try await group.waitForAll()
    }
}

@Suite struct DeferredProjectionTests {
    static let tasks = 32
    static let perTask = 60

    /// What the queries must show once every append returned.
    private func expectComplete(_ store: JourneyStore, _ label: String) throws {
        #expect(try store.personCount() == Self.tasks, "\(label): persons")
        for t in 0..<Self.tasks {
            // The anonymous events before the identify belong to the same person.
            #expect(try store.timeline(for: "u\(t)")?.count == Self.perTask, "\(label): timeline of u\(t)")
            #expect(try store.profile(for: "a\(t)")?.eventCount == Self.perTask, "\(label): profile of a\(t)")
        }
        let funnel = try #require(try store.savedFunnelResult(named: "a-b-c"), "\(label): saved funnel")
        #expect(funnel.steps.map(\.persons) == [Self.tasks, Self.tasks, Self.tasks], "\(label): saved funnel")
    }

    @Test(.timeLimit(.minutes(2)))
    func queriesInTheWritingProcessSeeEveryReturnedAppend() async throws {
        try await withStore { store in
            try store.saveFunnel(FunnelDefinition.load(json: Array(#"{"name":"a-b-c","steps":["A","B","C"],"window":"1d"}"#.utf8)))
            try await appendConcurrently(store, tasks: Self.tasks, perTask: Self.perTask)
            #expect(store.writer?.deferredCommits.load(ordering: .relaxed) ?? 0 > 0, "no commit deferred its projections")
            try expectComplete(store, "writer")
            let verified = try store.verifyProjections()
            #expect(!verified.isEmpty && verified.allSatisfy(\.matches), "\(verified)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aReaderBesideTheWriterSeesEveryReturnedAppend() async throws {
        try await withStore { store in
            try store.saveFunnel(FunnelDefinition.load(json: Array(#"{"name":"a-b-c","steps":["A","B","C"],"window":"1d"}"#.utf8)))
            // A read-only open has no writer of its own, as in another process: it waits for the writer's catch-up.
            let reader = try JourneyStore(path: store.path, mode: .readOnly)
            defer { reader.close() }
            try await appendConcurrently(store, tasks: Self.tasks, perTask: Self.perTask)
            try expectComplete(reader, "reader")
            #expect(store.writer?.deferredCommits.load(ordering: .relaxed) ?? 0 > 0, "no commit deferred its projections")
        }
    }

    /// A crash between a log-only commit and the transaction of its projections leaves the projections behind the
    /// log. A consistent copy of the environment taken right after the appends return (LMDB's copy: one read
    /// snapshot, before the writer's idle catch-up; `compact` would catch up first) holds that state; opened for writing, the copy catches up: persons and timelines from the log,
    /// the saved funnel recomputed, all equal to a rebuild.
    @Test(.timeLimit(.minutes(2)))
    func projectionsLeftBehindByACrashCatchUpAtOpen() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("journey-behind-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        var copy: String?
        for attempt in 0..<10 where copy == nil {
            let store = try JourneyStore(path: "\(base)/store\(attempt)")
            try store.saveFunnel(FunnelDefinition.load(json: Array(#"{"name":"a-b-c","steps":["A","B","C"],"window":"1d"}"#.utf8)))
            try await appendConcurrently(store, tasks: Self.tasks, perTask: Self.perTask)
            let path = "\(base)/copy\(attempt)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try store.env.copy(toDirectory: path, compact: true)
            store.close()
            let reader = try JourneyStore(path: path, mode: .readOnly)
            let lag = try reader.projectionStatus().map(\.lag).max() ?? 0
            reader.close()
            if lag > 0 { copy = path }
        }
        let path = try #require(copy, "no copy caught the projections behind the log in 10 attempts")
        let reopened = try JourneyStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.projectionStatus().allSatisfy { $0.lag == 0 && $0.checkpoint == UInt64(Self.tasks * Self.perTask) })
        let funnels = try reopened.verifySavedFunnels()
        #expect(funnels.count == 1 && funnels.allSatisfy(\.matches), "\(funnels)")
        let verified = try reopened.verifyProjections()
        #expect(!verified.isEmpty && verified.allSatisfy(\.matches), "\(verified)")
        try expectComplete(reopened, "reopened copy")
    }

    @Test(.timeLimit(.minutes(2)))
    func closingAppliesWhatWasDeferred() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-deferred-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try JourneyStore(path: dir)
        try store.saveFunnel(FunnelDefinition.load(json: Array(#"{"name":"a-b-c","steps":["A","B","C"],"window":"1d"}"#.utf8)))
        try await appendConcurrently(store, tasks: Self.tasks, perTask: Self.perTask)
        store.close()
        // Read-only with no writer left: nothing would catch up now, so the projections must already be complete.
        let reopened = try JourneyStore(path: dir, mode: .readOnly)
        defer { reopened.close() }
        #expect(try reopened.projectionStatus().allSatisfy { $0.checkpoint == UInt64(Self.tasks * Self.perTask) && $0.lag == 0 })
        try expectComplete(reopened, "reopened")
    }
}
