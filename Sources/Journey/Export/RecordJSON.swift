/// Writes a record back as the Segment JSON message it was accepted as: the same fields and values (numbers as they
/// were written, strings as decoded), core fields first, then the others in their original order.
struct RecordJSON {
    let symbols: SymbolTable

    func write(_ view: RecordView, into out: inout ByteWriter) -> Bool {
        guard let v = view.variable else { return false }
        out.append("{\"messageId\":")
        Self.writeString(v.messageId, into: &out)
        out.append(",\"type\":\"")
        var t = view.callType.name
        t.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
        out.append(UInt8(ascii: "\""))
        if let u = v.userId {
            out.append(",\"userId\":")
            Self.writeString(u, into: &out)
        }
        if let a = v.anonymousId {
            out.append(",\"anonymousId\":")
            Self.writeString(a, into: &out)
        }
        if let p = v.previousId {
            out.append(",\"previousId\":")
            Self.writeString(p, into: &out)
        }
        let flags = view.flags
        if flags & RecordLayout.eventFromField != 0 {
            out.append(",\"event\":")
            writeSymbol(view.eventName, into: &out)
        }
        if view.channel != 0 {
            out.append(",\"channel\":")
            writeSymbol(view.channel, into: &out)
        }
        if flags & RecordLayout.timestampElided != 0 {
            out.append(",\"timestamp\":\"")
            RFC3339.format(view.eventTime, into: &out)
            out.append(UInt8(ascii: "\""))
        }
        if let extras = v.extras {
            var r = ByteReader(extras)
            guard writeEntries(&r, into: &out, leadingComma: true) else { return false }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    private func writeSymbol(_ id: UInt32, into out: inout ByteWriter) {
        if symbols.withBytes(id, { Self.writeString($0, into: &out) }) == nil { out.append("null") }
    }

    /// Object entries until the 0 key reference.
    private func writeEntries(_ r: inout ByteReader, into out: inout ByteWriter, leadingComma: Bool) -> Bool {
        var first = !leadingComma
        while true {
            guard let k = r.varint() else { return false }
            if k == 0 { return true }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            if k & 1 == 1 {
                guard let bytes = r.bytes(Int(k >> 1)) else { return false }
                Self.writeString(bytes, into: &out)
            } else {
                writeSymbol(UInt32(truncatingIfNeeded: (k >> 1) - 1), into: &out)
            }
            out.append(UInt8(ascii: ":"))
            guard writeValue(&r, into: &out) else { return false }
        }
    }

    /// One tagged value as JSON (profiles render nested trait values with it too).
    func writeValue(_ r: inout ByteReader, into out: inout ByteWriter) -> Bool {
        guard let tag = r.byte() else { return false }
        switch tag {
        case ValueTag.null: out.append("null")
        case ValueTag.false: out.append("false")
        case ValueTag.true: out.append("true")
        case ValueTag.integer:
            guard let v = r.signedVarint() else { return false }
            out.appendDecimal(v)
        case ValueTag.decimal:
            guard let m = r.signedVarint(), let scale = r.byte() else { return false }
            Self.writeDecimal(m, scale: Int(scale), into: &out)
        case ValueTag.numberText, ValueTag.string:
            guard let b = r.lengthPrefixed() else { return false }
            if tag == ValueTag.string { Self.writeString(b, into: &out) } else { out.append(b) }
        case ValueTag.time:
            guard let t = r.signedVarint() else { return false }
            out.append(UInt8(ascii: "\""))
            RFC3339.format(t, into: &out)
            out.append(UInt8(ascii: "\""))
        case ValueTag.symbol:
            guard let id = r.varint() else { return false }
            writeSymbol(UInt32(truncatingIfNeeded: id), into: &out)
        case ValueTag.array:
            out.append(UInt8(ascii: "["))
            var first = true
            while true {
                guard r.offset < r.buffer.count else { return false }
                if r.buffer[r.offset] == ValueTag.end {
                    r.offset += 1
                    break
                }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                guard writeValue(&r, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case ValueTag.object:
            out.append(UInt8(ascii: "{"))
            guard writeEntries(&r, into: &out, leadingComma: false) else { return false }
            out.append(UInt8(ascii: "}"))
        default: return false
        }
        return true
    }

    static func writeDecimal(_ mantissa: Int64, scale: Int, into out: inout ByteWriter) {
        if mantissa < 0 { out.append(UInt8(ascii: "-")) }
        var digits = ByteWriter(capacity: 20)
        digits.appendDecimal(UInt64(mantissa.magnitude))
        digits.withUnsafeBytes { d in
            if d.count <= scale {
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "."))
                for _ in 0..<(scale - d.count) { out.append(UInt8(ascii: "0")) }
                out.append(d)
            } else {
                out.append(UnsafeRawBufferPointer(rebasing: d[0..<(d.count - scale)]))
                out.append(UInt8(ascii: "."))
                out.append(UnsafeRawBufferPointer(rebasing: d[(d.count - scale)...]))
            }
        }
    }

    /// A JSON string literal; escapes quotes, backslashes and control characters, passes UTF-8 through.
    static func writeString(_ b: UnsafeRawBufferPointer, into out: inout ByteWriter) {
        out.append(UInt8(ascii: "\""))
        var start = 0
        for i in 0..<b.count {
            let c = b[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
            if i > start { out.append(UnsafeRawBufferPointer(rebasing: b[start..<i])) }
            start = i + 1
            switch c {
            case 0x22: out.append("\\\"")
            case 0x5C: out.append("\\\\")
            case 0x0A: out.append("\\n")
            case 0x0D: out.append("\\r")
            case 0x09: out.append("\\t")
            case 0x08: out.append("\\b")
            case 0x0C: out.append("\\f")
            default:
                out.append("\\u00")
                let hex: StaticString = "0123456789abcdef"
                out.append(hex.utf8Start[Int(c >> 4)])
                out.append(hex.utf8Start[Int(c & 15)])
            }
        }
        if start < b.count { out.append(UnsafeRawBufferPointer(rebasing: b[start...])) }
        out.append(UInt8(ascii: "\""))
    }

    static func writeString(_ s: String, into out: inout ByteWriter) {
        var s = s
        s.withUTF8 { writeString(UnsafeRawBufferPointer($0), into: &out) }
    }
}
