internal import Foundation
internal import Synchronization
internal import LMDB

/// What an import did.
public struct ImportSummary: Sendable {
    public var lines = 0
    public var accepted = 0
    public var duplicates = 0
    public var rejected = 0
    public var seconds = 0.0
    public var bytes = 0
    /// The first rejections (source, line, reason), for the command line to show.
    public var firstRejections: [RejectedMessage] = []
}

/// Progress of an import, for a progress bar.
public struct ImportProgress: Sendable {
    public var source: String
    public var bytesRead: Int
    /// Total bytes of the source when known (a regular, uncompressed file).
    public var totalBytes: Int?
    public var lines: Int
    public var seconds: Double
}

/// Streams NDJSON files into a store with constant memory: reads 4 MiB at a time, encodes on the calling thread
/// while the writer thread commits the previous batch (two cores busy), at most two batches in flight.
public struct Importer {
    public let store: JourneyStore
    /// Messages per batch handed to the writer (a batch is also cut at 32 MiB of records). Bigger commits touch each
    /// page of the person projections fewer times: a 10M-event import took 16.1–18.0 s with 262,144 against
    /// 19.8–22.5 s with 65,536, interleaved (1M events: the same).
    public var batchSize = 262_144
    /// Commit without fsync and sync once at the end (default). A killed import loses nothing already committed
    /// to the OS; an OS crash mid-import may lose its last commits, which re-importing the file restores.
    public var relaxedSync = true
    /// Validate and encode only: nothing is stored (`accepted` counts valid messages, duplicates are not looked up).
    public var dryRun = false

    public init(store: JourneyStore) { self.store = store }

    /// Imports each path in turn (`-` is standard input; `.gz` files are decompressed with gzip).
    public func run(_ paths: [String], progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportSummary {
        let start = Date()
        let totals = Mutex(ImportSummary())
        let failure = Mutex<(any Error)?>(nil)
        let inFlight = DispatchSemaphore(value: 2)
        let group = DispatchGroup()
        var encoder = store.takeEncoder()
        defer { store.returnEncoder(encoder) }

        // Committed batches come back here to be refilled: reusing their buffers spares the kernel zeroing fresh
        // pages for every 64k-message batch.
        let spare = Mutex<[AppendBatch]>([])
        func fresh(_ now: Int64) -> AppendBatch {
            if var b = spare.withLock({ $0.popLast() }) {
                b.reset(receivedTime: now)
                return b
            }
            return AppendBatch(receivedTime: now, expectedMessages: batchSize)
        }

        func send(_ batch: consuming AppendBatch) throws {
            if let error = failure.withLock({ $0 }) { throw error }
            let rejects = batch.rejects
            if dryRun {
                totals.withLock { t in
                    t.accepted += batch.recordCount
                    t.rejected += batch.rejects.count
                    for r in rejects where t.firstRejections.count < 20 { t.firstRejections.append(r) }
                }
                return
            }
            batch.seal()
            inFlight.wait()
            group.enter()
            let sent = batch
            store.submit(sent) { result in
                switch result {
                case .success(let outcomes):
                    totals.withLock { t in
                        for o in outcomes {
                            switch o {
                            case .appended: t.accepted += 1
                            case .duplicate: t.duplicates += 1
                            case .rejected: t.rejected += 1
                            }
                        }
                        for r in rejects where t.firstRejections.count < 20 { t.firstRejections.append(r) }
                    }
                case .failure(let error):
                    failure.withLock { if $0 == nil { $0 = error } }
                }
                spare.withLock { if $0.count < 2 { $0.append(sent) } }
                inFlight.signal()
                group.leave()
            }
        }

        var lines = 0
        var bytes = 0
        let relax = relaxedSync && !dryRun
        if relax { try store.env.setSyncOnCommit(false) }
        defer { if relax { try? store.env.setSyncOnCommit(true) } }
        do {
            for path in paths {
                let source = try LineSource(path: path)
                defer { source.close() }
                var lineNumber = 0
                let bytesBefore = bytes
                let now = JourneyStore.nowMillis()
                var batch = fresh(now)
                var lastReport = Date.distantPast
                try source.forEachLine { line, cut in
                    lineNumber += 1
                    if cut == 0 && Self.isBlank(line) { return }
                    lines += 1
                    if cut > 0 {
                        store.rejectOverlong(line, length: line.count + cut, into: &batch, now: now, source: source.name, line: lineNumber)
                    } else {
                        store.encodeOne(line, into: &batch, encoder: &encoder, now: now, source: source.name, line: lineNumber)
                    }
                    if batch.messageCount >= batchSize || batch.byteCount >= 32 << 20 {
                        try send(batch)
                        batch = fresh(now)
                    }
                } chunkDone: { bytesRead in
                    bytes = bytesBefore + bytesRead
                    if let progress, Date().timeIntervalSince(lastReport) > 0.2 {
                        lastReport = Date()
                        progress(ImportProgress(
                            source: source.name, bytesRead: bytesRead, totalBytes: source.totalBytes, lines: lines,
                            seconds: Date().timeIntervalSince(start)))
                    }
                }
                if batch.messageCount > 0 { try send(batch) }
            }
        } catch {
            group.wait()
            throw error
        }
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        // The messageIds still waiting in the writer's memory go to the index: the import's time covers all its work.
        if !dryRun { try store.flushMessageIds() }
        // One fsync for the whole import instead of two per commit.
        if relax { try store.env.sync() }
        var summary = totals.withLock { $0 }
        summary.lines = lines
        summary.bytes = bytes
        summary.seconds = Date().timeIntervalSince(start)
        summary.firstRejections.sort { ($0.source, $0.line) < ($1.source, $1.line) }
        return summary
    }

    static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        for c in line where c != 0x20 && c != 0x09 && c != 0x0D { return false }
        return true
    }
}

/// A file, standard input or a gzip file read in chunks and cut into lines; a line may span chunks.
final class LineSource {
    let name: String
    let totalBytes: Int?
    private let handle: FileHandle
    private let process: Process?
    private var carry: [UInt8] = []
    /// Bytes of the line in progress beyond `maxLineBytes`, counted, not kept.
    private var dropped = 0

    /// The longest line kept whole (Segment's own limit is 32 KB a message). A longer one is rejected with its
    /// first bytes, so a file that is not NDJSON (one line of gigabytes) cannot exhaust memory.
    static let maxLineBytes = 16 << 20
    /// The limit in force (`maxLineBytes`) and the bytes read per `read(2)` buffer: both smaller in tests, which
    /// cut lines at every place.
    private let lineLimit: Int
    private let chunkBytes: Int

    init(path: String, chunkBytes: Int = 4 << 20, maxLineBytes: Int = LineSource.maxLineBytes) throws {
        self.chunkBytes = max(1, chunkBytes)
        lineLimit = maxLineBytes
        if path == "-" {
            name = "stdin"
            handle = FileHandle.standardInput
            process = nil
            totalBytes = nil
            return
        }
        name = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError("cannot read \(path): no such file")
        }
        guard !isDirectory.boolValue else { throw StoreError("cannot read \(path): it is a directory, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw StoreError("cannot read \(path): permission denied")
        }
        if path.hasSuffix(".gz") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec gzip -dc -- \"$0\"", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            process = p
            handle = pipe.fileHandleForReading
            totalBytes = nil
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { throw StoreError("cannot open \(path)") }
            handle = h
            process = nil
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            totalBytes = size
        }
    }

    func close() {
        if let process {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        } else if name != "stdin" {
            try? handle.close()
        }
    }

    /// Calls `line` with each line (without its newline) and the bytes cut from it (0 unless it was longer than
    /// `maxLineBytes`), and `chunkDone` with the bytes read after each buffer (4 MiB).
    /// Reads with `read(2)` into one reused buffer: `FileHandle.read(upToCount:)` read 4 KiB per call here and
    /// gathered them into a fresh `Data` (51,000 calls for a 200 MB file).
    func forEachLine(_ line: (UnsafeRawBufferPointer, _ cut: Int) throws -> Void, chunkDone: (Int) -> Void) throws {
        var total = 0
        let capacity = chunkBytes
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { base.deallocate() }
        let fd = handle.fileDescriptor
        var done = false
        while !done {
            // Fill the buffer (a pipe gives less per call), or up to the end.
            var filled = 0
            while filled < capacity {
                let n = read(fd, base + filled, capacity - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StoreError("cannot read \(name): \(String(cString: strerror(errno)))")
                }
                if n == 0 {
                    done = true
                    break
                }
                filled += n
            }
            if filled == 0 { break }
            total += filled
            try split(UnsafeRawBufferPointer(start: base, count: filled), line)
            chunkDone(total)
        }
        if !carry.isEmpty || dropped > 0 {
            let (last, cut) = (carry, dropped)
            (carry, dropped) = ([], 0)
            try last.withUnsafeBytes { try line(cut > 0 ? $0 : Self.trimCR($0), cut) }
        }
        if let process {
            process.waitUntilExit()
            if process.terminationStatus != 0 {
                throw StoreError("cannot decompress \(name): gzip exited with status \(process.terminationStatus)")
            }
        }
    }

    /// Cuts `buf` into lines, prefixing what was left of the previous chunk; keeps the unfinished tail.
    private func split(_ buf: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        var start = 0
        let n = buf.count
        if !carry.isEmpty || dropped > 0 {
            guard let nl = memchrIndex(buf, from: 0) else {
                keep(buf[0..<n])
                return
            }
            keep(buf[0..<nl])
            let (joined, cut) = (carry, dropped)
            (carry, dropped) = ([], 0)
            try joined.withUnsafeBytes { try body(cut > 0 ? $0 : Self.trimCR($0), cut) }
            start = nl + 1
        }
        while start < n {
            guard let nl = memchrIndex(buf, from: start) else {
                keep(buf[start..<n])
                return
            }
            if nl - start > lineLimit {
                try body(UnsafeRawBufferPointer(rebasing: buf[start..<(start + lineLimit)]), nl - start - lineLimit)
            } else {
                try body(Self.trimCR(UnsafeRawBufferPointer(rebasing: buf[start..<nl])), 0)
            }
            start = nl + 1
        }
    }

    /// Adds to the unfinished line, up to `maxLineBytes`; the rest is only counted.
    private func keep(_ part: UnsafeRawBufferPointer.SubSequence) {
        let room = max(0, lineLimit - carry.count)
        carry.appendRaw(UnsafeRawBufferPointer(rebasing: part.prefix(room)))
        dropped += max(0, part.count - room)
    }

    private func memchrIndex(_ buf: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let base = buf.baseAddress, from < buf.count,
            let p = memchr(base + from, 0x0A, buf.count - from)
        else { return nil }
        return base.distance(to: UnsafeRawPointer(p))
    }

    static func trimCR(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = line.last, last == 0x0D { return UnsafeRawBufferPointer(rebasing: line[0..<(line.count - 1)]) }
        return line
    }
}
