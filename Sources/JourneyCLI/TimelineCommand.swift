import ArgumentParser
import Foundation
import Journey

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Print a person's journey: their events by event time, with channels, across all their ids.",
        discussion: "ID is any of the person's ids. Exits 1 when no person has it.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var timeTravel: TimeTravelOptions
    @Argument(help: "A userId or anonymousId of the person.") var id: String
    @Option(help: "At most this many events.") var limit: Int?
    @Flag(help: "Newest events first.") var newestFirst = false
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be ≥ 0") }
    }

    func run() throws {
        let store = try timeTravel.open(storeOptions)
        defer { store.close() }
        guard let entries = try store.timeline(
            for: id, limit: limit ?? .max, newestFirst: newestFirst, asOf: try timeTravel.asOfMillis(),
            asOfPosition: timeTravel.asOfPosition)
        else {
            printError("no person with id \(id)" + ((try? timeTravel.label()).flatMap { $0.map { " (as of \($0))" } } ?? ""))
            throw ExitCode.failure
        }
        func object(_ e: TimelineEntry) -> OrderedJSON {
            var o = OrderedJSON()
            o.add("time", isoTime(e.time))
            o.add("event", e.name)
            o.add("channel", e.channel)
            o.add("position", e.position)
            return o
        }
        switch format {
        case .json: print(OrderedJSON.encode(entries.map { object($0) as Any? }))
        case .ndjson: for e in entries { print(object(e).string) }
        default:
            let width = max(5, entries.map(\.name.count).max() ?? 0)
            let cw = max(7, entries.map { $0.channel?.count ?? 1 }.max() ?? 0)
            print("time".padding(toLength: 26, withPad: " ", startingAt: 0) + "event".padding(toLength: width + 2, withPad: " ", startingAt: 0)
                + "channel".padding(toLength: cw + 2, withPad: " ", startingAt: 0) + "position")
            for e in entries {
                print(
                    isoTime(e.time) + "  " + e.name.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                        + (e.channel ?? "-").padding(toLength: cw + 2, withPad: " ", startingAt: 0) + String(e.position))
            }
        }
    }
}
