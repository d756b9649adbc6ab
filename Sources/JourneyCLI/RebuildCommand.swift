import ArgumentParser
import Foundation
import Journey

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the log into a fresh copy of the projections beside the live one, then switch to it atomically.",
        discussion: """
            NAME is identity or timeline (default: all); they are rebuilt together, since the timeline follows \
            identity's merges. Queries keep answering from the live copy meanwhile. The switch is one transaction \
            that also applies whatever was appended during the rebuild. Killed part way, the live projections are \
            untouched and the half-built copy is cleared by the next rebuild or open.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Projections to rebuild: identity, timeline (default: all).") var names: [String] = []
    @Option(help: "table or json") var format: OutputFormat = .table
    @Flag(help: "No progress bar.") var quiet = false
    @Option(help: .hidden) var chunk: UInt64?

    func validate() throws {
        for n in names where !JourneyStore.projectionNames.contains(n) {
            throw ValidationError(
                "there is no projection named \"\(n)\" (projections: \(JourneyStore.projectionNames.joined(separator: ", ")))")
        }
    }

    func run() throws {
        let store = try storeOptions.open(.readWrite)
        defer { store.close() }
        let bar = RebuildProgressBar(enabled: !quiet && isTerminal(2))
        let report = try store.rebuildProjections(names, chunk: chunk) { done, total in bar.draw(done: done, total: total) }
        bar.finish()
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("projections", report.digests.map { d -> Any? in
                var j = OrderedJSON()
                j.add("name", d.name)
                j.add("checkpoint", d.checkpoint)
                j.add("digest", d.hex)
                return j
            })
            o.add("events", report.checkpoint)
            o.add("applied_at_switch", report.appliedAtSwitch)
            o.add("seconds", (report.seconds * 1000).rounded() / 1000)
            o.add("events_per_second", report.eventsPerSecond.rounded())
            print(o.string)
        default:
            for d in report.digests {
                print(d.name.padding(toLength: 10, withPad: " ", startingAt: 0) + "@\(d.checkpoint)  \(d.hex)  live")
            }
            print(String(
                format: "rebuilt %@ from %llu events in %.2f s (%.0f events/s); %llu appended meanwhile, applied at the switch",
                report.projections.joined(separator: " and "), report.checkpoint, report.seconds, report.eventsPerSecond,
                report.appliedAtSwitch))
        }
    }
}

/// One line on standard error: a bar, events replayed, rate and time left (only on a terminal).
final class RebuildProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let start = Date()

    init(enabled: Bool) { self.enabled = enabled }

    func draw(done: UInt64, total: UInt64) {
        guard enabled, total > 0 else { return }
        let seconds = Date().timeIntervalSince(start)
        let f = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(f * Double(width))
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let eta = f > 0 ? seconds * (1 - f) / f : 0
        let line = "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            + String(format: "%3.0f%% ", f * 100) + "\(done) of \(total) events, \(Int(rate)) events/s, ETA \(Int(eta.rounded())) s"
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
