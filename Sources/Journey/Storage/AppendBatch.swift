/// What happened to one message given to `append`.
public enum AppendOutcome: Sendable, Equatable {
    /// Stored at this log position.
    case appended(UInt64)
    /// Already stored (same `messageId`) at this position; not stored again.
    case duplicate(UInt64)
    /// Refused, with the reason; kept in the rejected list.
    case rejected(Rejection)
}

/// A rejected message as kept in the store so it can be fixed and imported again.
public struct RejectedMessage: Sendable, Equatable {
    public var raw: String
    public var source: String
    public var line: Int
    public var reason: String
    /// When it was rejected, UTC ms.
    public var time: Int64
}

/// Encoded messages on their way to the writer: records packed in one buffer, so a batch of 100,000 messages is a
/// handful of allocations, not 100,000.
struct AppendBatch: Sendable {
    /// When the engine received these messages, UTC ms (one clock reading per batch, stored once per batch).
    var receivedTime: Int64 = 0
    var records: [UInt8] = []
    /// End offset of each record in `records`.
    var ends: [Int] = []
    /// Event-name symbol of each record (for the per-name counts, without reading the records again).
    var names: [UInt32] = []
    /// Each record's messageId hash and index; in hash order (as the writer walks the dedup index) once `seal()`
    /// sorted it on the encoding thread, so the writer does not have to.
    private(set) var byHash: [HashedRecord] = []
    private var sealed = true
    /// For each message, in order: index into the records, or −1 − index into `rejects`.
    var slots: [Int] = []
    var rejects: [RejectedMessage] = []
    var rejections: [Rejection] = []

    init(receivedTime: Int64 = 0, expectedMessages: Int = 0) {
        self.receivedTime = receivedTime
        // Sized up front: a 64k-message batch grown by doubling copies its 10 MB of records several times.
        records.reserveCapacity(expectedMessages * 128)
        ends.reserveCapacity(expectedMessages)
        byHash.reserveCapacity(expectedMessages)
        names.reserveCapacity(expectedMessages)
        slots.reserveCapacity(expectedMessages)
    }

    /// Empties the batch, keeping its buffers (unique again once the writer has dropped its copy).
    mutating func reset(receivedTime: Int64) {
        self.receivedTime = receivedTime
        records.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        names.removeAll(keepingCapacity: true)
        byHash.removeAll(keepingCapacity: true)
        sealed = true
        slots.removeAll(keepingCapacity: true)
        rejects.removeAll(keepingCapacity: true)
        rejections.removeAll(keepingCapacity: true)
    }

    var messageCount: Int { slots.count }
    var recordCount: Int { ends.count }
    var byteCount: Int { records.count }

    mutating func add(record: UnsafeRawBufferPointer, hash: UInt64) {
        slots.append(ends.count)
        records.appendRaw(record)
        ends.append(records.count)
        byHash.append(HashedRecord(hash: hash, order: Int32(truncatingIfNeeded: ends.count - 1)))
        sealed = false
        names.append(RecordView(record)?.eventName ?? 0)
    }

    /// Sorts `byHash` (done once, before the batch is handed to the writer).
    mutating func seal() {
        guard !sealed else { return }
        HashedRecord.sort(&byHash)
        sealed = true
    }

    mutating func add(rejected: RejectedMessage, because rejection: Rejection) {
        slots.append(-1 - rejects.count)
        rejects.append(rejected)
        rejections.append(rejection)
    }

    func withRecord<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = i == 0 ? 0 : ends[i - 1]
        return try records.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }

    /// Outcomes per message, given the writer's outcome per record.
    func outcomes(records recordOutcomes: [AppendOutcome]) -> [AppendOutcome] {
        slots.map { $0 >= 0 ? recordOutcomes[$0] : .rejected(rejections[-1 - $0]) }
    }
}

/// A record's messageId hash and its order (in its batch, or in the writer's transaction).
struct HashedRecord: HashKeyed, Sendable {
    var hash: UInt64
    var order: Int32

    @inline(__always) static func before(_ a: HashedRecord, _ b: HashedRecord) -> Bool {
        a.hash != b.hash ? a.hash < b.hash : a.order < b.order
    }

    /// Sorts by hash, keeping the given order among equal hashes (so records given in order come out sorted by
    /// (hash, order)): `HashRadixSort`.
    static func sort(_ a: inout [HashedRecord]) {
        if a.count < 512 {
            a.sort(by: before)
        } else {
            HashRadixSort.sort(&a)
        }
    }

    /// The batches' sorted runs as one sorted list, each order shifted by its batch's offset (`offsets[b]`, rising),
    /// so equal hashes stay in (batch, order) order. A few runs (batched appends) are merged, comparing heads: one
    /// pass instead of a radix sort's six over copies; many (concurrent single appends) are sorted whole.
    static func merged(_ runs: [[HashedRecord]], offsets: [Int]) -> [HashedRecord] {
        var out: [HashedRecord] = []
        out.reserveCapacity(runs.reduce(0) { $0 + $1.count })
        if runs.count > 8 {
            for (b, run) in runs.enumerated() {
                let offset = Int32(offsets[b])
                for h in run { out.append(HashedRecord(hash: h.hash, order: h.order + offset)) }
            }
            sort(&out)
            return out
        }
        var heads = [Int](repeating: 0, count: runs.count)
        while true {
            var best = -1
            var bestHash: UInt64 = 0
            for b in runs.indices where heads[b] < runs[b].count {
                let h = runs[b][heads[b]].hash
                // Strictly lower: on a tie the earlier batch goes first.
                if best < 0 || h < bestHash {
                    best = b
                    bestHash = h
                }
            }
            guard best >= 0 else { return out }
            out.append(HashedRecord(hash: bestHash, order: runs[best][heads[best]].order + Int32(offsets[best])))
            heads[best] += 1
        }
    }
}
