/// A JSON syntax error with the byte offset where it was found.
struct JSONSyntaxError: Error {
    var message: String
    var offset: Int
}

/// Where a parsed string's bytes are: in the input (no escapes, the common case) or in the scanner's scratch.
struct StringSpan {
    var inScratch: Bool
    var start: Int
    var count: Int
}

/// Tags of the compact binary value encoding that keeps every field of a message losslessly
/// (see schemas/record-format.md). Persisted: never renumber.
enum ValueTag {
    static let null: UInt8 = 0
    static let `false`: UInt8 = 1
    static let `true`: UInt8 = 2
    /// Zigzag varint.
    static let integer: UInt8 = 3
    /// Zigzag varint mantissa, then one byte of decimal places: `185.21` → 18521, 2. Exact, prints back the same.
    static let decimal: UInt8 = 4
    /// A number kept as its text (exponents, more than 18 digits).
    static let numberText: UInt8 = 5
    /// Length-prefixed UTF-8.
    static let string: UInt8 = 6
    /// A string held in the symbol table: varint id.
    static let symbol: UInt8 = 7
    /// Values until `end`.
    static let array: UInt8 = 8
    /// Entries (key reference, value) until a 0 key reference.
    static let object: UInt8 = 9
    static let end: UInt8 = 10
    /// A string that was a canonical RFC 3339 time (`2026-03-24T03:37:19.986Z`): zigzag varint of its UTC ms,
    /// printed back to the same 24 characters. Saves 17 bytes per time-valued field.
    static let time: UInt8 = 11
}

/// A single-pass JSON reader over bytes that validates the grammar (RFC 8259, UTF-8) and transcodes values into
/// the binary value encoding without building a tree. Strings without escapes are never copied.
struct JSONScanner {
    let input: UnsafeRawBufferPointer
    var pos = 0
    /// Unescaped strings of the current message; reset per message, so spans stay valid for its whole parse.
    var scratch: [UInt8]

    /// `scratch` is emptied in place (the caller hands it over: shared, emptying it would allocate a copy).
    init(input: UnsafeRawBufferPointer, scratch: consuming [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        self.input = input
        self.scratch = scratch
    }

    @inline(__always) var atEnd: Bool { pos >= input.count }

    @inline(__always) func peek() -> UInt8 { pos < input.count ? input[pos] : 0 }

    @inline(__always) mutating func skipWhitespace() {
        while pos < input.count {
            let c = input[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: pos) }

    func describeHere() -> String {
        if atEnd { return "end of line" }
        let c = input[pos]
        if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(String(c, radix: 16))"
    }

    @inline(__always) mutating func expect(_ c: UInt8, _ what: StaticString) throws(JSONSyntaxError) {
        skipWhitespace()
        guard !atEnd, input[pos] == c else { throw fail("expected \(what), found \(describeHere())") }
        pos += 1
    }

    /// The bytes of a span; valid until the scratch grows (use before parsing further strings).
    @inline(__always) func withBytes<R>(_ span: StringSpan, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows
        -> R
    {
        if span.inScratch {
            return try scratch.withUnsafeBytes {
                try body(UnsafeRawBufferPointer(rebasing: $0[span.start..<(span.start + span.count)]))
            }
        }
        return try body(UnsafeRawBufferPointer(rebasing: input[span.start..<(span.start + span.count)]))
    }

    /// The high bit of each byte of `w` (as loaded, little-endian) that may end a plain string: a quote, a backslash,
    /// a control character or a non-ASCII byte. The lowest flagged byte is exact (SWAR zero-byte tests: a borrow can
    /// only flag bytes above a real match), which is all the caller uses.
    @inline(__always) static func specialBytes(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let q = (quote &- ones) & ~quote
        let b = (backslash &- ones) & ~backslash
        let control = (w &- ones &* 0x20) & ~w
        return (q | b | control | w) & high
    }

    /// Parses a string; `pos` must be at its opening quote.
    mutating func parseString() throws(JSONSyntaxError) -> StringSpan {
        pos += 1
        let start = pos
        let n = input.count
        // Fast path: printable ASCII up to the closing quote, eight bytes at a time, then byte by byte.
        while pos &+ 8 <= n {
            let special = Self.specialBytes(input.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
            if special != 0 {
                pos &+= special.littleEndian.trailingZeroBitCount >> 3
                break
            }
            pos &+= 8
        }
        while pos < n {
            let c = input[pos]
            if c == UInt8(ascii: "\"") {
                let span = StringSpan(inScratch: false, start: start, count: pos - start)
                pos += 1
                return span
            }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { break }
            pos += 1
        }
        if pos >= n { throw fail("unterminated string") }
        // Slow path: copy into scratch, decoding escapes and checking UTF-8.
        let scratchStart = scratch.count
        scratch.appendRaw(UnsafeRawBufferPointer(rebasing: input[start..<pos]))
        while pos < n {
            let c = input[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return StringSpan(inScratch: true, start: scratchStart, count: scratch.count - scratchStart)
            }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                pos += 1
                guard pos < n else { break }
                let e = input[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard pos + 1 < n, input[pos] == UInt8(ascii: "\\"), input[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    appendUTF8(scalar)
                default:
                    pos -= 1
                    throw fail("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
                continue
            }
            if c < 0x80 {
                scratch.append(c)
                pos += 1
                continue
            }
            let len = try validUTF8Sequence()
            scratch.appendRaw(UnsafeRawBufferPointer(rebasing: input[pos..<(pos + len)]))
            pos += len
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard pos + 4 <= input.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = input[pos]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    private mutating func appendUTF8(_ s: UInt32) {
        switch s {
        case 0..<0x80: scratch.append(UInt8(s))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (s >> 6)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (s >> 12)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (s >> 18)))
            scratch.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// Length of the well-formed UTF-8 sequence at `pos` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    private func validUTF8Sequence() throws(JSONSyntaxError) -> Int {
        let n = input.count
        let c = input[pos]
        @inline(__always) func cont(_ i: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            pos + i < n && input[pos + i] >= lo && input[pos + i] <= hi
        }
        switch c {
        case 0xC2...0xDF: if cont(1) { return 2 }
        case 0xE0: if cont(1, 0xA0) && cont(2) { return 3 }
        case 0xE1...0xEC, 0xEE...0xEF: if cont(1) && cont(2) { return 3 }
        case 0xED: if cont(1, 0x80, 0x9F) && cont(2) { return 3 }
        case 0xF0: if cont(1, 0x90) && cont(2) && cont(3) { return 4 }
        case 0xF1...0xF3: if cont(1) && cont(2) && cont(3) { return 4 }
        case 0xF4: if cont(1, 0x80, 0x8F) && cont(2) && cont(3) { return 4 }
        default: break
        }
        throw fail("invalid UTF-8")
    }

    /// Scans a number and returns its text span (grammar-checked).
    mutating func scanNumber() throws(JSONSyntaxError) -> (start: Int, end: Int, integerDigits: Int, fractionDigits: Int, exponent: Bool) {
        let start = pos
        let n = input.count
        if pos < n, input[pos] == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        guard pos < n, input[pos] >= 48, input[pos] <= 57 else { throw fail("invalid number") }
        if input[pos] == 48 {
            pos += 1
        } else {
            while pos < n, input[pos] >= 48, input[pos] <= 57 { pos += 1 }
        }
        let intDigits = pos - intStart
        var fracDigits = 0
        if pos < n, input[pos] == UInt8(ascii: ".") {
            pos += 1
            let f = pos
            while pos < n, input[pos] >= 48, input[pos] <= 57 { pos += 1 }
            fracDigits = pos - f
            guard fracDigits > 0 else { throw fail("invalid number: no digit after '.'") }
        }
        var exp = false
        if pos < n, input[pos] == UInt8(ascii: "e") || input[pos] == UInt8(ascii: "E") {
            exp = true
            pos += 1
            if pos < n, input[pos] == UInt8(ascii: "+") || input[pos] == UInt8(ascii: "-") { pos += 1 }
            let e = pos
            while pos < n, input[pos] >= 48, input[pos] <= 57 { pos += 1 }
            guard pos > e else { throw fail("invalid number: no exponent digits") }
        }
        return (start, pos, intDigits, fracDigits, exp)
    }

    @inline(__always) mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let len = word.utf8CodeUnitCount
        guard pos + len <= input.count else { throw fail("invalid literal") }
        let p = word.utf8Start
        for i in 0..<len where input[pos + i] != p[i] { throw fail("invalid literal") }
        pos += len
    }

    /// Transcodes the value at `pos` into the binary value encoding. `internValues` interns short strings.
    mutating func transcodeValue(
        into out: inout ByteWriter, symbols: inout SymbolCache, internValues: Bool = false, depth: Int = 0
    ) throws(JSONSyntaxError) {
        guard depth < 64 else { throw fail("nesting deeper than 64 levels") }
        skipWhitespace()
        guard !atEnd else { throw fail("expected a value, found end of line") }
        switch input[pos] {
        case UInt8(ascii: "\""):
            let span = try parseString()
            withBytes(span) { b in Self.writeString(b, into: &out, symbols: &symbols, intern: internValues) }
        case UInt8(ascii: "{"):
            pos += 1
            out.append(ValueTag.object)
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                pos += 1
                out.appendVarint(0)
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key string, found \(describeHere())") }
                let key = try parseString()
                let lowCardinality = withBytes(key) { k in
                    Self.writeKey(k, into: &out, symbols: &symbols)
                    return Self.isLowCardinalityKey(k)
                }
                try expect(UInt8(ascii: ":"), "':'")
                try transcodeValue(into: &out, symbols: &symbols, internValues: lowCardinality, depth: depth + 1)
                skipWhitespace()
                let c = peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                pos -= 1
                throw fail("expected ',' or '}', found \(describeHere())")
            }
            out.appendVarint(0)
        case UInt8(ascii: "["):
            pos += 1
            out.append(ValueTag.array)
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                pos += 1
                out.append(ValueTag.end)
                return
            }
            while true {
                try transcodeValue(into: &out, symbols: &symbols, internValues: internValues, depth: depth + 1)
                skipWhitespace()
                let c = peek()
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { break }
                pos -= 1
                throw fail("expected ',' or ']', found \(describeHere())")
            }
            out.append(ValueTag.end)
        case UInt8(ascii: "t"):
            try literal("true")
            out.append(ValueTag.true)
        case UInt8(ascii: "f"):
            try literal("false")
            out.append(ValueTag.false)
        case UInt8(ascii: "n"):
            try literal("null")
            out.append(ValueTag.null)
        default:
            let num = try scanNumber()
            Self.writeNumber(
                UnsafeRawBufferPointer(rebasing: input[num.start..<num.end]), integerDigits: num.integerDigits,
                fractionDigits: num.fractionDigits, exponent: num.exponent, into: &out)
        }
    }

    /// A string value: a canonical time as `time`, a short low-cardinality value as `symbol`, else inline.
    @inline(__always)
    static func writeString(
        _ b: UnsafeRawBufferPointer, into out: inout ByteWriter, symbols: inout SymbolCache, intern: Bool
    ) {
        if b.count == 24 && RFC3339.isCanonical(b), let t = RFC3339.parseMillis(b) {
            out.append(ValueTag.time)
            out.appendSignedVarint(t)
        } else if intern && b.count <= 24 {
            out.append(ValueTag.symbol)
            out.appendVarint(UInt64(symbols.intern(b)))
        } else {
            out.append(ValueTag.string)
            out.appendBytesWithLength(b)
        }
    }

    /// Object keys are interned (they repeat on every message); keys longer than 64 bytes stay inline so odd data
    /// cannot flood the table. Key reference: 0 ends the object, 2·id+2 a symbol, 2·length+1 inline bytes.
    @inline(__always)
    static func writeKey(_ k: UnsafeRawBufferPointer, into out: inout ByteWriter, symbols: inout SymbolCache) {
        if k.count <= 64 {
            out.appendVarint(UInt64(symbols.intern(k)) * 2 + 2)
        } else {
            out.appendVarint(UInt64(k.count) * 2 + 1)
            out.append(k)
        }
    }

    /// Values under these keys repeat across customers (currencies, plans, pages, topics): interning them pays.
    static func isLowCardinalityKey(_ k: UnsafeRawBufferPointer) -> Bool {
        switch k.count {
        case 4: return k.equals("plan") || k.equals("path") || k.equals("name")
        case 5: return k.equals("topic") || k.equals("brand")
        case 6: return k.equals("locale") || k.equals("source") || k.equals("reason")
        case 7: return k.equals("country")
        case 8: return k.equals("currency") || k.equals("category")
        case 10: return k.equals("product_id")
        default: return false
        }
    }

    static func writeNumber(
        _ text: UnsafeRawBufferPointer, integerDigits: Int, fractionDigits: Int, exponent: Bool,
        into out: inout ByteWriter
    ) {
        // Exact forms only: integers and plain decimals of ≤ 18 digits (and no "-0"); anything else keeps its text.
        if !exponent && integerDigits + fractionDigits <= 18 && !(text.first == UInt8(ascii: "-") && isZero(text)) {
            var mantissa: Int64 = 0
            var negative = false
            for c in text {
                if c == UInt8(ascii: "-") {
                    negative = true
                } else if c != UInt8(ascii: ".") {
                    mantissa = mantissa * 10 + Int64(c - 48)
                }
            }
            if negative { mantissa = -mantissa }
            if fractionDigits == 0 {
                out.append(ValueTag.integer)
                out.appendSignedVarint(mantissa)
            } else {
                out.append(ValueTag.decimal)
                out.appendSignedVarint(mantissa)
                out.append(UInt8(fractionDigits))
            }
            return
        }
        out.append(ValueTag.numberText)
        out.appendBytesWithLength(text)
    }

    private static func isZero(_ text: UnsafeRawBufferPointer) -> Bool {
        for c in text where c != UInt8(ascii: "-") && c != UInt8(ascii: "0") && c != UInt8(ascii: ".") {
            return false
        }
        return true
    }
}
