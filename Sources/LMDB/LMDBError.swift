internal import CLMDB

/// An error returned by liblmdb, with the C constant's name so a user can look it up.
public struct LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(code: Int32) { self.code = code }

    /// `MDB_NOTFOUND`: key/data pair not found (also end of data).
    public static let notFound = LMDBError(code: MDB_NOTFOUND)
    /// `MDB_KEYEXIST`: key/data pair already exists (also: out-of-order key under `MDB_APPEND`).
    public static let keyExists = LMDBError(code: MDB_KEYEXIST)
    /// `MDB_MAP_FULL`: the environment's map size was reached; grow it and retry.
    public static let mapFull = LMDBError(code: MDB_MAP_FULL)
    /// `MDB_MAP_RESIZED`: another process grew the map; adopt the new size and retry.
    public static let mapResized = LMDBError(code: MDB_MAP_RESIZED)
    /// `MDB_READERS_FULL`: every reader slot is taken.
    public static let readersFull = LMDBError(code: MDB_READERS_FULL)
    /// `MDB_DBS_FULL`: more named databases than `maxDatabases`.
    public static let databasesFull = LMDBError(code: MDB_DBS_FULL)
    /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
    public static let transactionFull = LMDBError(code: MDB_TXN_FULL)
    /// `MDB_BAD_VALSIZE`: a key or value of the wrong size (keys are at most 511 bytes).
    public static let badValueSize = LMDBError(code: MDB_BAD_VALSIZE)
    /// `MDB_INVALID`: the file is not an LMDB file.
    public static let invalid = LMDBError(code: MDB_INVALID)
    /// `MDB_VERSION_MISMATCH`: the file was written by an incompatible liblmdb.
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH)

    /// The C name of the code (`MDB_MAP_FULL`, `ENOENT`…).
    public var name: String {
        switch code {
        case MDB_KEYEXIST: "MDB_KEYEXIST"
        case MDB_NOTFOUND: "MDB_NOTFOUND"
        case MDB_PAGE_NOTFOUND: "MDB_PAGE_NOTFOUND"
        case MDB_CORRUPTED: "MDB_CORRUPTED"
        case MDB_PANIC: "MDB_PANIC"
        case MDB_VERSION_MISMATCH: "MDB_VERSION_MISMATCH"
        case MDB_INVALID: "MDB_INVALID"
        case MDB_MAP_FULL: "MDB_MAP_FULL"
        case MDB_DBS_FULL: "MDB_DBS_FULL"
        case MDB_READERS_FULL: "MDB_READERS_FULL"
        case MDB_TLS_FULL: "MDB_TLS_FULL"
        case MDB_TXN_FULL: "MDB_TXN_FULL"
        case MDB_CURSOR_FULL: "MDB_CURSOR_FULL"
        case MDB_PAGE_FULL: "MDB_PAGE_FULL"
        case MDB_MAP_RESIZED: "MDB_MAP_RESIZED"
        case MDB_INCOMPATIBLE: "MDB_INCOMPATIBLE"
        case MDB_BAD_RSLOT: "MDB_BAD_RSLOT"
        case MDB_BAD_TXN: "MDB_BAD_TXN"
        case MDB_BAD_VALSIZE: "MDB_BAD_VALSIZE"
        case MDB_BAD_DBI: "MDB_BAD_DBI"
        case 2: "ENOENT"
        case 13: "EACCES"
        case 11: "EAGAIN"
        case 12: "ENOMEM"
        case 28: "ENOSPC"
        case 22: "EINVAL"
        case 30: "EROFS"
        default: "error \(code)"
        }
    }

    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "\(name): \(message)" }
}

/// Turns an LMDB return code into a thrown `LMDBError`.
@inline(__always)
func check(_ rc: Int32) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc) }
}
