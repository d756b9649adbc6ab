import ArgumentParser
import Foundation
import Journey

/// The options that define an ad-hoc funnel on the command line (`--steps`, `--window`, `--mode`, `--exclude`,
/// `--where`, `--breakdown`, `--attribution`), turned into a `FunnelDefinition`.
struct FunnelArguments: ParsableArguments {
    @Option(help: "Comma-separated step events, in order; a step matching several events joins them with |.")
    var steps: String?
    @Option(help: "Conversion window, step 1 → last step: 90s, 30m, 2h, 7d, 1w.") var window: String = "7d"
    @Option(help: "ordered (default), strict or unordered.") var mode: String = "ordered"
    @Option(
        name: .customLong("exclude"),
        help: "EVENT[@i-j]: an attempt with this event between steps i and j (default 1 and the last) is voided.")
    var exclusions: [String] = []
    @Option(
        name: .customLong("where"),
        help: "STEP:FIELD OP VALUE, e.g. '2:price > 100', '1:channel = web', '*:plan in pro,team'. A bare field means properties.FIELD.")
    var filters: [String] = []
    @Option(help: "channel, or property:NAME (e.g. property:utm_source or property:context.campaign.source).")
    var breakdown: String?
    @Option(help: "Which event's value a person is counted under: first (default), last or step:N.")
    var attribution: String = "first"

    /// Builds the definition; `name` for saved funnels.
    func definition(name: String? = nil) throws -> FunnelDefinition {
        guard let steps, !steps.isEmpty else { throw ValidationError("--steps is required (e.g. --steps \"Product Viewed,Order Completed\")") }
        var list = steps.split(separator: ",", omittingEmptySubsequences: false).map { part in
            FunnelStep(events: part.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) })
        }
        for text in filters {
            guard let colon = text.firstIndex(of: ":") else {
                throw ValidationError("--where \"\(text)\": start with the step it applies to, e.g. '2:price > 100' or '*:…'")
            }
            let which = text[..<colon].trimmingCharacters(in: .whitespaces)
            let filter = try FieldFilter.parse(String(text[text.index(after: colon)...]))
            if which == "*" {
                for k in list.indices { list[k].filters.append(filter) }
            } else {
                guard let k = Int(which), k >= 1, k <= list.count else {
                    throw ValidationError("--where \"\(text)\": \(which) is not a step (1…\(list.count) or *)")
                }
                list[k - 1].filters.append(filter)
            }
        }
        var exclusions: [FunnelExclusion] = []
        for text in self.exclusions {
            var event = text
            var from = 1
            var to = list.count
            if let at = text.lastIndex(of: "@") {
                event = String(text[..<at])
                let range = text[text.index(after: at)...].split(separator: "-")
                guard range.count == 2, let i = Int(range[0]), let j = Int(range[1]) else {
                    throw ValidationError("--exclude \"\(text)\": write EVENT@i-j, e.g. \"Support Ticket Opened@2-4\"")
                }
                from = i
                to = j
            }
            exclusions.append(FunnelExclusion(
                events: event.split(separator: "|").map { String($0).trimmingCharacters(in: .whitespaces) }, fromStep: from, toStep: to))
        }
        guard let mode = FunnelMode(rawValue: mode) else {
            throw ValidationError("--mode: \"\(mode)\" is not ordered, strict or unordered")
        }
        return try FunnelDefinition(
            name: name, steps: list, mode: mode, windowMillis: try DurationText.millis(window), exclusions: exclusions,
            breakdown: try breakdown.map { try FunnelBreakdown.parse($0) }, attribution: try FunnelAttribution.parse(attribution))
    }
}

/// Query options shared by ad-hoc and saved funnels.
struct FunnelQueryArguments: ParsableArguments {
    @Option(help: "Entry range start: step 1 at or after this time (2026-03-01 or RFC 3339).") var from: String?
    @Option(help: "Entry range end (exclusive); later steps may complete after it, within the window.") var to: String?
    @Option(name: .customLong("as-of"), help: "Only events with event time at or before this time.") var asOf: String?
    @Option(
        name: .customLong("as-of-position"),
        help: "Only what the log held up to this position, identity included (needs the writer lock the first time).")
    var asOfPosition: UInt64?
    @Option(help: "Conversion over time: day, week or month (needs --from and --to).") var by: String?
    @Option(help: "Time zone of the --by periods (IANA name).") var tz: String = "UTC"
    @Flag(help: "Time-to-convert histogram between --from-step and --to-step.") var histogram = false
    @Option(name: .customLong("from-step"), help: "Histogram start step (default 1).") var fromStep: Int = 1
    @Option(name: .customLong("to-step"), help: "Histogram end step (default the last).") var toStep: Int?
    @Option(help: "Histogram bins, at most (default 10).") var bins: Int = 10
    @Option(help: "Histogram bins: log (round durations of growing width) or linear (equal widths).")
    var scale: String = "log"
    @Option(help: "table, json or csv.") var format: OutputFormat = .table

    func options(steps: Int) throws -> FunnelOptions {
        var o = FunnelOptions()
        o.from = try from.map { try TimeText.millis($0, option: "--from") }
        o.to = try to.map { try TimeText.millis($0, option: "--to") }
        o.asOf = try asOf.map { try TimeText.millis($0, option: "--as-of") }
        if let by {
            guard let interval = PeriodInterval(rawValue: by) else { throw ValidationError("--by: \"\(by)\" is not day, week or month") }
            o.by = interval
        }
        o.timeZone = tz
        if histogram {
            guard bins >= 1 && bins <= 1000 else { throw ValidationError("--bins: \(bins) is not between 1 and 1000") }
            o.histogram = (fromStep, toStep ?? steps)
            o.histogramBins = bins
            guard let scale = HistogramScale(rawValue: scale) else {
                throw ValidationError("--scale: \"\(scale)\" is not log or linear")
            }
            o.histogramScale = scale
        }
        return o
    }
}
