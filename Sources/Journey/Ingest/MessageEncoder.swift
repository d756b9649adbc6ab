/// Why a message was not accepted: the field at fault and what is wrong with it.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault (`messageId`, `timestamp`…), or `json` when the line is not a JSON object.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Validates one Segment message (semantics §1) and encodes it as a binary record, in one pass over its bytes.
///
/// Reused for every message of a stream: its buffers keep their capacity, so steady-state encoding allocates
/// nothing. After a successful `encode`, `record` holds the record and `messageIdHash` its dedup key.
struct MessageEncoder {
    var symbols: SymbolCache
    var record = ByteWriter(capacity: 512)
    var extras = ByteWriter(capacity: 512)
    var scratch: [UInt8] = []
    var messageIdHash: UInt64 = 0
    var eventTime: Int64 = 0
    /// Set while a typed message's objects are written when they nest too deeply (`encode(_: Message, …)`).
    var tooDeep = false
    /// Where each known field's string value is, for the message being encoded (reused, not reallocated).
    private var spans = [StringSpan?](repeating: nil, count: Field.count)

    init(symbols: SymbolTable) {
        self.symbols = SymbolCache(table: symbols)
        scratch.reserveCapacity(1024)
    }

    private enum Field: Int {
        case type = 0, messageId, userId, anonymousId, event, channel, previousId
        case timestamp, originalTimestamp, sentAt, receivedAt
        case properties, traits, context
        /// Checked to be strings, kept with the other fields.
        case name, groupId

        static let count = 16
        static let ids: [Field] = [.userId, .anonymousId, .previousId]

        var name: String {
            switch self {
            case .type: "type"
            case .messageId: "messageId"
            case .userId: "userId"
            case .anonymousId: "anonymousId"
            case .event: "event"
            case .channel: "channel"
            case .previousId: "previousId"
            case .timestamp: "timestamp"
            case .originalTimestamp: "originalTimestamp"
            case .sentAt: "sentAt"
            case .receivedAt: "receivedAt"
            case .properties: "properties"
            case .traits: "traits"
            case .context: "context"
            case .name: "name"
            case .groupId: "groupId"
            }
        }

        var isTime: Bool { rawValue >= Field.timestamp.rawValue && rawValue <= Field.receivedAt.rawValue }
        var mustBeObject: Bool { rawValue >= Field.properties.rawValue && rawValue <= Field.context.rawValue }
        /// Kept in the extras as they are, string or not (after the type check).
        var isExtra: Bool { self == .name || self == .groupId }
        /// Held in the record's own fields, not in the extras (when a string).
        var isCore: Bool { rawValue <= Field.previousId.rawValue }

        init?(_ k: UnsafeRawBufferPointer) {
            switch k.count {
            case 4:
                if k.equals("type") { self = .type } else if k.equals("name") { self = .name } else { return nil }
            case 5:
                if k.equals("event") { self = .event } else { return nil }
            case 6:
                if k.equals("userId") { self = .userId } else if k.equals("sentAt") {
                    self = .sentAt
                } else if k.equals("traits") { self = .traits } else { return nil }
            case 7:
                if k.equals("channel") { self = .channel } else if k.equals("context") {
                    self = .context
                } else if k.equals("groupId") { self = .groupId } else { return nil }
            case 9:
                if k.equals("messageId") { self = .messageId } else if k.equals("timestamp") {
                    self = .timestamp
                } else { return nil }
            case 10:
                if k.equals("previousId") { self = .previousId } else if k.equals("properties") {
                    self = .properties
                } else if k.equals("receivedAt") { self = .receivedAt } else { return nil }
            case 11:
                if k.equals("anonymousId") { self = .anonymousId } else { return nil }

            case 17:
                if k.equals("originalTimestamp") { self = .originalTimestamp } else { return nil }
            default: return nil
            }
        }
    }

    /// Encodes `line`. `receivedTime` is the engine's clock, used for the event time when the message has none.
    mutating func encode(_ line: UnsafeRawBufferPointer, receivedTime: Int64) -> Rejection? {
        // The scratch moves into the scanner and back: shared, its `removeAll(keepingCapacity:)` would allocate a
        // copy per message.
        var taken: [UInt8] = []
        swap(&taken, &scratch)
        var scanner = JSONScanner(input: line, scratch: consume taken)
        defer { scratch = scanner.scratch }
        do {
            return try encode(&scanner, receivedTime: receivedTime)
        } catch {
            return Rejection(field: "json", message: "not valid JSON: \(error.message) at byte \(error.offset + 1)")
        }
    }

    private mutating func encode(_ s: inout JSONScanner, receivedTime: Int64) throws(JSONSyntaxError) -> Rejection? {
        extras.removeAll()
        for i in 0..<Field.count { spans[i] = nil }
        var problem: Rejection?
        var eventNotString = false

        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else {
            if s.atEnd { return Rejection(field: "json", message: "empty line") }
            // Tell JSON that is not an object from text that is not JSON.
            var probe = ByteWriter(capacity: 16)
            try s.transcodeValue(into: &probe, symbols: &symbols)
            return Rejection(field: "json", message: "a message must be a JSON object")
        }
        s.pos += 1
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            while true {
                s.skipWhitespace()
                guard s.peek() == UInt8(ascii: "\"") else { throw s.fail("expected a key string, found \(s.describeHere())") }
                let keySpan = try s.parseString()
                let field = s.withBytes(keySpan) { Field($0) }
                try s.expect(UInt8(ascii: ":"), "':'")
                s.skipWhitespace()
                let c = s.peek()
                if let field, c == UInt8(ascii: "\"") {
                    let span = try s.parseString()
                    if spans[field.rawValue] != nil, problem == nil {
                        problem = Rejection(field: field.name, message: "appears twice")
                    }
                    spans[field.rawValue] = span
                    if field.mustBeObject, problem == nil {
                        problem = Rejection(field: field.name, message: "must be an object")
                    }
                    // Time fields other than `timestamp`, and checked-only fields, are kept as they are in the extras.
                    if (field.isTime && field != .timestamp) || field.isExtra {
                        s.withBytes(keySpan) { JSONScanner.writeKey($0, into: &extras, symbols: &symbols) }
                        s.withBytes(span) {
                            JSONScanner.writeString($0, into: &extras, symbols: &symbols, intern: field == .name)
                        }
                    }
                } else {
                    if let field, problem == nil {
                        if field.mustBeObject && c != UInt8(ascii: "{") && c != UInt8(ascii: "n") {
                            problem = Rejection(field: field.name, message: "must be an object")
                        } else if field == .event {
                            // Only a track's event must be a string; elsewhere it is an ordinary extra field.
                            eventNotString = c != UInt8(ascii: "n")
                        } else if !field.mustBeObject && c != UInt8(ascii: "n") {
                            problem = Rejection(field: field.name, message: "must be a string")
                        }
                    }
                    s.withBytes(keySpan) { JSONScanner.writeKey($0, into: &extras, symbols: &symbols) }
                    try s.transcodeValue(into: &extras, symbols: &symbols, internValues: s.withBytes(keySpan) {
                        JSONScanner.isLowCardinalityKey($0)
                    })
                }
                s.skipWhitespace()
                let d = s.peek()
                s.pos += 1
                if d == UInt8(ascii: ",") { continue }
                if d == UInt8(ascii: "}") { break }
                s.pos -= 1
                throw s.fail("expected ',' or '}', found \(s.describeHere())")
            }
        }
        s.skipWhitespace()
        guard s.atEnd else { throw s.fail("unexpected \(s.describeHere()) after the message") }
        if let problem { return problem }

        // Validation, semantics §1.
        guard let typeSpan = spans[Field.type.rawValue] else { return Rejection(field: "type", message: "missing") }
        guard let type = s.withBytes(typeSpan, { CallType(bytes: $0) }) else {
            let t = s.withBytes(typeSpan) { String(decoding: $0.prefix(40), as: UTF8.self) }
            return Rejection(
                field: "type", message: "unknown type \"\(t)\" (expected track, identify, page, screen, alias or group)")
        }
        guard let midSpan = spans[Field.messageId.rawValue] else {
            return Rejection(field: "messageId", message: "missing")
        }
        let midLength = s.withBytes(midSpan) { b in b.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
        guard midLength >= 1 else { return Rejection(field: "messageId", message: "empty: must be 1–100 characters") }
        guard midLength <= 100 else {
            return Rejection(field: "messageId", message: "must be 1–100 characters, got \(midLength)")
        }
        let user = spans[Field.userId.rawValue].flatMap { $0.count > 0 ? $0 : nil }
        let anonymous = spans[Field.anonymousId.rawValue].flatMap { $0.count > 0 ? $0 : nil }
        let previous = spans[Field.previousId.rawValue]
        if type == .alias {
            guard user != nil else {
                let empty = spans[Field.userId.rawValue] != nil
                return Rejection(field: "userId", message: "\(empty ? "empty" : "missing"): alias needs userId and previousId")
            }
            guard let previous, previous.count > 0 else {
                let empty = previous != nil
                return Rejection(field: "previousId", message: "\(empty ? "empty" : "missing"): alias needs userId and previousId")
            }
        } else if user == nil && anonymous == nil {
            return Rejection(field: "userId", message: "missing: a message needs userId or anonymousId")
        }
        let eventSpan = spans[Field.event.rawValue]
        if type == .track {
            if eventNotString { return Rejection(field: "event", message: "must be a string") }
            guard let eventSpan else { return Rejection(field: "event", message: "missing: track needs an event name") }
            guard eventSpan.count > 0 else { return Rejection(field: "event", message: "empty: track needs an event name") }
        }
        var times: (Int64?, Int64?, Int64?, Int64?) = (nil, nil, nil, nil)
        for raw in Field.timestamp.rawValue...Field.receivedAt.rawValue {
            guard let span = spans[raw], let f = Field(rawValue: raw) else { continue }
            guard let t = s.withBytes(span, { RFC3339.parseMillis($0) }) else {
                return Rejection(field: f.name, message: s.withBytes(span) { RFC3339.problem($0) })
            }
            switch f {
            case .timestamp: times.0 = t
            case .originalTimestamp: times.1 = t
            case .sentAt: times.2 = t
            default: times.3 = t
            }
        }
        // Event time, Segment's rule.
        let received = times.3 ?? receivedTime
        let time: Int64
        if let t = times.0 {
            time = t
        } else if let original = times.1, let sent = times.2 {
            time = received - (sent - original)
            guard RFC3339.representable.contains(time) else {
                return Rejection(
                    field: "originalTimestamp",
                    message: "corrected for clock skew (receivedAt − (sentAt − originalTimestamp)), the event time is outside the years 0000–9999")
            }
        } else {
            time = received
        }
        eventTime = time

        // The record.
        var flags: UInt16 = 0
        if user != nil { flags |= RecordLayout.hasUserId }
        if anonymous != nil { flags |= RecordLayout.hasAnonymousId }
        if let previous, previous.count > 0 { flags |= RecordLayout.hasPreviousId }
        if let ts = spans[Field.timestamp.rawValue] {
            if s.withBytes(ts, { RFC3339.isCanonical($0) }) {
                flags |= RecordLayout.timestampElided
            } else {
                appendStringExtra("timestamp", ts, s)
            }
        }
        // Empty ids, and previousId / event where they are not core, go back to the extras as they were.
        for f in Field.ids {
            if let span = spans[f.rawValue], span.count == 0 {
                appendStringExtra(f.name, span, s)
            }
        }
        let nameId: UInt32
        if type == .track, let eventSpan {
            flags |= RecordLayout.eventFromField
            nameId = s.withBytes(eventSpan) { symbols.intern($0) }
        } else {
            if let eventSpan {
                appendStringExtra("event", eventSpan, s)
            }
            let implied = type.impliedEventName
            nameId = symbols.intern(UnsafeRawBufferPointer(start: implied.utf8Start, count: implied.utf8CodeUnitCount))
        }
        let channelId = spans[Field.channel.rawValue].map { span in s.withBytes(span) { symbols.intern($0) } } ?? 0
        // Every extra field wrote its key: whether there are any is whether anything was written.
        let hasExtras = !extras.isEmpty
        if hasExtras { flags |= RecordLayout.hasExtras }

        record.removeAll()
        record.appendRecordHeader(type: type.rawValue, flags: flags, time: time, name: nameId, channel: channelId)
        messageIdHash = s.withBytes(midSpan) { b in
            record.appendBytesWithLength(b)
            return Hashing.hash64(b)
        }
        if let user { s.withBytes(user) { record.appendBytesWithLength($0) } }
        if let anonymous { s.withBytes(anonymous) { record.appendBytesWithLength($0) } }
        if let previous, previous.count > 0 { s.withBytes(previous) { record.appendBytesWithLength($0) } }
        if hasExtras {
            extras.withUnsafeBytes { record.append($0) }
            record.appendVarint(0)
        }
        return nil
    }

    private mutating func appendStringExtra(_ key: String, _ span: StringSpan, _ s: JSONScanner) {
        var key = key
        key.withUTF8 { JSONScanner.writeKey(UnsafeRawBufferPointer($0), into: &extras, symbols: &symbols) }
        s.withBytes(span) { JSONScanner.writeString($0, into: &extras, symbols: &symbols, intern: false) }
    }
}
