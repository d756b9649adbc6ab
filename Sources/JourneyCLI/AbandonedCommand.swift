import ArgumentParser
import Foundation
import Journey

/// `journey abandoned`: who dropped off at a step, and what they did and said last.
struct AbandonedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abandoned",
        abstract: "Persons whose best attempt reached step K but not K+1 (cart and checkout abandonment), newest first.",
        discussion: """
            Each person comes with when they reached step K, their last touchpoint (event, channel, time), their latest
            NPS answer and the support tickets they opened since. Example:
              journey abandoned --steps "Product Added,Checkout Started,Order Completed" --at-step 2
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var funnel: FunnelArguments
    @Option(name: .customLong("definition"), help: "A funnel definition file (schemas/funnel.schema.json) instead of --steps.")
    var definitionFile: String?
    @Option(name: .customLong("at-step"), help: "The step they reached and stopped at (1-based, before the last).")
    var atStep: Int
    @Option(help: "At most this many persons.") var limit: Int = 20
    @Option(help: "Entry range start (step 1 at or after this time).") var from: String?
    @Option(help: "Entry range end (exclusive).") var to: String?
    @Option(name: .customLong("as-of"), help: "Only events with event time at or before this time.") var asOf: String?
    @Option(name: .customLong("as-of-position"), help: "Only what the log held up to this position, identity included.")
    var asOfPosition: UInt64?
    @Option(help: "table, json, ndjson or csv.") var format: OutputFormat = .table

    func run() throws {
        let definition = try asUsageError { try definitionFile.map { try loadDefinition($0) } ?? funnel.definition() }
        var options = FunnelOptions()
        try asUsageError {
            options.from = try from.map { try TimeText.millis($0, option: "--from") }
            options.to = try to.map { try TimeText.millis($0, option: "--to") }
            options.asOf = try asOf.map { try TimeText.millis($0, option: "--as-of") }
        }
        options.asOfPosition = asOfPosition
        let store = try TimeTravelOptions.open(storeOptions, asOfPosition: asOfPosition)
        let persons = try store.abandoned(definition, atStep: atStep, options: options, limit: limit)
        func object(_ p: AbandonedPerson) -> OrderedJSON {
            var o = OrderedJSON()
            o.add("person", p.displayId)
            o.add("reached_step", atStep)
            o.add("reached_at", isoTime(p.reachedAt))
            o.add("last_event", p.lastEvent)
            o.add("last_channel", p.lastChannel)
            o.add("last_time", isoTime(p.lastTime))
            o.add("nps_score", p.npsScore)
            o.add("nps_category", p.npsScore.map(npsCategory))
            o.add("tickets_since", p.ticketsSince)
            o.add("last_ticket_topic", p.lastTicketTopic)
            return o
        }
        switch format {
        case .json: print(OrderedJSON.encode(persons.map { object($0) as Any? }))
        case .ndjson: for p in persons { print(object(p).string) }
        case .csv:
            print("person,reached_at,last_event,last_channel,last_time,nps_score,tickets_since,last_ticket_topic")
            for p in persons {
                print([FunnelOutput.csvField(p.displayId), isoTime(p.reachedAt), FunnelOutput.csvField(p.lastEvent), p.lastChannel ?? "",
                       isoTime(p.lastTime), p.npsScore.map { String(Int($0)) } ?? "", String(p.ticketsSince),
                       FunnelOutput.csvField(p.lastTicketTopic ?? "")].joined(separator: ","))
            }
        case .table:
            let stepName = definition.steps[atStep - 1].label
            let next = definition.steps[atStep].label
            print("Reached \"\(stepName)\" but not \"\(next)\" (\(persons.count) shown, newest first)\n")
            let width = max(12, persons.map(\.displayId.count).max() ?? 0)
            print(Report.pad("person", width) + " reached at                last touchpoint                                       NPS            tickets since")
            for p in persons {
                let touch = "\(p.lastEvent) (\(p.lastChannel ?? "-")) \(Report.time(p.lastTime))"
                let nps = p.npsScore.map { "\(Int($0)) \(npsCategory($0))" } ?? "-"
                let tickets = p.ticketsSince == 0 ? "-" : "\(p.ticketsSince)" + (p.lastTicketTopic.map { " (\($0))" } ?? "")
                print(Report.pad(p.displayId, width) + " " + Report.pad(Report.time(p.reachedAt), 25)
                    + Report.pad(touch, 54) + Report.pad(nps, 15) + tickets)
            }
        }
    }
}

/// Semantics §5: promoters 9–10, passives 7–8, detractors 0–6 (a score outside 0–10: "invalid").
func npsCategory(_ score: Double) -> String { NPSCategory(score: score)?.rawValue ?? "invalid" }


/// Reads a funnel definition file, errors naming the file and the failing path.
func loadDefinition(_ path: String) throws -> FunnelDefinition {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read the file") }
    return try FunnelDefinition.load(json: [UInt8](data), source: path)
}
