internal import Glibc

/// A growable byte buffer for building records and JSON text without per-field allocation.
/// Reused across messages: `removeAll(keepingCapacity:)` between uses.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    var count: Int { bytes.count }

    @inline(__always) mutating func append(_ byte: UInt8) { bytes.append(byte) }

    @inline(__always) mutating func append(_ buffer: UnsafeRawBufferPointer) { bytes.appendRaw(buffer) }

    @inline(__always) mutating func append(_ string: StaticString) {
        string.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.appendRaw($0) }
    }

    /// LEB128 unsigned varint.
    @inline(__always) mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag-encoded signed varint: small magnitudes of either sign stay short.
    @inline(__always) mutating func appendSignedVarint(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Length-prefixed bytes.
    @inline(__always) mutating func appendBytesWithLength(_ buffer: UnsafeRawBufferPointer) {
        appendVarint(UInt64(buffer.count))
        bytes.appendRaw(buffer)
    }

    /// Decimal text of an integer.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(UInt64(value.magnitude))
        } else {
            appendDecimal(UInt64(value))
        }
    }

    mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            append(UInt8(truncatingIfNeeded: value) &+ 48)
            return
        }
        var digits: (UInt64, Int) = (value, 0)
        var tmp = [UInt8](repeating: 0, count: 20)
        while digits.0 > 0 {
            tmp[19 - digits.1] = UInt8(truncatingIfNeeded: digits.0 % 10) &+ 48
            digits.0 /= 10
            digits.1 += 1
        }
        bytes.append(contentsOf: tmp[(20 - digits.1)...])
    }

    /// Zero-padded decimal of a fixed width (dates).
    mutating func appendPadded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            append(UInt8(truncatingIfNeeded: (v / divisor) % 10) &+ 48)
            v %= divisor
            divisor /= 10
        }
    }
}

/// Reads what `ByteWriter` wrote. Returns nil on short input rather than trapping, so a damaged record is an error.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset: Int

    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    @inline(__always) mutating func byte() -> UInt8? {
        guard offset < buffer.count else { return nil }
        defer { offset += 1 }
        return buffer[offset]
    }

    @inline(__always) mutating func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < buffer.count {
            let b = buffer[offset]
            offset += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    @inline(__always) mutating func signedVarint() -> Int64? {
        guard let v = varint() else { return nil }
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    @inline(__always) mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        // Subtracted, not added: a damaged length near Int.max would overflow (found by `tools/fuzz-inputs records`).
        guard count >= 0, count <= buffer.count - offset else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
    }

    @inline(__always) mutating func lengthPrefixed() -> UnsafeRawBufferPointer? {
        guard let n = varint(), n <= UInt64(buffer.count) else { return nil }
        return bytes(Int(n))
    }
}

extension UnsafeRawBufferPointer {
    /// Byte equality with a literal, by `memcmp`: the import path matches field names this way, and the generic
    /// `elementsEqual` over a UTF-8 view cost ~10% of import time.
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        guard let base = baseAddress else { return true }
        return memcmp(base, literal.utf8Start, count) == 0
    }
}

extension [UInt8] {
    /// Appends raw bytes with one copy. `append(contentsOf:)` given an `UnsafeRawBufferPointer` iterates it byte by
    /// byte (it offers no contiguous storage); seen as typed bytes it is a `memcpy`.
    @inline(__always) mutating func appendRaw(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: buffer.count))
    }
}
