internal import Foundation
internal import LMDB

extension JourneyStore {
    /// Runs `body` with the person databases as they stood when the log ended at `asOfPosition` (identity
    /// included), or with the live ones when it is nil or at or past the end of the log. The mechanism every
    /// `--as-of-position` query uses (profiles, persons, timelines, funnels, lifecycle).
    ///
    /// An earlier position is served from a scratch copy (`asof.0.` / `asof.1.`) built with the projections' own
    /// code, so it is exactly what the live projections were then. A copy is kept after use: a later query at the
    /// same position reuses it, one at a later position only catches it up, and an earlier one rebuilds it from
    /// position 1 (about as long as `journey verify`). Threads of one process take turns per copy; other processes
    /// cannot write the store meanwhile (the writer lock), so copies never clash, nor with verify's or a rebuild's.
    /// Needs a store opened for writing (a read-only store cannot write the copy: `StoreError`).
    func withPersonView<R>(asOfPosition: UInt64?, _ body: (PersonDatabases) throws -> R) throws -> R {
        if let n = asOfPosition, n < (try lastPosition()) {
            guard !env.readOnly else {
                throw StoreError(
                    "as of position \(n): the store at \(path) is open read-only, and a past position needs a scratch copy of the projections written into the store (open it for writing: no other process may be writing it)")
            }
            let slot = ScratchPrefixes.shared.take(env, among: PersonSets.asOfSlots) { prefix in
                // Prefer the copy that needs the least work: already at n, else the furthest one not past n.
                guard let dbs = try? self.scratchDatabases(prefix),
                    let at = try? env.read({ txn in try PersonProjections.checkpoint(txn, dbs) })
                else { return Int.max }
                return at == n ? 0 : at < n ? Int(min(n - at, UInt64(Int.max / 2))) : Int.max / 2
            }
            defer { ScratchPrefixes.shared.give(env, slot) }
            let dbs = try scratchDatabases(slot)
            try buildView(dbs, through: n)
            return try body(dbs)
        }
        guard let live = try personDatabases() else {
            throw StoreError("the store at \(path) has no person projections yet; open it for writing once")
        }
        return try body(live)
    }

    /// A scratch set's databases (created on first use).
    func scratchDatabases(_ prefix: String) throws -> PersonDatabases {
        guard let dbs = try PersonDatabaseRegistry.shared.databases(for: env, prefix: prefix, create: true) else {
            throw StoreError("cannot open the scratch databases \(prefix)*")
        }
        return dbs
    }

    /// Brings a scratch set to exactly position `n`: kept if there, caught up if behind (the log only grows, so a
    /// copy at an earlier position is a valid start), rebuilt if ahead or written by other code versions.
    private func buildView(_ dbs: PersonDatabases, through n: UInt64) throws {
        let reusable: Bool = try env.read { txn in
            let i = try ProjectionMeta.read(txn, dbs.meta, name: IdentityProjection.name)
            let t = try ProjectionMeta.read(txn, dbs.meta, name: TimelineProjection.name)
            guard let i, let t else { return try PersonSets.isEmpty(txn, dbs) }
            return i.version == IdentityProjection.version && t.version == TimelineProjection.version
                && i.checkpoint == t.checkpoint && i.checkpoint <= n
        }
        if reusable {
            try PersonProjections.catchUp(dbs, log: log, through: n)
        } else {
            try PersonProjections.rebuild(into: dbs, log: log, through: n)
        }
    }
}

/// Which scratch prefixes of which environment are in use in this process: a thread takes one for the whole of
/// its work and gives it back, others wait. (Other processes cannot write the store while this one holds the
/// writer lock, so this is all the exclusion scratch copies need.)
final class ScratchPrefixes: @unchecked Sendable {
    static let shared = ScratchPrefixes()

    private struct Key: Hashable {
        var env: ObjectIdentifier
        var prefix: String
    }

    private let condition = NSCondition()
    private var inUse: Set<Key> = []

    /// Takes the free prefix among `prefixes` with the lowest `rank`, waiting while all are taken.
    func take(_ env: Environment, among prefixes: [String], rank: (String) -> Int) -> String {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let free = prefixes.filter { !inUse.contains(Key(env: ObjectIdentifier(env), prefix: $0)) }
            if let best = free.map({ ($0, rank($0)) }).min(by: { $0.1 < $1.1 })?.0 {
                inUse.insert(Key(env: ObjectIdentifier(env), prefix: best))
                return best
            }
            condition.wait()
        }
    }

    /// Takes `prefix` if free; false when another thread of this process holds it.
    func tryTake(_ env: Environment, _ prefix: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return inUse.insert(Key(env: ObjectIdentifier(env), prefix: prefix)).inserted
    }

    /// Takes `prefix`, waiting while another thread holds it.
    func take(_ env: Environment, _ prefix: String) {
        _ = take(env, among: [prefix]) { _ in 0 }
    }

    func give(_ env: Environment, _ prefix: String) {
        condition.lock()
        inUse.remove(Key(env: ObjectIdentifier(env), prefix: prefix))
        condition.broadcast()
        condition.unlock()
    }
}
