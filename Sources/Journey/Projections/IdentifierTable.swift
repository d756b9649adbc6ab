internal import Glibc

/// The kinds of identifier a person has. The byte is the first byte of the `person_ids` key, so a userId and an
/// anonymousId with the same text never collide. Persisted: never change.
enum IdentifierKind {
    static let user: UInt8 = 0x75  // "u"
    static let anonymous: UInt8 = 0x61  // "a"
    /// Key prefix of identifiers too long for an LMDB key (over 510 bytes): their first bytes plus a hash.
    static func longForm(_ kind: UInt8) -> UInt8 { kind &- 0x20 }  // "U", "A"
    static let maxInlineLength = 510
    static let longPrefixLength = 502
}

/// Identifiers met in one transaction: (kind, bytes) → a dense index, found by borrowed bytes without allocating.
/// Open addressing over one byte arena; beside each identifier, what the identity resolver knows about it.
struct IdentifierTable {
    /// What the hash table compares, in one place (one cache line holds four).
    struct Entry {
        var hash: UInt64
        var start: UInt32
        /// length << 1 | 1 for a userId.
        var lengthAndKind: UInt32
    }

    private(set) var arena: [UInt8] = []
    private var entries: [Entry] = []
    private(set) var kinds: [UInt8] = []
    /// Entry index + 1, 0 for empty.
    private var slots: [UInt32] = Array(repeating: 0, count: 1024)

    /// The person number `person_ids` holds for it (0: none, or not looked up).
    var stored: [UInt32] = []
    /// Local index of the person it was assigned to (follow `parent` to the survivor); −1: none yet.
    var owner: [Int32] = []
    /// Next identifier of the same person (a chain through this table), −1 at the end.
    var nextOfPerson: [Int32] = []

    var count: Int { kinds.count }

    init(capacity: Int = 0) {
        if capacity > 0 {
            var n = 1024
            while n * 3 < capacity * 4 { n *= 2 }
            slots = Array(repeating: 0, count: n)
            entries.reserveCapacity(capacity)
            kinds.reserveCapacity(capacity)
            stored.reserveCapacity(capacity)
            owner.reserveCapacity(capacity)
            nextOfPerson.reserveCapacity(capacity)
            arena.reserveCapacity(capacity * 16)
        }
    }

    /// Empties the table, keeping its memory (the writer reuses one per transaction).
    mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        stored.removeAll(keepingCapacity: true)
        owner.removeAll(keepingCapacity: true)
        nextOfPerson.removeAll(keepingCapacity: true)
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    @inline(__always)
    static func hash(kind: UInt8, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        hash(kind: kind, hash64: Hashing.hash64(bytes))
    }

    @inline(__always)
    static func hash(kind: UInt8, hash64: UInt64) -> UInt64 {
        hash64 ^ (kind == IdentifierKind.user ? 0x9E37_79B9_7F4A_7C15 : 0)
    }

    @inline(__always)
    static func lengthAndKind(_ length: Int, _ kind: UInt8) -> UInt32 {
        UInt32(truncatingIfNeeded: length) << 1 | (kind == IdentifierKind.user ? 1 : 0)
    }

    /// The index of (kind, bytes), adding it if new (`isNew` tells which).
    @inline(__always)
    mutating func intern(kind: UInt8, _ bytes: UnsafeRawBufferPointer, isNew: inout Bool) -> Int32 {
        intern(kind: kind, bytes, hash64: Hashing.hash64(bytes), isNew: &isNew)
    }

    /// The same, with `Hashing.hash64(bytes)` computed by the caller (a rebuild hashes on another thread).
    @inline(__always)
    mutating func intern(kind: UInt8, _ bytes: UnsafeRawBufferPointer, hash64: UInt64, isNew: inout Bool) -> Int32 {
        let h = Self.hash(kind: kind, hash64: hash64)
        let lk = Self.lengthAndKind(bytes.count, kind)
        let found: Int32? = slots.withUnsafeBufferPointer { slots in
            entries.withUnsafeBufferPointer { entries in
                let mask = slots.count - 1
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let s = Int(slots[i])
                    if s == 0 { return nil }
                    let e = entries[s - 1]
                    if e.hash == h && e.lengthAndKind == lk && equal(Int(e.start), bytes) { return Int32(s - 1) }
                    i = (i + 1) & mask
                }
            }
        }
        if let found {
            isNew = false
            return found
        }
        isNew = true
        let e = kinds.count
        entries.append(Entry(hash: h, start: UInt32(arena.count), lengthAndKind: lk))
        arena.appendRaw(bytes)
        kinds.append(kind)
        stored.append(0)
        owner.append(-1)
        nextOfPerson.append(-1)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = UInt32(e + 1)
        if (e + 1) * 4 > slots.count * 3 { grow() }
        return Int32(e)
    }

    /// Loads what `intern` of each (kind, hash64) will read first: its home slot, then the entry that slot names,
    /// so that the cache misses of a run of lookups overlap instead of each waiting for its own (a rebuild's table
    /// is tens of MB; two dependent misses per lookup were two thirds of its interning time). What is loaded goes into
    /// `touched`, which nothing reads: it only keeps the loads. `scratch` holds the slots between the two passes.
    mutating func touch(_ keys: UnsafeBufferPointer<(kind: UInt8, hash64: UInt64)>, scratch: inout [UInt32]) {
        scratch.removeAll(keepingCapacity: true)
        var sum: UInt64 = 0
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            for k in keys { scratch.append(slots[Int(truncatingIfNeeded: Self.hash(kind: k.kind, hash64: k.hash64)) & mask]) }
        }
        entries.withUnsafeBufferPointer { entries in
            for s in scratch where s != 0 && Int(s) <= entries.count { sum &+= entries[Int(s) - 1].hash }
        }
        touched &+= sum
    }
    private var touched: UInt64 = 0

    @inline(__always)
    private func equal(_ start: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return arena.withUnsafeBytes { a in
            guard let arena = a.baseAddress else { return false }
            return memcmp(arena + start, base, bytes.count) == 0
        }
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for e in 0..<entries.count {
            var i = Int(truncatingIfNeeded: entries[e].hash) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = UInt32(e + 1)
        }
    }

    /// Calls `body` with the identifier's bytes (valid only inside `body`).
    @inline(__always)
    func withBytes<R>(_ e: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let entry = entries[Int(e)]
        let start = Int(entry.start)
        return try arena.withUnsafeBytes { a in
            try body(UnsafeRawBufferPointer(rebasing: a[start..<(start + Int(entry.lengthAndKind >> 1))]))
        }
    }

    /// Order of identifiers inside a person record: kind (anonymous before user), then bytes (shorter first on a
    /// common prefix). Deterministic, independent of the order identifiers were met in.
    func less(_ x: Int32, _ y: Int32) -> Bool {
        arena.withUnsafeBytes { a in
            entries.withUnsafeBufferPointer { e in
                guard let ep = e.baseAddress else { return false }
                return Self.less(x, y, arena: a, entries: ep)
            }
        }
    }

    @inline(__always)
    private static func less(
        _ x: Int32, _ y: Int32, arena a: UnsafeRawBufferPointer, entries: UnsafePointer<Entry>
    ) -> Bool {
        let ex = entries[Int(x)], ey = entries[Int(y)]
        let kx = ex.lengthAndKind & 1, ky = ey.lengthAndKind & 1
        if kx != ky { return kx < ky }  // anonymous ("a", 0) before user ("u", 1)
        let lx = Int(ex.lengthAndKind >> 1), ly = Int(ey.lengthAndKind >> 1)
        let n = min(lx, ly)
        if n > 0, let base = a.baseAddress {
            let c = memcmp(base + Int(ex.start), base + Int(ey.start), n)
            if c != 0 { return c < 0 }
        }
        return lx < ly
    }

    /// Sorts identifier indices by `less`, without retaining the table per comparison.
    func sort(_ list: inout [Int32]) {
        if list.count < 2 { return }
        arena.withUnsafeBytes { a in
            entries.withUnsafeBufferPointer { e in
                guard let ep = e.baseAddress else { return }
                if list.count <= 16 {
                    // Insertion sort: a person has a handful of identifiers.
                    for i in 1..<list.count {
                        let x = list[i]
                        var j = i
                        while j > 0 && Self.less(x, list[j - 1], arena: a, entries: ep) {
                            list[j] = list[j - 1]
                            j -= 1
                        }
                        list[j] = x
                    }
                } else {
                    list.sort { Self.less($0, $1, arena: a, entries: ep) }
                }
            }
        }
    }

    /// The first 8 bytes of an identifier's `person_ids` key, big-endian (zero-padded): comparing these orders
    /// most keys without touching their bytes.
    @inline(__always)
    private func keyPrefix(_ e: Int32, arena a: UnsafeRawBufferPointer, entries: UnsafePointer<Entry>) -> UInt64 {
        let entry = entries[Int(e)]
        let length = Int(entry.lengthAndKind >> 1)
        var kind = entry.lengthAndKind & 1 == 1 ? IdentifierKind.user : IdentifierKind.anonymous
        if length > IdentifierKind.maxInlineLength { kind = IdentifierKind.longForm(kind) }
        var p = UInt64(kind) << 56
        guard let arena = a.baseAddress else { return p }
        let base = arena + Int(entry.start)
        for i in 0..<min(7, length) { p |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (48 - 8 * i) }
        return p
    }

    /// Sorts identifier indices in (about) `person_ids` key order, so that lookups and puts walk the B-tree
    /// page by page. Exact for identifiers up to 510 bytes; longer ones only need a consistent place.
    func sortByKey(_ list: inout [Int32]) {
        if list.count < 2 { return }
        arena.withUnsafeBytes { a in
            entries.withUnsafeBufferPointer { e in
                guard let ep = e.baseAddress else { return }
                var keyed = list.map { (keyPrefix($0, arena: a, entries: ep), $0) }
                keyed.sort { x, y in
                    if x.0 != y.0 { return x.0 < y.0 }
                    return Self.less(x.1, y.1, arena: a, entries: ep)
                }
                for i in 0..<keyed.count { list[i] = keyed[i].1 }
            }
        }
    }

    /// Writes the `person_ids` key of an identifier into `key` (replacing its contents).
    func key(_ e: Int32, into key: inout [UInt8]) {
        withBytes(e) { b in Self.makeKey(kind: kinds[Int(e)], b, into: &key) }
    }

    static func makeKey(kind: UInt8, _ bytes: UnsafeRawBufferPointer, into key: inout [UInt8]) {
        key.removeAll(keepingCapacity: true)
        if bytes.count <= IdentifierKind.maxInlineLength {
            key.append(kind)
            key.appendRaw(bytes)
        } else {
            key.append(IdentifierKind.longForm(kind))
            key.appendRaw(UnsafeRawBufferPointer(rebasing: bytes[0..<IdentifierKind.longPrefixLength]))
            withUnsafeBytes(of: Hashing.hash64(bytes).bigEndian) { key.appendRaw($0) }
        }
    }
}
