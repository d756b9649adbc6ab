/// Segment call types, as stored in a record's second byte. Persisted: never renumber.
public enum CallType: UInt8, Sendable, CaseIterable {
    case track = 0, identify, page, screen, alias, group

    public var name: String {
        switch self {
        case .track: "track"
        case .identify: "identify"
        case .page: "page"
        case .screen: "screen"
        case .alias: "alias"
        case .group: "group"
        }
    }

    /// The event name a call without an `event` field gets in the log (semantics §1).
    var impliedEventName: StaticString {
        switch self {
        case .track: ""
        case .identify: "Identify"
        case .page: "Page Viewed"
        case .screen: "Screen Viewed"
        case .alias: "Alias"
        case .group: "Group"
        }
    }

    init?(bytes b: UnsafeRawBufferPointer) {
        switch b.count {
        case 5:
            if b.equals("track") { self = .track } else if b.equals("alias") { self = .alias }
            else if b.equals("group") { self = .group } else { return nil }
        case 4: if b.equals("page") { self = .page } else { return nil }
        case 6: if b.equals("screen") { self = .screen } else { return nil }
        case 8: if b.equals("identify") { self = .identify } else { return nil }
        default: return nil
        }
    }
}

/// The binary event record (layout in schemas/record-format.md). Fixed fields first, at fixed offsets, so the
/// replay and funnel paths read time, name and channel with one unaligned load each.
enum RecordLayout {
    static let version: UInt8 = 1
    static let versionOffset = 0
    static let typeOffset = 1
    static let flagsOffset = 2
    static let eventTimeOffset = 4
    static let eventNameOffset = 12
    static let channelOffset = 16
    static let fixedSize = 20

    static let hasUserId: UInt16 = 1 << 0
    static let hasAnonymousId: UInt16 = 1 << 1
    static let hasPreviousId: UInt16 = 1 << 2
    /// `timestamp` was the canonical print of the event time: export rebuilds it, the record does not keep it.
    static let timestampElided: UInt16 = 1 << 3
    static let hasExtras: UInt16 = 1 << 4
    /// The event name came from the `event` field (track); otherwise it is implied by the call type.
    static let eventFromField: UInt16 = 1 << 5
}

/// A record read in place from the log. Valid only while the bytes it views are (inside the read transaction).
public struct RecordView {
    public let bytes: UnsafeRawBufferPointer

    /// Checks the length and version once, so the accessors below can load without further checks.
    @inlinable
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 20, bytes[0] == 1 else { return nil }
        self.bytes = bytes
    }

    @inlinable public var callTypeRaw: UInt8 { bytes[1] }
    public var callType: CallType { CallType(rawValue: bytes[1]) ?? .track }
    @inlinable public var flags: UInt16 { bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self).littleEndian }
    /// Event time, UTC milliseconds (semantics §1).
    @inlinable public var eventTime: Int64 { bytes.loadUnaligned(fromByteOffset: 4, as: Int64.self).littleEndian }
    /// Symbol id of the event name.
    @inlinable public var eventName: UInt32 { bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian }
    /// Symbol id of the channel, 0 if none.
    @inlinable public var channel: UInt32 { bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian }

    /// The variable part: ids and where the extra fields start.
    public struct Variable {
        public var messageId: UnsafeRawBufferPointer
        public var userId: UnsafeRawBufferPointer?
        public var anonymousId: UnsafeRawBufferPointer?
        public var previousId: UnsafeRawBufferPointer?
        public var extras: UnsafeRawBufferPointer?
    }

    public var variable: Variable? {
        var r = ByteReader(bytes, offset: RecordLayout.fixedSize)
        let f = flags
        guard let mid = r.lengthPrefixed() else { return nil }
        var v = Variable(messageId: mid)
        if f & RecordLayout.hasUserId != 0 {
            guard let b = r.lengthPrefixed() else { return nil }
            v.userId = b
        }
        if f & RecordLayout.hasAnonymousId != 0 {
            guard let b = r.lengthPrefixed() else { return nil }
            v.anonymousId = b
        }
        if f & RecordLayout.hasPreviousId != 0 {
            guard let b = r.lengthPrefixed() else { return nil }
            v.previousId = b
        }
        if f & RecordLayout.hasExtras != 0 {
            v.extras = UnsafeRawBufferPointer(rebasing: bytes[r.offset...])
        }
        return v
    }

    /// Only the message id, for the duplicate check.
    var messageId: UnsafeRawBufferPointer? {
        var r = ByteReader(bytes, offset: RecordLayout.fixedSize)
        return r.lengthPrefixed()
    }
}

extension ByteWriter {
    /// The record's fixed 20 bytes (version, call type, flags, event time, name, channel: `RecordLayout`) in one
    /// append: the time sits at offset 4, unaligned, so the bytes are composed into two words and a half.
    @inline(__always)
    mutating func appendRecordHeader(type: UInt8, flags: UInt16, time: Int64, name: UInt32, channel: UInt32) {
        let t = UInt64(bitPattern: time)
        let w0 = UInt64(RecordLayout.version) | UInt64(type) << 8 | UInt64(flags) << 16 | (t & 0xFFFF_FFFF) << 32
        let w1 = t >> 32 | UInt64(name) << 32
        let header = (w0.littleEndian, w1.littleEndian, channel.littleEndian)
        Swift.withUnsafeBytes(of: header) { append($0) }
    }
}
