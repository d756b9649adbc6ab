internal import Glibc

/// A growable byte buffer for building records and JSON text without per-field allocation.
/// Reused across messages: `removeAll()` between uses keeps the storage.
///
/// The storage array is kept at its full allocated length and the written length is `count`: an append is a
/// capacity check and a copy. Appending to a `[UInt8]` went through the generic `append(contentsOf:)` (~100
/// instructions per call, a few bytes each) and emptying it through `replaceSubrange`: ~10% of an import's
/// instructions under callgrind.
struct ByteWriter {
    /// The first `count` bytes are the written ones; the rest is spare capacity.
    private var storage: [UInt8]
    private(set) var count = 0

    init(capacity: Int = 256) { storage = [UInt8](repeating: 0, count: max(16, capacity)) }

    /// A copy of the written bytes (for the edges: text, tests); hot paths use `withUnsafeBytes`.
    var bytes: [UInt8] { Array(storage[0..<count]) }

    var isEmpty: Bool { count == 0 }

    /// Forgets what was written, keeping the storage.
    @inline(__always) mutating func removeAll() { count = 0 }

    /// The written bytes, borrowed.
    @inline(__always) func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let n = count
        return try storage.withUnsafeBytes { all in try body(UnsafeRawBufferPointer(rebasing: all[0..<n])) }
    }

    /// Makes room for `n` more bytes and lets `body` write them at the end: it gets the start of the free space and
    /// returns how many it wrote (at most `n`).
    @inline(__always) private mutating func write(upTo n: Int, _ body: (UnsafeMutableRawPointer) -> Int) {
        if count &+ n > storage.count { grow(to: count &+ n) }
        let at = count
        let written = storage.withUnsafeMutableBytes { all in
            // Never nil: the storage has at least 16 bytes.
            guard let base = all.baseAddress else { return 0 }
            return body(base + at)
        }
        count = at &+ written
    }

    private mutating func grow(to needed: Int) {
        var size = storage.count
        while size < needed { size *= 2 }
        storage.append(contentsOf: repeatElement(0, count: size - storage.count))
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        write(upTo: 1) { p in
            p.storeBytes(of: byte, as: UInt8.self)
            return 1
        }
    }

    @inline(__always) mutating func append(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let n = buffer.count
        write(upTo: n) { p in
            p.copyMemory(from: base, byteCount: n)
            return n
        }
    }

    @inline(__always) mutating func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    @inline(__always) mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        write(upTo: MemoryLayout<T>.size) { p in
            p.storeBytes(of: value.littleEndian, as: T.self)
            return MemoryLayout<T>.size
        }
    }

    /// LEB128 unsigned varint.
    @inline(__always) mutating func appendVarint(_ value: UInt64) {
        write(upTo: 10) { p in
            var v = value
            var i = 0
            while v >= 0x80 {
                p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
                v >>= 7
                i &+= 1
            }
            p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
            return i &+ 1
        }
    }

    /// Zigzag-encoded signed varint: small magnitudes of either sign stay short.
    @inline(__always) mutating func appendSignedVarint(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Length-prefixed bytes.
    @inline(__always) mutating func appendBytesWithLength(_ buffer: UnsafeRawBufferPointer) {
        appendVarint(UInt64(buffer.count))
        append(buffer)
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
        var digits = 1
        var v = value
        while v >= 10 {
            v /= 10
            digits += 1
        }
        write(upTo: digits) { p in
            var v = value
            var i = digits
            repeat {
                i -= 1
                p.storeBytes(of: UInt8(truncatingIfNeeded: v % 10) &+ 48, toByteOffset: i, as: UInt8.self)
                v /= 10
            } while i > 0
            return digits
        }
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
