import ArgumentParser
import Foundation
import Journey

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Print the log as Segment NDJSON, as it was accepted, in position order.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "First position.") var from: UInt64 = 1
    @Option(help: "Last position.") var to: UInt64?

    func run() throws {
        if let to, to < from { throw ValidationError("--from \(from) is after --to \(to): no position lies between") }
        let store = try storeOptions.open(.readOnly)
        let out = FileHandle.standardOutput
        try store.export(from: from, to: to ?? .max) { chunk in out.write(Data(chunk)) }
    }
}

struct RejectedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejected",
        abstract: "List rejected messages with source, line and reason; `--format ndjson` gives the raw lines to fix.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table
    @Option(help: "At most this many.") var limit: Int?

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        let rejected = try store.rejected(limit: limit ?? .max)
        func object(_ r: RejectedMessage) -> OrderedJSON {
            var o = OrderedJSON()
            o.add("source", r.source)
            o.add("line", r.line)
            o.add("reason", r.reason)
            o.add("time", isoTime(r.time))
            o.add("raw", r.raw)
            return o
        }
        switch format {
        case .json: print(OrderedJSON.encode(rejected.map { object($0) as Any? }))
        case .ndjson: for r in rejected { print(object(r).string) }
        default:
            if rejected.isEmpty { print("no rejected messages") }
            for r in rejected {
                print("\(r.source):\(r.line)  \(r.reason)")
                print("    \(r.raw.prefix(160))")
            }
        }
    }
}

func isoTime(_ millis: Int64) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}
