internal import LMDB

/// A projection's entry in `projection_meta`: the code version that wrote its state and the last log position
/// applied (its checkpoint), written in the same transaction as the state it covers (semantics §6).
///
/// Value layout, 24 bytes little-endian: version UInt32, 4 zero bytes, checkpoint UInt64, counter UInt64 (a
/// projection-specific counter; identity keeps the next person number there).
struct ProjectionMeta: Equatable, Sendable {
    var version: UInt32
    var checkpoint: UInt64
    var counter: UInt64

    static let size = 24

    static func read<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ db: Database, name: StaticString) throws
        -> ProjectionMeta?
    {
        try txn.withValue(db, key: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)) { v in
            guard v.count >= size else { return nil }
            return ProjectionMeta(
                version: UInt32(littleEndian: v.loadUnaligned(as: UInt32.self)),
                checkpoint: UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                counter: UInt64(littleEndian: v.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        } ?? nil
    }

    func write(_ txn: inout WriteTransaction, _ db: Database, name: StaticString) throws {
        var bytes = (version.littleEndian, UInt32(0), checkpoint.littleEndian, counter.littleEndian)
        try withUnsafeBytes(of: &bytes) { v in
            try txn.put(db, key: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: v)
        }
    }
}

/// What `journey status` shows of a projection.
public struct ProjectionStatus: Sendable, Equatable {
    public var name: String
    /// The version of the code that wrote the state.
    public var version: Int
    /// The last log position applied.
    public var checkpoint: UInt64
    /// Log positions not yet applied (0 when up to date: the writer applies them in the transaction that appends,
    /// or, under concurrent appends, within milliseconds and before any query of its process reads: `LogWriter`).
    public var lag: UInt64
}
