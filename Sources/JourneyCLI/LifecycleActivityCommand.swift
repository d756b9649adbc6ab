import ArgumentParser
import Dispatch
import Foundation
import Journey

struct LifecycleActivityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activity",
        abstract: "Activity lifecycle of one event: new, returning, resurrecting and dormant persons per period.",
        discussion: """
            PostHog's definitions (semantics §4): new = active in P and first seen in P; returning = active in P and
            P−1; resurrecting = active in P, not in P−1, not new; dormant = active in P−1, not in P (negative).
            Periods are calendar days, ISO weeks (Monday) or months in --tz, zero-filled, DST-safe.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The event that makes a person active.") var event: String
    @Option(help: "day, week or month") var interval: String = "week"
    @Option(help: "IANA time zone of the periods.") var tz: String = "UTC"
    @Option(help: "Start (2026-01-01 or RFC 3339).") var from: String
    @Option(help: "End, exclusive.") var to: String
    @Option(help: "table, json or csv") var format: OutputFormat = .table

    func run() throws {
        guard let period = PeriodInterval(rawValue: interval) else { throw ValidationError("--interval must be day, week or month") }
        let lo = try parseTime(from, option: "--from")
        let hi = try parseTime(to, option: "--to")
        let store = try storeOptions.open(.readOnly)
        let start = DispatchTime.now().uptimeNanoseconds
        let r: ActivityLifecycle
        do {
            r = try store.activityLifecycle(event: event, interval: period, timeZone: tz, from: lo, to: hi)
        } catch let e as QueryError {
            throw ValidationError(e.description)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            o.add("event", r.event)
            o.add("interval", r.interval.rawValue)
            o.add("tz", r.timeZone)
            o.add("periods", r.periods.map { p -> Any? in
                var j = OrderedJSON()
                j.add("period", p.label)
                j.add("start", TimeText.format(p.start))
                j.add("new", p.new)
                j.add("returning", p.returning)
                j.add("resurrecting", p.resurrecting)
                j.add("dormant", p.dormant)
                return j
            })
            print(o.string)
        case .csv:
            print("period,start,new,returning,resurrecting,dormant")
            for p in r.periods { print("\(p.label),\(TimeText.format(p.start)),\(p.new),\(p.returning),\(p.resurrecting),\(p.dormant)") }
        default:
            print("activity lifecycle of \"\(r.event)\" per \(r.interval.rawValue) in \(r.timeZone)")
            let top = Double(max(1, r.periods.map { max($0.new + $0.returning + $0.resurrecting, -$0.dormant) }.max() ?? 1))
            print(Report.pad("period", 11) + "      new  returning  resurrecting  dormant")
            for p in r.periods {
                let up = p.new + p.returning + p.resurrecting
                print(Report.pad(p.label, 11) + Report.lpad(String(p.new), 9) + Report.lpad(String(p.returning), 11)
                    + Report.lpad(String(p.resurrecting), 14) + Report.lpad(String(p.dormant), 9) + "  "
                    + Report.bar(Double(-p.dormant) / top, width: 12).reversed().map(String.init).joined().replacingOccurrences(of: "·", with: " ")
                    + "|" + Report.bar(Double(up) / top, width: 12).replacingOccurrences(of: "·", with: " "))
            }
            print(String(format: "(%.2f s)", seconds))
        }
    }
}
