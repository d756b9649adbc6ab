import ArgumentParser
import Foundation
import Journey

/// `journey alerts`: the close-the-loop list (semantics §5).
struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Persons to contact: detractors, and those who abandoned a checkout and then opened a ticket or answered as a detractor.",
        discussion: """
            A checkout is abandoned when no order follows it within 7 days. Newest signal (ticket or answer) first.
            Each row: who, why, since when, their score, ticket topic and last event.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "At most this many.") var limit: Int = 20
    @Option(help: "Only events up to this time.") var asOf: String?
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be ≥ 0") }
    }

    func run() throws {
        var options = AlertOptions()
        options.asOf = try asOf.map { try parseTime($0, option: "--as-of") }
        let store = try storeOptions.open(.readOnly)
        let alerts = try store.alerts(options, limit: limit)
        func reason(_ a: VoiceAlert) -> String {
            var parts: [String] = []
            if a.abandonedCheckoutAt != nil { parts.append("abandoned checkout") }
            if a.detractor { parts.append("detractor") }
            return parts.joined(separator: " + ")
        }
        func json(_ a: VoiceAlert) -> OrderedJSON {
            var j = OrderedJSON()
            j.add("id", a.displayId)
            j.add("reason", reason(a))
            j.add("since", TimeText.format(a.since))
            j.add("signal_at", TimeText.format(a.signalAt))
            j.add("abandoned_checkout_at", a.abandonedCheckoutAt.map(TimeText.format))
            j.add("nps", a.npsScore)
            j.add("ticket_topic", a.ticketTopic)
            j.add("tickets_since", a.ticketsSince)
            j.add("last_event", a.lastEvent)
            j.add("last_channel", a.lastChannel)
            j.add("last_at", TimeText.format(a.lastAt))
            return j
        }
        switch format {
        case .json: print(OrderedJSON.encode(alerts.map { json($0) as Any? }))
        case .ndjson: for a in alerts { print(json(a).string) }
        default:
            let width = max(10, alerts.map(\.displayId.count).max() ?? 0)
            print(Report.pad("id", width + 1) + Report.pad("why", 32) + Report.pad("since", 18) + Report.pad("signal", 18) + "nps  ticket             last event")
            for a in alerts {
                print(Report.pad(a.displayId, width + 1) + Report.pad(reason(a), 32) + Report.pad(Report.time(a.since), 18)
                    + Report.pad(Report.time(a.signalAt), 18) + Report.pad(a.npsScore.map { String(format: "%g", $0) } ?? "-", 5)
                    + Report.pad((a.ticketTopic ?? "-") + (a.ticketsSince > 1 ? " ×\(a.ticketsSince)" : ""), 19)
                    + a.lastEvent + (a.lastChannel.map { " (\($0))" } ?? "") + " " + Report.time(a.lastAt))
            }
            print("\(alerts.count) persons" + (alerts.count == limit ? " (--limit \(limit))" : ""))
        }
    }
}
