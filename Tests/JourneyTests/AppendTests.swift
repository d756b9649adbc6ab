import Foundation
import Testing

@testable import Journey
import LMDB

// Appending: idempotency by messageId, rejected messages kept for fixing, gapless positions under concurrency,
// the golden data set, opening rules, typed messages.

private func track(_ id: String, user: String = "u1", event: String = "E", extra: String = "") -> String {
    #"{"type":"track","messageId":"\#(id)","userId":"\#(user)","event":"\#(event)"\#(extra)}"#
}

@Suite struct AppendTests {
    // MARK: Dedup

    @Test func duplicatesInOneBatchPointToTheFirst() throws {
        try withStore { store in
            let outcomes = try appendSync(store, [track("a"), track("b"), track("a"), track("c"), track("b"), track("a")])
            #expect(outcomes == [.appended(1), .appended(2), .duplicate(1), .appended(3), .duplicate(2), .duplicate(1)])
            #expect(try allEvents(store).map(\.position) == [1, 2, 3])
            #expect(try allEvents(store).map(\.messageId) == ["a", "b", "c"])
            // The index points each id at its own position, also for records after a repeat in the batch.
            #expect(try appendSync(store, [track("c"), track("b"), track("a")]) == [.duplicate(3), .duplicate(2), .duplicate(1)])
        }
    }

    @Test func duplicatesAcrossBatchesPointToTheFirst() async throws {
        try await withStore { store in
            #expect(try appendSync(store, [track("a"), track("b")]) == [.appended(1), .appended(2)])
            // A re-sent message is a duplicate even when its content differs: messageId is the key, forever.
            let resent = try appendSync(store, [track("c"), track("a", event: "Changed"), track("d"), track("b")])
            #expect(resent == [.appended(3), .duplicate(1), .appended(4), .duplicate(2)])
            #expect(try await store.append(json: track("d")) == .duplicate(4))
            #expect(try await store.append(json: track("e")) == .appended(5))
            // The first version is the one kept.
            #expect(try store.event(at: 1)?.name == "E")
            let events = try allEvents(store)
            #expect(events.map(\.position) == [1, 2, 3, 4, 5])
            #expect(events.map(\.messageId) == ["a", "b", "c", "d", "e"])
            let status = try store.status()
            #expect(status.events == 5)
            #expect(status.lastPosition == 5)
            #expect(status.eventsByName == ["E": 5])
            #expect(try store.lastPosition() == 5)
        }
    }

    @Test("the writer's hash order (radix sort) equals the (hash, order) comparison sort, repeats included")
    func hashOrderSortMatchesComparisonSort() {
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 7, 511, 512, 5_000, 70_000] {
            // Few distinct hashes in some runs (many repeats), full 64-bit spread in others; a shared top byte.
            let distinct = n % 2 == 0 ? max(1, n / 8) : n
            let pool = (0..<max(1, distinct)).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) & 0x00FF_FFFF_FFFF_FFFF }
            var records = (0..<n).map { HashedRecord(hash: pool[Int.random(in: 0..<pool.count, using: &rng)], order: Int32($0)) }
            let expected = records.sorted(by: HashedRecord.before)
            HashedRecord.sort(&records)
            #expect(records.map(\.hash) == expected.map(\.hash))
            #expect(records.map(\.order) == expected.map(\.order))
        }
    }

    /// The writer merges the sorted runs of the batches it commits together: the result must be the batches'
    /// records sorted by (hash, order), orders shifted by each batch's offset, for few runs and many.
    @Test func batchRunsMergeIntoHashOrder() {
        var rng = SplitMix64(seed: 5)
        for k in [1, 2, 3, 4, 8, 9, 30] {
            let pool = (0..<20).map { _ in rng.next() }
            var runs: [[HashedRecord]] = []
            var offsets = [0]
            var all: [HashedRecord] = []
            for _ in 0..<k {
                let n = Int(rng.next() % 700)
                var run = (0..<n).map { HashedRecord(hash: rng.next() % 3 == 0 ? pool[Int(rng.next() % 20)] : rng.next(), order: Int32($0)) }
                HashedRecord.sort(&run)
                all += run.map { HashedRecord(hash: $0.hash, order: $0.order + Int32(offsets.last ?? 0)) }
                offsets.append((offsets.last ?? 0) + n)
                runs.append(run)
            }
            let merged = HashedRecord.merged(runs, offsets: offsets)
            let expected = all.sorted(by: HashedRecord.before)
            #expect(merged.map(\.hash) == expected.map(\.hash), "\(k) runs")
            #expect(merged.map(\.order) == expected.map(\.order), "\(k) runs")
        }
    }

    /// A commit's events per name: the short list and, past 64 names, its index count what a dictionary counts.
    @Test func nameTallyCountsLikeADictionary() {
        var rng = SplitMix64(seed: 9)
        for distinct in [1, 4, 64, 65, 300] {
            var tally = NameTally()
            var expected: [UInt32: UInt64] = [:]
            for _ in 0..<5_000 {
                let name = UInt32(rng.next() % UInt64(distinct)) * 7
                let n = rng.next() % 3 + 1
                tally.add(name, n)
                expected[name, default: 0] += n
            }
            #expect(Dictionary(uniqueKeysWithValues: tally.entries.map { ($0.name, $0.count) }) == expected)
            #expect(tally.entries.count == expected.count)
        }
    }

    @Test func messageIdsAreComparedExactly() throws {
        try withStore { store in
            // Same text with different escapes is the same id; different bytes are different ids.
            let ids = [#"m-1"#, #"m\u002d1"#, #"M-1"#, #"m-1 "#, #"é"#, #"e\u0301"#, #"\u00e9"#]
            let outcomes = try appendSync(store, ids.map { track($0) })
            #expect(outcomes == [.appended(1), .duplicate(1), .appended(2), .appended(3), .appended(4), .appended(5), .duplicate(4)])
        }
    }

    @Test func manyDistinctIdsAndTheirRepeats() throws {
        // Enough ids that many share a dedup-index bucket (4,096 buckets).
        try withStore { store in
            let ids = (0..<20_000).map { "id-\($0)" }
            let first = try appendSync(store, ids.map { track($0) })
            #expect(first == (1...20_000).map { .appended(UInt64($0)) })
            let again = try appendSync(store, ids.reversed().map { track($0) } + [track("new")])
            #expect(again == (1...20_000).reversed().map { .duplicate(UInt64($0)) } + [.appended(20_001)])
        }
    }

    @Test func duplicatesSurviveReopening() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            let first = [
                track("a", extra: #","channel":"web","properties":{"plan":"pro","price":1.50,"at":"2026-03-01T12:00:00.000Z"}"#),
                track("b", event: "Other", extra: #","context":{"locale":"de-CH"}"#),
            ]
            var before: [StoredEvent] = []
            do {
                let store = try JourneyStore(path: path)
                #expect(try appendSync(store, first) == [.appended(1), .appended(2)])
                before = try allEvents(store)
                store.close()
            }  // released here: the writer lock and the environment are free again.
            do {
                let store = try JourneyStore(path: path)
                #expect(try appendSync(store, [track("b"), track("c", event: "Other")]) == [.duplicate(2), .appended(3)])
                store.close()
            }
            // A read-only store on an existing path reads, and refuses to append.
            let reader = try JourneyStore(path: path, mode: .readOnly)
            let after = try allEvents(reader)
            #expect(after.map(\.messageId) == ["a", "b", "c"])
            // Event names, channels, keys and interned values decode the same after reopening.
            #expect(Array(after.prefix(2)) == before)
            #expect(try reader.status().eventsByName == ["E": 1, "Other": 2])
            #expect(try reader.status().events == 3)
            let refused = #expect(throws: (any Error).self) { try appendSync(reader, [track("d")]) }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("read-only"))
        }
    }

    @Test("the newest messageIds wait in memory, are read back from the log after a reopen, and reach the index in one flush")
    func pendingMessageIdsSurviveReopeningAndFlush() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            func indexed(_ store: JourneyStore) throws -> (entries: Int, through: UInt64?) {
                try store.env.read { txn in (try txn.statistics(store.log.messageIds).entries, try store.log.dedupThrough(txn)) }
            }
            let small = (0..<1_000).map { track("s\($0)") }
            do {
                let store = try JourneyStore(path: path)
                #expect(try appendSync(store, Array(small[..<500])) == (1...500).map { .appended(UInt64($0)) })
                #expect(try appendSync(store, Array(small[500...])) == (501...1_000).map { .appended(UInt64($0)) })
                // Below the threshold nothing was written to the index, yet repeats are found (in memory).
                #expect(try indexed(store).entries == 0 && indexed(store).through == 0)
                #expect(try appendSync(store, [track("s7"), track("s999")]) == [.duplicate(8), .duplicate(1_000)])
                store.close()
            }
            do {
                // Reopened (as after kill -9: nothing was flushed at close): read back from the log.
                let store = try JourneyStore(path: path)
                #expect(try appendSync(store, [track("s0"), track("new-1"), track("s500")]) == [.duplicate(1), .appended(1_001), .duplicate(501)])
                // A bulk commit's entries wait too (up to `bulkFlushThreshold`)…
                let many = (0..<PendingMessageIds.flushThreshold).map { track("m\($0)") }
                let outcomes = try appendSync(store, many)
                #expect(outcomes.first == .appended(1_002) && outcomes.last == .appended(UInt64(1_001 + many.count)))
                #expect(try indexed(store).entries == 0)
                // …and past the small commits' threshold the next small commit writes every waiting entry and moves
                // the checkpoint.
                #expect(try appendSync(store, [track("s3"), track("m5"), track("new-1")]) == [.duplicate(4), .duplicate(1_007), .duplicate(1_001)])
                let after = try indexed(store)
                #expect(after.entries == 1_001 + many.count && after.through == UInt64(1_001 + many.count))
                #expect(try appendSync(store, [track("m6"), track("new-2")]) == [.duplicate(1_008), .appended(UInt64(1_002 + many.count))])
                // A writer closing with many entries waiting writes them before it stops.
                _ = try appendSync(store, (0..<PendingMessageIds.flushThreshold).map { track("n\($0)") })
                #expect(try indexed(store).entries == 1_001 + many.count)
                store.close()
                let reader = try JourneyStore(path: path, mode: .readOnly)
                let last = try reader.lastPosition()
                #expect(try indexed(reader).entries == Int(last) && indexed(reader).through == last)
            }
        }
    }

    @Test("a format-1 store (every messageId indexed, no checkpoint) is marked with the current format by a writer and keeps deduplicating")
    func formatOneStoreIsUpgraded() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            do {
                let store = try JourneyStore(path: path)
                _ = try appendSync(store, (0..<PendingMessageIds.flushThreshold).map { track("x\($0)") })
                // A small commit past the threshold indexes them all (as a format-1 store had them).
                _ = try appendSync(store, [track("x-last")])
                // Made to look like a store written before the checkpoint existed.
                try store.env.write { txn in
                    try setStoredFormat(&txn, store, 1)
                    _ = try Array("dedup.through".utf8).withUnsafeBytes { try txn.delete(store.log.meta, key: $0) }
                }
                store.close()
            }
            let store = try JourneyStore(path: path)
            defer { store.close() }
            #expect(try storedFormat(store) == EventLog.formatVersion)
            #expect(try store.env.read { txn in try store.log.dedupThrough(txn) } == UInt64(PendingMessageIds.flushThreshold + 1))
            #expect(try appendSync(store, [track("x0"), track("x65535"), track("y")]) == [.duplicate(1), .duplicate(65_536), .appended(65_538)])
        }
    }

    /// The store's received time is its clock when it took each batch; events keep their own batch's time however
    /// they are read.
    @Test func eachBatchKeepsItsReceivedTime() throws {
        try withStore { store in
            func timed(_ lines: [String]) throws -> ClosedRange<Int64> {
                let start = nowMillis()
                _ = try appendSync(store, lines)
                let end = nowMillis()
                usleep(15_000)
                return start...end
            }
            let t1 = try timed([track("a"), track("b")])
            let t2 = try timed([track("c")])
            _ = try timed([track("a"), "not json"])  // nothing appended
            let t3 = try timed([track("b"), track("d"), track("e")])  // starts with a duplicate
            #expect(t1.upperBound < t2.lowerBound && t2.upperBound < t3.lowerBound)
            let expected: [UInt64: ClosedRange<Int64>] = [1: t1, 2: t1, 3: t2, 4: t3, 5: t3]
            let all = try allEvents(store)
            #expect(all.map(\.position) == [1, 2, 3, 4, 5])
            for e in all { #expect(expected[e.position]!.contains(e.receivedTime), "position \(e.position)") }
            // Read from the middle of a batch, one at a time, and in pages that cut batches.
            for p in UInt64(1)...5 {
                let e = try #require(try store.event(at: p))
                #expect(expected[p]!.contains(e.receivedTime), "event(at: \(p))")
            }
            for e in try store.events(from: 2, limit: 2) + store.events(from: 4, limit: 1) + store.events(from: 5) {
                #expect(expected[e.position]!.contains(e.receivedTime), "events(from:) position \(e.position)")
            }
        }
    }

    /// Batches received in the same millisecond share one entry of received times (single appends from many
    /// callers are the common case); each event still reads its batch's time.
    @Test func batchesOfOneMillisecondShareAReceivedEntry() throws {
        try withStore { store in
            func batch(_ ids: [String], at time: Int64) -> AppendBatch {
                var b = store.encode(ids.map { Array(track($0).utf8) }, source: "test")
                b.receivedTime = time
                return b
            }
            let t0: Int64 = 1_767_225_600_000
            _ = try store.submitSync(batch(["a", "b"], at: t0))
            _ = try store.submitSync(batch(["c"], at: t0))
            _ = try store.submitSync(batch(["a"], at: t0 + 1))  // only a duplicate: no entry
            _ = try store.submitSync(batch(["d"], at: t0 + 2))
            _ = try store.submitSync(batch(["e"], at: t0 + 2))
            _ = try store.submitSync(batch(["f"], at: t0))
            let entries = try store.env.read { txn in try store.log.receivedTimes(txn, from: 1, to: 100) }
            #expect(entries.map(\.0) == [1, 4, 6])
            #expect(entries.map(\.1) == [t0, t0 + 2, t0])
            #expect(try allEvents(store).map(\.receivedTime) == [t0, t0, t0, t0 + 2, t0 + 2, t0])
        }
    }

    // MARK: Rejected messages

    @Test func rejectedMessagesAreKeptWithSourceLineAndReason() throws {
        try withStore { store in
            let lines = [
                track("ok-1"),
                "this is not json",
                #"{"type":"track","messageId":"no-user","event":"E"}"#,
                track("ok-2"),
                #"{"type":"teleport","messageId":"m","userId":"u"}"#,
            ]
            let before = nowMillis()
            let outcomes = try appendSync(store, lines, source: "unit-test")
            let after = nowMillis()
            #expect(outcomes[0] == .appended(1))
            #expect(outcomes[3] == .appended(2))
            let reasons = outcomes.compactMap(\.rejection)
            #expect(reasons.map(\.field) == ["json", "userId", "type"])

            let rejected = try store.rejected()
            #expect(rejected.map(\.raw) == [lines[1], lines[2], lines[4]])
            #expect(rejected.map(\.source) == ["unit-test", "unit-test", "unit-test"])
            #expect(rejected.map(\.line) == [2, 3, 5])
            #expect(rejected.map(\.reason) == reasons.map(\.description))
            #expect(rejected.allSatisfy { $0.time >= before && $0.time <= after })
            #expect(try store.rejected(limit: 2).map(\.line) == [2, 3])
            // Rejected messages take no position.
            #expect(try allEvents(store).map(\.position) == [1, 2])
            #expect(try store.status().rejected == 3)

            // A later batch adds to the list, oldest first.
            let more = try appendSync(store, ["[1,2]"], source: "second")
            #expect(more.first?.rejection?.field == "json")
            #expect(try store.rejected().map(\.source) == ["unit-test", "unit-test", "unit-test", "second"])
        }
    }

    @Test func importKeepsRejectedLinesWithFileAndLineNumber() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/in.ndjson"
            let text = [track("a"), "", "{broken", track("b"), "   ", track("a"), #"{"type":"track"}"#].joined(separator: "\n") + "\n"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let store = try JourneyStore(path: dir + "/store")
            defer { store.close() }
            let summary = try Importer(store: store).run([file])
            #expect(summary.lines == 5)  // blank lines are not counted
            #expect(summary.accepted == 2)
            #expect(summary.duplicates == 1)
            #expect(summary.rejected == 2)
            let rejected = try store.rejected()
            #expect(rejected.map(\.line) == [3, 7])  // line numbers in the file, blank lines included
            #expect(rejected.map(\.source) == [file, file])
            #expect(rejected.map(\.raw) == ["{broken", #"{"type":"track"}"#])
            #expect(summary.firstRejections.map(\.line) == [3, 7])
        }
    }

    // MARK: Concurrency

    @Test(.timeLimit(.minutes(2)))
    func concurrentSingleAppendsGetGaplessPositions() async throws {
        let tasks = 64
        let perTask = 500
        try await withStore { store in
            let results = try await withThrowingTaskGroup(of: (Int, [AppendOutcome]).self) { group in
                for t in 0..<tasks {
                    group.addTask {
                        var outcomes: [AppendOutcome] = []
                        outcomes.reserveCapacity(perTask)
                        for i in 0..<perTask {
                            outcomes.append(try await store.append(json: track("t\(t)-\(i)", user: "u\(t)")))
                        }
                        return (t, outcomes)
                    }
                }
                var all: [Int: [AppendOutcome]] = [:]
                for try await (t, outcomes) in group { all[t] = outcomes }
                return all
            }
            let total = tasks * perTask
            var positions: [UInt64] = []
            for t in 0..<tasks {
                let outcomes = try #require(results[t])
                let mine = outcomes.compactMap(\.appendedPosition)
                #expect(mine.count == perTask, "task \(t): \(outcomes.filter { $0.appendedPosition == nil }.prefix(3))")
                // Each task waited for every append: its events are in the log in the order it sent them.
                #expect(mine == mine.sorted(), "task \(t)")
                positions += mine
            }
            #expect(positions.sorted() == Array(1...UInt64(total)))

            let events = try allEvents(store, pageSize: 5_000)
            #expect(events.map(\.position) == Array(1...UInt64(total)))
            #expect(Set(events.map(\.messageId)).count == total)
            // The log holds what each append said it stored where.
            var expectedAt: [UInt64: String] = [:]
            for (t, outcomes) in results {
                for (i, o) in outcomes.enumerated() { if let p = o.appendedPosition { expectedAt[p] = "t\(t)-\(i)" } }
            }
            #expect(events.allSatisfy { expectedAt[$0.position] == $0.messageId })
            let status = try store.status()
            #expect(status.events == total)
            #expect(status.lastPosition == UInt64(total))
            #expect(status.eventsByName == ["E": total])
        }
    }

    // MARK: Golden data set

    struct Expected: Decodable {
        var lines: Int
        var accepted: Int
        var duplicates: Int
        var rejected: Int
        var events_by_name: [String: Int]
    }

    @Test func goldenFileImportsAsExpected() throws {
        let events = TestResources.sourcePath("Golden/events.ndjson")
        let expected = try JSONDecoder().decode(
            Expected.self, from: TestResources.data(atSourcePath: "Golden/expected.json"))
        try withStore { store in
            let first = try Importer(store: store).run([events])
            #expect(first.lines == expected.lines)
            #expect(first.accepted == expected.accepted)
            #expect(first.duplicates == expected.duplicates)
            #expect(first.rejected == expected.rejected)
            var status = try store.status()
            #expect(status.eventsByName == expected.events_by_name)
            #expect(status.events == expected.accepted)
            #expect(status.lastPosition == UInt64(expected.accepted))
            #expect(status.rejected == expected.rejected)
            #expect(try store.rejected().count == expected.rejected)

            // Importing the same file again stores nothing new: every valid line is now a duplicate.
            let second = try Importer(store: store).run([events])
            #expect(second.lines == expected.lines)
            #expect(second.accepted == 0)
            #expect(second.duplicates == expected.accepted + expected.duplicates)
            #expect(second.rejected == expected.rejected)
            status = try store.status()
            #expect(status.events == expected.accepted)
            #expect(status.eventsByName == expected.events_by_name)
            // Rejected lines are kept again, with their line numbers.
            #expect(status.rejected == 2 * expected.rejected)
            let rejected = try store.rejected()
            #expect(rejected[..<expected.rejected].map(\.line) == rejected[expected.rejected...].map(\.line))
        }
    }

    /// A store opened with a tiny map grows it as the import fills it, and loses nothing.
    @Test func goldenImportIntoATinyMap() throws {
        let events = TestResources.sourcePath("Golden/events.ndjson")
        let expected = try JSONDecoder().decode(
            Expected.self, from: TestResources.data(atSourcePath: "Golden/expected.json"))
        try withStore(mapSize: 64 << 10) { store in
            var importer = Importer(store: store)
            importer.batchSize = 4_000
            let summary = try importer.run([events])
            #expect(summary.accepted == expected.accepted)
            #expect(summary.duplicates == expected.duplicates)
            #expect(summary.rejected == expected.rejected)
            let status = try store.status()
            #expect(status.events == expected.accepted)
            #expect(status.eventsByName == expected.events_by_name)
            // The pages in use exceed the initial map, so it grew.
            #expect(status.bytes > 64 << 10)
            let all = try allEvents(store, pageSize: 10_000)
            #expect(all.map(\.position) == Array(1...UInt64(expected.accepted)))
            // The import ends with every messageId in the index: nothing left for the next open to read back.
            let indexed = try store.env.read { txn in (try txn.statistics(store.log.messageIds).entries, try store.log.dedupThrough(txn)) }
            #expect(indexed.0 == expected.accepted && indexed.1 == UInt64(expected.accepted))
        }
    }

    @Test func goldenResourcesAreBundled() throws {
        // The test target copies `Golden` as a resource; the bundled files are the ones in the source tree.
        for name in ["events.ndjson", "expected.json"] {
            let bundled = try #require(TestResources.golden(name))
            let data = try Data(contentsOf: URL(fileURLWithPath: bundled))
            #expect(data == (try TestResources.data(atSourcePath: "Golden/" + name)), "\(name)")
        }
    }

    // MARK: Opening

    @Test func readOnlyOnAMissingPathFails() throws {
        try withTemporaryDirectory { dir in
            let missing = dir + "/no-store-here"
            let error = #expect(throws: (any Error).self) { try JourneyStore(path: missing, mode: .readOnly) }
            let description = error.map { "\($0)" } ?? ""
            #expect(description.contains("no store at"), "\(description)")
            #expect(description.contains(missing))
            // Nothing was created.
            #expect(!FileManager.default.fileExists(atPath: missing))
        }
    }

    @Test func readWriteCreatesTheStore() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/nested/new-store"
            let store = try JourneyStore(path: path)
            defer { store.close() }
            #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
            #expect(try store.status().events == 0)
            #expect(try store.lastPosition() == 0)
            #expect(try store.events().isEmpty)
            #expect(try store.event(at: 1) == nil)
        }
    }

    @Test func appendAfterCloseFails() async throws {
        try await withStore { (store) async throws in
            #expect(try await store.append(json: track("before")) == .appended(1))
            store.close()
            await #expect(throws: (any Error).self) { try await store.append(json: track("after")) }
            #expect(try store.lastPosition() == 1)
        }
    }

    // MARK: Typed messages

    @Test func typedTrackMessageRoundTrips() async throws {
        try await withStore { store in
            let time = utcMillis(2026, 3, 17, 23, 12, 45, 894)
            let message = Message.track(
                "Order Completed", messageId: "typed-1", userId: "u-1", anonymousId: "a-1", channel: "web",
                timestamp: time,
                properties: [
                    "total": .number(185.21), "items": .integer(3), "coupon": .null, "gift": .bool(true),
                    "tags": .array([.string("a"), .string("b \"quoted\"")]),
                    "shipping": .object(["city": .string("Zürich"), "express": .bool(false)]),
                ])
            let outcomes = try await store.append([message])
            #expect(outcomes == [.appended(1)])
            let event = try #require(try store.event(at: 1))
            #expect(event.type == .track)
            #expect(event.name == "Order Completed")
            #expect(event.messageId == "typed-1")
            #expect(event.userId == "u-1")
            #expect(event.anonymousId == "a-1")
            #expect(event.channel == "web")
            #expect(event.eventTime == time)
            // Stored exactly like the same message arriving as JSON.
            #expect(try jsonSemanticallyEqual(event.json, String(decoding: message.jsonBytes(), as: UTF8.self)))
            let object = try jsonObject(event.json)
            #expect(object["timestamp"] as? String == "2026-03-17T23:12:45.894Z")
            let properties = try #require(object["properties"] as? [String: Any])
            #expect((properties["total"] as? NSNumber)?.doubleValue == 185.21)
            #expect((properties["items"] as? NSNumber)?.intValue == 3)
            #expect(properties["coupon"] is NSNull)
            #expect(properties["gift"] as? Bool == true)
            #expect(properties["tags"] as? [String] == ["a", "b \"quoted\""])
            #expect((properties["shipping"] as? [String: Any])?["city"] as? String == "Zürich")
            #expect(containsBytes(event.json, #""total":185.21"#))
            // The same message again is a duplicate.
            #expect(try await store.append([message]) == [.duplicate(1)])
            #expect(try store.event(at: 2) == nil)
        }
    }

    @Test func typedMessagesOfEveryCallType() async throws {
        try await withStore { store in
            let messages = [
                Message(type: .page, messageId: "p", anonymousId: "a", name: "Home", properties: ["path": .string("/")]),
                Message(type: .screen, messageId: "s", userId: "u", name: "Cart"),
                Message(type: .identify, messageId: "i", userId: "u", anonymousId: "a", traits: ["plan": .string("pro")]),
                Message(type: .alias, messageId: "al", userId: "u", previousId: "a"),
                Message(type: .group, messageId: "g", userId: "u", groupId: "g-1", traits: ["employees": .integer(120)]),
                // Invalid like its JSON would be: a track without an event name.
                Message(type: .track, messageId: "t", userId: "u"),
            ]
            let outcomes = try await store.append(messages)
            #expect(outcomes.prefix(5) == [.appended(1), .appended(2), .appended(3), .appended(4), .appended(5)])
            #expect(outcomes.last?.rejection?.field == "event")
            let events = try allEvents(store)
            #expect(events.map(\.name) == ["Page Viewed", "Screen Viewed", "Identify", "Alias", "Group"])
            #expect(events[3].previousId == "a")
            for (event, message) in zip(events, messages) {
                #expect(try jsonSemanticallyEqual(event.json, String(decoding: message.jsonBytes(), as: UTF8.self)))
            }
        }
    }
}
