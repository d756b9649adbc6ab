import ArgumentParser
import Foundation
import Journey

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Write a compacted copy of the store (no free pages) to a new directory.",
        discussion: """
            An LMDB file never shrinks: pages freed by a rebuild (the old projection set) or by rewritten projection \
            values stay in the file for later writes to reuse (`journey status` shows how much). The copy holds the \
            same events, projections and digests in as few pages as they need. It is one snapshot: appends may go \
            on meanwhile and are not in it. To use it, point --store at DEST (or move it into place while no process \
            has the store open).
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "A new directory for the compacted store.") var destination: String
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        let start = Date()
        let r = try store.compact(to: destination)
        let seconds = Date().timeIntervalSince(start)
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("store", store.path)
            o.add("destination", destination)
            o.add("events", r.events)
            o.add("bytes_before", r.bytesBefore)
            o.add("free_bytes_before", r.freeBytesBefore)
            o.add("bytes_after", r.bytesAfter)
            o.add("seconds", (seconds * 1000).rounded() / 1000)
            print(o.string)
        default:
            let perEvent = { (b: Int) in r.events > 0 ? String(format: " (%.1f bytes/event)", Double(b) / Double(r.events)) : "" }
            print("compacted \(store.path) into \(destination) in \(String(format: "%.2f", seconds)) s")
            print("before  \(formatBytes(r.bytesBefore))\(perEvent(r.bytesBefore)), of which free \(formatBytes(r.freeBytesBefore))")
            print("after   \(formatBytes(r.bytesAfter))\(perEvent(r.bytesAfter))")
        }
    }
}
