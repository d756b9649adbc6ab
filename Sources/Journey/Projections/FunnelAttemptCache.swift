/// One saved funnel's persons' best attempts (`FunnelRow`s) as the writer last evaluated them, in memory.
///
/// A transaction needs the attempts of the persons it touches as they stood before it. They are what the writer
/// evaluated the last time it touched each person (an attempt only changes in a transaction that touches the
/// person, and such a transaction re-evaluates it), so a writer that keeps them does not read and evaluate those
/// timelines a second time. The rows hold for the log as it stood at `through`: a transaction that starts
/// anywhere else (the funnel was recomputed, or the store reopened) finds no cache and evaluates instead.
/// Missing rows are evaluated, so the cache can be dropped at any time.
///
/// Memory: 8 bytes per person number up to the highest cached one, plus the rows of persons who entered (2 + 8 per
/// step reached). Persons numbered from `maxPersons` on are not cached.
struct FunnelAttemptCache {
    static let maxPersons: UInt32 = 1 << 24

    /// The last log position the rows reflect.
    var through: UInt64
    /// Per person number: 0 unknown, else the row's offset in `arena` << 16 | (its length + 1).
    private var slots: [UInt64] = []
    private var arena: [UInt8] = []
    /// Bytes of `arena` still referenced by a slot (the rest is replaced rows).
    private var live = 0

    init(through: UInt64) { self.through = through }

    /// Calls `body` with `person`'s cached row (empty when they never entered), or returns nil when unknown.
    func withRow<R>(_ person: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard Int(person) < slots.count else { return nil }
        let slot = slots[Int(person)]
        if slot == 0 { return nil }
        let (start, count) = (Int(slot >> 16), Int(slot & 0xFFFF) - 1)
        return try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + count)])) }
    }

    /// Caches `row` as `person`'s attempt.
    mutating func set(_ person: UInt32, _ row: UnsafeRawBufferPointer) {
        remove(person)
        guard person < Self.maxPersons, row.count < 0xFFFF else { return }
        if Int(person) >= slots.count {
            slots.append(contentsOf: repeatElement(0, count: max(Int(person) + 1, slots.count * 2) - slots.count))
        }
        slots[Int(person)] = UInt64(arena.count) << 16 | UInt64(row.count + 1)
        arena.appendRaw(row)
        live += row.count
        if arena.count > 1 << 20 && arena.count > 2 * live { compact() }
    }

    /// What a committed transaction evaluated: the persons merged away are forgotten, the re-evaluated ones' rows
    /// replaced, and the cache then holds through `through`.
    mutating func update(absorbed: [UInt32], _ rows: CapturedAttempts, through: UInt64) {
        for p in absorbed { remove(p) }
        for i in rows.persons.indices { rows.withRow(i) { set(rows.persons[i], $0) } }
        self.through = through
    }

    /// Forgets `person` (merged into someone else).
    mutating func remove(_ person: UInt32) {
        guard Int(person) < slots.count, slots[Int(person)] != 0 else { return }
        live -= Int(slots[Int(person)] & 0xFFFF) - 1
        slots[Int(person)] = 0
    }

    /// Copies the referenced rows into a fresh arena (replaced rows accumulate as persons are re-evaluated).
    private mutating func compact() {
        var fresh: [UInt8] = []
        fresh.reserveCapacity(live)
        arena.withUnsafeBytes { old in
            for p in slots.indices where slots[p] != 0 {
                let (start, count) = (Int(slots[p] >> 16), Int(slots[p] & 0xFFFF) - 1)
                slots[p] = UInt64(fresh.count) << 16 | UInt64(count + 1)
                fresh.appendRaw(UnsafeRawBufferPointer(rebasing: old[start..<(start + count)]))
            }
        }
        arena = fresh
    }
}
