import Testing

@testable import Journey

@Suite("person changes")
struct PersonChangesTests {
    @Test("uniqueSorted gives the distinct numbers in order, dense (bitmap) or sparse (sort), with repeats and extremes")
    func uniqueSorted() {
        var rng = SplitMix64(seed: 3)
        for round in 0..<200 {
            let count = Int(rng.next() % 500)
            let spread: UInt64 = round % 3 == 0 ? 1 << 32 : UInt64(count + 1) * (round % 2 == 0 ? 2 : 1000)
            var values = (0..<count).map { _ in UInt32(truncatingIfNeeded: rng.next() % spread) }
            if round % 5 == 0 { values += [UInt32.max, 0, UInt32.max] }
            let expected = Array(Set(values)).sorted()
            #expect(PersonChanges.uniqueSorted(values) == expected)
        }
        #expect(PersonChanges.uniqueSorted([]) == [])
    }
}
