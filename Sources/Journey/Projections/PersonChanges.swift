/// What one write transaction did to persons, as the person projections resolved it: each event's person and event
/// name, and the stored persons merged away (with the person each went into). Observers that run after the person
/// projections in the same transaction (saved funnels) read it rather than looking every event's identifiers up
/// again.
struct PersonChanges {
    var events: [(person: UInt32, name: UInt32)] = []
    /// A stored person merged away → the person it went into.
    var mergedInto: [UInt32: UInt32] = [:]

    mutating func reset() {
        events.removeAll(keepingCapacity: true)
        mergedInto.removeAll(keepingCapacity: true)
    }

    /// Adds one applied chunk (after `IdentityProjection.write`, so new persons have their numbers).
    mutating func add(_ batch: inout IdentityBatch) {
        for k in batch.events.indices {
            let root = batch.root(batch.events[k].person)
            events.append((batch.persons[Int(root)].number, batch.events[k].name))
        }
        for p in batch.persons.indices where batch.persons[p].parent != Int32(p) && batch.persons[p].persisted {
            let root = batch.root(Int32(p))
            mergedInto[batch.persons[p].number] = batch.persons[Int(root)].number
        }
    }

    /// The persons as the whole transaction left them: a later chunk's merge also moves an earlier chunk's events.
    func resolved() -> ResolvedPersonChanges {
        func final(_ n: UInt32) -> UInt32 {
            var x = n
            while let y = mergedInto[x] { x = y }
            return x
        }
        var out = ResolvedPersonChanges()
        out.events = mergedInto.isEmpty ? events : events.map { (final($0.person), $0.name) }
        out.touched = Self.uniqueSorted(out.events.map(\.person))
        out.absorbed = mergedInto.keys.sorted()
        out.mergedSurvivors = Self.uniqueSorted(mergedInto.values.map(final))
        for absorbed in mergedInto.keys { out.survivors[absorbed] = final(absorbed) }
        return out
    }

    /// The distinct values in increasing order. Person numbers are dense, so when their range is not much wider
    /// than the list a bitmap does it in two linear passes (the writer calls this several times per commit on
    /// tens of thousands of numbers); otherwise a sort.
    static func uniqueSorted(_ values: [UInt32]) -> [UInt32] {
        guard let low = values.min(), let high = values.max() else { return [] }
        let range = Int(high - low) + 1
        if range / 64 > 4 * values.count {
            var out: [UInt32] = []
            out.reserveCapacity(values.count)
            for v in values.sorted() where out.last != v { out.append(v) }
            return out
        }
        var bits = [UInt64](repeating: 0, count: range / 64 + 1)
        var distinct = 0
        for v in values {
            let i = Int(v - low)
            let mask: UInt64 = 1 << UInt64(i & 63)
            if bits[i >> 6] & mask == 0 {
                bits[i >> 6] |= mask
                distinct += 1
            }
        }
        var out: [UInt32] = []
        out.reserveCapacity(distinct)
        for (w, word) in bits.enumerated() {
            var x = word
            while x != 0 {
                out.append(low + UInt32(w << 6 + x.trailingZeroBitCount))
                x &= x - 1
            }
        }
        return out
    }
}

/// `PersonChanges` with every number final: the persons touched, those merged away, and the touched ones that
/// absorbed someone.
struct ResolvedPersonChanges {
    var events: [(person: UInt32, name: UInt32)] = []
    var touched: [UInt32] = []
    var absorbed: [UInt32] = []
    var mergedSurvivors: [UInt32] = []
    /// Each absorbed person → the person it is part of now.
    var survivors: [UInt32: UInt32] = [:]

    func survivor(of person: UInt32) -> UInt32 { survivors[person] ?? person }
}
