internal import Foundation
internal import LMDB
internal import Synchronization

/// An event as read back from the log, decoded for use outside the hot paths.
public struct StoredEvent: Sendable, Equatable {
    public var position: UInt64
    public var type: CallType
    public var messageId: String
    public var userId: String?
    public var anonymousId: String?
    public var previousId: String?
    /// The name in the log: `event` for track, `Page Viewed` for page, and so on (semantics §1).
    public var name: String
    public var channel: String?
    /// UTC milliseconds.
    public var eventTime: Int64
    public var receivedTime: Int64
    /// The whole message as JSON, as `journey export` prints it.
    public var json: String
}

/// Counts shown by `journey status`.
public struct StoreStatus: Sendable {
    public var events: Int
    public var lastPosition: UInt64
    public var eventsByName: [String: Int]
    public var rejected: Int
    /// Bytes the store's pages occupy.
    public var bytes: Int
    public var symbols: Int
}

/// A Journey store: the append-only event log and its projections, in one LMDB environment.
///
/// Open one per path per process and share it: it is `Sendable`, appends from any task go through one writer
/// thread (group commit), and reads take short snapshots. `append` returns once the events are durable.
public final class JourneyStore: Sendable {
    public enum Mode: Sendable {
        /// Reads and appends; creates the store if missing. Takes the store's writer lock.
        case readWrite
        /// Reads only; the store must exist. Any number of readers may run beside a writer process.
        case readOnly
    }

    public let path: String
    let env: Environment
    let log: EventLog
    let symbols = SymbolTable()
    let writer: LogWriter?
    private let lockFD: Int32?
    private let encoderPool = Mutex<[MessageEncoder]>([])
    /// The profile builder of the current symbol table (`profileBuilder()`).
    let profileBuilders = Mutex<ProfileBuilder?>(nil)
    /// Both person database sets once they exist (`personSets()`).
    let personSetHandles = Mutex<(primary: PersonDatabases, alternate: PersonDatabases)?>(nil)

    /// Opens the store at `path`.
    /// - Parameters:
    ///   - mapSize: initial map size; the map doubles whenever it fills.
    ///   - bulkWrites: writes go straight through the memory map (`MDB_WRITEMAP`, without readahead). It spares
    ///     copying dirty pages, but each page the file gains is first read in as a hole (a major page fault), and each
    ///     durable commit syncs the whole map. Measured here: a 10M-event import took 24.3–24.6 s with it against
    ///     21.6–23.1 s without (438,000 major faults, twice the kernel time), 1M events the same either way, and
    ///     batched durable appends of 10,000 ran at 258k–299k events/s with it against 382k–422k without. Nothing
    ///     in journey sets it any more.
    public convenience init(path: String, mode: Mode = .readWrite, mapSize: Int = 1 << 30, bulkWrites: Bool = false) throws {
        try self.init(path: path, mode: mode, mapSize: mapSize, bulkWrites: bulkWrites, personChunk: PersonProjections.chunk)
    }

    /// `personChunk`: log positions the person projections resolve at a time inside one transaction (tests make it
    /// small to give transactions several chunks).
    init(path: String, mode: Mode, mapSize: Int, bulkWrites: Bool, personChunk: UInt64) throws {
        self.path = path
        let writable = mode == .readWrite
        if !StoreFiles.exists(path) {
            guard writable else { throw StoreError.missing(path) }
            try StoreFiles.createDirectory(path)
        }
        let fd = writable ? try StoreFiles.lockWriter(path) : nil
        do {
            var options = EnvironmentOptions()
            options.mapSize = mapSize
            options.readOnly = !writable
            options.maxDatabases = 64
            options.writeMap = writable && bulkWrites
            options.noReadahead = writable && bulkWrites
            let env: Environment
            do {
                env = try Environment(path: path, options: options)
            } catch {
                throw StoreError("cannot open the store at \(path): \(error)")
            }
            self.env = env
            do {
                log = try EventLog(env: env, create: writable)
            } catch let e as LMDBError where e == .notFound {
                // data.mdb exists but its databases were never committed: creation was interrupted.
                throw StoreError(
                    "no store at \(path) yet: its creation was interrupted before the first commit (import into it to create it)")
            }
            try log.checkFormat(path: path, writable: writable)
            try log.loadSymbols(into: symbols)
        } catch {
            if let fd { StoreFiles.unlock(fd) }
            throw error
        }
        lockFD = fd
        writer = writable
            ? LogWriter(log: log, symbols: symbols, observers: Self.observers(log: log, symbols: symbols, personChunk: personChunk)) : nil
    }

    deinit {
        writer?.close()
        if let lockFD { StoreFiles.unlock(lockFD) }
    }

    /// Finishes pending appends; the store can no longer append afterwards.
    /// The projections kept in the writer's transaction, in the order they apply (saved funnels read what the
    /// person projections did).
    private static func observers(log: EventLog, symbols: SymbolTable, personChunk: UInt64) -> [any AppendObserver] {
        let persons = PersonProjections(log: log, chunk: personChunk)
        return [persons, SavedFunnelProjection(log: log, symbols: symbols, persons: persons)]
    }

    public func close() { writer?.close() }

    /// Maps the whole store into this process ahead of use, for a service that serves lookups (profiles,
    /// timelines) for hours: a lookup then finds its pages mapped instead of taking a page fault for each page it
    /// is the first to touch, which is most of the slow tail of lookups in a freshly started process. Costs about
    /// a second per few GB (from the OS cache) and no extra memory beyond page tables. Returns false when the
    /// kernel cannot (before Linux 5.14); nothing changes but speed.
    @discardableResult
    public func warmUp() -> Bool { env.populateMap() }

    // MARK: Appending

    /// Appends raw Segment JSON messages (one JSON object each). Returns each one's outcome once durable.
    public func append(json messages: [[UInt8]], source: String = "library") async throws -> [AppendOutcome] {
        let batch = encode(messages, source: source)
        return try await submit(batch)
    }

    /// Appends one raw JSON message.
    public func append(json message: String, source: String = "library") async throws -> AppendOutcome {
        let outcomes = try await append(json: [Array(message.utf8)], source: source)
        guard let first = outcomes.first else { throw StoreError("internal error: no outcome") }
        return first
    }

    /// Appends typed messages.
    public func append(_ messages: [Message]) async throws -> [AppendOutcome] {
        try await submit(encode(messages, source: "library"))
    }

    /// Typed messages straight to records (`MessageEncoder.encode(_:receivedTime:)`): the same records and
    /// rejections as their JSON, without writing and parsing it.
    func encode(_ messages: [Message], source: String) -> AppendBatch {
        newBatch(messages: messages.count) { batch, encoder, now in
            // By index, not `for m in`: each message is borrowed, not copied (retained field by field).
            for i in messages.indices {
                keep(
                    encoder.encode(messages[i], receivedTime: now), of: encoder,
                    raw: messages[i].jsonBytes().withUnsafeBytes { Self.rawText($0) },
                    into: &batch, source: source, line: i + 1, now: now)
            }
        }
    }

    /// Blocking form for command-line tools and tests: waits on the calling thread.
    public func appendSync(json messages: [[UInt8]], source: String = "library") throws -> [AppendOutcome] {
        try submitSync(encode(messages, source: source))
    }

    func encode(_ messages: [[UInt8]], source: String, firstLine: Int = 1) -> AppendBatch {
        newBatch(messages: messages.count) { batch, encoder, now in
            // A record is smaller than its JSON: the JSON's size bounds the buffer, so it is allocated once.
            batch.records.reserveCapacity(messages.reduce(0) { $0 + $1.count })
            for (i, m) in messages.enumerated() {
                m.withUnsafeBytes { encodeOne($0, into: &batch, encoder: &encoder, now: now, source: source, line: firstLine + i) }
            }
        }
    }

    /// A batch filled by `fill` with a pooled encoder and one clock reading, sealed for the writer.
    private func newBatch(messages: Int, _ fill: (inout AppendBatch, inout MessageEncoder, Int64) -> Void) -> AppendBatch {
        var encoder = takeEncoder()
        defer { returnEncoder(encoder) }
        let now = Self.nowMillis()
        var batch = AppendBatch(receivedTime: now, expectedMessages: messages)
        fill(&batch, &encoder, now)
        batch.seal()
        return batch
    }

    func encodeOne(
        _ line: UnsafeRawBufferPointer, into batch: inout AppendBatch, encoder: inout MessageEncoder, now: Int64,
        source: String, line number: Int
    ) {
        keep(
            encoder.encode(line, receivedTime: now), of: encoder, raw: Self.rawText(line),
            into: &batch, source: source, line: number, now: now)
    }

    /// Rejects a line longer than `LineSource.maxLineBytes` (only its first bytes were read into memory).
    func rejectOverlong(
        _ start: UnsafeRawBufferPointer, length: Int, into batch: inout AppendBatch, now: Int64, source: String, line: Int
    ) {
        let rejection = Rejection(
            field: "json",
            message: "the line is \(length) bytes, over the limit of \(LineSource.maxLineBytes >> 20) MiB a message (its first MiB is kept)")
        reject(rejection, raw: Self.rawText(start), into: &batch, source: source, line: line, now: now)
    }

    /// Adds the message `encoder` just encoded to `batch`: its record, or, when `rejection` says it was refused, the
    /// rejected message with its raw text (built only then).
    private func keep(
        _ rejection: Rejection?, of encoder: borrowing MessageEncoder, raw: @autoclosure () -> String, into batch: inout AppendBatch,
        source: String, line: Int, now: Int64
    ) {
        if let rejection {
            reject(rejection, raw: raw(), into: &batch, source: source, line: line, now: now)
        } else {
            encoder.record.withUnsafeBytes { batch.add(record: $0, hash: encoder.messageIdHash) }
        }
    }

    private func reject(
        _ rejection: Rejection, raw: String, into batch: inout AppendBatch, source: String, line: Int, now: Int64
    ) {
        batch.add(
            rejected: RejectedMessage(raw: raw, source: source, line: line, reason: rejection.description, time: now),
            because: rejection)
    }

    /// What a rejected line keeps as its raw text: its first MiB.
    static func rawText(_ line: UnsafeRawBufferPointer) -> String { String(decoding: line.prefix(1 << 20), as: UTF8.self) }

    func takeEncoder() -> MessageEncoder {
        encoderPool.withLock { $0.popLast() } ?? MessageEncoder(symbols: symbols)
    }

    func returnEncoder(_ e: MessageEncoder) {
        encoderPool.withLock { pool in if pool.count < 8 { pool.append(e) } }
    }

    func submit(_ batch: AppendBatch) async throws -> [AppendOutcome] {
        guard let writer else { throw StoreError("the store at \(path) was opened read-only") }
        return try await withCheckedThrowingContinuation { cont in
            writer.submit(batch) { cont.resume(with: $0) }
        }
    }

    func submit(_ batch: AppendBatch, completion: @escaping LogWriter.Completion) {
        guard let writer else {
            completion(.failure(StoreError("the store at \(path) was opened read-only")))
            return
        }
        writer.submit(batch, completion: completion)
    }

    /// Writes the messageIds waiting in the writer's memory to the index (after the appends already queued).
    func flushMessageIds() throws {
        guard let writer else { return }
        _ = try waitFor { writer.flushMessageIds(completion: $0) }
    }

    func submitSync(_ batch: AppendBatch) throws -> [AppendOutcome] {
        try waitFor { submit(batch, completion: $0) }
    }

    /// Starts a writer request and blocks the calling thread until its completion.
    func waitFor(_ start: (@escaping LogWriter.Completion) -> Void) throws -> [AppendOutcome] {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<[AppendOutcome], any Error>?>(nil)
        start { result in
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        guard let result = box.withLock({ $0 }) else { throw StoreError("internal error: no result") }
        return try result.get()
    }

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Reading

    /// Makes sure symbols written by another process are known before decoding records that name them.
    func refreshSymbols() throws {
        if writer == nil { try log.loadSymbols(into: symbols) }
    }

    /// The last position in the log (0 when empty).
    public func lastPosition() throws -> UInt64 {
        try env.read { txn in try log.lastPosition(txn) }
    }

    /// Events from `position` on, at most `limit`. Each call is one short snapshot: page with the last position + 1.
    public func events(from position: UInt64 = 1, limit: Int = 1000) throws -> [StoredEvent] {
        try refreshSymbols()
        var out: [StoredEvent] = []
        var received: [(UInt64, Int64)] = []
        try scan(from: position, limit: limit) { pos, view in
            if let e = decode(view, position: pos, receivedTime: 0) { out.append(e) }
            return true
        }
        if let first = out.first {
            received = try env.read { txn in try log.receivedTimes(txn, from: first.position, to: out[out.count - 1].position) }
            var k = 0
            for i in out.indices {
                while k + 1 < received.count && received[k + 1].0 <= out[i].position { k += 1 }
                if k < received.count && received[k].0 <= out[i].position { out[i].receivedTime = received[k].1 }
            }
        }
        return out
    }

    /// The event at `position`.
    public func event(at position: UInt64) throws -> StoredEvent? {
        try events(from: position, limit: 1).first.flatMap { $0.position == position ? $0 : nil }
    }

    /// Calls `body` with records in position order from `from` through `to`, renewing the snapshot every `chunk`
    /// records so no read transaction is held for long (lmdb.md). Stops when `body` returns false.
    public func scan(
        from: UInt64 = 1, to: UInt64 = .max, limit: Int = .max, chunk: Int = 65_536,
        _ body: (UInt64, RecordView) throws -> Bool
    ) throws {
        var next = max(from, 1)
        var remaining = limit
        while remaining > 0 && next <= to {
            let (last, more) = try env.read { txn -> (UInt64, Bool) in
                var n = 0
                var more = false
                let batch = min(chunk, remaining)
                let last = try log.forEachRecord(txn, from: next) { pos, view in
                    if pos > to { return false }
                    n += 1
                    if try !body(pos, view) { return false }
                    if n >= batch {
                        more = true
                        return false
                    }
                    return true
                }
                // A stop at a position past `to` does not count it.
                return (min(last, to), more)
            }
            remaining -= Int(last - (next - 1))
            next = last + 1
            if !more { break }
        }
    }

    func decode(_ view: RecordView, position: UInt64, receivedTime: Int64) -> StoredEvent? {
        guard let v = view.variable else { return nil }
        var json = ByteWriter(capacity: 256)
        guard RecordJSON(symbols: symbols).write(view, into: &json) else { return nil }
        return StoredEvent(
            position: position, type: view.callType, messageId: String(decoding: v.messageId, as: UTF8.self),
            userId: v.userId.map { String(decoding: $0, as: UTF8.self) },
            anonymousId: v.anonymousId.map { String(decoding: $0, as: UTF8.self) },
            previousId: v.previousId.map { String(decoding: $0, as: UTF8.self) },
            name: symbols.string(view.eventName) ?? "?", channel: view.channel == 0 ? nil : symbols.string(view.channel),
            eventTime: view.eventTime, receivedTime: receivedTime, json: String(decoding: json.bytes, as: UTF8.self))
    }

    /// Writes events `from...to` as NDJSON through `emit`, a chunk of lines at a time.
    public func export(from: UInt64 = 1, to: UInt64 = .max, _ emit: ([UInt8]) throws -> Void) throws {
        try refreshSymbols()
        let writer = RecordJSON(symbols: symbols)
        var out = ByteWriter(capacity: 1 << 20)
        try scan(from: from, to: to) { pos, view in
            guard writer.write(view, into: &out) else { throw StoreError("the record at position \(pos) is damaged") }
            out.append(UInt8(ascii: "\n"))
            if out.count >= 1 << 20 {
                try emit(out.bytes)
                out.removeAll()
            }
            return true
        }
        if out.count > 0 { try emit(out.bytes) }
    }

    /// The rejected messages, oldest first.
    public func rejected(limit: Int = .max) throws -> [RejectedMessage] {
        try env.read { txn in
            try txn.withCursor(log.rejected) { c in
                var out: [RejectedMessage] = []
                var e = try c.first()
                while let entry = e, out.count < limit {
                    if let r = RejectedCodec.decode(entry.value) { out.append(r) }
                    e = try c.next()
                }
                return out
            }
        }
    }

    /// Counts for `journey status`.
    public func status() throws -> StoreStatus {
        try refreshSymbols()
        return try env.read { txn in
            // Positions are gapless from 1: the last one is the number of events (blocks hold several).
            let events = Int(try log.lastPosition(txn))
            let rejected = try txn.statistics(log.rejected).entries
            var byName: [String: Int] = [:]
            try txn.withCursor(log.nameCounts) { c in
                var e = try c.first()
                while let entry = e {
                    let name = symbols.string(UInt32(entry.integerKey)) ?? "#\(entry.integerKey)"
                    byName[name] = Int(entry.value.loadUnaligned(as: UInt64.self))
                    e = try c.next()
                }
            }
            return StoreStatus(
                events: events, lastPosition: try log.lastPosition(txn), eventsByName: byName, rejected: rejected,
                bytes: env.usedBytes, symbols: symbols.count)
        }
    }
}
