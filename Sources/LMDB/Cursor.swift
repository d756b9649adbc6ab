internal import CLMDB

/// A key and value the cursor stands on. Both point into the map: valid until the cursor moves or the
/// transaction ends, so decode them in place and copy out only what must outlive it.
public struct CursorEntry {
    public let key: UnsafeRawBufferPointer
    public let value: UnsafeRawBufferPointer

    /// The key read as a native-endian `UInt64` (for `integerKey` databases).
    @inlinable
    public var integerKey: UInt64 { key.loadUnaligned(as: UInt64.self) }
}

/// A cursor over one database, alive only inside `withCursor`.
public struct Cursor: ~Copyable {
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }

    deinit { mdb_cursor_close(handle) }

    @inline(__always)
    mutating func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil)
        throws(LMDBError) -> CursorEntry?
    {
        var k = key.map(mdbValue) ?? MDB_val()
        var v = value.map(mdbValue) ?? MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return CursorEntry(key: bufferOf(k), value: bufferOf(v))
    }

    public mutating func first() throws(LMDBError) -> CursorEntry? { try move(MDB_FIRST) }
    public mutating func last() throws(LMDBError) -> CursorEntry? { try move(MDB_LAST) }
    public mutating func next() throws(LMDBError) -> CursorEntry? { try move(MDB_NEXT) }
    public mutating func previous() throws(LMDBError) -> CursorEntry? { try move(MDB_PREV) }
    /// The next value of the same key (dupSort).
    public mutating func nextDuplicate() throws(LMDBError) -> CursorEntry? { try move(MDB_NEXT_DUP) }
    /// The first key of the next key (dupSort: skips the rest of this key's values).
    public mutating func nextKey() throws(LMDBError) -> CursorEntry? { try move(MDB_NEXT_NODUP) }
    /// The entry exactly at `key`.
    public mutating func find(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> CursorEntry? {
        try move(MDB_SET_KEY, key: key)
    }
    /// The first entry whose key is ≥ `key`.
    public mutating func seek(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> CursorEntry? {
        try move(MDB_SET_RANGE, key: key)
    }
    /// The first entry with key ≥ the native-endian integer `key`.
    public mutating func seek(_ key: UInt64) throws(LMDBError) -> CursorEntry? {
        var k = key
        return try withUnsafeBytes(of: &k) { (kb) throws(LMDBError) in try move(MDB_SET_RANGE, key: kb) }
    }
    /// dupSort: the first value ≥ `value` under exactly `key` (`MDB_GET_BOTH_RANGE`).
    public mutating func seek(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LMDBError)
        -> CursorEntry?
    {
        try move(MDB_GET_BOTH_RANGE, key: key, value: value)
    }

    /// Stores through the cursor (`mdb_cursor_put`), cheaper than `mdb_put` when keys arrive in order.
    public mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags = [])
        throws(LMDBError)
    {
        var k = mdbValue(key)
        var v = mdbValue(value)
        try check(mdb_cursor_put(handle, &k, &v, flags.rawValue))
    }

    /// Stores `count` fixed-size values under one key of a `dupFixed` database in one call (`MDB_MULTIPLE`): the key
    /// is searched once, not once per value. `values` holds them back to back, best in sorted order.
    public mutating func putMultiple(key: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer, elementSize: Int)
        throws(LMDBError)
    {
        guard elementSize > 0, values.count >= elementSize else { return }
        var k = mdbValue(key)
        var vals = (
            MDB_val(mv_size: elementSize, mv_data: UnsafeMutableRawPointer(mutating: values.baseAddress)),
            MDB_val(mv_size: values.count / elementSize, mv_data: nil)
        )
        let rc = withUnsafeMutablePointer(to: &vals) { p in
            p.withMemoryRebound(to: MDB_val.self, capacity: 2) { mdb_cursor_put(handle, &k, $0, UInt32(MDB_MULTIPLE)) }
        }
        try check(rc)
    }

    /// Deletes the entry the cursor stands on (`mdb_cursor_del`); `next()` then returns the entry after it.
    public mutating func deleteCurrent() throws(LMDBError) {
        try check(mdb_cursor_del(handle, 0))
    }
}
