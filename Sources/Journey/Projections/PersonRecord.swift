/// The `persons` value: a person's aggregates and identifiers (version 1). Persisted: change only with a new
/// identity projection version.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | record version (1) |
/// | 1 | 3 | zero |
/// | 4 | 4 | identifier count n |
/// | 8 | 4 | index of the display identifier (semantics §2: the smallest userId, else the first-seen anonymous id) |
/// | 12 | 4 | index of the first-seen anonymous identifier, `UInt32.max` if none |
/// | 16 | 4 | persons merged into this one (transitively) |
/// | 20 | 4 | zero |
/// | 24 | 8 | events |
/// | 32 | 8 | first seen: earliest event time, Int64 UTC ms |
/// | 40 | 8 | last seen: latest event time |
/// | 48 | 8 | smallest log position |
/// | 56 | 8 | largest log position |
/// | 64 | 8 | event time of the first-seen anonymous identifier's earliest event |
/// | 72 | 8 | log position of that event (ties on time broken by position, then bytes) |
/// | 80 | … | n identifiers sorted by (kind, bytes): kind byte (`a` before `u`), varint length, UTF-8 bytes |
///
/// "First seen" is by (event time, log position), not arrival, so a late event can change it; all fields are
/// order-free aggregates (sums, minima, maxima, sorted sets), which is what makes a batch equal to its events
/// applied one by one.
enum PersonLayout {
    static let version: UInt8 = 1
    static let headerSize = 80
    static let none = UInt32.max
}

/// A person record read in place (valid while its bytes are).
struct PersonRecordView {
    let bytes: UnsafeRawBufferPointer

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= PersonLayout.headerSize, bytes[0] == PersonLayout.version else { return nil }
        self.bytes = bytes
    }

    @inline(__always) private func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) private func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
    @inline(__always) private func i64(_ o: Int) -> Int64 { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: Int64.self)) }

    var identifierCount: Int { Int(u32(4)) }
    var displayIndex: UInt32 { u32(8) }
    var anonymousIndex: UInt32 { u32(12) }
    var merges: UInt32 { u32(16) }
    var events: UInt64 { u64(24) }
    var firstSeen: Int64 { i64(32) }
    var lastSeen: Int64 { i64(40) }
    var firstPosition: UInt64 { u64(48) }
    var lastPosition: UInt64 { u64(56) }
    var anonymousTime: Int64 { i64(64) }
    var anonymousPosition: UInt64 { u64(72) }

    /// Calls `body(index, kind, bytes)` for each identifier in stored order; false if the record is damaged.
    func forEachIdentifier(_ body: (Int, UInt8, UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
        var r = ByteReader(bytes, offset: PersonLayout.headerSize)
        for i in 0..<identifierCount {
            guard let kind = r.byte(), let b = r.lengthPrefixed() else { return false }
            try body(i, kind, b)
        }
        return true
    }
}

/// What a person record holds besides its identifiers, for the encoder.
struct PersonAggregates {
    var events: UInt64 = 0
    var firstSeen: Int64 = .max
    var lastSeen: Int64 = .min
    var firstPosition: UInt64 = .max
    var lastPosition: UInt64 = 0
    var merges: UInt32 = 0
    var anonymousTime: Int64 = .max
    var anonymousPosition: UInt64 = .max

    /// Folds in one event.
    @inline(__always)
    mutating func add(time: Int64, position: UInt64) {
        events += 1
        if time < firstSeen { firstSeen = time }
        if time > lastSeen { lastSeen = time }
        if position < firstPosition { firstPosition = position }
        if position > lastPosition { lastPosition = position }
    }

    /// Folds in another person's aggregates (a merge).
    mutating func absorb(_ o: PersonAggregates) {
        events += o.events
        firstSeen = min(firstSeen, o.firstSeen)
        lastSeen = max(lastSeen, o.lastSeen)
        firstPosition = min(firstPosition, o.firstPosition)
        lastPosition = max(lastPosition, o.lastPosition)
        merges += o.merges + 1
    }
}

extension ByteWriter {
    /// Appends a person record: the header, then `count` identifiers written by `identifiers`.
    mutating func appendPersonHeader(
        _ a: PersonAggregates, identifierCount: Int, displayIndex: UInt32, anonymousIndex: UInt32
    ) {
        // One append of the whole header (a tuple laid out as the table above: each field at its natural
        // alignment), not fifteen: each array append checks uniqueness and capacity.
        let header = (
            PersonLayout.version, UInt8(0), UInt16(0), UInt32(identifierCount).littleEndian, displayIndex.littleEndian,
            anonymousIndex.littleEndian, a.merges.littleEndian, UInt32(0), a.events.littleEndian,
            a.firstSeen.littleEndian, a.lastSeen.littleEndian, a.firstPosition.littleEndian, a.lastPosition.littleEndian,
            a.anonymousTime.littleEndian, a.anonymousPosition.littleEndian
        )
        assert(MemoryLayout.size(ofValue: header) == PersonLayout.headerSize)
        Swift.withUnsafeBytes(of: header) { append($0) }
    }
}

/// A `person_merges` value: 24 bytes, sorted by position (big-endian first), so a person's merges list in log order.
enum MergeLayout {
    static let size = 24

    static func encode(position: UInt64, absorbed: UInt32, time: Int64) -> (UInt64, UInt32, UInt32, Int64) {
        (position.bigEndian, absorbed.bigEndian, 0, time.littleEndian)
    }

    static func decode(_ v: UnsafeRawBufferPointer) -> (position: UInt64, absorbed: UInt32, time: Int64)? {
        guard v.count >= size else { return nil }
        return (
            UInt64(bigEndian: v.loadUnaligned(as: UInt64.self)),
            UInt32(bigEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            Int64(littleEndian: v.loadUnaligned(fromByteOffset: 16, as: Int64.self))
        )
    }
}
