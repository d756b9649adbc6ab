import ArgumentParser
import Foundation
import Journey

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Rebuild each projection from the log into a scratch copy and compare its digest with the live one.",
        discussion: "Prints each digest with OK or DIFFERENT; exits 1 if any differs. Appends may continue meanwhile.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "table or json") var format: OutputFormat = .table
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        let store = try storeOptions.open(.readWrite)
        defer { store.close() }
        let showProgress = !quiet && isTerminal(2)
        let start = Date()
        let results = try store.verifyProjections { done, total in
            guard showProgress, total > 0 else { return }
            FileHandle.standardError.write(Data("\r\u{1B}[Krebuilding: \(done) of \(total) events".utf8))
        }
        let funnels = try store.verifySavedFunnels()
        let seconds = Date().timeIntervalSince(start)
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let events = results.map(\.rebuilt.checkpoint).max() ?? 0
        let rebuildSeconds = results.first?.rebuildSeconds ?? 0
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("projections", results.map { r -> Any? in
                var j = OrderedJSON()
                j.add("name", r.live.name)
                j.add("checkpoint", r.live.checkpoint)
                j.add("live", r.live.hex)
                j.add("rebuilt", r.rebuilt.hex)
                j.add("ok", r.matches)
                return j
            })
            o.add("funnels", funnels.map { f -> Any? in
                var j = OrderedJSON()
                j.add("name", f.name)
                j.add("persons_per_step", f.maintained.steps.map { $0.persons as Any? })
                j.add("ok", f.matches)
                return j
            })
            o.add("events", events)
            o.add("seconds", (seconds * 1000).rounded() / 1000)
            o.add("rebuild_seconds", (rebuildSeconds * 1000).rounded() / 1000)
            o.add("rebuild_events_per_second", rebuildSeconds > 0 ? (Double(events) / rebuildSeconds).rounded() : 0)
            print(o.string)
        default:
            for r in results {
                print(r.live.name.padding(toLength: 10, withPad: " ", startingAt: 0) + "@\(r.live.checkpoint)  live \(r.live.hex)  rebuilt \(r.rebuilt.hex)  " + (r.matches ? "OK" : "DIFFERENT"))
            }
            for f in funnels {
                print("funnel \(f.name): maintained \(f.maintained.steps.map(\.persons)), recomputed \(f.recomputed.steps.map(\.persons)) " + (f.matches ? "OK" : "DIFFERENT"))
            }
            print(String(format: "rebuilt %d events in %.2f s (%.2f s in all, with digests)", events, rebuildSeconds, seconds))
        }
        if results.contains(where: { !$0.matches }) || funnels.contains(where: { !$0.matches }) { throw ExitCode.failure }
    }
}
