internal import Glibc

/// A hash map from byte strings to `UInt32`, looked up by a borrowed buffer so that interning an event name or a
/// property key on the import path allocates nothing. Open addressing over one arena.
struct ByteInterner {
    private var arena: [UInt8] = []
    private var starts: [Int] = []
    private var lengths: [Int] = []
    private var values: [UInt32] = []
    private var hashes: [UInt64] = []
    /// Entry index + 1, 0 for empty.
    private var slots: [Int32] = Array(repeating: 0, count: 64)

    var count: Int { values.count }

    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let s = Int(slots[i])
            if s == 0 { return nil }
            let e = s - 1
            if hashes[e] == hash && lengths[e] == key.count && equalBytes(e, key) { return values[e] }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer) -> UInt32? { lookup(key, hash: Hashing.hash64(key)) }

    /// Adds `key` → `value`; the key must not be present.
    mutating func insert(_ key: UnsafeRawBufferPointer, hash: UInt64, value: UInt32) {
        if (values.count + 1) * 4 > slots.count * 3 { grow() }
        let e = values.count
        starts.append(arena.count)
        lengths.append(key.count)
        arena.appendRaw(key)
        values.append(value)
        hashes.append(hash)
        place(e)
    }

    mutating func insert(_ key: UnsafeRawBufferPointer, value: UInt32) {
        insert(key, hash: Hashing.hash64(key), value: value)
    }

    private func equalBytes(_ e: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        // One `memcmp` (the byte loop was ~1% of an import's instructions); the caller checked the lengths.
        guard let k = key.baseAddress else { return true }
        return arena.withUnsafeBytes { a in
            guard let base = a.baseAddress else { return false }
            return memcmp(base + starts[e], k, key.count) == 0
        }
    }

    private mutating func place(_ e: Int) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hashes[e]) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Int32(e + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        for e in 0..<values.count { place(e) }
    }
}

/// Stable 64-bit hashing of bytes. Persisted (the message-id index is keyed by it): never change it.
enum Hashing {
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    /// Reads 8 bytes at a time, folds each word in with a multiply, finishes with murmur3's fmix64.
    @inline(__always)
    static func hash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(bytes.count) &* 0xA076_1D64_78BD_642F)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
            h = (h ^ mix(w)) &* 0x9FB2_1C65_1E98_DF25
            h = (h << 27) | (h >> 37)
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ mix(w)) &* 0x9FB2_1C65_1E98_DF25
        }
        return mix(h)
    }
}
