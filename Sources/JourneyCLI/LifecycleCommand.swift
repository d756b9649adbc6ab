import ArgumentParser
import Dispatch
import Foundation
import Journey

/// `journey lifecycle …`: customer lifecycle stages (semantics §4); the stage counts are the default subcommand.
struct LifecycleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifecycle",
        abstract: "Customer lifecycle stages: persons per stage, transitions, persons in a stage, time per stage, activity.",
        subcommands: [
            LifecycleCountsCommand.self, LifecycleTransitionsCommand.self, LifecyclePersonsCommand.self,
            LifecycleDurationsCommand.self, LifecycleHistoryCommand.self, LifecycleActivityCommand.self,
        ],
        defaultSubcommand: LifecycleCountsCommand.self)
}

struct LifecycleCountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stages",
        abstract: "Persons per lifecycle stage as of a moment, with share and bars.",
        discussion: """
            Stages are evaluated in definition order, first match wins (schemas/README.md).
            JSON: {"as_of":"…","stages":[{"stage":"customer","persons":…,"share":…},…]}.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var definition: LifecycleDefinitionArguments
    @OptionGroup var moment: LifecycleMomentArguments
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let d = try definition.load()
        let m = try moment.moment()
        let store = try storeOptions.open(moment.storeMode)
        let start = DispatchTime.now().uptimeNanoseconds
        let r = try store.lifecycle(d, at: m)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("as_of", TimeText.format(r.asOf))
            var stages: [Any?] = r.stages.map { s -> Any? in
                var j = OrderedJSON()
                j.add("stage", s.stage)
                j.add("persons", s.persons)
                j.add("share", Report.round(s.share))
                return j
            }
            if r.unmatched > 0 {
                var j = OrderedJSON()
                j.add("stage", "(none)")
                j.add("persons", r.unmatched)
                j.add("share", Report.round(Double(r.unmatched) / Double(max(1, r.persons))))
                stages.append(j)
            }
            o.add("stages", stages)
            print(o.string)
        default:
            print("lifecycle stages as of \(TimeText.format(r.asOf)): \(r.persons) persons")
            var rows = r.stages.map { ($0.stage, $0.persons, $0.share) }
            if r.unmatched > 0 { rows.append(("(none)", r.unmatched, Double(r.unmatched) / Double(max(1, r.persons)))) }
            let width = max(16, rows.map(\.0.count).max() ?? 0)
            let top = Double(max(1, rows.map(\.1).max() ?? 1))
            for (name, persons, share) in rows {
                print("  " + Report.pad(name, width) + Report.lpad(String(persons), 9) + Report.lpad(Report.percent(share), 8)
                    + "  " + Report.bar(Double(persons) / top, width: 40))
            }
            print(String(format: "(%.2f s)", seconds))
        }
    }
}

struct LifecycleTransitionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transitions",
        abstract: "The matrix of stage moves between two moments: forward, back, churned, came back.",
        discussion: """
            Rows: the stage as of --from ("(not yet)": no event by then); columns: the stage as of --to.
            JSON: {"from":…,"to":…,"moves":{"forward":…},"cells":[{"from":…,"to":…,"persons":…,"move":…}]}.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var definition: LifecycleDefinitionArguments
    @Option(help: "The first moment.") var from: String
    @Option(help: "The second moment.") var to: String
    @Flag(help: "List the persons behind each cell.") var persons = false
    @Option(help: "With --persons: at most this many per cell.") var limit: Int = 10
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let d = try definition.load()
        let t1 = try parseTime(from, option: "--from")
        let t2 = try parseTime(to, option: "--to")
        guard t1 < t2 else { throw ValidationError("--from must be before --to") }
        let store = try storeOptions.open(.readOnly)
        let r = try store.lifecycleTransitions(d, from: t1, to: t2, personsPerCell: persons ? max(0, limit) : 0)
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("from", TimeText.format(r.from))
            o.add("to", TimeText.format(r.to))
            var moves = OrderedJSON()
            for m in LifecycleMove.allCases { moves.add(m.rawValue, r.moves[m] ?? 0) }
            o.add("moves", moves)
            o.add("cells", r.cells.map { c -> Any? in
                var j = OrderedJSON()
                j.add("from", c.from)
                j.add("to", c.to)
                j.add("persons", c.persons)
                j.add("move", c.move.rawValue)
                if persons { j.add("person_ids", c.personIds.map { $0 as Any? }) }
                return j
            })
            print(o.string)
        default:
            LifecycleTransitionsTable.print(r, persons: persons)
        }
    }
}

/// The transition matrix as text: rows from, columns to, then the moves summary and (optionally) the persons.
enum LifecycleTransitionsTable {
    static func print(_ r: LifecycleTransitions, persons: Bool) {
        let rows = r.stages + (r.cells.contains { $0.from == "(none)" } ? ["(none)"] : []) + ["(not yet)"]
        let columns = r.stages + (r.cells.contains { $0.to == "(none)" } ? ["(none)"] : [])
        var count: [String: Int] = [:]
        for c in r.cells { count[(c.from ?? "(not yet)") + "→" + c.to] = c.persons }
        Swift.print("stage moves from \(TimeText.format(r.from)) (rows) to \(TimeText.format(r.to)) (columns)")
        let first = max(16, rows.map(\.count).max() ?? 0)
        let width = max(9, (columns.map(\.count).max() ?? 0) + 1)
        Swift.print(Report.pad("", first) + columns.map { Report.lpad($0, width) }.joined())
        for row in rows {
            let cells = columns.map { count[row + "→" + $0] ?? 0 }
            guard cells.contains(where: { $0 > 0 }) else { continue }
            Swift.print(Report.pad(row, first) + cells.map { Report.lpad($0 == 0 ? "·" : String($0), width) }.joined())
        }
        Swift.print("moves: " + LifecycleMove.allCases.map { "\($0.rawValue) \(r.moves[$0] ?? 0)" }.joined(separator: ", "))
        guard persons else { return }
        for c in r.cells where c.move != .stayed && !c.personIds.isEmpty {
            Swift.print("  \(c.from ?? "(not yet)") → \(c.to) (\(c.move.rawValue), \(c.persons)): " + c.personIds.joined(separator: ", ")
                + (c.persons > c.personIds.count ? ", …" : ""))
        }
    }
}
