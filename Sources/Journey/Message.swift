/// A JSON value for typed messages built in Swift.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    func write(into out: inout ByteWriter) {
        switch self {
        case .null: out.append("null")
        case .bool(let b): out.append(b ? "true" : "false")
        case .integer(let i): out.appendDecimal(i)
        case .number(let d):
            if d.isFinite {
                var s = "\(d)"
                s.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
            } else {
                out.append("null")
            }
        case .string(let s): RecordJSON.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let entries):
            Self.writeObject(entries, into: &out)
        }
    }

    static func writeObject(_ entries: [String: JSONValue], into out: inout ByteWriter) {
        out.append(UInt8(ascii: "{"))
        for (i, key) in entries.keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            RecordJSON.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            entries[key]?.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// A Segment message built in Swift (services that do not already hold JSON). It is validated and stored exactly
/// like the same message arriving as JSON.
public struct Message: Sendable, Equatable {
    public var type: CallType
    public var messageId: String
    public var userId: String?
    public var anonymousId: String?
    /// `track`: the event name.
    public var event: String?
    /// `page` / `screen`: the page name.
    public var name: String?
    /// `alias`: the id being linked to `userId`.
    public var previousId: String?
    /// `group`: the group.
    public var groupId: String?
    public var channel: String?
    /// Event time, UTC milliseconds; nil → the time the store receives it.
    public var timestamp: Int64?
    public var properties: [String: JSONValue]
    public var traits: [String: JSONValue]
    public var context: [String: JSONValue]

    public init(
        type: CallType, messageId: String, userId: String? = nil, anonymousId: String? = nil, event: String? = nil,
        name: String? = nil, previousId: String? = nil, groupId: String? = nil, channel: String? = nil,
        timestamp: Int64? = nil, properties: [String: JSONValue] = [:], traits: [String: JSONValue] = [:],
        context: [String: JSONValue] = [:]
    ) {
        self.type = type
        self.messageId = messageId
        self.userId = userId
        self.anonymousId = anonymousId
        self.event = event
        self.name = name
        self.previousId = previousId
        self.groupId = groupId
        self.channel = channel
        self.timestamp = timestamp
        self.properties = properties
        self.traits = traits
        self.context = context
    }

    /// A track call.
    public static func track(
        _ event: String, messageId: String, userId: String? = nil, anonymousId: String? = nil, channel: String? = nil,
        timestamp: Int64? = nil, properties: [String: JSONValue] = [:]
    ) -> Message {
        Message(
            type: .track, messageId: messageId, userId: userId, anonymousId: anonymousId, event: event, channel: channel,
            timestamp: timestamp, properties: properties)
    }

    /// The message as Segment JSON.
    public func jsonBytes() -> [UInt8] {
        var out = ByteWriter(capacity: 256)
        write(into: &out)
        return out.bytes
    }

    func write(into out: inout ByteWriter) {
        out.append("{\"type\":\"")
        var t = type.name
        t.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
        out.append("\",\"messageId\":")
        RecordJSON.writeString(messageId, into: &out)
        let strings: [(StaticString, String?)] = [
            (",\"userId\":", userId), (",\"anonymousId\":", anonymousId), (",\"event\":", event), (",\"name\":", name),
            (",\"previousId\":", previousId), (",\"groupId\":", groupId), (",\"channel\":", channel),
        ]
        for (key, value) in strings {
            guard let value else { continue }
            out.append(key)
            RecordJSON.writeString(value, into: &out)
        }
        if let timestamp {
            out.append(",\"timestamp\":\"")
            RFC3339.format(timestamp, into: &out)
            out.append(UInt8(ascii: "\""))
        }
        let objects: [(StaticString, [String: JSONValue])] = [
            (",\"properties\":", properties), (",\"traits\":", traits), (",\"context\":", context),
        ]
        for (key, value) in objects where !value.isEmpty {
            out.append(key)
            JSONValue.writeObject(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
