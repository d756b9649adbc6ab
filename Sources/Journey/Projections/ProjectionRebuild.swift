internal import Dispatch
internal import LMDB

/// What `rebuildProjections` did.
public struct RebuildReport: Sendable, Equatable {
    /// The projections rebuilt (identity and timeline always go together: the timeline follows identity's merges).
    public var projections: [String]
    /// The log position the new state covers when it went live.
    public var checkpoint: UInt64
    /// Events appended while the copy was built, applied in the transaction that switched to it.
    public var appliedAtSwitch: UInt64
    /// Seconds from start to switch.
    public var seconds: Double
    /// The new live state's digests.
    public var digests: [ProjectionDigest]

    public var eventsPerSecond: Double { seconds > 0 ? Double(checkpoint) / seconds : 0 }
}

extension JourneyStore {
    /// The projection names `rebuildProjections` accepts.
    public static let projectionNames = [IdentityProjection.name.description, TimelineProjection.name.description]

    /// Replays the log from position 1 into the person set that is not live, then makes it the live one.
    ///
    /// Queries keep answering from the live set meanwhile, and appends go on (the copy is built in chunked
    /// transactions, each a short pause for appenders). The switch is one write transaction, so no append can
    /// commit between its two steps: it applies to the copy whatever was appended since the copy's checkpoint and
    /// flips the pointer (`PersonSets`); the writer reads the pointer in each of its transactions and continues on
    /// the new set. The old set is cleared afterwards. Killed at any moment, the store keeps the live set it had
    /// (or the new one, once the switch committed); the half-built copy is cleared when the store is next opened
    /// for writing, or by the next rebuild.
    ///
    /// - Parameter names: projections to rebuild (empty: all); both are rebuilt whichever is named.
    /// - Parameter chunk: log positions per transaction (default about a million; smaller means shorter pauses
    ///   for appenders and more commits).
    /// - Parameter progress: the position reached and the position being rebuilt to, after each chunk.
    public func rebuildProjections(
        _ names: [String] = [], chunk: UInt64? = nil, progress: ((_ done: UInt64, _ total: UInt64) -> Void)? = nil
    ) throws -> RebuildReport {
        // An explicit chunk also bounds the in-memory span, so progress (and appenders) come at that pace.
        let span = chunk.map { max(1, $0) } ?? PersonProjections.rebuildSpan
        let chunk = max(1, chunk ?? PersonProjections.chunk)
        for name in names where !Self.projectionNames.contains(name) {
            throw StoreError(
                "rebuild: there is no projection named \"\(name)\" (projections: \(Self.projectionNames.joined(separator: ", ")))")
        }
        guard !env.readOnly else { throw StoreError("rebuild needs the store at \(path) opened for writing") }
        guard ScratchPrefixes.shared.tryTake(env, "rebuild") else {
            throw StoreError("a rebuild of the store at \(path) is already running in this process")
        }
        defer { ScratchPrefixes.shared.give(env, "rebuild") }
        let registry = PersonDatabaseRegistry.shared
        let live = try env.read { txn in try PersonSets.livePrefix(txn, log: log) }
        guard let old = try registry.databases(for: env, prefix: live, create: true),
            let copy = try registry.databases(for: env, prefix: PersonSets.other(live), create: true)
        else { throw StoreError("cannot open the person databases of the store at \(path)") }

        let start = DispatchTime.now().uptimeNanoseconds
        let (checkpoint, applied) = try PersonProjections.rebuild(
            into: copy, replacing: live, log: log, chunk: chunk, span: span, progress: progress)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try env.write { txn in try old.clearAll(&txn) }
        let digests = try env.read { txn in try StateDigest.digests(txn, copy) }
        return RebuildReport(
            projections: Self.projectionNames, checkpoint: checkpoint, appliedAtSwitch: applied, seconds: seconds,
            digests: digests)
    }
}
