internal import LMDB
internal import Synchronization

extension JourneyStore {
    /// The customer profile of the person with this id (any of their userIds or anonymous ids).
    ///
    /// - Parameters:
    ///   - asOf: only events with event time ≤ this (UTC ms), identity as known now (semantics §4: what an analyst
    ///     would have seen that day, given the events logged since).
    ///   - asOfPosition: only what the log held up to this position, identity included (`withPersonView`; needs a
    ///     store opened for writing when the position is before the end of the log).
    /// - Returns: nil when no person has the id, or they had no event in view.
    public func profile(for id: String, asOf: Int64? = nil, asOfPosition: UInt64? = nil) throws -> CustomerProfile? {
        try refreshSymbols()
        let builder = profileBuilder()
        return try readPersons(asOfPosition: asOfPosition) { txn, dbs -> CustomerProfile? in
            guard let number = try Self.personNumber(txn, dbs, id: id) else { return nil }
            var joined: [UInt8] = []
            return try Self.profile(
                txn, dbs, number: number, builder: builder, asOf: asOf, asOfPosition: asOfPosition, scratch: &joined)
        } ?? nil
    }

    /// A builder for the symbols as they are: kept while the symbol table does not grow (resolving its names and
    /// keys costs as much as a small profile).
    func profileBuilder() -> ProfileBuilder {
        let count = symbols.count
        return profileBuilders.withLock { cached in
            if let b = cached, b.symbolCount == count { return b }
            let b = ProfileBuilder(log: log, symbols: symbols, symbolCount: count)
            cached = b
            return b
        }
    }

    /// The same, run on a Dispatch thread so an async caller never blocks the cooperative pool on LMDB.
    public func profile(for id: String, asOf: Int64? = nil, asOfPosition: UInt64? = nil) async throws
        -> CustomerProfile?
    {
        try await offCooperativePool { try self.profile(for: id, asOf: asOf, asOfPosition: asOfPosition) }
    }

    /// Profiles of the persons passing every filter, in person-number order (first logged first), after person
    /// number `after`, at most `limit`. Without filters it reads persons one by one and stops at `limit`; with
    /// filters it computes every person's profile across all cores (about as long as a funnel over the store).
    public func profiles(
        where filters: [PersonFilter] = [], limit: Int = 100, after: UInt32 = 0, asOf: Int64? = nil,
        asOfPosition: UInt64? = nil
    ) throws -> [CustomerProfile] {
        guard limit > 0 else { return [] }
        try refreshSymbols()
        let builder = profileBuilder()
        if filters.isEmpty {
            return try readPersons(asOfPosition: asOfPosition) { txn, dbs -> [CustomerProfile] in
                try txn.withCursor(dbs.persons) { c in
                    var out: [CustomerProfile] = []
                    var joined: [UInt8] = []
                    var entry = try c.seek(UInt64(after) + 1)
                    while let e = entry, out.count < limit {
                        if let p = try Self.profile(
                            txn, dbs, number: UInt32(e.integerKey), builder: builder, asOf: asOf, asOfPosition: asOfPosition,
                            scratch: &joined)
                        {
                            out.append(p)
                        }
                        entry = try c.next()
                    }
                    return out
                }
            } ?? []
        }
        return try withPersonView(asOfPosition: asOfPosition) { dbs in
            let scan = TimelineScan(env: env, log: log, dbs: dbs, symbols: symbols, asOf: asOf)
            let parts = try scan.run(make: { [CustomerProfile]() }) { found, number, timeline, txn in
                guard number > after, found.count < limit,
                    let summary = try Self.summary(txn, dbs, number: number)
                else { return }
                var p = try builder.build(txn, summary: summary, timeline: timeline)
                p.asOf = asOf
                p.asOfPosition = asOfPosition
                if filters.allSatisfy({ $0.matches(p) }) { found.append(p) }
            }
            return Array(parts.joined().prefix(limit))
        }
    }

    /// The same, off the cooperative pool.
    public func profiles(
        where filters: [PersonFilter] = [], limit: Int = 100, after: UInt32 = 0, asOf: Int64? = nil,
        asOfPosition: UInt64? = nil
    ) async throws -> [CustomerProfile] {
        try await offCooperativePool {
            try self.profiles(where: filters, limit: limit, after: after, asOf: asOf, asOfPosition: asOfPosition)
        }
    }

    /// Person `number`'s profile in `txn`, nil when they have no event in view. `scratch` holds a timeline of
    /// several chunks while it is read (reused by the caller).
    static func profile(
        _ txn: borrowing ReadTransaction, _ dbs: PersonDatabases, number: UInt32, builder: ProfileBuilder, asOf: Int64?,
        asOfPosition: UInt64?, scratch: inout [UInt8]
    ) throws -> CustomerProfile? {
        guard let summary = try summary(txn, dbs, number: number) else { return nil }
        let built = try TimelineChunks.withTimeline(txn, dbs.timelines, person: number, scratch: &scratch) {
            bytes -> CustomerProfile? in
            let t = Timeline(bytes, asOf: asOf)
            guard t.count > 0 else { return nil }
            return try builder.build(txn, summary: summary, timeline: t)
        }
        guard var p = built ?? nil else { return nil }
        p.asOf = asOf
        p.asOfPosition = asOfPosition
        return p
    }
}
