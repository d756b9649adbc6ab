internal import LMDB
internal import Synchronization

/// Saved funnel definitions, kept in the store (`saved_funnels`: name → canonical definition JSON), so analysts and
/// services share them by name. `show` evaluates a saved definition exactly as the ad-hoc query does.
extension JourneyStore {
    /// Stores (or replaces) a named definition. Needs a store opened for writing.
    public func saveFunnel(_ definition: FunnelDefinition) throws {
        try definition.validate()
        guard let name = definition.name else { throw QueryError("name: a saved funnel needs a name") }
        guard !env.readOnly else { throw StoreError("saving a funnel needs the store opened for writing") }
        guard let db = try SavedFunnelDatabase.shared.database(for: env, create: true) else { return }
        let text = Array(definition.json.utf8)
        try env.write { txn in
            try Array(name.utf8).withUnsafeBytes { k in
                try text.withUnsafeBytes { v in try txn.put(db, key: k, value: v) }
            }
        }
    }

    /// Removes a saved funnel; false when there was none of that name.
    @discardableResult
    public func deleteFunnel(named name: String) throws -> Bool {
        guard !env.readOnly else { throw StoreError("deleting a funnel needs the store opened for writing") }
        guard let db = try SavedFunnelDatabase.shared.database(for: env, create: true) else { return false }
        return try env.write { txn in try Array(name.utf8).withUnsafeBytes { k in try txn.delete(db, key: k) } }
    }

    /// Every saved funnel, by name.
    public func savedFunnels() throws -> [FunnelDefinition] {
        guard let db = try SavedFunnelDatabase.shared.database(for: env, create: !env.readOnly) else { return [] }
        let stored: [(String, [UInt8])] = try env.read { txn in
            try txn.withCursor(db) { c in
                var out: [(String, [UInt8])] = []
                var e = try c.first()
                while let entry = e {
                    out.append((String(decoding: entry.key, as: UTF8.self), Array(entry.value)))
                    e = try c.next()
                }
                return out
            }
        }
        return try stored.map { name, bytes in try FunnelDefinition.load(json: bytes, source: "saved funnel \(name)") }
    }

    /// The saved funnel of this name, or nil.
    public func savedFunnel(named name: String) throws -> FunnelDefinition? {
        guard let db = try SavedFunnelDatabase.shared.database(for: env, create: !env.readOnly) else { return nil }
        let bytes: [UInt8]? = try env.read { txn in
            try Array(name.utf8).withUnsafeBytes { k in try txn.withValue(db, key: k) { Array($0) } }
        }
        return try bytes.map { try FunnelDefinition.load(json: $0, source: "saved funnel \(name)") }
    }
}

/// The `saved_funnels` database handle per environment, opened once (LMDB wants one open per name).
final class SavedFunnelDatabase: Sendable {
    static let shared = SavedFunnelDatabase()
    private let handles = Mutex<[ObjectIdentifier: (env: WeakEnvironment, db: Database)]>([:])

    func database(for env: Environment, create: Bool) throws -> Database? {
        try handles.withLock { (h) throws -> Database? in
            let key = ObjectIdentifier(env)
            if let e = h[key], e.env.value === env { return e.db }
            h = h.filter { $0.value.env.value != nil }
            let db: Database
            do {
                db = try env.openDatabase("saved_funnels", create: create)
            } catch let error as LMDBError where error == .notFound && !create {
                return nil
            }
            h[key] = (WeakEnvironment(env), db)
            return db
        }
    }
}

struct WeakEnvironment: @unchecked Sendable {
    weak var value: Environment?
    init(_ value: Environment) { self.value = value }
}
