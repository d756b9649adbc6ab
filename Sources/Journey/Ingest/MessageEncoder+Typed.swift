/// Typed messages (`Message`, built in Swift) go straight to the binary record: no JSON text is written and parsed
/// again on the append path. The result is the record the same message gets as JSON (`Message.jsonBytes()`), byte
/// for byte, and so are the rejections: a test holds the two paths equal on random messages.
extension MessageEncoder {
    /// Nesting this deep takes the JSON path, which reports it with its byte offset (the JSON limit is 64).
    private static let typedDepthLimit = 60

    /// Encodes `m` as `encode(m.jsonBytes(), …)` would.
    mutating func encode(_ m: Message, receivedTime: Int64) -> Rejection? {
        // A message that fails validation (rare) takes the JSON path, which words the rejection (too deep a
        // nesting first, then the fields in its order): the reasons are written in one place only.
        func viaJSON() -> Rejection? { m.jsonBytes().withUnsafeBytes { encode($0, receivedTime: receivedTime) } }
        // Validation, semantics §1. At most 100 UTF-8 bytes are at most 100 characters: counted only when longer.
        let midBytes = m.messageId.utf8.count
        guard midBytes >= 1, midBytes <= 100 || m.messageId.unicodeScalars.count <= 100 else { return viaJSON() }
        let user = m.userId.flatMap { $0.isEmpty ? nil : $0 }
        let anonymous = m.anonymousId.flatMap { $0.isEmpty ? nil : $0 }
        if m.type == .alias {
            guard user != nil, m.previousId?.isEmpty == false else { return viaJSON() }
        } else if user == nil && anonymous == nil {
            return viaJSON()
        }
        if m.type == .track && m.event?.isEmpty != false { return viaJSON() }
        // A representable time is written as `RFC3339.format` prints it, canonical, which the JSON path parses back
        // to the same millisecond and elides: no text is needed (a test holds the two paths equal).
        var time = receivedTime
        if let t = m.timestamp {
            // Outside it, rejected as its JSON is (the year printed expanded, `+010000-…`).
            guard RFC3339.representable.contains(t) else { return viaJSON() }
            time = t
        }
        eventTime = time

        // Extras, in the order the JSON path meets them.
        extras.removeAll()
        tooDeep = false
        if let name = m.name {
            stringExtra("name", name, intern: true)
        }
        if let groupId = m.groupId {
            stringExtra("groupId", groupId, intern: false)
        }
        if !m.properties.isEmpty { objectExtra("properties", m.properties) }
        if !m.traits.isEmpty { objectExtra("traits", m.traits) }
        if !m.context.isEmpty { objectExtra("context", m.context) }
        if tooDeep { return viaJSON() }
        var flags: UInt16 = 0
        if user != nil { flags |= RecordLayout.hasUserId }
        if anonymous != nil { flags |= RecordLayout.hasAnonymousId }
        let previous = m.previousId.flatMap { $0.isEmpty ? nil : $0 }
        if previous != nil { flags |= RecordLayout.hasPreviousId }
        if m.timestamp != nil { flags |= RecordLayout.timestampElided }
        // Empty ids are kept as they came, after the other fields (as the JSON path does).
        if m.userId?.isEmpty == true { stringExtra("userId", "", intern: false) }
        if m.anonymousId?.isEmpty == true { stringExtra("anonymousId", "", intern: false) }
        if m.previousId?.isEmpty == true { stringExtra("previousId", "", intern: false) }
        let nameId: UInt32
        if m.type == .track, let event = m.event {
            flags |= RecordLayout.eventFromField
            nameId = Self.withBytes(event) { symbols.intern($0) }
        } else {
            if let event = m.event {
                stringExtra("event", event, intern: false)
            }
            let implied = m.type.impliedEventName
            nameId = symbols.intern(UnsafeRawBufferPointer(start: implied.utf8Start, count: implied.utf8CodeUnitCount))
        }
        let channelId = m.channel.map { c in Self.withBytes(c) { symbols.intern($0) } } ?? 0
        let hasExtras = !extras.isEmpty
        if hasExtras { flags |= RecordLayout.hasExtras }

        record.removeAll()
        record.appendRecordHeader(type: m.type.rawValue, flags: flags, time: time, name: nameId, channel: channelId)
        messageIdHash = Self.withBytes(m.messageId) { b in
            record.appendBytesWithLength(b)
            return Hashing.hash64(b)
        }
        if let user { Self.withBytes(user) { record.appendBytesWithLength($0) } }
        if let anonymous { Self.withBytes(anonymous) { record.appendBytesWithLength($0) } }
        if let previous { Self.withBytes(previous) { record.appendBytesWithLength($0) } }
        if hasExtras {
            extras.withUnsafeBytes { record.append($0) }
            record.appendVarint(0)
        }
        return nil
    }

    private mutating func objectExtra(_ key: String, _ object: [String: JSONValue]) {
        Self.withBytes(key) { JSONScanner.writeKey($0, into: &extras, symbols: &symbols) }
        writeObject(object, level: 2)
    }

    private mutating func stringExtra(_ key: String, _ value: String, intern: Bool) {
        Self.withBytes(key) { JSONScanner.writeKey($0, into: &extras, symbols: &symbols) }
        Self.withBytes(value) { JSONScanner.writeString($0, into: &extras, symbols: &symbols, intern: intern) }
    }

    /// An object's entries in the order `Message.jsonBytes()` writes them (sorted keys). `level` counts the message
    /// as 1; at `typedDepthLimit` the message takes the JSON path (`tooDeep`).
    private mutating func writeObject(_ entries: [String: JSONValue], level: Int) {
        guard level < Self.typedDepthLimit else {
            tooDeep = true
            return
        }
        extras.append(ValueTag.object)
        if entries.count == 1, let (key, value) = entries.first {
            writeEntry(key, value, level: level)
        } else if entries.count <= 16 {
            // Sorted in place on the stack: `sorted()` would allocate an array of entries per object.
            withUnsafeTemporaryAllocation(of: Dictionary<String, JSONValue>.Index.self, capacity: entries.count) { order in
                var n = 0
                var i = entries.startIndex
                while i != entries.endIndex {
                    let key = entries[i].key
                    var j = n
                    while j > 0 && key < entries[order[j - 1]].key {
                        order[j] = order[j - 1]
                        j -= 1
                    }
                    order[j] = i
                    n += 1
                    entries.formIndex(after: &i)
                }
                for k in 0..<n {
                    let entry = entries[order[k]]
                    writeEntry(entry.key, entry.value, level: level)
                }
            }
        } else {
            for (key, value) in entries.sorted(by: { $0.key < $1.key }) { writeEntry(key, value, level: level) }
        }
        extras.appendVarint(0)
    }

    private mutating func writeEntry(_ key: String, _ value: JSONValue, level: Int) {
        let lowCardinality = Self.withBytes(key) { k in
            JSONScanner.writeKey(k, into: &extras, symbols: &symbols)
            return JSONScanner.isLowCardinalityKey(k)
        }
        writeValue(value, internValues: lowCardinality, level: level)
    }

    /// `level`: that of the container holding `value`.
    private mutating func writeValue(_ value: JSONValue, internValues: Bool, level: Int) {
        switch value {
        case .null: extras.append(ValueTag.null)
        case .bool(let b): extras.append(b ? ValueTag.true : ValueTag.false)
        case .integer(let i):
            // Up to 18 digits is an exact integer; Int64's extremes (19 digits) keep their text, as parsed JSON does.
            if i.magnitude < 1_000_000_000_000_000_000 {
                extras.append(ValueTag.integer)
                extras.appendSignedVarint(i)
            } else {
                extras.append(ValueTag.numberText)
                Self.withBytes(String(i)) { extras.appendBytesWithLength($0) }
            }
        case .number(let d):
            guard d.isFinite else {
                extras.append(ValueTag.null)
                return
            }
            if let (mantissa, places) = Self.fixedDecimal(d) {
                extras.append(ValueTag.decimal)
                extras.appendSignedVarint(mantissa)
                extras.append(places)
                return
            }
            // The text `Message.jsonBytes()` writes, transcoded by the scanner's own number rules.
            Self.withBytes(d.description) { text in
                var scanner = JSONScanner(input: text, scratch: [])
                do {
                    try scanner.transcodeValue(into: &extras, symbols: &symbols)
                } catch {
                    extras.append(ValueTag.null)  // unreachable: Swift prints finite doubles as JSON numbers
                }
            }
        case .string(let s): Self.withBytes(s) { JSONScanner.writeString($0, into: &extras, symbols: &symbols, intern: internValues) }
        case .array(let items):
            guard level + 1 < Self.typedDepthLimit else {
                tooDeep = true
                return
            }
            extras.append(ValueTag.array)
            for item in items { writeValue(item, internValues: internValues, level: level + 1) }
            extras.append(ValueTag.end)
        case .object(let entries): writeObject(entries, level: level + 1)
        }
    }

    /// `d` as the decimal the scanner makes of Swift's text for it (`19.99` → 1999, 2 places), for the common
    /// doubles, without printing and scanning that text: a magnitude in [0.001, 10¹⁵), where Swift prints fixed
    /// notation, and at most 15 significant digits, where one decimal alone of the fewest places reads back as `d`,
    /// so it is the shortest round-trip text Swift prints. Nil for the rest (zero, exponents, more digits).
    static func fixedDecimal(_ d: Double) -> (mantissa: Int64, places: UInt8)? {
        let a = d.magnitude
        guard a >= 0.001 && a < 1e15 else { return nil }
        var integerDigits = 1
        var power = 10.0
        while power <= a {
            power *= 10
            integerDigits += 1
        }
        if a.rounded(.towardZero) == a { return (Int64(d) * 10, 1) }  // "19.0"
        var scale = 1.0
        for places in 1...17 {
            scale *= 10
            let m = (d * scale).rounded()
            guard m.magnitude < 1e15, integerDigits + places <= 18 else { return nil }
            if m / scale == d { return (Int64(m), UInt8(places)) }
        }
        return nil
    }

    @inline(__always)
    private static func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = s.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
        var s = s
        return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
