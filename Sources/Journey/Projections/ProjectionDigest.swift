internal import LMDB

/// A projection's state digest: 64 bits over every key and value of its databases in key order, and its
/// `projection_meta` entry (version, checkpoint, counter). Equal digests mean byte-identical state (semantics §6).
public struct ProjectionDigest: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var checkpoint: UInt64
    public var digest: UInt64

    /// Sixteen hex digits.
    public var hex: String {
        let s = String(digest, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    public var description: String { "\(name) @\(checkpoint) \(hex)" }
}

enum StateDigest {
    /// Folds one item into a running digest (order-sensitive).
    @inline(__always)
    static func fold(_ h: UInt64, _ x: UInt64) -> UInt64 {
        Hashing.mix((h ^ x) &* 0x0000_0100_0000_01B3 &+ 0x9E37_79B9_7F4A_7C15)
    }

    static func digest<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, databases: [(String, Database)], meta: Database, name: StaticString
    ) throws -> ProjectionDigest {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let nameBytes = Array(name.description.utf8)
        for (dbName, db) in databases {
            var n = dbName
            h = fold(h, n.withUTF8 { Hashing.hash64(UnsafeRawBufferPointer($0)) })
            try txn.withCursor(db) { c in
                var entry = try c.first()
                while let e = entry {
                    h = fold(h, Hashing.hash64(e.key))
                    h = fold(h, Hashing.hash64(e.value))
                    entry = try c.next()
                }
            }
        }
        let checkpoint: UInt64 = try nameBytes.withUnsafeBytes { k in
            try txn.withValue(meta, key: k) { v -> UInt64 in
                h = fold(h, Hashing.hash64(v))
                return v.count >= 16 ? UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : 0
            } ?? 0
        }
        return ProjectionDigest(name: name.description, checkpoint: checkpoint, digest: h)
    }

    /// Digests of the identity and timeline projections in one snapshot.
    static func digests<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases) throws
        -> [ProjectionDigest]
    {
        [
            try digest(txn, databases: dbs.identityState, meta: dbs.meta, name: IdentityProjection.name),
            try digest(txn, databases: dbs.timelineState, meta: dbs.meta, name: TimelineProjection.name),
        ]
    }
}
