/// A person's timeline: their events as packed fixed-size entries, sorted by (event time, log position), so scans
/// read them with one unaligned load per field and no decoding. Stored in `timelines` as chunks of
/// `TimelineChunks.capacity` entries (version 3; versions 1 and 2 kept one value per person).
///
/// | offset in entry | size | field |
/// |---|---|---|
/// | 0 | 8 | event time, Int64 UTC ms |
/// | 8 | 4 | event name symbol, UInt32 |
/// | 12 | 4 | channel symbol, UInt32 (0: none) |
/// | 16 | 8 | log position (low 48 bits) and the event's kind (high 16 bits: `EntryKind`) |
///
/// All little-endian. A chunk's length is a multiple of 24; its entry count is length / 24.
/// The kind bits let lifecycle and time-travel scans tell identified events and call types apart without reading
/// the record (version 2; version 1 had the bare position).
enum TimelineLayout {
    static let version: UInt32 = 3
    static let entrySize = 24
    static let positionBits: UInt64 = 48
    static let positionMask: UInt64 = (1 << 48) - 1
}

/// The high 16 bits of an entry's position word.
public struct EntryKind: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The message carried a userId: the person was identified by then.
    public static let userId = EntryKind(rawValue: 1)
    public static let anonymousId = EntryKind(rawValue: 2)

    /// The call type sits in bits 8–10.
    init(userId: Bool, anonymousId: Bool, callType: UInt8) {
        rawValue = (userId ? 1 : 0) | (anonymousId ? 2 : 0) | UInt16(callType & 7) << 8
    }

    public var callType: CallType { CallType(rawValue: UInt8(truncatingIfNeeded: rawValue >> 8) & 7) ?? .track }
}

#if !_endian(little)
#error("timelines are copied to and from memory as PackedEntry values: a little-endian machine is assumed")
#endif

/// One timeline entry in memory: the same 24 bytes as on disk (little-endian), so arrays of them are copied as is.
struct PackedEntry: Equatable {
    var time: Int64
    var name: UInt32
    var channel: UInt32
    /// Position | kind << 48.
    var word: UInt64

    @inline(__always) var position: UInt64 { word & TimelineLayout.positionMask }
    @inline(__always) var kind: EntryKind { EntryKind(rawValue: UInt16(truncatingIfNeeded: word >> 48)) }

    /// The timeline's order: event time, then log position (unique, so the order is total).
    @inline(__always)
    static func before(_ a: PackedEntry, _ b: PackedEntry) -> Bool {
        a.time != b.time ? a.time < b.time : a.position < b.position
    }

    @inline(__always)
    init(time: Int64, name: UInt32, channel: UInt32, position: UInt64, kind: EntryKind = []) {
        self.time = time
        self.name = name
        self.channel = channel
        self.word = position | UInt64(kind.rawValue) << 48
    }

    /// Reads the entry at `index` of a timeline value (the caller checked the length).
    @inline(__always)
    init(_ b: UnsafeRawBufferPointer, at index: Int) {
        let o = index &* TimelineLayout.entrySize
        time = Int64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int64.self))
        name = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 8, as: UInt32.self))
        channel = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 12, as: UInt32.self))
        word = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 16, as: UInt64.self))
    }

    @inline(__always)
    func store(into b: UnsafeMutableRawBufferPointer, at index: Int) {
        let o = index &* TimelineLayout.entrySize
        b.storeBytes(of: time.littleEndian, toByteOffset: o, as: Int64.self)
        b.storeBytes(of: name.littleEndian, toByteOffset: o &+ 8, as: UInt32.self)
        b.storeBytes(of: channel.littleEndian, toByteOffset: o &+ 12, as: UInt32.self)
        b.storeBytes(of: word.littleEndian, toByteOffset: o &+ 16, as: UInt64.self)
    }
}
