/// A `timelines` value: one person's events as packed fixed-size entries, sorted by (event time, log position), so
/// scans read them with one unaligned load per field and no decoding (version 1).
///
/// | offset in entry | size | field |
/// |---|---|---|
/// | 0 | 8 | event time, Int64 UTC ms |
/// | 8 | 4 | event name symbol, UInt32 |
/// | 12 | 4 | channel symbol, UInt32 (0: none) |
/// | 16 | 8 | log position, UInt64 |
///
/// All little-endian. A value's length is a multiple of 24; the entry count is length / 24.
enum TimelineLayout {
    static let version: UInt32 = 1
    static let entrySize = 24
}

#if !_endian(little)
#error("timelines are copied to and from memory as PackedEntry values: a little-endian machine is assumed")
#endif

/// One timeline entry in memory: the same 24 bytes as on disk (little-endian), so arrays of them are copied as is.
struct PackedEntry: Equatable {
    var time: Int64
    var name: UInt32
    var channel: UInt32
    var position: UInt64

    /// The timeline's order: event time, then log position (unique, so the order is total).
    @inline(__always)
    static func before(_ a: PackedEntry, _ b: PackedEntry) -> Bool {
        a.time != b.time ? a.time < b.time : a.position < b.position
    }

    @inline(__always)
    init(time: Int64, name: UInt32, channel: UInt32, position: UInt64) {
        self.time = time
        self.name = name
        self.channel = channel
        self.position = position
    }

    /// Reads the entry at `index` of a timeline value (the caller checked the length).
    @inline(__always)
    init(_ b: UnsafeRawBufferPointer, at index: Int) {
        let o = index &* TimelineLayout.entrySize
        time = Int64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int64.self))
        name = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 8, as: UInt32.self))
        channel = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 12, as: UInt32.self))
        position = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o &+ 16, as: UInt64.self))
    }

    @inline(__always)
    func store(into b: UnsafeMutableRawBufferPointer, at index: Int) {
        let o = index &* TimelineLayout.entrySize
        b.storeBytes(of: time.littleEndian, toByteOffset: o, as: Int64.self)
        b.storeBytes(of: name.littleEndian, toByteOffset: o &+ 8, as: UInt32.self)
        b.storeBytes(of: channel.littleEndian, toByteOffset: o &+ 12, as: UInt32.self)
        b.storeBytes(of: position.littleEndian, toByteOffset: o &+ 16, as: UInt64.self)
    }
}
