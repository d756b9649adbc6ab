import ArgumentParser
import Dispatch
import Foundation
import Journey

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate journeys, import them into a demo store, and show what is there.")

    @Argument(help: "Directory for the demo (default: ./journey-demo).") var directory: String = "journey-demo"
    @Option(help: "Customers to generate.") var customers: Int = 20_000
    @Option(help: "Random seed.") var seed: UInt64 = 42

    func run() throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard fm.isWritableFile(atPath: directory) else { throw CocoaError(.fileWriteNoPermission) }
        } catch {
            printError("Error: cannot create the demo directory \(directory): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let file = directory + "/events.ndjson"
        let storePath = directory + "/store"
        print("== generating \(customers) customers' journeys (seed \(seed)) into \(file)")
        var generator = JourneyGenerator(options: GeneratorOptions(customers: customers, seed: seed, duplicates: 0.01, broken: 0.001))
        var data = Data()
        let summary = generator.generate { data.append(contentsOf: $0); data.append(0x0A) }
        try data.write(to: URL(fileURLWithPath: file))
        print("   \(summary.lines) lines, \(formatBytes(data.count))")
        if fm.fileExists(atPath: storePath) { try fm.removeItem(atPath: storePath) }
        print("\n== journey --store \(storePath) import \(file)")
        let store = try JourneyStore(path: storePath)
        let imported = try Importer(store: store).run([file])
        print("   \(imported.lines) lines in \(String(format: "%.2f", imported.seconds)) s: \(imported.accepted) accepted, \(imported.duplicates) duplicates, \(imported.rejected) rejected")
        for r in imported.firstRejections.prefix(3) { print("   rejected \(r.source):\(r.line): \(r.reason)") }
        print("\n== journey --store \(storePath) status")
        let s = try store.status()
        print("   \(s.events) events, last position \(s.lastPosition), \(formatBytes(s.bytes)) (\(String(format: "%.1f", Double(s.bytes) / Double(max(1, s.events)))) bytes/event)")
        for (name, n) in s.eventsByName.sorted(by: { $0.value > $1.value }) {
            print("   " + name.padding(toLength: 24, withPad: " ", startingAt: 0) + String(n))
        }
        print("\n== the first events: journey --store \(storePath) export --to 3")
        for e in try store.events(from: 1, limit: 3) { print("   " + e.json) }
        // A customer who browsed anonymously, then identified: the stitched person and their journey.
        if let person = try store.persons(limit: 2_000).first(where: { $0.anonymousIds.count >= 2 && !$0.userIds.isEmpty }) {
            print("\n== journey --store \(storePath) profile \(person.displayId)")
            print("   person \(person.displayId): user ids \(person.userIds.joined(separator: ", ")); anonymous ids \(person.anonymousIds.joined(separator: ", "))")
            print("   \(person.eventCount) events, \(person.mergeCount) merges, first seen \(isoTime(person.firstSeen)), last seen \(isoTime(person.lastSeen))")
            print("\n== journey --store \(storePath) timeline \(person.displayId) --limit 8")
            for t in try store.timeline(for: person.displayId, limit: 8) ?? [] {
                print("   \(isoTime(t.time))  \(t.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(t.channel ?? "-")")
            }
        }
        print("\n   \(try store.personCount()) persons after identity stitching")
        try showFunnel(store, storePath: storePath)
        try showLifecycle(store, storePath: storePath)
        store.close()
        print("\nTry: journey --store \(storePath) status | export | rejected | persons | profile ID | timeline ID | verify")
        print("     journey --store \(storePath) funnel --steps \"Product Viewed,Order Completed\" --breakdown channel")
        print("     journey --store \(storePath) lifecycle | lifecycle transitions --from T1 --to T2 | lifecycle activity --event E | nps | alerts")
    }

    /// The checkout funnel and its abandoned checkouts: who dropped off, and what they did and said last.
    private func showFunnel(_ store: JourneyStore, storePath: String) throws {
        let steps = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
        print("\n== journey --store \(storePath) funnel --steps \"\(steps.joined(separator: ","))\" --window 7d")
        let definition = try FunnelDefinition(steps: steps.map { FunnelStep(events: [$0]) })
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try store.funnel(definition)
        FunnelOutput.print(result, definition: definition, format: .table, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        print("\n== journey --store \(storePath) abandoned --steps \"\(steps.joined(separator: ","))\" --at-step 3 --limit 5")
        for p in try store.abandoned(definition, atStep: 3, limit: 5) {
            let nps = p.npsScore.map { ", NPS \(Int($0)) (\(npsCategory($0)))" } ?? ""
            let tickets = p.ticketsSince > 0 ? ", \(p.ticketsSince) ticket(s) since" + (p.lastTicketTopic.map { " (\($0))" } ?? "") : ""
            print("   \(p.displayId): checkout \(Report.time(p.reachedAt)); last \(p.lastEvent) (\(p.lastChannel ?? "-")) \(Report.time(p.lastTime))\(nps)\(tickets)")
        }
    }
}
