internal import LMDB

/// The LMDB databases of the person projections (identity and timeline) and their shared checkpoint table.
///
/// Layouts (all integers little-endian unless said otherwise; "native" = `MDB_INTEGERKEY` UInt64 keys):
///
/// | database | key | value |
/// |---|---|---|
/// | `person_ids` | kind byte (`u` userId, `a` anonymousId) + the identifier's UTF-8 bytes; identifiers over 510 bytes: `U`/`A` + their first 502 bytes + `Hashing.hash64` of all of them, big-endian | person number, UInt32 |
/// | `persons` | person number, native | `PersonRecord` (header + identifiers) |
/// | `person_merges` | surviving person number, native (`MDB_DUPSORT` + `MDB_DUPFIXED`) | 24 bytes: message position UInt64 big-endian, absorbed person number UInt32 big-endian, 4 zero bytes, event time Int64 |
/// | `timelines` | person number << 32 \| chunk index, native | a chunk of up to 80 packed 24-byte entries of the person's timeline sorted by (event time, position): `TimelineLayout`, `TimelineChunks` |
/// | `projection_meta` | projection name (UTF-8) | `ProjectionMeta`: version UInt32, 4 zero bytes, checkpoint UInt64, counter UInt64 |
///
/// A scratch copy (used by `verify`) has the same databases under a name prefix.
struct PersonDatabases: Sendable {
    let personIds: Database
    let persons: Database
    let merges: Database
    let timelines: Database
    let meta: Database
    let prefix: String

    static let names = ["person_ids", "persons", "person_merges", "timelines", "projection_meta"]

    /// Opens (creating with `create`) the databases named with `prefix`. Call once per environment and prefix:
    /// LMDB wants each name opened once, never from two transactions at once.
    init(env: Environment, prefix: String = "", create: Bool) throws {
        self.prefix = prefix
        personIds = try env.openDatabase(prefix + "person_ids", create: create)
        persons = try env.openDatabase(prefix + "persons", flags: .integerKey, create: create)
        merges = try env.openDatabase(prefix + "person_merges", flags: [.integerKey, .dupSort, .dupFixed], create: create)
        timelines = try env.openDatabase(prefix + "timelines", flags: .integerKey, create: create)
        meta = try env.openDatabase(prefix + "projection_meta", create: create)
    }

    /// The state databases of each projection, for digests and rebuilds (`projection_meta` is shared).
    var identityState: [(String, Database)] {
        [("person_ids", personIds), ("persons", persons), ("person_merges", merges)]
    }

    var timelineState: [(String, Database)] { [("timelines", timelines)] }

    /// Empties every database (a rebuild starts from nothing).
    func clearAll(_ txn: inout WriteTransaction) throws {
        for db in [personIds, persons, merges, timelines, meta] { try txn.clear(db) }
    }
}

/// One open set of person databases per environment and prefix, so that LMDB opens each name once per process.
/// `JourneyStore` reaches the live set through its environment (its stored properties are not ours to extend).
final class PersonDatabaseRegistry: Sendable {
    static let shared = PersonDatabaseRegistry()
    private let handles = EnvironmentHandles<PersonDatabases>()

    /// The databases of `env` under `prefix`, opened on first use. With `create: false` (read-only stores), nil when
    /// the store has no such databases yet (written before projections existed; open it for writing once).
    func databases(for env: Environment, prefix: String = "", create: Bool) throws -> PersonDatabases? {
        try handles.handles(for: env, name: prefix) { try PersonDatabases(env: env, prefix: prefix, create: create) }
    }
}
