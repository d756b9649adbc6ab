import Foundation
import Testing

@testable import Journey

// Funnels over a real store (semantics §3): golden counts, breakdown attribution, property filters, identity
// stitching, time travel, and the `journey funnel` command end to end.

private let t0 = utcMillis(2026, 3, 1)

/// A track message at `minutes` after 2026-03-01T00:00Z.
private func track(
    _ id: String, _ event: String, user: String? = nil, anon: String? = nil, minutes: Int, channel: String = "web",
    properties: String? = nil
) -> String {
    var f = ["\"messageId\":\"\(id)\"", "\"type\":\"track\"", "\"event\":\"\(event)\"", "\"channel\":\"\(channel)\""]
    if let user { f.append("\"userId\":\"\(user)\"") }
    if let anon { f.append("\"anonymousId\":\"\(anon)\"") }
    if let properties { f.append("\"properties\":\(properties)") }
    f.append("\"timestamp\":\"\(TimeText.format(t0 + Int64(minutes) * 60_000))\"")
    return "{" + f.joined(separator: ",") + "}"
}

private func definition(_ steps: [String], window: String = "7d", mode: FunnelMode = .ordered) throws -> FunnelDefinition {
    try FunnelDefinition(steps: steps.map { FunnelStep(events: [$0]) }, mode: mode, windowMillis: try DurationText.millis(window))
}

private func counts(_ r: FunnelResult) -> [Int] { r.steps.map(\.persons) }

/// The golden store, imported once per test process.
private actor GoldenStore {
    static let shared = GoldenStore()
    private var made: String?

    func path() throws -> String {
        if let made { return made }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-funnel-golden-\(UUID().uuidString)").path
        let store = try JourneyStore(path: dir, mode: .readWrite)
        defer { store.close() }
        let lines = try Golden.lines()
        for chunk in stride(from: 0, to: lines.count, by: 5000) {
            _ = try store.appendSync(json: lines[chunk..<min(lines.count, chunk + 5000)].map { Array($0.utf8) })
        }
        made = dir
        return dir
    }
}

@Suite("funnels")
struct FunnelTests {
    @Test("golden data: every funnel of expected.json gives exactly its persons per step")
    func golden() async throws {
        let path = try await GoldenStore.shared.path()
        let store = try JourneyStore(path: path, mode: .readOnly)
        let data = try Data(contentsOf: Golden.directory.appendingPathComponent("expected.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let funnels = try #require(json["funnels"] as? [[String: Any]])
        #expect(funnels.count >= 4)
        for f in funnels {
            let steps = try #require(f["steps"] as? [String])
            let window = try #require(jsonInt(f["window_seconds"]))
            let mode = try #require(FunnelMode(rawValue: f["mode"] as? String ?? "ordered"))
            let expected = try #require((f["persons_per_step"] as? [Any])?.compactMap { jsonInt($0) })
            let d = try FunnelDefinition(steps: steps.map { FunnelStep(events: [$0]) }, mode: mode, windowMillis: Int64(window) * 1000)
            let r = try await store.funnel(d)
            #expect(counts(r) == expected, "\(steps) window \(window)s")
            // Conversions follow from the counts.
            for k in 1..<r.steps.count {
                #expect(abs(r.steps[k].conversionFromPrevious - Double(expected[k]) / Double(expected[k - 1])) < 1e-9)
                #expect(r.steps[k].dropOff == expected[k - 1] - expected[k])
            }
        }
    }

    @Test("anonymous browsing then identify: one person, whose anonymous steps count in the funnel once")
    func stitched() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [
                track("1", "Product Viewed", anon: "a1", minutes: 0),
                track("2", "Product Added", anon: "a1", minutes: 5),
                track("3", "Identify Me", user: "u1", anon: "a1", minutes: 6),
                track("4", "Order Completed", user: "u1", minutes: 10),
                track("5", "Product Viewed", user: "u2", minutes: 0),
            ].map { Array($0.utf8) })
            let r = try await store.funnel(try definition(["Product Viewed", "Product Added", "Order Completed"]))
            #expect(counts(r) == [2, 1, 1])
            #expect(r.steps[2].fromStart?.median == 600)
            #expect(r.steps[1].fromPrevious?.median == 300)
        }
    }

    @Test("breakdown by channel: first touch is the step-1 event's value, last touch the furthest step's, step:N that step's")
    func breakdownAttribution() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [
                track("1", "A", user: "u1", minutes: 0, channel: "web"),
                track("2", "B", user: "u1", minutes: 1, channel: "mobile"),
                track("3", "C", user: "u1", minutes: 2, channel: "email"),
                track("4", "A", user: "u2", minutes: 0, channel: "web"),
            ].map { Array($0.utf8) })
            func groups(_ attribution: FunnelAttribution) async throws -> [String?: [Int]] {
                var d = try definition(["A", "B", "C"])
                d.breakdown = .channel
                d.attribution = attribution
                let r = try await store.funnel(d)
                return Dictionary(uniqueKeysWithValues: (r.breakdown ?? []).map { ($0.value, counts(FunnelResult(steps: $0.steps, excludedPersons: 0, unknownEvents: []))) })
            }
            #expect(try await groups(.first) == ["web": [2, 1, 1]])
            #expect(try await groups(.last) == ["email": [1, 1, 1], "web": [1, 0, 0]])
            #expect(try await groups(.step(2)) == ["mobile": [1, 1, 1], nil: [1, 0, 0]])
        }
    }

    @Test("property filters on steps and exclusions with filters, read from the stored records")
    func filters() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [
                track("1", "Viewed", user: "u1", minutes: 0, properties: #"{"price":150.5}"#),
                track("2", "Bought", user: "u1", minutes: 1, properties: #"{"plan":"pro"}"#),
                track("3", "Viewed", user: "u2", minutes: 0, properties: #"{"price":50}"#),
                track("4", "Bought", user: "u2", minutes: 1, properties: #"{"plan":"pro"}"#),
                track("5", "Viewed", user: "u3", minutes: 0, properties: #"{"price":300}"#),
                track("6", "Ticket", user: "u3", minutes: 1, properties: #"{"topic":"refund"}"#),
                track("7", "Bought", user: "u3", minutes: 2, properties: #"{"plan":"team"}"#),
            ].map { Array($0.utf8) })
            var d = try definition(["Viewed", "Bought"])
            #expect(counts(try await store.funnel(d)) == [3, 3])
            d.steps[0].filters = [try FieldFilter.parse("price > 100")]
            #expect(counts(try await store.funnel(d)) == [2, 2])
            d.steps[1].filters = [try FieldFilter.parse("plan in pro,basic")]
            #expect(counts(try await store.funnel(d)) == [2, 1])
            d.steps[1].filters = []
            d.exclusions = [FunnelExclusion(events: ["Ticket"], filters: [try FieldFilter.parse("topic = refund")], fromStep: 1, toStep: 2)]
            let r = try await store.funnel(d)
            #expect(counts(r) == [1, 1])
            #expect(r.excludedPersons == 1)
        }
    }

    @Test("--as-of: the funnel as it stood at a time; unknown step events are reported")
    func asOfAndUnknown() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [
                track("1", "A", user: "u1", minutes: 0), track("2", "B", user: "u1", minutes: 60),
                track("3", "A", user: "u2", minutes: 90),
            ].map { Array($0.utf8) })
            var o = FunnelOptions()
            o.asOf = t0 + 30 * 60_000
            #expect(counts(try await store.funnel(try definition(["A", "B"]), options: o)) == [1, 0])
            #expect(counts(try await store.funnel(try definition(["A", "B"]))) == [2, 1])
            let r = try await store.funnel(try definition(["A", "Nope"]))
            #expect(r.unknownEvents == ["Nope"])
        }
    }

    @Test("conversion over time: zero-filled entry periods, days of 23 hours across a DST change")
    func periods() async throws {
        try await withStore { store in
            // 2026-03-29 is 23 hours long in Europe/Paris.
            let base = utcMillis(2026, 3, 28)
            func at(_ hours: Double) -> Int { Int((Double(base - t0) / 60_000) + hours * 60) }
            _ = try store.appendSync(json: [
                track("1", "A", user: "u1", minutes: at(1)), track("2", "B", user: "u1", minutes: at(2)),
                // 2026-03-29T22:30Z is 2026-03-30 00:30 in Paris (UTC+2 after the change).
                track("3", "A", user: "u2", minutes: at(46.5)),
            ].map { Array($0.utf8) })
            var o = FunnelOptions()
            o.by = .day
            o.timeZone = "Europe/Paris"
            o.from = utcMillis(2026, 3, 27)
            o.to = utcMillis(2026, 4, 1)
            let r = try await store.funnel(try definition(["A", "B"]), options: o)
            let rows = try #require(r.periods)
            // From 2026-03-27T00:00Z (01:00 in Paris) to 2026-04-01T00:00Z (02:00 in Paris): the Paris days touched.
            #expect(rows.map(\.label) == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31", "2026-04-01"])
            #expect(rows.map(\.entered) == [0, 1, 0, 1, 0, 0])
            #expect(rows.map(\.converted) == [0, 1, 0, 0, 0, 0])
            #expect(rows[3].start - rows[2].start == 23 * 3_600_000)
            #expect(rows[2].start - rows[1].start == 24 * 3_600_000)
        }
    }

    @Test("journey funnel: JSON shape, breakdown JSON, CSV, the table's bars, and usage errors naming the option")
    func commandLine() async throws {
        let path = try await GoldenStore.shared.path()
        try await withSandbox { s in
            let steps = "Product Viewed,Product Added,Checkout Started,Order Completed"
            let run = try await s.run(["funnel", "--store", path, "--steps", steps, "--window", "7d", "--format", "json"])
            #expect(run.exitCode == 0, "\(run)")
            let json = try run.jsonObject()
            let rows = try #require(json["steps"] as? [[String: Any]])
            #expect(rows.map { jsonInt($0["persons"]) } == [2638, 1508, 1016, 722])
            #expect(rows.map { jsonInt($0["step"]) } == [1, 2, 3, 4])
            #expect(rows[0]["name"] as? String == "Product Viewed")
            for key in ["conversion_from_previous", "conversion_from_start", "median_seconds_from_previous", "drop_off"] {
                #expect(rows[1][key] != nil, "missing \(key)")
            }
            let b = try await s.run(["funnel", "--store", path, "--steps", steps, "--breakdown", "channel", "--format", "json"])
            let groups = try #require(try b.jsonObject()["breakdown"] as? [[String: Any]])
            #expect(groups.count >= 2)
            let firstSteps = groups.compactMap { ($0["steps"] as? [[String: Any]])?.first.flatMap { jsonInt($0["persons"]) } }
            #expect(firstSteps.reduce(0, +) == 2638, "first-touch attribution puts each person in one group")

            let csv = try await s.run(["funnel", "--store", path, "--steps", steps, "--format", "csv"])
            #expect(csv.stdoutLines.first?.hasPrefix("breakdown,step,name,persons") == true)
            #expect(csv.stdoutLines.count == 5)
            let table = try await s.run(["funnel", "--store", path, "--steps", steps])
            #expect(table.stdout.contains("█") && table.stdout.contains("2638"))
            let hist = try await s.run(["funnel", "--store", path, "--steps", steps, "--histogram", "--bins", "6", "--format", "json"])
            let hj = try #require(try hist.jsonObject()["histogram"] as? [String: Any])
            let hbins = try #require(hj["bins"] as? [[String: Any]])
            #expect(hj["scale"] as? String == "log" && hbins.count <= 6 && hbins.count >= 2, "\(hist)")
            #expect(hbins.compactMap { jsonInt($0["persons"]) }.reduce(0, +) == 722, "every converting person in one bin")
            let badScale = try await s.run(["funnel", "--store", path, "--steps", steps, "--histogram", "--scale", "cubic"])
            #expect(badScale.exitCode == 64 && badScale.stderr.contains("cubic"), "\(badScale)")

            let noSteps = try await s.run(["funnel", "--store", path])
            #expect(noSteps.exitCode == 64 && noSteps.stderr.contains("--steps"))
            let badWindow = try await s.run(["funnel", "--store", path, "--steps", steps, "--window", "7x"])
            #expect(badWindow.exitCode != 0 && badWindow.stderr.contains("7x"), "\(badWindow)")
            let badStep = try await s.run(["funnel", "--store", path, "--steps", steps, "--where", "9:price > 1"])
            #expect(badStep.exitCode != 0 && badStep.stderr.contains("9"), "\(badStep)")
        }
    }

    @Test("funnel define/list/show: a saved definition gives what the ad-hoc query gives; invalid files are refused with the path")
    func savedFunnels() async throws {
        let golden = try await GoldenStore.shared.path()
        try await withSandbox { s in
            let store = s.path("store")
            try FileManager.default.copyItem(atPath: golden, toPath: store)
            let example = Golden.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("schemas/examples/checkout-funnel.json").path
            let define = try await s.run(["funnel", "define", "--store", store, example])
            #expect(define.exitCode == 0 && define.stdout.contains("checkout"), "\(define)")
            let list = try await s.run(["funnel", "list", "--store", store, "--format", "json"])
            #expect(list.stdout.contains("\"name\":\"checkout\""), "\(list)")
            let shown = try await s.run(["funnel", "show", "checkout", "--store", store, "--format", "json"])
            let adhoc = try await s.run(["funnel", "--store", store, "--definition", example, "--format", "json"])
            func strip(_ j: [String: Any]) -> String {
                var j = j
                j["seconds"] = nil
                return String(decoding: (try? JSONSerialization.data(withJSONObject: j, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
            }
            #expect(strip(try shown.jsonObject()) == strip(try adhoc.jsonObject()))
            #expect((try shown.jsonObject()["breakdown"] as? [Any])?.isEmpty == false)

            let bad = s.path("bad.json")
            try Data(#"{"name":"x","steps":["A",{"event":"B","where":[{"field":"price","op":"~","value":1}]}]}"#.utf8)
                .write(to: URL(fileURLWithPath: bad))
            let refused = try await s.run(["funnel", "define", "--store", store, bad])
            #expect(refused.exitCode == 64, "\(refused)")
            #expect(refused.stderr.contains("steps[1].where[0].op"), "\(refused.stderr)")
            // NPS by the furthest step of a saved funnel, named.
            let nps = try await s.run(["nps", "--store", store, "--by", "step:checkout"])
            #expect(nps.exitCode == 0 && nps.stdout.contains("4. Order"), "\(nps)")
            let missing = try await s.run(["funnel", "show", "nope", "--store", store])
            #expect(missing.exitCode == 1 && missing.stderr.contains("nope"))
        }
    }

    @Test("an entry range that is empty (--from at or after --to) is refused, not answered with zeros")
    func emptyEntryRangeIsRefused() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [track("1", "A", user: "u", minutes: 0), track("2", "B", user: "u", minutes: 5)].map { Array($0.utf8) })
            let d = try definition(["A", "B"])
            for (from, to) in [(1_000, 1_000), (2_000, 1_000)] as [(Int64, Int64)] {
                var o = FunnelOptions()
                (o.from, o.to) = (from, to)
                #expect(throws: QueryError("--from must be before --to (step 1 at or after --from, before --to)")) {
                    try store.funnel(d, options: o)
                }
            }
        }
    }

    @Test("a definition that is not JSON is refused with the line and column where it breaks")
    func definitionSyntaxErrorsArePlaced() {
        func refusal(_ text: String) -> String? {
            do {
                _ = try FunnelDefinition.load(json: Array(text.utf8), source: "f.json")
                return nil
            } catch { return error.description }
        }
        #expect(refusal("{\"name\":\"x\",\n\"steps\": [1, 2") == "f.json: not valid JSON: line 2, column 15: expected ',' or ']', found end of file")
        #expect(refusal("{\n  \"name\": \"x\",\n  \"window\": 7d\n}") == "f.json: not valid JSON: line 3, column 14: expected ',' or '}', found 'd'")
        #expect(refusal(#"{"name":"x","steps":["A","B"]} x"#) == "f.json: not valid JSON: line 1, column 32: unexpected text after the value")
        let lifecycle: String? = {
            do {
                _ = try LifecycleDefinition.parse("{\n\"stages\": [}")
                return nil
            } catch { return "\(error)" }
        }()
        #expect(lifecycle?.hasPrefix("the definition is not valid JSON: line 2, column 12: ") == true, "\(lifecycle ?? "")")
    }

    @Test("a definition written back as JSON loads to the same definition")
    func definitionRoundTrip() throws {
        let d = try FunnelDefinition(
            name: "t", steps: [FunnelStep(events: ["A", "B"], filters: [try FieldFilter.parse("plan in pro,team")]), FunnelStep(events: ["C"], label: "Bought")],
            mode: .strict, windowMillis: 7_200_000,
            exclusions: [FunnelExclusion(events: ["X"], filters: [try FieldFilter.parse("price >= 10")], fromStep: 1, toStep: 2)],
            breakdown: try FunnelBreakdown.parse("property:utm_source"), attribution: .step(2))
        #expect(try FunnelDefinition.load(json: Array(d.json.utf8)) == d)
    }

    @Test("--as-of-position: identity as it stood then (two persons before the link, one after)")
    func asOfPosition() async throws {
        try await withStore { store in
            _ = try store.appendSync(json: [
                track("1", "A", anon: "x", minutes: 0), track("2", "B", user: "u", minutes: 5),
                track("3", "Login", user: "u", anon: "x", minutes: 6),
            ].map { Array($0.utf8) })
            var o = FunnelOptions()
            o.asOfPosition = 2
            #expect(counts(try await store.funnel(try definition(["A", "B"]), options: o)) == [1, 0])
            o.asOfPosition = 3
            #expect(counts(try await store.funnel(try definition(["A", "B"]), options: o)) == [1, 1])
            #expect(counts(try await store.funnel(try definition(["A", "B"]))) == [1, 1])
        }
    }

    @Test("time-to-convert histogram between two steps: every converting person in one bin, bins cover 0…max")
    func histogram() async throws {
        try await withStore { store in
            var lines: [String] = []
            for (k, gap) in [1, 2, 3, 10, 20].enumerated() {
                lines.append(track("a\(k)", "A", user: "u\(k)", minutes: 0))
                lines.append(track("b\(k)", "B", user: "u\(k)", minutes: gap))
                lines.append(track("c\(k)", "C", user: "u\(k)", minutes: gap + 1))
            }
            _ = try store.appendSync(json: lines.map { Array($0.utf8) })
            var o = FunnelOptions()
            o.histogram = (from: 1, to: 2)
            o.histogramBins = 4
            o.histogramScale = .linear
            let h = try #require(try await store.funnel(try definition(["A", "B", "C"]), options: o).histogram)
            #expect(h.bins.count == 4 && h.fromStep == 1 && h.toStep == 2)
            #expect(h.bins.map(\.persons).reduce(0, +) == 5)
            #expect(h.bins[0].lower == 0 && h.bins[3].upper >= 1200)
            #expect(h.bins[0].persons == 3)

            // The default, log scale: round durations, each time in its bin, nobody lost.
            o.histogramScale = .log
            o.histogramBins = 10
            let g = try #require(try await store.funnel(try definition(["A", "B", "C"]), options: o).histogram)
            #expect(g.scale == .log)
            #expect(g.bins.map(\.lower) == [0, 60, 120, 300, 600, 900] && g.bins.last?.upper == 1800)
            #expect(g.bins.map(\.persons) == [0, 1, 2, 0, 1, 1])  // 1m; 2m and 3m; 10m; 20m
        }
    }

    /// Log-scale edges over times from seconds to days: round durations only, at most the bins asked for, the first
    /// from 0, the last above the longest; every time lands in exactly one bin.
    @Test(arguments: [1, 3, 10, 40])
    func logHistogramEdges(bins: Int) {
        var rng = SplitMix64(seed: UInt64(bins))
        var samples = (0..<5_000).map { _ in Int64(rng.next() % 40_000) * Int64(rng.next() % 20_000 + 1) }
        samples.append(0)
        samples.sort()
        let edges = FunnelHistogram.niceEdges(samples, bins: bins)
        let ladder = Set(FunnelHistogram.ladder(through: samples.last ?? 0))
        #expect(edges.first == 0 && edges.count - 1 <= bins && edges.count >= 2)
        #expect(edges.dropFirst().allSatisfy { ladder.contains($0) }, "\(edges)")
        #expect(zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 })
        #expect((edges.last ?? 0) > (samples.last ?? 0))
        #expect(FunnelHistogram.niceEdges([], bins: bins).isEmpty)
        #expect(FunnelHistogram.niceEdges([0, 0], bins: bins) == [0, 1000])
    }
}
