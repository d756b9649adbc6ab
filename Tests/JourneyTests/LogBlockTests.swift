import Foundation
import Testing

@testable import Journey
import LMDB

// The log's blocks (format 3): records packed into LMDB values keyed by their last position, read back by position
// and in order; stores of format 2 (one record per key) read and appended to as before.

private func track(_ id: String, user: String = "u1", event: String = "E", extra: String = "") -> String {
    #"{"type":"track","messageId":"\#(id)","userId":"\#(user)","event":"\#(event)"\#(extra)}"#
}

@Suite("the log's blocks") struct LogBlockTests {
    @Test("blocks built from records of random sizes give every record back, in order, and fit a leaf page")
    func builderAndViewRoundTrip() throws {
        var rng = SplitMix64(seed: 11)
        for pageSize in [4096, 16_384] {
            var builder = LogBlockBuilder(pageSize: pageSize)
            var records: [[UInt8]] = []
            var blocks: [(last: UInt64, bytes: [UInt8])] = []
            for position in 1...3_000 as ClosedRange<UInt64> {
                // Mostly small; some larger than a block may hold (a block of their own).
                let size = rng.next() % 50 == 0 ? Int(rng.next() % 9_000) + 1 : Int(rng.next() % 180) + 1
                let record = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                records.append(record)
                try record.withUnsafeBytes { r in
                    try builder.add(r, position: position) { last, b in blocks.append((last, Array(b))) }
                }
            }
            try builder.flush { last, b in blocks.append((last, Array(b))) }
            #expect(builder.isEmpty)
            var next = 1
            for (k, block) in blocks.enumerated() {
                try block.bytes.withUnsafeBytes { b in
                    let view = try #require(LogBlockView(b))
                    #expect(Int(block.last) == next + view.count - 1)
                    #expect(view.count <= LogBlock.maxRecords)
                    // Only a block of one record may exceed what a leaf page holds inline.
                    if view.count > 1 { #expect(b.count <= LogBlock.inlineLimit(pageSize: pageSize)) }
                    for i in 0..<view.count {
                        let r = try #require(view.record(i))
                        #expect(Array(r) == records[next - 1 + i], "block \(k), record \(i)")
                    }
                    next += view.count
                }
            }
            #expect(next == records.count + 1)
            #expect(Double(records.count) / Double(blocks.count) > 5)
        }
        #expect(LogBlock.inlineLimit(pageSize: 4096) == 2022)
    }

    @Test("blocks are filled up to what a leaf page holds inline, never past it, for records of every size")
    func blocksFillToTheLimit() throws {
        let limit = LogBlock.inlineLimit(pageSize: 4096)
        for size in 1...300 {
            var builder = LogBlockBuilder(pageSize: 4096)
            var sizes: [Int] = []
            let record = [UInt8](repeating: 1, count: size)
            for p in 1...800 as ClosedRange<UInt64> {
                try record.withUnsafeBytes { r in
                    try builder.add(r, position: p) { _, b in sizes.append(b.count) }
                }
            }
            // Every block full but the last: at most `limit`, and one more record would not have fitted.
            for s in sizes {
                #expect(s <= limit, "records of \(size) bytes: a block of \(s)")
                let count = (s - 2 + 2) / (size + 2)
                #expect(count == LogBlock.maxRecords || s + size + 2 > limit, "records of \(size) bytes: a block of \(s) left room")
            }
        }
    }

    @Test("a value of one format-2 record reads as a block of one; other bytes are not a block")
    func legacyRecordAndDamage() {
        let record: [UInt8] = [1] + [UInt8](repeating: 7, count: 30)
        record.withUnsafeBytes { b in
            let view = LogBlockView(b)
            #expect(view?.count == 1)
            #expect(view?.record(0).map(Array.init) == record)
        }
        [UInt8]([]).withUnsafeBytes { #expect(LogBlockView($0) == nil) }
        [UInt8]([9, 1, 2]).withUnsafeBytes { #expect(LogBlockView($0) == nil) }
        // Three records announced, but no room for their offsets.
        [UInt8]([LogBlock.marker, 3, 0]).withUnsafeBytes { #expect(LogBlockView($0) == nil) }
        // An offset past the end.
        [UInt8]([LogBlock.marker, 2, 200, 0, 1, 2]).withUnsafeBytes { #expect(LogBlockView($0)?.record(0) == nil) }
    }

    @Test("every position reads back by number and by scans starting anywhere, across batches of any size")
    func positionsReadBackAcrossBlocks() throws {
        try withStore { store in
            var expected: [String] = []
            var n = 0
            for size in [1, 2, 29, 31, 200, 1, 700, 3] {
                let batch = (0..<size).map { i -> String in
                    n += 1
                    // Some large properties: records bigger than a block holds.
                    let extra = n % 97 == 0 ? #","properties":{"blob":"\#(String(repeating: "x", count: 3_000))"}"# : ""
                    return track("m\(n)", user: "u\(n % 13)", extra: extra)
                }
                _ = try appendSync(store, batch)
                expected += (0..<size).map { "m\(n - size + 1 + $0)" }
            }
            let last = UInt64(expected.count)
            #expect(try store.lastPosition() == last)
            #expect(try store.status().events == expected.count)
            try store.env.read { txn in
                for p in 1...last {
                    let id = try store.log.withRecord(txn, at: p) { $0.messageId.map { String(decoding: $0, as: UTF8.self) } } ?? nil
                    #expect(id == expected[Int(p) - 1], "position \(p)")
                }
                #expect(try store.log.withRecord(txn, at: 0) { _ in true } == nil)
                #expect(try store.log.withRecord(txn, at: last + 1) { _ in true } == nil)
                for from in [1, 2, 30, 31, 32, 260, 261, 965, last - 1, last, last + 1] as [UInt64] {
                    var seen: [UInt64] = []
                    let end = try store.log.forEachRecord(txn, from: from) { p, _ in
                        seen.append(p)
                        return true
                    }
                    #expect(seen == Array(from...max(from, last)).filter { $0 <= last }, "from \(from)")
                    #expect(end == max(from - 1, last))
                }
            }
            // The library's reads: one event, and a chunked scan across block boundaries.
            #expect(try store.event(at: 31)?.messageId == "m31")
            var scanned: [UInt64] = []
            try store.scan(from: 25, to: 70, chunk: 7) { p, _ in
                scanned.append(p)
                return true
            }
            #expect(scanned == Array(25...70))
            #expect(try allEvents(store).map(\.messageId) == expected)
        }
    }

    @Test("a format-2 store (one record per key) is read, deduplicated against, appended to and verified, and marked format 3")
    func formatTwoStoreKeepsWorking() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/store"
            let first = (1...120).map { track("m\($0)", user: "u\($0 % 9)", event: $0 % 3 == 0 ? "Order Completed" : "E") }
            var exported: [[UInt8]] = []
            do {
                let store = try JourneyStore(path: path)
                _ = try appendSync(store, first)
                try store.export { exported.append($0) }
                // Rewritten as format 2 stored it: each record under its own position.
                try store.env.write { txn in
                    var records: [(UInt64, [UInt8])] = []
                    _ = try store.log.forEachRecord(txn, from: 1) { p, r in
                        records.append((p, Array(r.bytes)))
                        return true
                    }
                    try txn.clear(store.log.events)
                    for (p, r) in records {
                        try r.withUnsafeBytes { try txn.put(store.log.events, key: p, value: $0) }
                    }
                    try setStoredFormat(&txn, store, 2)
                }
                store.close()
            }
            let store = try JourneyStore(path: path)
            defer { store.close() }
            #expect(try storedFormat(store) == EventLog.formatVersion)
            var again: [[UInt8]] = []
            try store.export { again.append($0) }
            #expect(again == exported)
            #expect(try store.profile(for: "u3")?.orders == 14)
            // Duplicates of single records are found; new records go after them, in blocks.
            let outcomes = try appendSync(store, [track("m7"), track("n1"), track("m120"), track("n2", user: "u3", event: "Order Completed")])
            #expect(outcomes == [.duplicate(7), .appended(121), .duplicate(120), .appended(122)])
            #expect(try allEvents(store).map(\.position) == Array(1...122))
            #expect(try store.profile(for: "u3")?.orders == 15)
            #expect(try store.verifyProjections().allSatisfy(\.matches))
        }
    }
}
