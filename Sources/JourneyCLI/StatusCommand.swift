import ArgumentParser
import Foundation
import Journey

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "What the store holds: events, last position, events by name, size.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "table or json") var format: OutputFormat = .table

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        let s = try store.status()
        let persons = try store.personCount()
        let projections = try store.projectionStatus()
        let free = try store.freeBytes()
        let projectionBytes = try store.projectionBytes()
        let logBytes = max(0, s.bytes - free - projectionBytes)
        func perEvent(_ n: Int) -> Double { s.events > 0 ? Double(n) / Double(s.events) : 0 }
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("store", store.path)
            o.add("events", s.events)
            o.add("last_position", s.lastPosition)
            o.add("events_by_name", s.eventsByName)
            o.add("rejected", s.rejected)
            o.add("bytes", s.bytes)
            o.add("bytes_per_event", perEvent(s.bytes))
            o.add("free_bytes", free)
            o.add("log_bytes", logBytes)
            o.add("projection_bytes", projectionBytes)
            o.add("persons", persons)
            o.add("projections", projections.map { p -> Any? in
                var j = OrderedJSON()
                j.add("name", p.name)
                j.add("version", p.version)
                j.add("checkpoint", p.checkpoint)
                j.add("lag", p.lag)
                return j
            })
            print(o.string)
        default:
            print("store          \(store.path)")
            print("events         \(s.events)")
            print("last position  \(s.lastPosition)")
            print("rejected       \(s.rejected)")
            print("persons        \(persons)")
            for p in projections {
                print("projection     \(p.name) v\(p.version), checkpoint \(p.checkpoint), lag \(p.lag)")
            }
            print("size           \(formatBytes(s.bytes))" + (s.events > 0 ? String(format: " (%.1f bytes/event)", perEvent(s.bytes)) : ""))
            print("  log          \(formatBytes(logBytes))" + String(format: " (%.1f bytes/event: records, messageId index, symbols)", perEvent(logBytes)))
            print("  projections  \(formatBytes(projectionBytes))" + String(format: " (%.1f bytes/event: persons, ids, timelines, saved funnels)", perEvent(projectionBytes)))
            if free > 0 { print("  free         \(formatBytes(free)) (reused by later writes; `journey compact` drops it)") }
            print("\nevents by name")
            let width = s.eventsByName.keys.map(\.count).max() ?? 0
            for (name, n) in s.eventsByName.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                print("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(n))
            }
        }
    }
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 {
        v /= 1024
        u += 1
    }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
