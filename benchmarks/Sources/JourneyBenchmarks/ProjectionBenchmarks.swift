import Foundation
import Journey

/// Issue 3's benchmarks on an existing store: a rebuild of all projections (replayed beside the live ones, then
/// switched to) and profile lookups through the library, plus the cost of a profile at a past log position.
/// The store is `$JOURNEY_BENCH_STORE`, else the import benchmark's (`DIR/store-import`).
enum ProjectionBenchmarks {
    static func run(
        dir: String, rebuild: Bool, profile: Bool, report: (String, Double, String) -> Void
    ) throws {
        let path = ProcessInfo.processInfo.environment["JOURNEY_BENCH_STORE"] ?? "\(dir)/store-import"
        let store = try JourneyStore(path: path, mapSize: 8 << 30)
        defer { store.close() }
        if rebuild {
            let r = try store.rebuildProjections()
            report(
                "rebuild of all projections (events/s)", r.eventsPerSecond,
                "events/s (\(r.checkpoint) events in \(String(format: "%.2f", r.seconds)) s)")
        }
        guard profile else { return }
        var ids: [String] = []
        var after: UInt32 = 0
        while true {
            let page = try store.persons(limit: 10_000, after: after)
            guard let last = page.last else { break }
            ids += page.map(\.displayId)
            after = last.person
        }
        guard !ids.isEmpty else { return }
        var rng = SystemRandomNumberGenerator()
        // As a freshly started process finds the store (each page a lookup is the first to touch costs a page
        // fault), then after `warmUp`, as a service that maps the store at start finds it.
        for warm in [false, true] {
            var note = "freshly opened"
            if warm {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let mapped = store.warmUp()
                note = String(
                    format: "after warmUp: %.2f s%@", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9,
                    mapped ? "" : ", refused by the kernel")
            }
            var micros: [Double] = []
            for i in 0..<51_000 {
                let id = ids[Int(rng.next() % UInt64(ids.count))]
                let t0 = DispatchTime.now().uptimeNanoseconds
                let p = try store.profile(for: id)
                let t1 = DispatchTime.now().uptimeNanoseconds
                guard p != nil else { throw BenchmarkError("no profile for \(id)") }
                if i >= 1000 { micros.append(Double(t1 - t0) / 1000) }  // the first thousand warm the CPU caches
            }
            micros.sort()
            let label = warm ? "after warmUp" : "freshly opened"
            report("profile lookup p50, \(label) (µs)", micros[micros.count / 2], "µs (\(ids.count) persons, random ids, \(note))")
            report("profile lookup p99, \(label) (µs)", micros[micros.count * 99 / 100], "µs")
        }
        // At a past position: the first query builds a scratch copy up to it, the next ones reuse it.
        let half = try store.lastPosition() / 2
        for label in ["first query", "next query"] {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try store.profile(for: ids[0], asOfPosition: half)
            report("profile as of position \(half), \(label) (ms)", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, "ms")
        }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
