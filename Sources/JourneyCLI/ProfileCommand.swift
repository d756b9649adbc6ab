import ArgumentParser
import Foundation
import Journey

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Show a person: display id, all user and anonymous ids, first and last seen, events, merges.",
        discussion: "ID is any of the person's ids (a userId or an anonymousId). Exits 1 when no person has it.")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "A userId or anonymousId of the person.") var id: String
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        guard let p = try store.person(for: id) else {
            printError("no person with id \(id)")
            throw ExitCode.failure
        }
        switch format {
        case .json, .ndjson: print(personJSON(p, withMerges: true).string)
        default:
            print("person         #\(p.person)")
            print("display id     \(p.displayId)")
            print("user ids       \(p.userIds.isEmpty ? "-" : p.userIds.joined(separator: ", "))")
            print("anonymous ids  \(p.anonymousIds.isEmpty ? "-" : p.anonymousIds.joined(separator: ", "))")
            print("first seen     \(isoTime(p.firstSeen))")
            print("last seen      \(isoTime(p.lastSeen))")
            print("events         \(p.eventCount)")
            print("merges         \(p.mergeCount)")
            for m in p.merges {
                print("  \(isoTime(m.time))  position \(m.position)  person #\(m.absorbed) merged into #\(m.survivor)")
            }
        }
    }
}

/// A person as a JSON object (profile, persons).
func personJSON(_ p: PersonSummary, withMerges: Bool) -> OrderedJSON {
    var o = OrderedJSON()
    o.add("person", Int(p.person))
    o.add("display_id", p.displayId)
    o.add("user_ids", p.userIds.map { $0 as Any? })
    o.add("anonymous_ids", p.anonymousIds.map { $0 as Any? })
    o.add("first_seen", isoTime(p.firstSeen))
    o.add("last_seen", isoTime(p.lastSeen))
    o.add("events", p.eventCount)
    o.add("merge_count", p.mergeCount)
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
    return o
}
