internal import LMDB

/// The two full sets of person databases a store keeps, and the pointer naming the live one.
///
/// `journey rebuild` builds the set that is not live, then flips the pointer in the same write transaction that
/// catches the new set up with the log, so queries and the writer switch at one commit and no event is lost. The
/// pointer is one byte in the log's `meta` database (`persons.live`: 0 = the unprefixed set, 1 = `alt.`); a store
/// without it uses the unprefixed set, as stores written before rebuilds existed do.
enum PersonSets {
    static let primary = ""
    static let alternate = "alt."

    /// Scratch sets other code builds (verify, `--as-of-position`): never live, never cleaned by `rebuild`.
    static let verify = "verify."
    static let asOfSlots = ["asof.0.", "asof.1."]

    private static let liveKey: StaticString = "persons.live"

    private static var liveKeyBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: liveKey.utf8Start, count: liveKey.utf8CodeUnitCount)
    }

    /// The set that is not `prefix` (where a rebuild goes).
    static func other(_ prefix: String) -> String { prefix == primary ? alternate : primary }

    /// The live set's prefix, as of `txn`'s snapshot.
    static func livePrefix<T: TransactionReading & ~Copyable>(_ txn: borrowing T, log: EventLog) throws -> String {
        let flag = try txn.withValue(log.meta, key: liveKeyBytes) { $0.count >= 1 ? $0[0] : 0 } ?? 0
        return flag == 1 ? alternate : primary
    }

    /// Names `prefix` the live set (committed with `txn`).
    static func setLive(_ txn: inout WriteTransaction, log: EventLog, prefix: String) throws {
        var flag: UInt8 = prefix == alternate ? 1 : 0
        try withUnsafeBytes(of: &flag) { try txn.put(log.meta, key: liveKeyBytes, value: $0) }
    }

    /// Both sets, opened outside any transaction (LMDB refuses to open a database while the thread has another
    /// transaction open); nil for a set the store does not have (read-only stores written before it existed).
    static func open(_ env: Environment) throws -> (primary: PersonDatabases?, alternate: PersonDatabases?) {
        let registry = PersonDatabaseRegistry.shared
        return (
            try registry.databases(for: env, prefix: primary, create: false),
            try registry.databases(for: env, prefix: alternate, create: false)
        )
    }

    /// The live one of `sets` as of `txn`'s snapshot. Resolving inside the query's own snapshot means a rebuild's
    /// switch can never hand a query the set it is about to clear. With `checkingVersions`, a set written by
    /// another version of the projections' code is refused (`checkVersions`).
    static func live<T: TransactionReading & ~Copyable>(
        _ txn: borrowing T, log: EventLog, in sets: (primary: PersonDatabases?, alternate: PersonDatabases?),
        checkingVersions: Bool = true
    ) throws -> PersonDatabases? {
        let dbs = try livePrefix(txn, log: log) == primary ? sets.primary : sets.alternate
        if checkingVersions, let dbs { try checkVersions(txn, dbs) }
        return dbs
    }

    /// Throws when the set's state was written by another version of the projections' code: its layout may differ
    /// (version 3 split timelines into chunks), so reading it would give wrong answers, not errors. A store opened
    /// for writing rebuilds such a set at open; a read-only one cannot.
    static func checkVersions<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases) throws {
        let expected: [(StaticString, UInt32)] = [
            (IdentityProjection.name, IdentityProjection.version), (TimelineProjection.name, TimelineProjection.version),
        ]
        for (name, version) in expected {
            guard let m = try ProjectionMeta.read(txn, dbs.meta, name: name), m.version != version else { continue }
            throw StoreError(
                "the \(name) projection of this store was written by another version of journey (v\(m.version); this one reads v\(version)): open the store for writing once to rebuild it")
        }
    }

    /// Whether a set holds anything (its checkpoint table is written by every transaction that fills it).
    static func isEmpty<T: TransactionReading & ~Copyable>(_ txn: borrowing T, _ dbs: PersonDatabases) throws -> Bool {
        try txn.statistics(dbs.meta).entries == 0 && txn.statistics(dbs.persons).entries == 0
            && txn.statistics(dbs.timelines).entries == 0
    }
}
