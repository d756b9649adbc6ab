import ArgumentParser
import Foundation
import Journey

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import Segment NDJSON files (`-` for standard input, `.gz` accepted).",
        discussion: """
            Streams with constant memory. Re-importing a file stores nothing twice (idempotent by messageId).
            Rejected lines are reported with file, line and field, and kept: see `journey rejected`.
            Exits 65 when some lines were rejected (the rest is imported).
            Commits are not fsynced one by one; the store is synced once at the end. A killed import keeps what it
            committed, and importing the same file again completes it without duplicates.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "NDJSON files; - reads standard input.") var files: [String]
    @Option(help: "table or json") var format: OutputFormat = .table
    @Flag(help: "No progress bar.") var quiet = false
    @Flag(help: "Validate only: report what would be accepted and rejected, store nothing.") var dryRun = false
    @Option(help: "Messages per transaction (smaller: each commit is visible sooner and holds less memory).")
    var batchSize = 262_144

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one FILE (or - for standard input)") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let store = try storeOptions.open(.readWrite)
        let showProgress = !quiet && isTerminal(2)
        let bar = ProgressBar()
        var progress: (@Sendable (ImportProgress) -> Void)? = nil
        if showProgress { progress = { @Sendable p in bar.draw(p) } }
        var importer = Importer(store: store)
        importer.dryRun = dryRun
        importer.batchSize = batchSize
        let summary = try importer.run(files, progress: progress)
        if showProgress { bar.finish() }
        store.close()
        for r in summary.firstRejections {
            printError("\(r.source):\(r.line): rejected: \(r.reason)")
        }
        if summary.rejected > summary.firstRejections.count {
            printError("… and \(summary.rejected - summary.firstRejections.count) more rejected lines (see `journey rejected`)")
        }
        let rate = summary.seconds > 0 ? Double(summary.lines) / summary.seconds : 0
        if format == .json || format == .ndjson {
            var o = OrderedJSON()
            o.add("lines", summary.lines)
            o.add("accepted", summary.accepted)
            o.add("duplicates", summary.duplicates)
            o.add("rejected", summary.rejected)
            o.add("seconds", (summary.seconds * 1000).rounded() / 1000)
            o.add("lines_per_second", rate.rounded())
            o.add("bytes", summary.bytes)
            print(o.string)
        } else {
            print("imported \(summary.lines) lines in \(String(format: "%.2f", summary.seconds)) s (\(Int(rate)) lines/s): \(summary.accepted) accepted, \(summary.duplicates) duplicates, \(summary.rejected) rejected")
        }
        if summary.rejected > 0 { throw ExitCode(65) }
    }
}

/// A one-line progress bar on standard error: bytes read, rate and time left.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()

    func draw(_ p: ImportProgress) {
        lock.lock()
        defer { lock.unlock() }
        let rate = p.seconds > 0 ? Double(p.lines) / p.seconds : 0
        var line = ""
        if let total = p.totalBytes, total > 0 {
            let f = min(1, Double(p.bytesRead) / Double(total))
            let width = 30
            let filled = Int(f * Double(width))
            let eta = f > 0 ? p.seconds * (1 - f) / f : 0
            line = "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
                + String(format: "%3.0f%% ", f * 100) + "\(p.lines) lines, \(Int(rate)) lines/s, ETA \(Int(eta.rounded())) s"
        } else {
            line = "\(p.lines) lines, \(formatBytes(p.bytesRead)), \(Int(rate)) lines/s"
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
