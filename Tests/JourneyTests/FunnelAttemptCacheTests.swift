import Testing

@testable import Journey

// The writer's in-memory attempts: what a row set is read back as, across replacements, removals and the arena's
// compaction (which the saved-funnel tests' small stores never reach).

@Suite("funnel attempt cache")
struct FunnelAttemptCacheTests {
    /// A row whose bytes tell person and version apart (length varies with both).
    private func row(_ person: UInt32, _ version: Int) -> [UInt8] {
        let length = 2 + 8 * Int((person &+ UInt32(version)) % 4)
        return (0..<length).map { UInt8(truncatingIfNeeded: Int(person) &* 31 &+ version &* 7 &+ $0) }
    }

    private func read(_ cache: FunnelAttemptCache, _ person: UInt32) -> [UInt8]? {
        cache.withRow(person) { Array($0) }
    }

    @Test("rows replaced many times (the arena compacts), removed and never set read back exactly")
    func replaceRemoveCompact() {
        var cache = FunnelAttemptCache(through: 0)
        var expected: [UInt32: [UInt8]] = [:]
        let persons: [UInt32] = (0..<20_000).map { UInt32($0 * 3 + 1) }
        // Enough rounds that replaced rows pass 1 MB and twice the live bytes several times over.
        for version in 0..<12 {
            for p in persons where (Int(p) / 3 + version) % 3 != 0 {
                let r = row(p, version)
                r.withUnsafeBytes { cache.set(p, $0) }
                expected[p] = r
            }
            for p in persons where (Int(p) / 3 + version) % 17 == 0 {
                cache.remove(p)
                expected[p] = nil
            }
            let wrong = persons.filter { read(cache, $0) != expected[$0] }
            #expect(wrong.isEmpty, "round \(version): \(wrong.count) persons read back wrong, first \(wrong.first ?? 0)")
        }
        // Never set, or beyond the slots: unknown, not empty.
        #expect(read(cache, 0) == nil)
        #expect(read(cache, 2) == nil)
        #expect(read(cache, 10_000_000) == nil)
    }

    @Test("an empty row (never entered) is known and empty; update forgets absorbed persons and moves the checkpoint")
    func emptyRowsAndUpdate() {
        var cache = FunnelAttemptCache(through: 10)
        [UInt8]().withUnsafeBytes { cache.set(5, $0) }
        #expect(read(cache, 5) == [])
        var rows = CapturedAttempts()
        rows.rows.append(contentsOf: [3, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        rows.record(7, remember: false)
        rows.record(9, remember: false)  // empty row
        cache.update(absorbed: [5], rows, through: 20)
        #expect(cache.through == 20)
        #expect(read(cache, 5) == nil)
        #expect(read(cache, 7) == [3, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(read(cache, 9) == [])
    }
}
