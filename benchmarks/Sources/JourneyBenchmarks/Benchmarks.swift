// Journey benchmarks (release builds only). Figures go to README beside the peers' from the same run
// (tools/compare-peers). Usage:
//   swift run -c release --package-path benchmarks JourneyBenchmarks [--events N] [--file F] [--dir D] [--only a,b]
import Foundation
import Journey

struct Options {
    var events = 10_000_000
    var file: String?
    var dir = "benchmarks/data"
    var only: Set<String> = []
    var json = false
    /// A store for the query benchmarks (lifecycle, activity, nps); default DIR/store-queries, imported once.
    var queryStore: String?
}

@main
struct JourneyBenchmarks {
    static func main() async throws {
        var options = Options()

        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            switch a {
            case "--events": options.events = Int(args.next() ?? "") ?? options.events
            case "--file": options.file = args.next()
            case "--dir": options.dir = args.next() ?? options.dir
            case "--only": options.only = Set((args.next() ?? "").split(separator: ",").map(String.init))
            case "--json": options.json = true
            case "--store": options.queryStore = args.next()
            default:
                print("usage: JourneyBenchmarks [--events N] [--file NDJSON] [--dir DIR] [--only import,append,funnels,concurrent,scan,lifecycle,activity,nps,rebuild,profile] [--store PATH] [--json]")
                exit(64)
            }
        }

        func wanted(_ name: String) -> Bool { options.only.isEmpty || options.only.contains(name) }
        func now() -> Double { Date().timeIntervalSince1970 }
        /// CPU seconds (user + system) the process has used: beside a wall time, how busy the two cores were.
        func cpu() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        var results: [(String, Double, String)] = []
        func report(_ name: String, _ value: Double, _ unit: String) {
            results.append((name, value, unit))
            print(String(format: "%-48@ %14.0f %@", name as NSString, value, unit as NSString))
            fflush(nil)
        }

        let fm = FileManager.default
        try fm.createDirectory(atPath: options.dir, withIntermediateDirectories: true)

        // The data: the same generated file tools/compare-peers loads into the peers.
        let customers = Int((Double(options.events) / 5.7).rounded())
        let file = options.file ?? "\(options.dir)/journeys-c\(customers)-s7.ndjson"
        // The query benchmarks need the file only to import their store the first time.
        let queryStorePath = options.queryStore ?? "\(options.dir)/store-queries"
        let onlyQueries = !options.only.isEmpty && options.only.isSubset(of: ["lifecycle", "activity", "nps"])
        if !fm.fileExists(atPath: file) && !(onlyQueries && fm.fileExists(atPath: queryStorePath)) {
            print("generating \(file) …")
            guard let handle = fm.createFile(atPath: file, contents: nil) ? FileHandle(forWritingAtPath: file) : nil else {
                fatalError("cannot write \(file)")
            }
            var gen = JourneyGenerator(options: GeneratorOptions(customers: customers, seed: 7))
            var buffer: [UInt8] = []
            _ = gen.generate { line in
                buffer.append(contentsOf: line)
                buffer.append(0x0A)
                if buffer.count > 1 << 22 {
                    handle.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            handle.write(Data(buffer))
            try handle.close()
        }
        let fileBytes = (try? fm.attributesOfItem(atPath: file)[.size] as? Int) ?? 0

        /// Appends the batches with four calls in flight: callers encode while the writer commits what is queued
        /// (group commit).
        func appendInFlight<Batch: Sendable>(
            _ batches: [Batch], _ append: @escaping @Sendable (Batch) async throws -> Int
        ) async throws {
            try await withThrowingTaskGroup(of: Int.self) { group in
                var next = 0
                for _ in 0..<4 where next < batches.count {
                    let b = batches[next]
                    next += 1
                    group.addTask { try await append(b) }
                }
                while try await group.next() != nil {
                    if next < batches.count {
                        let b = batches[next]
                        next += 1
                        group.addTask { try await append(b) }
                    }
                }
            }
        }
        func appendInFlight(_ store: JourneyStore, _ batches: [[[UInt8]]]) async throws {
            try await appendInFlight(batches) { try await store.append(json: $0).count }
        }
        func appendInFlight(_ store: JourneyStore, _ batches: [[Message]]) async throws {
            try await appendInFlight(batches) { try await store.append($0).count }
        }

        func freshStore(_ name: String, bulkWrites: Bool = false) throws -> JourneyStore {
            let path = "\(options.dir)/store-\(name)"
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            return try JourneyStore(path: path, mapSize: 8 << 30, bulkWrites: bulkWrites)
        }

        // 1. NDJSON import end to end.
        var importedStore: JourneyStore?
        if wanted("import") || wanted("scan") {
            let store = try freshStore("import")  // as `journey import` opens it
            let t0 = now()
            let s = try Importer(store: store).run([file])
            let dt = now() - t0
            let status = try store.status()
            print("import: \(s.lines) lines, \(s.accepted) accepted, \(s.duplicates) duplicates, \(s.rejected) rejected, \(String(format: "%.2f", dt)) s, file \(fileBytes / max(1, s.lines)) bytes/line")
            report("import NDJSON end to end (events/s)", Double(s.accepted) / dt, "events/s")
            report("import NDJSON end to end (lines/s)", Double(s.lines) / dt, "lines/s")
            report("store size (bytes/event)", Double(status.bytes) / Double(max(1, status.events)), "bytes/event")
            importedStore = store
        }

        // 2. Full log scan with decode of the fixed fields.
        if wanted("scan"), let store = importedStore {
            for _ in 0..<2 {
                var n = 0
                var checksum: Int64 = 0
                let t0 = now()
                try store.scan { _, view in
                    checksum &+= view.eventTime &+ Int64(view.eventName) &+ Int64(view.channel)
                    n += 1
                    return true
                }
                let dt = now() - t0
                report("full log scan with decode (events/s)", Double(n) / dt, "events/s (checksum \(checksum & 0xFFFF))")
            }
        }
        importedStore?.close()
        importedStore = nil

        // 3. Library batched append of pre-built messages: as JSON bytes (what a service forwarding Segment JSON
        // holds), then as typed `Message` values (encoded straight to records), each into a fresh store.
        if wanted("append") {
            let n = min(options.events, 2_000_000)
            let batchSize = 10_000
            var typed: [[Message]] = []
            var batch: [Message] = []
            for i in 0..<n {
                batch.append(Message.track(
                    ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"][i & 3],
                    messageId: "bench-\(i)", userId: "u\(i / 6)", anonymousId: "a\(i / 6)-5f3e2a1c", channel: i & 1 == 0 ? "web" : "mobile",
                    timestamp: 1_767_225_600_000 + Int64(i) * 1000, properties: ["product_id": .string("sku-\(i % 500)"), "price": .number(19.99)]))
                if batch.count == batchSize {
                    typed.append(batch)
                    batch = []
                }
            }
            if !batch.isEmpty { typed.append(batch) }
            let json = typed.map { $0.map { $0.jsonBytes() } }
            for form in ["JSON bytes", "typed messages"] {
                let store = try freshStore("append")
                let t0 = now()
                let c0 = cpu()
                if form == "JSON bytes" {
                    try await appendInFlight(store, json)
                } else {
                    try await appendInFlight(store, typed)
                }
                // Closing writes the messageIds still waiting in the writer's memory: timed, as part of the work.
                store.close()
                let dt = now() - t0
                report("library batched append, 10k \(form) per call (events/s)", Double(n) / dt, "events/s")
                print(String(format: "  (%.2f s, %.2f CPU s: %.2f cores busy)", dt, cpu() - c0, (cpu() - c0) / dt))
            }
        }

        // 3b. Batched append of the generated journeys (10k per call, four calls in flight), without and then with
        // three saved funnels kept up to date (issue 4), each into a fresh store; then `funnel show`'s library call.
        if wanted("funnels") {
            var lines: [[UInt8]] = []
            let text = try Data(contentsOf: URL(fileURLWithPath: file))
            text.withUnsafeBytes { buf in
                var start = 0
                for i in 0..<buf.count where buf[i] == 0x0A {
                    if i > start && lines.count < min(options.events, 2_000_000) { lines.append(Array(buf[start..<i])) }
                    start = i + 1
                }
            }
            let batches = stride(from: 0, to: lines.count, by: 10_000).map { Array(lines[$0..<min($0 + 10_000, lines.count)]) }
            let definitions = [
                #"{"name":"checkout-7d","steps":["Product Viewed","Product Added","Checkout Started","Order Completed"],"window":"7d"}"#,
                #"{"name":"checkout-1h","steps":["Product Viewed","Product Added","Checkout Started","Order Completed"],"window":"1h"}"#,
                #"{"name":"order-nps","steps":["Checkout Started","Order Completed","NPS Responded"],"window":"14d"}"#,
            ]
            for funnels in [0, 3] {
                let store = try freshStore("funnels-\(funnels)")
                for d in definitions.prefix(funnels) { try store.saveFunnel(FunnelDefinition.load(json: Array(d.utf8))) }
                let t0 = now()
                let c0 = cpu()
                try await appendInFlight(store, batches)
                store.close()  // timed: it writes the waiting messageIds
                let dt = now() - t0
                report(
                    "batched append of the journeys, \(funnels) saved funnels (events/s)", Double(lines.count) / dt,
                    String(format: "messages/s (%.2f s, %.2f cores busy)", dt, (cpu() - c0) / dt))
                if funnels > 0 {
                    let store = try JourneyStore(path: "\(options.dir)/store-funnels-\(funnels)", mode: .readOnly)
                    defer { store.close() }
                    var best = Double.infinity
                    for _ in 0..<20 {
                        let t = now()
                        _ = try await store.savedFunnelResult(named: "checkout-7d")
                        best = min(best, now() - t)
                    }
                    report("funnel show through the library (µs)", best * 1e6, "µs (best of 20)")
                }
            }
        }

        // 4. 64 concurrent single-event appenders, each append durable on return.
        if wanted("concurrent") {
            let store = try freshStore("concurrent")
            let perTask = 2_000
            let t0 = now()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<64 {
                    group.addTask {
                        for i in 0..<perTask {
                            _ = try await store.append(json: "{\"type\":\"track\",\"messageId\":\"c\(t)-\(i)\",\"userId\":\"u\(t)\",\"event\":\"Product Viewed\",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}")
                        }
                    }
                }
                try await group.waitForAll()
            }
            store.close()  // timed, as above
            let dt = now() - t0
            report("64 concurrent single-event appenders (events/s)", Double(64 * perTask) / dt, "durable events/s")
        }

        // 5. Lifecycle stage counts, activity lifecycle (90 days by week in Europe/Paris) and NPS on the imported
        // store (kept in DIR/store-queries and reused: the queries read, they do not change it).
        if wanted("lifecycle") || wanted("activity") || wanted("nps") {
            let path = queryStorePath
            if !fm.fileExists(atPath: path) {
                print("importing \(file) into \(path) for the query benchmarks …")
                let s = try JourneyStore(path: path, mapSize: 8 << 30)
                _ = try Importer(store: s).run([file])
                s.close()
            }
            let store = try JourneyStore(path: path, mode: .readOnly)
            let events = try store.status().events
            let jan1: Int64 = 1_767_225_600_000
            let apr1 = jan1 + 90 * 86_400_000
            func time(_ name: String, runs: Int = 3, _ body: () throws -> String) rethrows {
                var seconds: [Double] = []
                var what = ""
                for _ in 0..<runs {
                    let t0 = now()
                    what = try body()
                    seconds.append(now() - t0)
                }
                seconds.sort()
                print(String(format: "%@: best %.3f s, median %.3f s (%d events) — %@", name, seconds[0], seconds[runs / 2], events, what))
                report("\(name) (ms, best of \(runs))", seconds[0] * 1000, "ms")
            }
            if wanted("lifecycle") {
                try time("lifecycle stage counts") {
                    let r = try store.lifecycle(.standard, at: LifecycleMoment(time: apr1))
                    return r.stages.map { "\($0.stage) \($0.persons)" }.joined(separator: ", ")
                }
            }
            if wanted("activity") {
                try time("activity lifecycle, 90 days by week") {
                    let r = try store.activityLifecycle(event: "Page Viewed", interval: .week, timeZone: "Europe/Paris", from: jan1, to: apr1)
                    return "\(r.periods.count) weeks, new \(r.periods.map(\.new).reduce(0, +))"
                }
            }
            if wanted("nps") {
                try time("nps") {
                    let r = try store.voice()
                    return String(format: "%d answers, NPS %.1f", r.total.tally.responses, r.total.score ?? 0)
                }
                try time("nps by channel") {
                    let r = try store.voice(by: .channel)
                    return "\(r.groups.count) channels"
                }
            }
            store.close()
        }

        // 6. Rebuild of all projections and profile lookups on a store (ProjectionBenchmarks.swift).
        if wanted("rebuild") || wanted("profile") {
            try ProjectionBenchmarks.run(dir: options.dir, rebuild: wanted("rebuild"), profile: wanted("profile"), report: report)
        }

        if options.json {
            var parts: [String] = []
            for (name, value, unit) in results {
                parts.append("{\"name\":\"\(name)\",\"value\":\(Int(value)),\"unit\":\"\(unit)\"}")
            }
            print("[" + parts.joined(separator: ",") + "]")
        }

    }
}
