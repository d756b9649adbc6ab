import ArgumentParser
import Foundation
import Journey

struct PersonsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "persons", abstract: "List persons (identity-stitched) in the order they were first logged.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "At most this many.") var limit: Int = 20
    @Option(help: "Start after this person number.") var after: UInt32 = 0
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be ≥ 0") }
    }

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        let persons = try store.persons(limit: limit, after: after)
        switch format {
        case .json: print(OrderedJSON.encode(persons.map { personJSON($0, withMerges: false) as Any? }))
        case .ndjson: for p in persons { print(personJSON(p, withMerges: false).string) }
        default:
            let total = try store.personCount()
            let width = max(10, persons.map(\.displayId.count).max() ?? 0)
            print("person".padding(toLength: 9, withPad: " ", startingAt: 0) + "display id".padding(toLength: width + 2, withPad: " ", startingAt: 0)
                + "ids  events  merges  first seen                last seen")
            for p in persons {
                print(
                    ("#" + String(p.person)).padding(toLength: 9, withPad: " ", startingAt: 0)
                        + p.displayId.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                        + String(p.userIds.count + p.anonymousIds.count).padding(toLength: 5, withPad: " ", startingAt: 0)
                        + String(p.eventCount).padding(toLength: 8, withPad: " ", startingAt: 0)
                        + String(p.mergeCount).padding(toLength: 8, withPad: " ", startingAt: 0)
                        + isoTime(p.firstSeen) + "  " + isoTime(p.lastSeen))
            }
            print("\(persons.count) of \(total) persons")
        }
    }
}
