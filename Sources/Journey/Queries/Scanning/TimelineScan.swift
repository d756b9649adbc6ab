internal import Glibc
internal import Dispatch
internal import LMDB
internal import Synchronization

/// One person's timeline, read in place from the map or from a buffer its chunks were joined in: entries are
/// loaded on access. Valid only inside the read that produced it.
struct Timeline {
    let bytes: UnsafeRawBufferPointer
    /// Entries in view: all, or those up to an as-of time.
    let count: Int

    init(_ bytes: UnsafeRawBufferPointer, asOf: Int64? = nil) {
        self.bytes = bytes
        let n = bytes.count / TimelineLayout.entrySize
        guard let t = asOf else {
            count = n
            return
        }
        // Entries are sorted by time: the first entry after `t`, by binary search.
        var lo = 0
        var hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            let time = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: mid &* TimelineLayout.entrySize, as: Int64.self))
            if time <= t { lo = mid + 1 } else { hi = mid }
        }
        count = lo
    }

    @inline(__always) subscript(i: Int) -> PackedEntry { PackedEntry(bytes, at: i) }

    @inline(__always) func time(_ i: Int) -> Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* TimelineLayout.entrySize, as: Int64.self))
    }

    @inline(__always) func name(_ i: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* TimelineLayout.entrySize &+ 8, as: UInt32.self))
    }
}

/// Whole-store scans of every person's timeline: what funnels, lifecycle and NPS queries read.
///
/// The person-number range is split into one partition per core; each partition runs in its own thread with its own
/// read snapshot (all snapshots taken before any starts reading would not be cheaper and LMDB readers are
/// independent). A partition's accumulator is made by `make`, and the caller combines them (in partition order,
/// so results are deterministic).
struct TimelineScan {
    let env: Environment
    let log: EventLog
    let dbs: PersonDatabases
    let symbols: SymbolTable
    /// Only events with event time ≤ this (semantics §4: what an analyst would have seen then, given the events
    /// logged since, identity included).
    var asOf: Int64?

    /// `dbs` is one of the two live-able sets (not a scratch copy for `--as-of-position`).
    var isLiveSet: Bool { dbs.prefix == PersonSets.primary || dbs.prefix == PersonSets.alternate }

    /// Calls `body` for every person with at least one event in view, in number order inside a partition.
    /// `body` gets the read transaction too, for record lookups (`record(at:)`).
    func run<Acc>(
        partitions requested: Int = ProcessInfoCores.count,
        make: () -> Acc,
        _ body: (inout Acc, _ person: UInt32, Timeline, borrowing ReadTransaction) throws -> Void
    ) throws -> [Acc] {
        let last: UInt64 = try env.read { txn in
            try txn.withCursor(dbs.timelines) { c in try c.last().map { UInt64(TimelineChunks.person($0.integerKey)) } ?? 0 }
        }
        let partitions = max(1, min(requested, Int(last / 4096) + 1))
        var accs: [Acc] = (0..<partitions).map { _ in make() }
        let failure = Mutex<(any Error)?>(nil)
        let step = last / UInt64(partitions) + 1
        accs.withUnsafeMutableBufferPointer { accs in
          withoutActuallyEscaping(body) { body in
            let base = UnsafeMutableBufferPointerBox(accs)
            let work: (Int) -> Void = { (p: Int) in
                let lo = UInt64(p) * step
                let hi = lo + step
                do {
                    try env.read { txn in
                        // A rebuild may have switched the live set (and be clearing the old one) since `dbs` was
                        // resolved: never read a set this snapshot no longer calls live.
                        if isLiveSet, try PersonSets.livePrefix(txn, log: log) != dbs.prefix {
                            throw StoreError("a rebuild switched the person projections during this query; run it again")
                        }
                        try txn.withCursor(dbs.timelines) { c in
                            // A person's chunks come together; only a full one can have successors, then the
                            // person's timeline is concatenated into `joined`.
                            var joined: [UInt8] = []
                            var entry = try c.seek(TimelineChunks.key(UInt32(clamping: max(lo, 1)), chunk: 0))
                            while let e = entry {
                                let person = TimelineChunks.person(e.integerKey)
                                if UInt64(person) >= hi { break }
                                if e.value.count < TimelineChunks.fullBytes {
                                    let t = Timeline(e.value, asOf: asOf)
                                    if t.count > 0 { try body(&base.buffer[p], person, t, txn) }
                                    entry = try c.next()
                                    continue
                                }
                                joined.removeAll(keepingCapacity: true)
                                joined.appendRaw(e.value)
                                entry = try c.next()
                                while let n = entry, TimelineChunks.person(n.integerKey) == person {
                                    joined.appendRaw(n.value)
                                    entry = try c.next()
                                }
                                try joined.withUnsafeBytes { bytes in
                                    let t = Timeline(bytes, asOf: asOf)
                                    if t.count > 0 { try body(&base.buffer[p], person, t, txn) }
                                }
                            }
                        }
                    }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            if partitions == 1 {
                work(0)
            } else {
                let shared = UncheckedSendable(work)
                DispatchQueue.concurrentPerform(iterations: partitions) { shared.value($0) }
            }
          }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return accs
    }

    /// The record at `position`, read in place inside `txn`.
    @inline(__always)
    func record<R, T: TransactionReading & ~Copyable>(
        at position: UInt64, _ txn: borrowing T, _ body: (RecordView) throws -> R
    ) throws -> R? {
        try log.withRecord(txn, at: position, body)
    }
}

/// Lets the partition threads write their own accumulator slot (disjoint indices, joined before reading).
private struct UnsafeMutableBufferPointerBox<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

/// A closure run by the scan's threads: each touches only its own partition's accumulator and its own snapshot.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The number of cores to scan with.
enum ProcessInfoCores {
    static let count: Int = max(1, min(16, sysconfCores()))

    private static func sysconfCores() -> Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}
