internal import LMDB
internal import Synchronization

/// Database handles opened once per environment and name (LMDB wants each database name opened once per process,
/// never from two transactions at once), kept while the environment lives.
final class EnvironmentHandles<Value: Sendable>: Sendable {
    private struct Entry {
        weak var env: Environment?
        var value: Value
    }

    private struct Key: Hashable {
        var env: ObjectIdentifier
        var name: String
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// The handles of `env` under `name`, made by `open` on first use; nil when `open` finds none (LMDB's not-found:
    /// a read-only store that never had those databases).
    func handles(for env: Environment, name: String, open: () throws -> Value) throws -> Value? {
        let key = Key(env: ObjectIdentifier(env), name: name)
        return try entries.withLock { (entries) throws -> Value? in
            if let e = entries[key], e.env === env { return e.value }
            entries = entries.filter { $0.value.env != nil }
            let value: Value
            do {
                value = try open()
            } catch let error as LMDBError where error == .notFound {
                return nil
            }
            entries[key] = Entry(env: env, value: value)
            return value
        }
    }
}
