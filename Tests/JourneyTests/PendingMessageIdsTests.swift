import Testing

@testable import Journey

// The writer's table of messageIds not yet in `message_ids`: what dedup relies on between two flushes.

@Suite struct PendingMessageIdsTests {
    /// A hash whose top bits are `home` (the table's slot) and low bits `tag`, to force shared slots.
    private func hash(_ home: UInt64, _ tag: UInt64) -> UInt64 { home << 48 | tag }

    @Test func equalHashesAreAllFoundOldestFirst() {
        var p = PendingMessageIds()
        // Three messages whose 64-bit hashes collide (different messageIds), then one sharing only the slot.
        p.add(HashedPosition(hash: hash(5, 1), position: 10))
        p.add(HashedPosition(hash: hash(5, 1), position: 11))
        p.add(HashedPosition(hash: hash(5, 2), position: 12))
        p.add(HashedPosition(hash: hash(5, 1), position: 13))
        #expect(p.find(hash(5, 1)) { _ in true } == 10)
        #expect(p.find(hash(5, 1)) { $0 == 13 } == 13)
        #expect(p.find(hash(5, 1)) { $0 == 12 } == nil)  // 12 has another hash: never offered
        #expect(p.find(hash(5, 2)) { _ in true } == 12)
        #expect(p.find(hash(6, 1)) { _ in true } == nil)
        #expect(p.find(hash(5, 3)) { _ in true } == nil)
    }

    @Test("a transaction's entries, sorted by hash, added at once: all found, and sorted with the earlier ones")
    func transactionsAddedAtOnce() {
        var p = PendingMessageIds()
        var rng = SystemRandomNumberGenerator()
        var added: [HashedPosition] = []
        var next: UInt64 = 1
        for size in [3, 70_000, 1, 250_000] {
            var commit = (0..<size).map { _ in HashedPosition(hash: rng.next(), position: 0) }
            commit.sort { $0.hash < $1.hash }
            for i in commit.indices {
                commit[i].position = next
                next += 1
            }
            p.add(contentsOf: commit)
            added += commit
        }
        #expect(p.count == added.count)
        for e in added where e.position % 97 == 0 || e.position < 5 {
            #expect(p.find(e.hash) { $0 == e.position } == e.position)
        }
        let expected = added.sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.position < $1.position }
        #expect(p.sorted().map(\.position) == expected.map(\.position))
    }

    @Test func manyEntriesGrowTheTableAndSortByHashThenPosition() {
        var p = PendingMessageIds()
        var rng = SystemRandomNumberGenerator()
        var added: [HashedPosition] = []
        for position in UInt64(1)...300_000 {
            // One in 1,000 repeats an earlier hash: a 64-bit collision between different messageIds.
            let h = position % 1_000 == 0 ? added[Int(position / 2)].hash : rng.next()
            let e = HashedPosition(hash: h, position: position)
            added.append(e)
            p.add(e)
        }
        #expect(p.count == 300_000)
        for e in added.prefix(5_000) { #expect(p.find(e.hash) { $0 == e.position } == e.position) }
        let sorted = p.sorted()
        let expected = added.sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.position < $1.position }
        #expect(sorted.map(\.position) == expected.map(\.position))

        p.removeAll()
        #expect(p.count == 0)
        #expect(p.find(added[7].hash) { _ in true } == nil)
        p.add(added[7])
        #expect(p.find(added[7].hash) { _ in true } == added[7].position)
    }

    /// Growing re-places the entries in slot order: equal hashes, also in a cluster that wraps past the end, must
    /// come out oldest first, and every entry must still be found.
    @Test func growingKeepsEqualHashesOldestFirst() {
        var p = PendingMessageIds()
        for position in UInt64(1)...3 { p.add(HashedPosition(hash: hash(65_535, 1), position: position)) }
        p.add(HashedPosition(hash: hash(0, 1), position: 4))
        var rng = SplitMix64(seed: 3)
        var added: [HashedPosition] = []
        for position in UInt64(5)...200_000 {
            let e = HashedPosition(hash: rng.next(), position: position)
            added.append(e)
            p.add(e)
            if position % 10_000 == 0 {  // after each growth (a wrong order may be undone by the next one)
                #expect(p.find(hash(65_535, 1)) { _ in true } == 1, "after \(position)")
                #expect(p.find(hash(65_535, 1)) { $0 > 1 } == 2, "after \(position)")
                #expect(p.find(hash(0, 1)) { _ in true } == 4, "after \(position)")
            }
        }
        for e in added where e.position % 13 == 0 { #expect(p.find(e.hash) { $0 == e.position } == e.position) }
    }

    @Test func entriesThatWrapPastTheTablesEndSortLast() {
        var p = PendingMessageIds()
        // Four whose home is the last slot (three of them wrap to slots 0…2), then two whose home is slot 0 and one at
        // slot 1 (pushed further by the wrapped ones).
        let added = [
            HashedPosition(hash: hash(65_535, 9), position: 1), HashedPosition(hash: hash(65_535, 3), position: 2),
            HashedPosition(hash: hash(65_535, 3), position: 3), HashedPosition(hash: hash(65_535, 1), position: 4),
            HashedPosition(hash: hash(0, 5), position: 5), HashedPosition(hash: hash(0, 2), position: 6),
            HashedPosition(hash: hash(1, 0), position: 7),
        ]
        for e in added { p.add(e) }
        let expected = added.sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.position < $1.position }
        #expect(p.sorted().map(\.position) == expected.map(\.position))
        #expect(expected.map(\.position) == [6, 5, 7, 4, 2, 3, 1])
    }
}
