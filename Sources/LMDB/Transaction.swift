internal import CLMDB

/// Flags of a named database (`mdb_dbi_open`).
public struct DatabaseFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Keys are native-endian `UInt64` (`MDB_INTEGERKEY`).
    public static let integerKey = DatabaseFlags(rawValue: UInt32(MDB_INTEGERKEY))
    /// Several sorted values per key (`MDB_DUPSORT`).
    public static let dupSort = DatabaseFlags(rawValue: UInt32(MDB_DUPSORT))
    /// With `dupSort`: every value of a key has the same size, packed densely (`MDB_DUPFIXED`).
    public static let dupFixed = DatabaseFlags(rawValue: UInt32(MDB_DUPFIXED))
    /// With `dupSort`: values are native-endian integers compared as such (`MDB_INTEGERDUP`): cheaper than memcmp.
    public static let integerDup = DatabaseFlags(rawValue: UInt32(MDB_INTEGERDUP))
    static let create = DatabaseFlags(rawValue: UInt32(MDB_CREATE))
}

/// Flags of a put (`mdb_put`).
public struct PutFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The key sorts after every key in the database: fills pages completely (`MDB_APPEND`).
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
    /// Fail with `MDB_KEYEXIST` if the key exists (`MDB_NOOVERWRITE`).
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// With `dupSort`: fail if the key/value pair exists (`MDB_NODUPDATA`).
    public static let noDuplicateData = PutFlags(rawValue: UInt32(MDB_NODUPDATA))
    /// Through a cursor: replace the value of the entry it stands on, same key, no search (`MDB_CURRENT`).
    public static let current = PutFlags(rawValue: UInt32(MDB_CURRENT))
}

/// A named database inside an environment: a handle valid for the environment's lifetime.
public struct Database: Sendable, Hashable {
    let dbi: MDB_dbi
}

/// Statistics of a database (`mdb_stat`).
public struct DatabaseStatistics: Sendable {
    public var entries: Int
    public var pageSize: Int
    public var depth: Int
    public var branchPages: Int
    public var leafPages: Int
    public var overflowPages: Int
    /// Bytes of pages this database occupies.
    public var bytes: Int { (branchPages + leafPages + overflowPages) * pageSize }
}

@inline(__always)
func mdbValue(_ bytes: UnsafeRawBufferPointer) -> MDB_val {
    MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
}

@inline(__always)
func bufferOf(_ value: MDB_val) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
}

/// Operations shared by read and write transactions. Bytes handed to closures point into the map:
/// valid only inside the closure, never to be kept.
public protocol TransactionReading: ~Copyable {
    var txnHandle: OpaquePointer { get }
}

extension TransactionReading where Self: ~Copyable {
    /// Calls `body` with the value stored under `key`, or returns nil if there is none.
    @inlinable
    public func withValue<R>(
        _ db: Database, key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        guard let value = try rawGet(db, key: key) else { return nil }
        return try body(value)
    }

    /// Calls `body` with the value stored under the native-endian integer `key`.
    @inlinable
    public func withValue<R>(_ db: Database, key: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        var k = key
        return try withUnsafeBytes(of: &k) { try withValue(db, key: $0, body) }
    }

    /// The raw lookup; `@usableFromInline` so the closure forms inline.
    @usableFromInline
    func rawGet(_ db: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = mdbValue(key)
        var v = MDB_val()
        let rc = mdb_get(txnHandle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return bufferOf(v)
    }

    /// Opens a cursor for the duration of `body`.
    public func withCursor<R>(_ db: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txnHandle, db.dbi, &cursor))
        guard let cursor else { throw LMDBError(code: 22) }
        var c = Cursor(handle: cursor)
        return try body(&c)
    }

    /// A cursor the caller keeps across calls in one transaction (hot loops that also write). It must be dropped
    /// before the transaction ends: LMDB frees a write transaction's cursors at commit.
    public func makeCursor(_ db: Database) throws(LMDBError) -> Cursor {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txnHandle, db.dbi, &cursor))
        guard let cursor else { throw LMDBError(code: 22) }
        return Cursor(handle: cursor)
    }

    /// Entry counts and page usage of a database.
    public func statistics(_ db: Database) throws(LMDBError) -> DatabaseStatistics {
        var s = MDB_stat()
        try check(mdb_stat(txnHandle, db.dbi, &s))
        return DatabaseStatistics(
            entries: s.ms_entries, pageSize: Int(s.ms_psize), depth: Int(s.ms_depth),
            branchPages: s.ms_branch_pages, leafPages: s.ms_leaf_pages, overflowPages: s.ms_overflow_pages)
    }

    func openDatabase(_ name: String, flags: DatabaseFlags) throws(LMDBError) -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txnHandle, name, flags.rawValue, &dbi))
        return Database(dbi: dbi)
    }
}

/// A read-only snapshot. Aborted (released) when dropped.
public struct ReadTransaction: ~Copyable, TransactionReading {
    public let txnHandle: OpaquePointer
    let gate: TransactionGate

    init(handle: OpaquePointer, gate: TransactionGate) {
        self.txnHandle = handle
        self.gate = gate
    }

    deinit {
        mdb_txn_abort(txnHandle)
        gate.leave()
    }
}

/// A write transaction. Aborted when dropped; `commit()` consumes it.
public struct WriteTransaction: ~Copyable, TransactionReading {
    var handle: OpaquePointer?
    let gate: TransactionGate

    init(handle: OpaquePointer, gate: TransactionGate) {
        self.handle = handle
        self.gate = gate
    }

    public var txnHandle: OpaquePointer {
        guard let handle else { preconditionFailure("transaction used after commit") }
        return handle
    }

    deinit {
        if let handle {
            mdb_txn_abort(handle)
            gate.leave()
        }
    }

    /// Commits (`mdb_txn_commit`: durable on return unless the environment relaxed syncing).
    /// On failure LMDB has already freed the transaction.
    public consuming func commit() throws(LMDBError) {
        guard let txn = handle else { return }
        handle = nil
        let rc = mdb_txn_commit(txn)
        gate.leave()
        try check(rc)
    }

    /// Stores `value` under `key`.
    public mutating func put(
        _ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = mdbValue(key)
        var v = mdbValue(value)
        try check(mdb_put(txnHandle, db.dbi, &k, &v, flags.rawValue))
    }

    /// Stores under the native-endian integer `key`.
    public mutating func put(
        _ db: Database, key: UInt64, value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = key
        try withUnsafeBytes(of: &k) { (kb) throws(LMDBError) in try put(db, key: kb, value: value, flags: flags) }
    }

    /// Reserves `count` bytes for `key` and lets `fill` write them in place (`MDB_RESERVE`): no copy.
    public mutating func put(
        _ db: Database, key: UnsafeRawBufferPointer, reserving count: Int, flags: PutFlags = [],
        fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(LMDBError) {
        var k = mdbValue(key)
        var v = MDB_val(mv_size: count, mv_data: nil)
        try check(mdb_put(txnHandle, db.dbi, &k, &v, flags.rawValue | UInt32(MDB_RESERVE)))
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes `key` (every value, for a dupSort database). Returns false if it was absent.
    @discardableResult
    public mutating func delete(_ db: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = mdbValue(key)
        let rc = mdb_del(txnHandle, db.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc)
        return true
    }

    /// Deletes every entry of a database, keeping the database (`mdb_drop` with 0).
    public mutating func clear(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(txnHandle, db.dbi, 0))
    }
}
