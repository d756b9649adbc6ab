import Foundation
import Journey

/// Renders funnel results: a table with bars (the funnel at a glance), JSON in the documented shape, or CSV.
enum FunnelOutput {
    static func print(_ r: FunnelResult, definition d: FunnelDefinition, format: OutputFormat, seconds: Double) {
        for name in r.unknownEvents { printError("journey: warning: no event named \"\(name)\" in the store") }
        switch format {
        case .json, .ndjson: Swift.print(json(r, definition: d, seconds: seconds).string)
        case .csv: csv(r)
        case .table: table(r, definition: d, seconds: seconds)
        }
    }

    static func stepJSON(_ s: FunnelStepResult) -> OrderedJSON {
        var o = OrderedJSON()
        o.add("step", s.step)
        o.add("name", s.name)
        o.add("persons", s.persons)
        o.add("conversion_from_previous", Report.round(s.conversionFromPrevious))
        o.add("conversion_from_start", Report.round(s.conversionFromStart))
        o.add("drop_off", s.dropOff)
        o.add("median_seconds_from_previous", s.fromPrevious.map { Report.round($0.median, 1000) })
        o.add("p90_seconds_from_previous", s.fromPrevious.map { Report.round($0.p90, 1000) })
        o.add("mean_seconds_from_previous", s.fromPrevious.map { Report.round($0.mean, 1000) })
        o.add("median_seconds_from_start", s.fromStart.map { Report.round($0.median, 1000) })
        o.add("p90_seconds_from_start", s.fromStart.map { Report.round($0.p90, 1000) })
        o.add("mean_seconds_from_start", s.fromStart.map { Report.round($0.mean, 1000) })
        return o
    }

    static func json(_ r: FunnelResult, definition d: FunnelDefinition, seconds: Double) -> OrderedJSON {
        var o = OrderedJSON()
        if let name = d.name { o.add("name", name) }
        o.add("mode", d.mode.rawValue)
        o.add("window_seconds", Double(d.windowMillis) / 1000)
        o.add("steps", r.steps.map { stepJSON($0) as Any? })
        if let groups = r.breakdown {
            o.add("breakdown_by", d.breakdown.map { "\($0)" })
            o.add("attribution", "\(d.attribution)")
            o.add("breakdown", groups.map { g -> Any? in
                var b = OrderedJSON()
                b.add("value", g.value)
                b.add("steps", g.steps.map { stepJSON($0) as Any? })
                return b
            })
        }
        if let periods = r.periods {
            o.add("periods", periods.map { p -> Any? in
                var b = OrderedJSON()
                b.add("period", p.label)
                b.add("start", TimeText.format(p.start))
                b.add("entered", p.entered)
                b.add("converted", p.converted)
                b.add("conversion", Report.round(p.conversion))
                return b
            })
        }
        if let h = r.histogram {
            var hj = OrderedJSON()
            hj.add("from_step", h.fromStep)
            hj.add("to_step", h.toStep)
            hj.add("scale", h.scale.rawValue)
            hj.add("bins", h.bins.map { b -> Any? in
                var bj = OrderedJSON()
                bj.add("from_seconds", Report.round(b.lower, 1000))
                bj.add("to_seconds", Report.round(b.upper, 1000))
                bj.add("persons", b.persons)
                return bj
            })
            o.add("histogram", hj)
        }
        o.add("excluded_persons", r.excludedPersons)
        o.add("seconds", Report.round(seconds))
        return o
    }

    static func csv(_ r: FunnelResult) {
        let header = "breakdown,step,name,persons,conversion_from_previous,conversion_from_start,drop_off,median_seconds_from_previous,p90_seconds_from_previous,mean_seconds_from_previous,median_seconds_from_start"
        Swift.print(header)
        func rows(_ steps: [FunnelStepResult], _ value: String) {
            for s in steps {
                let fields: [String] = [
                    csvField(value), String(s.step), csvField(s.name), String(s.persons), String(Report.round(s.conversionFromPrevious)),
                    String(Report.round(s.conversionFromStart)), String(s.dropOff), s.fromPrevious.map { String(Report.round($0.median, 1000)) } ?? "",
                    s.fromPrevious.map { String(Report.round($0.p90, 1000)) } ?? "", s.fromPrevious.map { String(Report.round($0.mean, 1000)) } ?? "",
                    s.fromStart.map { String(Report.round($0.median, 1000)) } ?? "",
                ]
                Swift.print(fields.joined(separator: ","))
            }
        }
        if let groups = r.breakdown {
            for g in groups { rows(g.steps, g.value ?? "") }
        } else {
            rows(r.steps, "")
        }
        if let periods = r.periods {
            Swift.print("\nperiod,start,entered,converted,conversion")
            for p in periods { Swift.print("\(p.label),\(TimeText.format(p.start)),\(p.entered),\(p.converted),\(Report.round(p.conversion))") }
        }
        if let h = r.histogram {
            Swift.print("\nfrom_seconds,to_seconds,persons")
            for b in h.bins { Swift.print("\(Report.round(b.lower, 1000)),\(Report.round(b.upper, 1000)),\(b.persons)") }
        }
    }

    static func table(_ r: FunnelResult, definition d: FunnelDefinition, seconds: Double) {
        let title = (d.name.map { "\($0): " } ?? "") + d.steps.map(\.label).joined(separator: " → ")
        Swift.print("\(title)\n\(d.mode.rawValue), window \(DurationText.format(d.windowMillis))"
            + (r.excludedPersons > 0 ? ", \(r.excludedPersons) persons excluded" : "") + String(format: " (%.3f s)", seconds))
        if let groups = r.breakdown {
            for g in groups {
                Swift.print("\n\(d.breakdown.map { "\($0)" } ?? "breakdown") = \(g.value ?? "(none)")")
                stepsTable(g.steps)
            }
        } else {
            Swift.print("")
            stepsTable(r.steps)
        }
        if let periods = r.periods {
            Swift.print("\nentry period     entered  converted  conversion")
            let top = max(1, periods.map(\.entered).max() ?? 1)
            for p in periods {
                Swift.print(Report.pad(p.label, 15) + Report.lpad(String(p.entered), 9) + Report.lpad(String(p.converted), 11)
                    + Report.lpad(Report.percent(p.conversion), 12) + "  " + bar(Double(p.entered) / Double(top), width: 24))
            }
        }
        if let h = r.histogram {
            Swift.print("\ntime to convert, step \(h.fromStep) → \(h.toStep)")
            let top = max(1, h.bins.map(\.persons).max() ?? 1)
            for b in h.bins {
                Swift.print(Report.lpad(duration(b.lower), 9) + " – " + Report.pad(duration(b.upper), 9) + Report.lpad(String(b.persons), 8)
                    + "  " + bar(Double(b.persons) / Double(top), width: 30))
            }
        }
    }

    static func stepsTable(_ steps: [FunnelStepResult]) {
        let width = max(18, steps.map(\.name.count).max() ?? 0)
        Swift.print("step  " + Report.pad("event", width) + "  persons  from prev  from start  drop-off  median prev  p90 prev  median start")
        let top = max(1, steps.first?.persons ?? 1)
        for s in steps {
            Swift.print(
                Report.pad(String(s.step), 6) + Report.pad(s.name, width) + Report.lpad(String(s.persons), 9) + Report.lpad(Report.percent(s.conversionFromPrevious), 11)
                    + Report.lpad(Report.percent(s.conversionFromStart), 12) + Report.lpad(s.step == 1 ? "" : String(s.dropOff), 10)
                    + Report.lpad(s.fromPrevious.map { duration($0.median) } ?? "", 13) + Report.lpad(s.fromPrevious.map { duration($0.p90) } ?? "", 10)
                    + Report.lpad(s.fromStart.map { duration($0.median) } ?? "", 14))
            Swift.print("      " + bar(Double(s.persons) / Double(top), width: 50))
        }
    }

    static func bar(_ fraction: Double, width: Int) -> String {
        let eighths = Int((max(0, min(1, fraction)) * Double(width * 8)).rounded())
        let partial = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        return String(repeating: "█", count: eighths / 8) + partial[eighths % 8]
    }


    /// 42s, 3m 5s, 2h 10m, 3d 4h.
    /// `45s`, `3m 20s`, `2h 5m`, `1d 6h`; a zero second unit is left out (`5m`, `1h`, `7d`: the histogram's edges).
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        func two(_ a: Int, _ unitA: String, _ b: Int, _ unitB: String) -> String { b == 0 ? "\(a)\(unitA)" : "\(a)\(unitA) \(b)\(unitB)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return two(s / 60, "m", s % 60, "s") }
        if s < 86400 { return two(s / 3600, "h", s % 3600 / 60, "m") }
        return two(s / 86400, "d", s % 86400 / 3600, "h")
    }


    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
