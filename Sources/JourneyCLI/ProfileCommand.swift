import ArgumentParser
import Foundation
import Journey

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Show a customer profile: ids, merges, traits, activity, channels, orders and revenue, NPS, support, last touchpoint.",
        discussion: """
            ID is any of the person's ids (a userId or an anonymousId). Exits 1 when no person has it (or, with \
            --as-of / --as-of-position, had no event by then). Computed from the person's timeline and records at \
            query time, so --as-of gives exactly what the profile was then.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var timeTravel: TimeTravelOptions
    @Argument(help: "A userId or anonymousId of the person.") var id: String
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let store = try timeTravel.open(storeOptions)
        defer { store.close() }
        guard let p = try store.profile(for: id, asOf: try timeTravel.asOfMillis(), asOfPosition: timeTravel.asOfPosition)
        else {
            printError("no person with id \(id)" + ((try? timeTravel.label()).flatMap { $0.map { " (as of \($0))" } } ?? ""))
            throw ExitCode.failure
        }
        // The lifecycle stage history (default stages), as of the same moment.
        let moment = LifecycleMoment(time: try timeTravel.asOfMillis(), position: timeTravel.asOfPosition)
        let history = try store.stageHistory(for: id, at: moment) ?? []
        switch format {
        case .json, .ndjson:
            var o = profileJSON(p, withMerges: true)
            o.add("stage_history", history.map { h -> Any? in
                var j = OrderedJSON()
                j.add("stage", h.stage)
                j.add("entered_at", isoTime(h.enteredAt))
                j.add("event", h.event)
                return j
            })
            print(o.string)
        default:
            printProfileTable(p, asOf: try timeTravel.label())
            if !history.isEmpty {
                print("stage history (default lifecycle stages)")
                for h in history {
                    print("  " + isoTime(h.enteredAt) + "  " + h.stage.padding(toLength: 18, withPad: " ", startingAt: 0) + (h.event.map { "after \($0)" } ?? "after inactivity"))
                }
            }
        }
    }
}

/// A profile as a JSON object (profile, persons): the person keys first, as before profiles existed.
func profileJSON(_ p: CustomerProfile, withMerges: Bool) -> OrderedJSON {
    var o = OrderedJSON()
    o.add("person", Int(p.person))
    o.add("display_id", p.displayId)
    o.add("user_ids", p.userIds.map { $0 as Any? })
    o.add("anonymous_ids", p.anonymousIds.map { $0 as Any? })
    o.add("first_seen", isoTime(p.firstSeen))
    o.add("last_seen", isoTime(p.lastSeen))
    o.add("events", p.eventCount)
    o.add("merge_count", p.merges.count)
    if withMerges {
        o.add("merges", p.merges.map { m -> Any? in
            var j = OrderedJSON()
            j.add("time", isoTime(m.time))
            j.add("position", m.position)
            j.add("survivor", Int(m.survivor))
            j.add("absorbed", Int(m.absorbed))
            return j
        })
    }
    var traits = OrderedJSON()
    for t in p.traits { traits.add(t.name, RawJSON(text: t.value.jsonText)) }
    o.add("traits", traits)
    o.add("events_by_name", counts(p.eventsByName))
    o.add("channels", counts(p.channels))
    o.add("orders", p.orders)
    o.add("revenue", p.revenue.map { r -> Any? in
        var j = OrderedJSON()
        j.add("currency", r.currency)
        j.add("orders", r.orders)
        j.add("total", RawJSON(text: r.total))
        return j
    })
    if let n = p.nps {
        var j = OrderedJSON()
        j.add("score", n.score)
        j.add("category", n.category?.rawValue)
        j.add("time", isoTime(n.time))
        o.add("nps", j)
    } else {
        o.add("nps", nil)
    }
    o.add("support_tickets", p.supportTickets)
    o.add("last_ticket_topic", p.lastTicketTopic)
    if let t = p.lastTouchpoint {
        var j = OrderedJSON()
        j.add("event", t.event)
        j.add("channel", t.channel)
        j.add("time", isoTime(t.time))
        j.add("position", t.position)
        o.add("last_touchpoint", j)
    } else {
        o.add("last_touchpoint", nil)
    }
    if let t = p.asOf { o.add("as_of", isoTime(t)) }
    if let n = p.asOfPosition { o.add("as_of_position", n) }
    return o
}

/// Name → count, most frequent first (the order the profile keeps).
private func counts(_ list: [ProfileCount]) -> OrderedJSON {
    var j = OrderedJSON()
    for c in list { j.add(c.name, c.count) }
    return j
}

private func printProfileTable(_ p: CustomerProfile, asOf: String?) {
    func row(_ label: String, _ value: String) { print(label.padding(toLength: 15, withPad: " ", startingAt: 0) + value) }
    func list(_ items: [ProfileCount]) -> String { items.isEmpty ? "-" : items.map { "\($0.name) \($0.count)" }.joined(separator: ", ") }
    row("person", "#\(p.person)")
    if let asOf { row("as of", asOf) }
    row("display id", p.displayId)
    row("user ids", p.userIds.isEmpty ? "-" : p.userIds.joined(separator: ", "))
    row("anonymous ids", p.anonymousIds.isEmpty ? "-" : p.anonymousIds.joined(separator: ", "))
    row("merges", String(p.merges.count))
    for m in p.merges {
        print("  \(isoTime(m.time))  position \(m.position)  person #\(m.absorbed) merged into #\(m.survivor)")
    }
    row("first seen", isoTime(p.firstSeen))
    row("last seen", isoTime(p.lastSeen))
    row("events", "\(p.eventCount): " + list(p.eventsByName))
    row("channels", list(p.channels))
    row("traits", p.traits.isEmpty ? "-" : "")
    let width = p.traits.map(\.name.count).max() ?? 0
    for t in p.traits {
        print("  " + t.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + t.value.description + "  (set \(isoTime(t.time)))")
    }
    let revenue = p.revenue.map { "\($0.currency ?? "no currency") \($0.total)" }.joined(separator: ", ")
    row("orders", p.orders == 0 ? "0" : "\(p.orders), revenue \(revenue)")
    if let n = p.nps {
        let score = n.score == n.score.rounded() ? String(Int(n.score)) : String(n.score)
        row("nps", "\(score) (\(n.category?.rawValue ?? "out of range")), \(isoTime(n.time))")
    } else {
        row("nps", "-")
    }
    row("support", p.supportTickets == 0 ? "0 tickets" : "\(p.supportTickets) ticket\(p.supportTickets == 1 ? "" : "s"), last topic \(p.lastTicketTopic ?? "-")")
    if let t = p.lastTouchpoint {
        row("last touch", "\(t.event) on \(t.channel ?? "no channel"), \(isoTime(t.time)) (position \(t.position))")
    }
}
