import ArgumentParser
import Foundation
import Journey

/// `journey nps`: the voice of the customer (semantics §5): NPS, and CSAT / CES when their events are given.
struct NPSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nps",
        abstract: "NPS (promoters 9–10, passives 7–8, detractors 0–6), optionally CSAT and CES, overall and per group.",
        discussion: """
            Each person counts once per metric: their latest answer with an event time in [--from, --to).
            --by stage groups by the stage the person was in just before answering; --by step:FUNNEL by the furthest
            step the person reached of FUNNEL, a saved funnel's name (journey funnel define) or a definition file
            (schemas/funnel.schema.json).
            JSON: {"nps":{"event":…,"responses":…,"promoters":…,"passives":…,"detractors":…,"score":…,"groups":[…]},…}.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "channel, stage or step:FUNNEL (a saved funnel's name or a definition file)") var by: String?
    @Option(help: "Answers from this time (inclusive).") var from: String?
    @Option(help: "Answers before this time.") var to: String?
    @Option(help: "The NPS event.") var npsEvent: String = "NPS Responded"
    @Option(help: "Where its 0–10 score is.") var npsProperty: String = "properties.score"
    @Option(help: "A CSAT event (1–5 score): adds CSAT (% satisfied, 4–5).") var csatEvent: String?
    @Option(help: "Where its score is.") var csatProperty: String = "properties.score"
    @Option(help: "A CES event (1–7 score): adds CES (mean; easy 5–7).") var cesEvent: String?
    @Option(help: "Where its score is.") var cesProperty: String = "properties.score"
    @OptionGroup var definition: LifecycleDefinitionArguments
    @Option(help: "table or json") var format: OutputFormat = .table

    func metrics() throws -> [VoiceMetric] {
        func metric(_ kind: VoiceMetricKind, _ event: String, _ property: String, _ option: String) throws -> VoiceMetric {
            do {
                return VoiceMetric(kind: kind, event: event, property: try FieldPath(property))
            } catch {
                throw ValidationError("\(option): \(error.description)")
            }
        }
        var out = [try metric(.nps, npsEvent, npsProperty, "--nps-property")]
        if let csatEvent { out.append(try metric(.csat, csatEvent, csatProperty, "--csat-property")) }
        if let cesEvent { out.append(try metric(.ces, cesEvent, cesProperty, "--ces-property")) }
        return out
    }

    func breakdown(_ store: JourneyStore) throws -> VoiceBreakdown {
        guard let by else { return .none }
        switch by {
        case "channel": return .channel
        case "stage": return .stage(try definition.load())
        default:
            guard by.hasPrefix("step:"), by.count > 5 else { throw ValidationError("--by must be channel, stage or step:FUNNEL") }
            let file = String(by.dropFirst(5))
            if let saved = try store.savedFunnel(named: file) { return .step(saved) }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("--by: cannot read the funnel definition \(file)") }
            do {
                return .step(try FunnelDefinition.load(json: Array(data), source: file))
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        let lo = try from.map { try parseTime($0, option: "--from") }
        let hi = try to.map { try parseTime($0, option: "--to") }
        let store = try storeOptions.open(.readOnly)
        let breakdown = try breakdown(store)
        let reports = try metrics().map { try store.voice($0, by: breakdown, from: lo, to: hi) }
        switch format {
        case .json, .ndjson:
            var o = OrderedJSON()
            for r in reports {
                var m = VoiceOutput.json(r.total, r.metric)
                m.add("event", r.event)
                if by != nil { m.add("groups", r.groups.map { g -> Any? in VoiceOutput.json(g, r.metric) }) }
                o.add(r.metric.rawValue, m)
            }
            print(o.string)
        default:
            for r in reports { VoiceOutput.table(r) }
        }
    }
}

enum VoiceOutput {
    static func labels(_ kind: VoiceMetricKind) -> (String, String, String) {
        switch kind {
        case .nps: ("promoters", "passives", "detractors")
        case .csat: ("satisfied", "neutral", "unsatisfied")
        case .ces: ("easy", "neutral", "hard")
        }
    }

    static func json(_ g: VoiceGroup, _ kind: VoiceMetricKind) -> OrderedJSON {
        let (a, b, c) = labels(kind)
        var j = OrderedJSON()
        if g.group != nil { j.add("group", g.group) }
        j.add("responses", g.tally.responses)
        j.add(a, g.tally.positive)
        j.add(b, g.tally.neutral)
        j.add(c, g.tally.negative)
        j.add("score", g.score.map { Report.round($0, 10) })
        return j
    }

    static func table(_ r: VoiceReport) {
        let (a, b, c) = labels(r.metric)
        let name = r.metric.rawValue.uppercased()
        let range = (r.from.map { " from \(TimeText.format($0))" } ?? "") + (r.to.map { " to \(TimeText.format($0))" } ?? "")
        print("\(name) from \"\(r.event)\"\(range): one answer per person (their latest)")
        let rows = [r.total] + r.groups
        let width = max(16, rows.map { ($0.group ?? "(no channel)").count }.max() ?? 0)
        print(Report.pad("", width) + Report.lpad("answers", 9) + Report.lpad(a, 11) + Report.lpad(b, 11) + Report.lpad(c, 11)
            + Report.lpad(name, 8))
        for (k, g) in rows.enumerated() {
            let label = k == 0 ? "all" : g.group ?? "(no channel)"
            let t = g.tally
            let n = Double(max(1, t.responses))
            print(Report.pad(label, width) + Report.lpad(String(t.responses), 9)
                + Report.lpad("\(t.positive) \(Int((Double(t.positive) * 100 / n).rounded()))%", 11)
                + Report.lpad("\(t.neutral) \(Int((Double(t.neutral) * 100 / n).rounded()))%", 11)
                + Report.lpad("\(t.negative) \(Int((Double(t.negative) * 100 / n).rounded()))%", 11)
                + Report.lpad(g.score.map { String(format: r.metric == .ces ? "%.2f" : "%+.1f", $0) } ?? "-", 8)
                + "  " + (r.metric == .nps ? npsBar(g.score) : ""))
        }
        if r.total.tally.invalid > 0 { print("(\(r.total.tally.invalid) answers out of range ignored)") }
    }

    /// −100…100 drawn around a centre line.
    static func npsBar(_ score: Double?) -> String {
        guard let s = score else { return "" }
        let cells = Int((abs(s) / 10).rounded())
        let left = s < 0 ? String(repeating: " ", count: 10 - cells) + String(repeating: "█", count: cells) : String(repeating: " ", count: 10)
        let right = s > 0 ? String(repeating: "█", count: cells) : ""
        return left + "|" + right
    }
}
