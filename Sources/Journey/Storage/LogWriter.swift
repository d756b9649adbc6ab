internal import Foundation
internal import LMDB
internal import Synchronization

/// Something the writer keeps up to date with the log (projections), in the transaction that appends the events
/// or, deferred, in a later one of its own.
protocol AppendObserver: Sendable {
    /// Called inside a writer transaction for the log positions `first...last`, put in the log by that transaction
    /// or committed before it (deferred). Each observer applies from its own checkpoint.
    func apply(_ txn: inout WriteTransaction, log: EventLog, first: UInt64, last: UInt64) throws
    /// Called after that transaction committed.
    func committed()
    /// Called after it failed or was aborted.
    func aborted()
}

/// The store's single writer: one thread that takes every pending append and commits them together.
///
/// Group commit: while one transaction is syncing, new requests queue up and all go into the next one, so many
/// concurrent single-message appenders share each fsync. Positions are assigned inside the transaction.
/// Runs on its own thread, not the cooperative pool, because a commit blocks on fsync.
///
/// Deferred projections: while appends come concurrently (a commit shared by several callers, or more waiting), a
/// commit may hold the log alone and leave the projections to a later transaction of their own. Small commits then
/// touch a few pages at the end of the log instead of a page of `timelines` and of `persons` per person, and a
/// durable commit costs about 15 µs of fsync per scattered page (measured: 60 scattered pages 1.3 ms, the same pages
/// contiguous 0.3 ms); batched appends apply their projections over more events at a time. The projections catch up
/// when the writer has nothing to do for `idleCatchUp`, when the oldest deferred event has waited `maxDeferral`,
/// after `maxDeferredEvents`, before the writer closes, and at once when a query asks (`catchUp`): queries in this
/// process see every append that returned (read-your-writes), and a reader in another process waits for the
/// catch-up (`JourneyStore.projectionsCurrent`). Each projection's checkpoint stays in the transaction of its state,
/// so a crash in between leaves a lag that the next writer applies at open.
final class LogWriter: @unchecked Sendable {
    typealias Completion = @Sendable (Result<[AppendOutcome], any Error>) -> Void

    private enum Request {
        case append(AppendBatch, Completion)
        /// Write every waiting messageId to the index (`flushMessageIds`).
        case flushIndex(Completion)
        /// Bring the projections up to the log (`catchUp`).
        case catchUp(Completion)
    }

    /// A commit of more records (an import's) applies its projections itself: deferring them would add a commit
    /// and gain nothing (10M imports measured the same either way, within this machine's noise).
    static let maxDeferredCommit = 65_536
    /// Bounds on the projections' lag: events, and seconds since the first deferred one.
    static let maxDeferredEvents: UInt64 = 262_144
    static let maxDeferral = 0.1
    /// The projections catch up once the queue has been empty this long.
    static let idleCatchUp = 0.001

    /// Records per transaction, at most (bounded dirty pages; lmdb.md).
    static let maxRecordsPerCommit = 262_144

    let log: EventLog
    let symbols: SymbolTable
    let observers: [any AppendObserver]
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var closed = false
    private var finished = false
    private var thread: Thread?
    /// The messageIds of the newest positions, not yet in `message_ids` (writer thread only).
    private var pending = PendingMessageIds()
    private var pendingLoaded = false
    /// The last log position committed without its projections, 0 when they are up to date (read by queries).
    private let deferredThrough = Atomic<UInt64>(0)
    /// The first position of the deferred ones, and when it was committed (writer thread only).
    private var deferredFrom: UInt64 = 0
    private var deferredSince = Date.distantPast
    /// Cleared when an idle catch-up failed, until the next commit (no retry loop on a lasting error).
    private var idleRetry = true

    /// Commits that left their projections for later (tests check that concurrent appends take this path).
    let deferredCommits = Atomic<Int>(0)

    /// Whether some committed events are not yet in the projections.
    var projectionsLag: Bool { deferredThrough.load(ordering: .acquiring) != 0 }

    init(log: EventLog, symbols: SymbolTable, observers: [any AppendObserver]) {
        self.log = log
        self.symbols = symbols
        self.observers = observers
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "journey-writer"
        self.thread = thread
        thread.start()
    }

    func submit(_ batch: AppendBatch, completion: @escaping Completion) {
        enqueue(.append(batch, completion), completion)
    }

    /// Writes every waiting messageId to the index once the appends queued before are done (an import ends with
    /// it, so its time includes all of its work and the next open reads nothing back).
    func flushMessageIds(completion: @escaping Completion) {
        enqueue(.flushIndex(completion), completion)
    }

    /// Applies the deferred projections through the log's last committed position and calls back once they are
    /// committed. Ahead of the queued appends: a query needs the log as it stands, not what is still to come (behind
    /// an import's batches it would wait for them).
    func catchUp(completion: @escaping Completion) {
        enqueue(.catchUp(completion), completion, first: true)
    }

    /// Queues `request` for the writer thread; once closed, fails it through `completion` instead.
    private func enqueue(_ request: Request, _ completion: Completion, first: Bool = false) {
        condition.lock()
        if closed {
            condition.unlock()
            completion(.failure(StoreError("the store is closed")))
            return
        }
        if first { queue.insert(request, at: 0) } else { queue.append(request) }
        condition.signal()
        condition.unlock()
    }

    /// Stops after the queued requests are written, and waits for that.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var lastGroup = 0
        while true {
            condition.lock()
            // Idle with deferred projections: they catch up unless a request comes within `idleCatchUp`.
            if queue.isEmpty && !closed && deferredFrom != 0 && idleRetry {
                let deadline = Date(timeIntervalSinceNow: Self.idleCatchUp)
                while queue.isEmpty && !closed && condition.wait(until: deadline) {}
                if queue.isEmpty && idleRetry {
                    condition.unlock()
                    // A failure is left to the next commit, which applies projections once the lag is too old.
                    do { try catchUpProjections() } catch { idleRetry = false }
                    continue
                }
            }
            while queue.isEmpty && !closed { condition.wait() }
            // Group-commit window: when the last commit served many callers and fewer are queued now, the others
            // are probably about to append again; a fraction of an fsync's time lets them join this commit.
            if lastGroup > 1 && queue.count < lastGroup && !closed, case .append(_, _)? = queue.first {
                let deadline = Date(timeIntervalSinceNow: 0.0002)
                while queue.count < lastGroup && condition.wait(until: deadline) {}
            }
            if queue.isEmpty && closed {
                condition.unlock()
                _ = try? catchUpProjections()
                flushWaitingAtClose()
                condition.lock()
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if case .flushIndex(let completion)? = queue.first {
                queue.removeFirst()
                condition.unlock()
                completion(Result { try flushWaiting(); return [] })
                continue
            }
            if case .catchUp(let completion)? = queue.first {
                queue.removeFirst()
                condition.unlock()
                completion(Result { try catchUpProjections(); return [] })
                continue
            }
            var taken: [(batch: AppendBatch, completion: Completion)] = []
            var records = 0
            while case .append(let batch, let completion)? = queue.first,
                taken.isEmpty || records + batch.recordCount <= Self.maxRecordsPerCommit
            {
                records += batch.recordCount
                taken.append((batch, completion))
                queue.removeFirst()
            }
            lastGroup = taken.count
            // Deferred only while appends come concurrently (callers share the commit, or more wait), for commits
            // that are not already big (an import's), and with the lag bounded.
            let project = (taken.count < 2 && queue.isEmpty) || records > Self.maxDeferredCommit
                || (deferredFrom != 0
                    && (deferredThrough.load(ordering: .relaxed) - deferredFrom >= Self.maxDeferredEvents
                        || -deferredSince.timeIntervalSinceNow >= Self.maxDeferral))
            condition.unlock()

            do {
                let outcomes = try commit(taken.map(\.batch), projections: project)
                for o in observers { o.committed() }
                for (request, result) in zip(taken, outcomes) { request.completion(.success(result)) }
            } catch {
                for o in observers { o.aborted() }
                for request in taken { request.completion(.failure(error)) }
            }
        }
    }

    /// Writes the batches in one transaction; returns each batch's outcomes per message. Without `projections`,
    /// the log alone (the projections catch up later: `catchUpProjections`).
    private func commit(_ batches: [AppendBatch], projections: Bool = true) throws -> [[AppendOutcome]] {
        let (symbolsFrom, newSymbols) = symbols.unpersisted()
        if !pendingLoaded {
            pending = try log.env.read { txn in try PendingMessageIds.load(txn, log: log) }
            pendingLoaded = true
        }
        let (result, fresh, flushed, first, last) = try log.env.write {
            txn -> ([[AppendOutcome]], [HashedPosition], Bool, UInt64, UInt64) in
            // Symbols first: every id a record here names is stored in this same transaction.
            var id = UInt64(symbolsFrom)
            for name in newSymbols {
                try name.withUnsafeBytes { try txn.put(log.symbols, key: id, value: $0, flags: .append) }
                id += 1
            }
            let firstPosition = try log.lastPosition(txn) + 1
            var next = firstPosition
            var dedupCursor = try txn.makeCursor(log.messageIds)

            // Every record of the transaction has an order: its batch's offset plus its index there.
            var offsets = [Int](repeating: 0, count: batches.count + 1)
            for (b, batch) in batches.enumerated() { offsets[b + 1] = offsets[b] + batch.recordCount }
            let total = offsets[batches.count]
            func messageId<R>(_ order: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
                var b = 0
                while offsets[b + 1] <= order { b += 1 }
                return try batches[b].withRecord(order - offsets[b]) { rec in
                    guard let mid = RecordView(rec)?.messageId else {
                        throw StoreError("internal error: malformed record in append batch")
                    }
                    return try body(mid)
                }
            }
            // Pass 1, in hash order so the index is walked front to back instead of at random (a 10M-entry
            // index does not fit the caches): duplicates of stored messages, and repeats inside this transaction.
            // The records themselves are only read when hashes match (a likely duplicate), not for every message.
            // verdict: 0 new; > 0 duplicate of that stored position; < 0 repeat of order −verdict − 1.
            var sorted: [HashedRecord]
            if batches.count == 1 {
                var only = batches[0]
                only.seal()
                sorted = only.byHash
            } else {
                var runs: [[HashedRecord]] = []
                for var batch in batches {
                    batch.seal()
                    runs.append(batch.byHash)
                }
                sorted = HashedRecord.merged(runs, offsets: offsets)
            }
            var verdict = [Int64](repeating: 0, count: total)
            var g = 0
            var touched = 0
            while g < sorted.count {
                if g >= touched && !self.pending.isEmpty {
                    // The waiting messageIds' slots of the next 64 lookups, loaded together (`touch`).
                    touched = min(sorted.count, g + 64)
                    self.pending.touch(sorted[g..<touched])
                }
                var h = g + 1
                while h < sorted.count && sorted[h].hash == sorted[g].hash { h += 1 }
                for k in g..<h {
                    let order = Int(sorted[k].order)
                    var repeatOf: Int?
                    for j in g..<k where verdict[Int(sorted[j].order)] == 0 {
                        let earlier = Int(sorted[j].order)
                        if try messageId(order, { a in try messageId(earlier) { $0.elementsEqual(a) } }) {
                            repeatOf = earlier
                            break
                        }
                    }
                    if let repeatOf {
                        verdict[order] = -Int64(repeatOf) - 1
                    } else if let recent = try self.pending.find(sorted[k].hash, matches: { position in
                        try log.storedMessageId(txn, at: position) { stored in try messageId(order) { $0.elementsEqual(stored) } }
                    }) {
                        verdict[order] = Int64(recent)
                    } else if let existing = try log.findDuplicate(
                        txn, cursor: &dedupCursor, hash: sorted[k].hash,
                        matches: { stored in try messageId(order) { $0.elementsEqual(stored) } })
                    {
                        verdict[order] = Int64(existing)
                    }
                }
                g = h
            }
            // Pass 2, in arrival order: positions and records.
            var positions = [UInt64](repeating: 0, count: total)
            var results: [[AppendOutcome]] = batches.map { _ in [] }
            var nameCounts = NameTally()
            var lastName: UInt32 = 0
            var lastNameCount: UInt64 = 0
            // A batch's received time is stored at its first new position, unless the entry before already says
            // the same (concurrent single appends often share a millisecond: one entry each cost ~24 bytes/event).
            var lastReceived = try txn.withCursor(log.received) { c in try c.last()?.value.loadUnaligned(as: Int64.self) }
            // The records go in blocks (`LogBlock`), through one cursor: `MDB_APPEND` through a cursor already at
            // the end skips the search from the root that each `mdb_put` does.
            do {
                var recordCursor = try txn.makeCursor(log.events)
                var blocks = LogBlockBuilder(pageSize: log.env.pageSize)
                func put(_ last: UInt64, _ block: UnsafeRawBufferPointer) throws {
                    var key = last
                    try withUnsafeBytes(of: &key) { k in try recordCursor.put(key: k, value: block, flags: .append) }
                }
                for (b, batch) in batches.enumerated() where batch.recordCount > 0 {
                    results[b].reserveCapacity(batch.recordCount)
                    var receivedStored = lastReceived == batch.receivedTime
                    try batch.records.withUnsafeBytes { records in
                        var start = 0
                        for i in 0..<batch.recordCount {
                            let end = batch.ends[i]
                            defer { start = end }
                            let order = offsets[b] + i
                            let v = verdict[order]
                            if v > 0 {
                                results[b].append(.duplicate(UInt64(v)))
                            } else if v < 0 {
                                results[b].append(.duplicate(positions[Int(-v - 1)]))
                            } else {
                                guard next <= EventLog.positionMask else {
                                    throw StoreError("the log is full: positions are limited to \(EventLog.positionMask)")
                                }
                                if !receivedStored {
                                    var t = batch.receivedTime
                                    try withUnsafeBytes(of: &t) { try txn.put(log.received, key: next, value: $0) }
                                    lastReceived = t
                                    receivedStored = true
                                }
                                try blocks.add(UnsafeRawBufferPointer(rebasing: records[start..<end]), position: next, emit: put)
                                // Runs of one name are common (imports of one event type): count them before hashing.
                                let name = batch.names[i]
                                if name != lastName {
                                    if lastNameCount > 0 { nameCounts.add(lastName, lastNameCount) }
                                    lastName = name
                                    lastNameCount = 0
                                }
                                lastNameCount += 1
                                positions[order] = next
                                results[b].append(.appended(next))
                                next += 1
                            }
                        }
                    }
                }
                try blocks.flush(put)
            }  // the cursor closes here, before the observers run
            if lastNameCount > 0 { nameCounts.add(lastName, lastNameCount) }
            // Pass 3, in hash order again: the new entries of the index.
            // A new record's position is its order less the duplicates before it; looked up in the short sorted
            // list of duplicates rather than in `verdict`/`positions` at random (cache misses in hash order).
            var duplicates: [Int32] = []
            for (order, v) in verdict.enumerated() where v != 0 { duplicates.append(Int32(order)) }
            var fresh: [HashedPosition] = []
            fresh.reserveCapacity(sorted.count - duplicates.count)
            for entry in sorted {
                var lo = 0
                var hi = duplicates.count
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if duplicates[mid] < entry.order { lo = mid + 1 } else { hi = mid }
                }
                if lo < duplicates.count && duplicates[lo] == entry.order { continue }
                fresh.append(HashedPosition(hash: entry.hash, position: firstPosition + UInt64(Int(entry.order) - lo)))
            }
            // Into `message_ids` only once enough have gathered (`PendingMessageIds`): then the waiting ones and these,
            // merged in hash order, and the index's checkpoint moves to this transaction's last position.
            let flush = self.pending.count + fresh.count >= PendingMessageIds.threshold(commitOf: fresh.count)
            if flush { try writeIndex(&dedupCursor, self.pending.sorted(), fresh, &txn, through: next - 1) }
            _ = consume dedupCursor
            try storeRejects(&txn, batches)
            try addNameCounts(&txn, nameCounts)
            if projections && (next > firstPosition || deferredFrom != 0) {
                // From the first deferred position: each projection applies from its own checkpoint anyway.
                let from = deferredFrom != 0 ? deferredFrom : firstPosition
                for o in observers { try o.apply(&txn, log: log, first: from, last: next - 1) }
            }
            return (zip(batches, results).map { $0.outcomes(records: $1) }, flush ? [] : fresh, flush, firstPosition, next - 1)
        }
        // The deferral state too changes only after the commit.
        idleRetry = true
        if projections {
            projectionsCaughtUp()
        } else if last >= first {
            deferredCommits.add(1, ordering: .relaxed)
            if deferredFrom == 0 {
                deferredFrom = first
                deferredSince = Date()
            }
            deferredThrough.store(last, ordering: .releasing)
        }
        // Only after the commit: a transaction run again (the map grew) or aborted leaves the writer's state as it was.
        if flushed { self.pending.removeAll() }
        self.pending.add(contentsOf: fresh)
        symbols.markPersisted(through: symbolsFrom - 1 + newSymbols.count)
        return result
    }

    /// Puts the waiting entries and `fresh` (both sorted by hash) into `message_ids`, merged, so the index is
    /// walked once front to back; its checkpoint becomes `through`. Each bucket's values go in with one
    /// `putMultiple` (the bucket's key is searched once, not once per value).
    private func writeIndex(
        _ c: inout Cursor, _ waiting: [HashedPosition], _ fresh: [HashedPosition], _ txn: inout WriteTransaction,
        through: UInt64
    ) throws {
        var i = 0
        var j = 0
        var values: [UInt64] = []
        var bucket: UInt32 = 0
        func flushBucket(_ c: inout Cursor) throws {
            if values.isEmpty { return }
            // Hash order is value order except where hashes differ only below the value's bits: put those right.
            values.withUnsafeMutableBufferPointer { $0.insertionSort(by: <) }
            var key = bucket
            try withUnsafeBytes(of: &key) { k in
                try values.withUnsafeBytes { v in try c.putMultiple(key: k, values: v, elementSize: 8) }
            }
            values.removeAll(keepingCapacity: true)
        }
        while i < waiting.count || j < fresh.count {
            let e: HashedPosition
            if j >= fresh.count || (i < waiting.count && waiting[i].hash <= fresh[j].hash) {
                e = waiting[i]
                i += 1
            } else {
                e = fresh[j]
                j += 1
            }
            let b = EventLog.bucket(e.hash)
            if b != bucket { try flushBucket(&c) }
            bucket = b
            values.append(EventLog.dedupValue(hash: e.hash, position: e.position))
        }
        try flushBucket(&c)
        try log.setDedupThrough(&txn, through)
    }

    /// Applies the deferred projections in a transaction of their own (writer thread).
    private func catchUpProjections() throws {
        guard deferredFrom != 0 else { return }
        do {
            try log.env.write { txn in
                let last = try log.lastPosition(txn)
                for o in observers { try o.apply(&txn, log: log, first: deferredFrom, last: last) }
            }
        } catch {
            for o in observers { o.aborted() }
            throw error
        }
        for o in observers { o.committed() }
        projectionsCaughtUp()
    }

    /// Nothing deferred any more (after a commit that applied the projections).
    private func projectionsCaughtUp() {
        deferredFrom = 0
        deferredThrough.store(0, ordering: .releasing)
    }

    /// Writes every waiting messageId to the index (writer thread).
    private func flushWaiting() throws {
        guard pendingLoaded, pending.count > 0 else { return }
        let waiting = pending.sorted()
        try log.env.write { txn in
            var c = try txn.makeCursor(log.messageIds)
            try writeIndex(&c, waiting, [], &txn, through: try log.lastPosition(txn))
        }
        pending.removeAll()
    }

    /// At close, a long list of waiting messageIds goes to the index, so the next open does not read them back from
    /// the log (a short one is cheaper to read back). A failure leaves them to that read-back.
    private func flushWaitingAtClose() {
        guard pending.count >= PendingMessageIds.flushThreshold else { return }
        try? flushWaiting()
    }

    private func addNameCounts(_ txn: inout WriteTransaction, _ counts: NameTally) throws {
        for (name, n) in counts.entries {
            let old = try txn.withValue(log.nameCounts, key: UInt64(name)) { $0.loadUnaligned(as: UInt64.self) } ?? 0
            var total = old + n
            try withUnsafeBytes(of: &total) { try txn.put(log.nameCounts, key: UInt64(name), value: $0) }
        }
    }

    private func storeRejects(_ txn: inout WriteTransaction, _ batches: [AppendBatch]) throws {
        guard batches.contains(where: { !$0.rejects.isEmpty }) else { return }
        var seq = try txn.withCursor(log.rejected) { c in try c.last()?.integerKey ?? 0 }
        var w = ByteWriter(capacity: 256)
        for batch in batches {
            for r in batch.rejects {
                seq += 1
                w.removeAll()
                RejectedCodec.encode(r, into: &w)
                try w.withUnsafeBytes { try txn.put(log.rejected, key: seq, value: $0, flags: .append) }
            }
        }
    }
}

/// The stored form of a rejected message: [time i64][line varint][source][reason][raw], strings length-prefixed.
enum RejectedCodec {
    static func encode(_ r: RejectedMessage, into w: inout ByteWriter) {
        w.appendLittleEndian(r.time)
        w.appendVarint(UInt64(max(0, r.line)))
        for s in [r.source, r.reason, r.raw] {
            var s = s
            s.withUTF8 { w.appendBytesWithLength(UnsafeRawBufferPointer($0)) }
        }
    }

    static func decode(_ b: UnsafeRawBufferPointer) -> RejectedMessage? {
        guard b.count >= 8 else { return nil }
        var r = ByteReader(b, offset: 8)
        guard let line = r.varint(), let source = r.lengthPrefixed(), let reason = r.lengthPrefixed(),
            let raw = r.lengthPrefixed()
        else { return nil }
        return RejectedMessage(
            raw: String(decoding: raw, as: UTF8.self), source: String(decoding: source, as: UTF8.self),
            line: Int(line), reason: String(decoding: reason, as: UTF8.self),
            time: Int64(littleEndian: b.loadUnaligned(as: Int64.self)))
    }
}
