import ArgumentParser
import Foundation
import Journey

struct LifecyclePersonsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "persons", abstract: "The persons in a stage as of a moment, with when they entered it.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var definition: LifecycleDefinitionArguments
    @OptionGroup var moment: LifecycleMomentArguments
    @Option(help: "The stage (a name from the definition).") var stage: String
    @Option(help: "At most this many (lowest person numbers first).") var limit: Int = 20
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be ≥ 0") }
    }

    func run() throws {
        let d = try definition.load()
        guard d.index(ofStage: stage) != nil else {
            throw ValidationError("--stage: \"\(stage)\" is not a stage (\(d.stages.map(\.name).joined(separator: ", ")))")
        }
        let store = try storeOptions.open(moment.storeMode)
        let r = try store.lifecyclePersons(d, stage: stage, at: try moment.moment(), limit: limit)
        func json(_ p: LifecyclePerson) -> OrderedJSON {
            var j = OrderedJSON()
            j.add("person", p.person)
            j.add("id", p.displayId)
            j.add("stage", p.stage)
            j.add("since", TimeText.format(p.since))
            j.add("last_activity", TimeText.format(p.lastActivity))
            j.add("orders", p.orders)
            j.add("nps", p.npsScore)
            return j
        }
        switch format {
        case .json:
            var o = OrderedJSON()
            o.add("as_of", TimeText.format(r.asOf))
            o.add("stage", r.stage)
            o.add("total", r.total)
            o.add("persons", r.persons.map { json($0) as Any? })
            print(o.string)
        case .ndjson: for p in r.persons { print(json(p).string) }
        default:
            print("\(r.total) persons in \"\(r.stage)\" as of \(TimeText.format(r.asOf))")
            let width = max(10, r.persons.map(\.displayId.count).max() ?? 0)
            print(Report.pad("id", width + 1) + "in stage since     last activity     orders  nps")
            for p in r.persons {
                print(Report.pad(p.displayId, width + 1) + Report.pad(Report.time(p.since), 19) + Report.pad(Report.time(p.lastActivity), 18)
                    + Report.pad(String(p.orders), 8) + (p.npsScore.map { String(format: "%g", $0) } ?? "-"))
            }
        }
    }
}

struct LifecycleDurationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "durations",
        abstract: "Time spent per stage: median days of completed stints, from every person's stage history.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var definition: LifecycleDefinitionArguments
    @OptionGroup var moment: LifecycleMomentArguments
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let d = try definition.load()
        let store = try storeOptions.open(moment.storeMode)
        let rows = try store.lifecycleDurations(d, at: try moment.moment())
        switch format {
        case .json, .ndjson:
            print(OrderedJSON.encode(rows.map { r -> Any? in
                var j = OrderedJSON()
                j.add("stage", r.stage)
                j.add("completed_stints", r.completed)
                j.add("median_days", r.medianDays.map { Report.round($0, 100) })
                j.add("in_stage_now", r.ongoing)
                return j
            }))
        default:
            let width = max(16, rows.map(\.stage.count).max() ?? 0)
            print(Report.pad("stage", width) + "  median days  completed stints  in stage now")
            for r in rows {
                print(Report.pad(r.stage, width) + Report.lpad(r.medianDays.map { String(format: "%.1f", $0) } ?? "-", 13)
                    + Report.lpad(String(r.completed), 18) + Report.lpad(String(r.ongoing), 14))
            }
        }
    }
}

struct LifecycleHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "A person's stage history: each stage they entered, when, and what moved them.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var definition: LifecycleDefinitionArguments
    @OptionGroup var moment: LifecycleMomentArguments
    @Argument(help: "A userId or anonymous id of the person.") var id: String
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let d = try definition.load()
        let store = try storeOptions.open(moment.storeMode)
        guard let history = try store.stageHistory(for: id, definition: d, at: try moment.moment()) else {
            printError("Error: no person has the id \(id)")
            throw ExitCode.failure
        }
        switch format {
        case .json, .ndjson:
            print(OrderedJSON.encode(history.map { h -> Any? in
                var j = OrderedJSON()
                j.add("stage", h.stage)
                j.add("entered_at", TimeText.format(h.enteredAt))
                j.add("event", h.event)
                return j
            }))
        default:
            for h in history {
                print(TimeText.format(h.enteredAt) + "  " + Report.pad(h.stage, 18) + (h.event.map { "after \($0)" } ?? "(time passed)"))
            }
        }
    }
}
