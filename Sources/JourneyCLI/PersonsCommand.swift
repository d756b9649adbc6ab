import ArgumentParser
import Foundation
import Journey

struct PersonsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "persons",
        abstract: "List persons (identity-stitched) in the order they were first logged, optionally filtered.",
        discussion: """
            --where takes FIELD OP VALUE (OP: = != < <= > >=), repeatable (all must hold): a trait by its latest \
            value (plan=pro, traits.plan=pro), or orders, events, tickets, revenue, nps, nps_category, channel, \
            event, display_id (orders>=2, nps<7, channel=email). With --where every person's profile is computed.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var timeTravel: TimeTravelOptions
    @Option(name: .customLong("where"), help: "A condition on the profile, e.g. plan=pro or orders>=2 (repeatable).")
    var conditions: [String] = []
    @Option(help: "At most this many.") var limit: Int = 20
    @Option(help: "Start after this person number.") var after: UInt32 = 0
    @Option(help: "table, json or ndjson") var format: OutputFormat = .table

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be ≥ 0") }
        for c in conditions {
            do { _ = try PersonFilter.parse(c) } catch { throw ValidationError(error.description) }
        }
    }

    func run() throws {
        let filters = try conditions.map { try PersonFilter.parse($0) }
        let store = try timeTravel.open(storeOptions)
        defer { store.close() }
        let persons = try store.profiles(
            where: filters, limit: limit, after: after, asOf: try timeTravel.asOfMillis(),
            asOfPosition: timeTravel.asOfPosition)
        switch format {
        case .json: print(OrderedJSON.encode(persons.map { profileJSON($0, withMerges: false) as Any? }))
        case .ndjson: for p in persons { print(profileJSON(p, withMerges: false).string) }
        default:
            if let label = try timeTravel.label() { print("as of \(label)") }
            // Trait columns: those the filters name, so the table shows why each person matched.
            let traitColumns = filters.compactMap { f -> String? in
                if case .trait(let t) = f.field { return t }
                return nil
            }
            let width = max(10, persons.map(\.displayId.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }
            print(pad("person", 9) + pad("display id", width + 2) + "ids  events  orders  "
                + traitColumns.map { pad($0, max(8, $0.count + 2)) }.joined() + "first seen                last seen")
            for p in persons {
                print(
                    pad("#" + String(p.person), 9) + pad(p.displayId, width + 2)
                        + pad(String(p.userIds.count + p.anonymousIds.count), 5) + pad(String(p.eventCount), 8)
                        + pad(String(p.orders), 8)
                        + traitColumns.map { pad(p.trait($0)?.description ?? "-", max(8, $0.count + 2)) }.joined()
                        + isoTime(p.firstSeen) + "  " + isoTime(p.lastSeen))
            }
            if filters.isEmpty {
                print("\(persons.count) of \(try store.personCount(asOfPosition: timeTravel.asOfPosition)) persons")
            } else {
                print("\(persons.count) persons where \(filters.map(\.description).joined(separator: " and "))"
                    + (persons.count == limit ? " (--limit \(limit) reached)" : ""))
            }
        }
    }
}
