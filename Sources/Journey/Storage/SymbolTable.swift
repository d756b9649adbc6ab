internal import Synchronization

/// The store's dictionary of repeated strings (event names, channels, property keys, a few low-cardinality values)
/// → `UInt32` ids, so records and timelines carry integers.
///
/// Ids are handed out in memory by any encoding thread; the writer persists every id not yet stored in the same
/// transaction as the records that use it, so a committed record never names an unknown id. An id handed out for
/// a transaction that then failed is simply stored with the next commit.
final class SymbolTable: Sendable {
    struct State {
        var interner = ByteInterner()
        var names: [[UInt8]] = []
        var persisted = 0
    }

    let state = Mutex(State())

    /// Ids start at 1; 0 means "none".
    func intern(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> UInt32 {
        state.withLock { s in
            if let id = s.interner.lookup(bytes, hash: hash) { return id }
            let id = UInt32(s.names.count + 1)
            s.names.append(Array(bytes))
            s.interner.insert(bytes, hash: hash, value: id)
            return id
        }
    }

    /// The string of an id (edges only: CLI output, export).
    func string(_ id: UInt32) -> String? {
        state.withLock { s in
            guard id >= 1, Int(id) <= s.names.count else { return nil }
            return String(decoding: s.names[Int(id) - 1], as: UTF8.self)
        }
    }

    func withBytes<R>(_ id: UInt32, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let bytes: [UInt8]? = state.withLock { s in
            guard id >= 1, Int(id) <= s.names.count else { return nil }
            return s.names[Int(id) - 1]
        }
        return bytes?.withUnsafeBytes(body)
    }

    var count: Int { state.withLock { $0.names.count } }

    /// The id of a string already interned, or nil (queries resolve names and keys once, before their loops).
    func id(of string: String) -> UInt32? {
        var s = string
        return s.withUTF8 { u in state.withLock { $0.interner.lookup(UnsafeRawBufferPointer(u)) } }
    }

    /// Symbols loaded from the store at open (or by a reader catching up with a writer process).
    func load(_ stored: [(UInt32, [UInt8])]) {
        state.withLock { s in
            for (id, bytes) in stored where Int(id) == s.names.count + 1 {
                s.names.append(bytes)
                bytes.withUnsafeBytes { s.interner.insert($0, value: id) }
            }
            s.persisted = s.names.count
        }
    }

    /// Ids handed out but not yet stored, for the writer to put in its transaction.
    func unpersisted() -> (from: Int, names: ArraySlice<[UInt8]>) {
        state.withLock { s in (s.persisted + 1, s.names[s.persisted...]) }
    }

    func markPersisted(through count: Int) {
        state.withLock { s in s.persisted = max(s.persisted, count) }
    }
}

/// An encoder's private view of the symbol table: lookups without taking the lock; misses go to the shared table.
struct SymbolCache {
    let table: SymbolTable
    var local = ByteInterner()

    init(table: SymbolTable) { self.table = table }

    @inline(__always)
    mutating func intern(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let hash = Hashing.hash64(bytes)
        if let id = local.lookup(bytes, hash: hash) { return id }
        let id = table.intern(bytes, hash: hash)
        local.insert(bytes, hash: hash, value: id)
        return id
    }
}
