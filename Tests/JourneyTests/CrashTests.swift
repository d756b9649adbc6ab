import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When the crash test kills the import.
enum KillMoment: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// As soon as `status` shows a first commit.
    case afterFirstCommit
    /// When about half of the events are in.
    case halfway
    /// At 2.5 times the time the first commit took, wherever the import is then (maybe inside a commit).
    case timed

    var testDescription: String { rawValue }
}

/// `kill -9` an import part way, then: the store opens, the log is gapless, and importing the same input again
/// gives exactly the store one clean import gives.
@Suite("journey survives kill -9")
struct CrashTests {
    @Test("kill -9 during import, then re-import: same log as one clean import", arguments: KillMoment.allCases)
    func killedImportResumes(_ moment: KillMoment) async throws {
        try await killAndResume(moment, importOptions: [])
    }

    /// Batches of 500 messages, two in flight: most commits hold the log alone and leave the projections to a later
    /// transaction (`LogWriter`, deferred projections), so the kill lands between the two as well.
    @Test("kill -9 during an import in small batches (projections deferred), then re-import: same log, verify OK")
    func killedSmallBatchImportResumes() async throws {
        try await killAndResume(.halfway, importOptions: ["--batch-size", "500"])
    }

    private func killAndResume(_ moment: KillMoment, importOptions: [String]) async throws {
        let big = try await BigDataSet.shared()
        let reference = try await BigReference.shared()
        let total = reference.counts.events
        try await withSandbox { s in
            let store = s.path("store")
            // A saved funnel kept up to date by every commit of the import (it must survive the crash consistent).
            let funnel = s.path("funnel.json")
            try Data(#"{"name":"checkout","steps":["Product Viewed","Product Added","Order Completed"],"window":"7d"}"#.utf8)
                .write(to: URL(fileURLWithPath: funnel))
            let defined = try await s.run(["funnel", "define", "--store", store, funnel])
            try #require(defined.exitCode == 0, "\(defined)")
            // The parts in one command: at least one commit per part, so the kill can land between many commits.
            let files = big.parts.map(\.path)
            let child = try s.start(["--store", store, "import", "--quiet"] + importOptions + files)
            let started = Date()
            var storeSeen: Date?
            var firstCommitSeen: Date?
            var lastSeen = 0
            while child.isRunning, Date().timeIntervalSince(started) < 120 {
                if storeSeen == nil, FileManager.default.fileExists(atPath: store + "/data.mdb") { storeSeen = Date() }
                let run = try await s.run(["--store", store, "status", "--format", "json"])
                if run.exitCode == 0, let c = try? StoreCounts(json: run.jsonObject()) {
                    lastSeen = c.events
                    if c.events > 0, firstCommitSeen == nil { firstCommitSeen = Date() }
                    // While the import runs, readers see a gapless prefix too.
                    #expect(c.lastPosition == c.events, "during the import: \(c)")
                }
                let shouldKill: Bool
                switch moment {
                case .afterFirstCommit: shouldKill = lastSeen > 0
                case .halfway: shouldKill = lastSeen >= total / 2
                case .timed:
                    // The first part took t to commit; kill at 2.5 t, inside the third part, not just after a commit.
                    if let storeSeen, let firstCommitSeen {
                        let t = firstCommitSeen.timeIntervalSince(storeSeen)
                        shouldKill = Date().timeIntervalSince(storeSeen) >= 2.5 * t
                    } else {
                        shouldKill = false
                    }
                }
                if shouldKill {
                    child.kill(SIGKILL)
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let killed = await child.finish(timeout: 30)
            try #require(
                killed.signaled && killed.status == SIGKILL,
                "the import was not killed part way (it ended before the kill): \(killed)")

            // The store opens read-only and its log has no gap.
            let afterCrash = try await s.status(store)
            #expect(afterCrash.lastPosition == afterCrash.events, "after the crash: \(afterCrash)")
            #expect(afterCrash.eventsByName.values.reduce(0, +) == afterCrash.events, "after the crash: \(afterCrash)")
            #expect(afterCrash.events <= total)
            if moment != .timed { #expect(afterCrash.events > 0) }
            // What survived is the start of the clean log, byte for byte.
            let partial = try await s.run(["--store", store, "export"])
            #expect(partial.exitCode == 0, "\(partial)")
            #expect(
                partial.stdoutData == reference.export.prefix(partial.stdoutData.count)
                    && (partial.stdoutData.isEmpty || reference.export[reference.export.startIndex + partial.stdoutData.count - 1] == 0x0A),
                "the surviving log is not a prefix of the clean log")
            #expect(partial.stdoutLines.count == afterCrash.events)
            // Before any writer opens it (projections may lag the log after a crash between a commit and its
            // deferred projections), the saved funnel read-only says what the ad-hoc query of its definition says.
            let shown = try await s.run(["--store", store, "funnel", "show", "checkout", "--format", "json"])
            let adHoc = try await s.run([
                "--store", store, "funnel", "--steps", "Product Viewed,Product Added,Order Completed", "--window", "7d",
                "--format", "json",
            ])
            func persons(_ run: JourneyRun) throws -> [Int] {
                let steps = try #require(try run.jsonObject()["steps"] as? [[String: Any]], "\(run)")
                return steps.compactMap { jsonInt($0["persons"]) }
            }
            #expect(try persons(shown) == persons(adHoc), "\(shown)\n\(adHoc)")
            // The projections (persons, timelines, the saved funnel) are exactly what a rebuild of that log gives.
            let verified = try await s.run(["verify", "--store", store])
            #expect(verified.exitCode == 0 && verified.stdout.contains("funnel checkout"), "\(verified)")

            // Import the same input again, to completion.
            let resumed = try await s.run(["--store", store, "import"] + files + ["--format", "json"], timeout: 180)
            #expect(resumed.exitCode == 0, "\(resumed)")
            let json = try resumed.jsonObject()
            #expect(jsonInt(json["lines"]) == big.lines)
            #expect(jsonInt(json["accepted"]) == total - afterCrash.events)
            #expect(jsonInt(json["rejected"]) == 0)

            let final = try await s.status(store)
            #expect(final.logCounts == reference.counts.logCounts, "resumed \(final) vs clean \(reference.counts)")
            let export = try await s.run(["--store", store, "export"])
            #expect(export.exitCode == 0, "\(export)")
            let got = export.stdoutLines.map(String.init)
            let want = reference.export.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
            #expect(got.count == want.count)
            #expect(Set(got) == Set(want), "the resumed store's export has different lines than the clean one's")
            #expect(export.stdoutData == reference.export, "same lines, different order")
            let verifiedAtEnd = try await s.run(["verify", "--store", store])
            #expect(verifiedAtEnd.exitCode == 0, "\(verifiedAtEnd)")
        }
    }

    /// The state a crash while `journey` creates a store leaves: `data.mdb` exists, the log's databases do not
    /// (LMDB creates the file when the environment opens; the databases come with the first commit). Made here
    /// deterministically with lmdb-utils' `mdb_load` and an empty dump; a real kill -9 ~30 ms into the first
    /// import of a new store leaves the same (and readers racing that first import see it too).
    @Test(
        "a store whose creation was cut short reads as missing or empty, and a writer completes it",
        .enabled(if: mdbLoad != nil, "needs mdb_load (lmdb-utils)"))
    func interruptedCreation() async throws {
        try await withSandbox { s in
            let store = s.path("store")
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let dump = s.url("empty.dump")
            try Data("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\nDATA=END\n".utf8).write(to: dump)
            let loaded = try runTool(try #require(mdbLoad), [store], stdin: dump, stdout: s.url("mdb_load.out"))
            try #require(loaded == 0)
            try #require(FileManager.default.fileExists(atPath: store + "/data.mdb"))

            // Readers report that the store does not exist yet, naming no LMDB internals.
            do {
                for args in [["status", "--format", "json"], ["export"], ["rejected"]] {
                    let run = try await s.run(["--store", store] + args)
                    let empty = run.exitCode == 0
                    let missing = run.exitCode == 1 && run.stderr.contains("no store at")
                    #expect((empty || missing) && !run.stderr.contains("MDB_"), "\(run)")
                    if args[0] == "status" && empty {
                        #expect(jsonInt(try run.jsonObject()["events"]) == 0)
                    }
                }
            }

            // A writer finishes creating it.
            let clean = s.url("clean.ndjson")
            try Data(cleanMessages.utf8).write(to: clean)
            let imported = try await s.run(["--store", store, "import", clean.path])
            #expect(imported.exitCode == 0, "\(imported)")
            let status = try await s.status(store)
            #expect(status.events == 3)
            #expect(status.lastPosition == 3)
        }
    }
}

/// lmdb-utils' `mdb_load`, if installed.
let mdbLoad: String? = ["/usr/bin/mdb_load", "/usr/local/bin/mdb_load", "/opt/homebrew/bin/mdb_load"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }
