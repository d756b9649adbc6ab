import Foundation
import Testing

/// End-to-end tests of the `journey` executable: real processes, real files, real stores, one temporary directory per
/// test. Helpers are in JourneyBinary.swift.
@Suite("journey command line")
struct CommandLineTests {
    // MARK: import

    @Test("import --format json reports the golden counts, exits 65 and names file:line:field of rejections")
    func importGolden() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            let run = try await s.run(["--store", store, "import", Golden.events.path, "--format", "json"])
            #expect(run.exitCode == 65, "\(run)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["lines"]) == expected.lines)
            #expect(jsonInt(json["accepted"]) == expected.accepted)
            #expect(jsonInt(json["duplicates"]) == expected.duplicates)
            #expect(jsonInt(json["rejected"]) == expected.rejected)
            let seconds = try #require(jsonDouble(json["seconds"]), "seconds is not a number: \(json)")
            #expect(seconds >= 0)
            #expect(run.stdoutLines.count == 1, "stdout is one JSON object on one line: \(run.stdout)")

            // stderr: `…events.ndjson:LINE: rejected: FIELD: reason` for (the first of) the rejected lines.
            let reported = rejectionReports(in: run.stderr, source: "events.ndjson")
            #expect(reported.count == min(expected.rejected, 20), "stderr: \(run.stderr)")
            let knownFields: Set<String> = [
                "json", "type", "messageId", "userId", "anonymousId", "previousId", "event", "timestamp",
                "originalTimestamp", "sentAt", "receivedAt", "name", "properties", "traits", "context", "channel",
                "groupId",
            ]
            for r in reported {
                #expect(knownFields.contains(r.field), "reason does not start with a field name: \(r)")
                #expect((1...expected.lines).contains(r.line))
            }
            #expect(reported.contains { $0.field == "timestamp" } && reported.contains { $0.field == "type" })
            if expected.rejected > 20 {
                #expect(run.stderr.contains("\(expected.rejected - 20) more rejected lines"), "\(run.stderr)")
            }
            // The lines named are the ones `journey rejected` lists.
            let listed = try await s.run(["--store", store, "rejected", "--format", "ndjson"])
            let listedLines = Set(listed.stdoutLines.compactMap { (parseJSONLine($0) as? [String: Any]).flatMap { jsonInt($0["line"]) } })
            #expect(Set(reported.map(\.line)).isSubset(of: listedLines))

            let status = try await s.status(store)
            #expect(status.events == expected.accepted)
            #expect(status.lastPosition == expected.accepted)
            #expect(status.eventsByName == expected.eventsByName)
            #expect(status.rejected == expected.rejected)
            #expect(status.bytes > 0)
        }
    }

    @Test("--store after the subcommand works as well as before it")
    func storeOptionAfterSubcommand() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            let run = try await s.run(["import", "--store", store, Golden.events.path, "--format", "json"])
            #expect(run.exitCode == 65, "\(run)")
            #expect(jsonInt(try run.jsonObject()["accepted"]) == expected.accepted)
            let status = try await s.run(["status", "--store", store, "--format", "json"])
            #expect(status.exitCode == 0, "\(status)")
            let counts = try StoreCounts(json: status.jsonObject())
            #expect(counts.events == expected.accepted)
            #expect(counts.eventsByName == expected.eventsByName)
            #expect(FileManager.default.fileExists(atPath: store + "/data.mdb"))
        }
    }

    @Test("compact writes a smaller copy after a rebuild; status shows the free space; an existing store is refused")
    func compactCommand() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            _ = try await s.run(["import", "--store", store, Golden.events.path])
            _ = try await s.run(["rebuild", "--store", store, "--quiet"])
            let status = try await s.run(["status", "--store", store, "--format", "json"])
            let free = jsonInt(try status.jsonObject()["free_bytes"]) ?? 0
            #expect(free > 0, "\(status)")
            // The size by part: the log (what the peers' tables compare to) and the projections, beside the free pages.
            let log = jsonInt(try status.jsonObject()["log_bytes"]) ?? 0
            let projections = jsonInt(try status.jsonObject()["projection_bytes"]) ?? 0
            #expect(log > 0 && projections > 0, "\(status)")
            #expect(log + projections + free == jsonInt(try status.jsonObject()["bytes"]), "\(status)")
            let table = try await s.run(["status", "--store", store])
            #expect(table.stdout.contains("  log ") && table.stdout.contains("  projections "), "\(table)")
            let copy = s.path("copy")
            let run = try await s.run(["compact", "--store", store, copy, "--format", "json"])
            #expect(run.exitCode == 0, "\(run)")
            let report = try run.jsonObject()
            let before = jsonInt(report["bytes_before"]) ?? 0
            let after = jsonInt(report["bytes_after"]) ?? Int.max
            #expect(after < before)
            let copied = try await s.run(["status", "--store", copy, "--format", "json"])
            #expect(try StoreCounts(json: copied.jsonObject()).events == expected.accepted)
            #expect(jsonInt(try copied.jsonObject()["bytes"]) == after)
            let verify = try await s.run(["verify", "--store", copy, "--quiet"])
            #expect(verify.exitCode == 0, "\(verify)")
            let again = try await s.run(["compact", "--store", store, copy])
            #expect(again.exitCode == 1)
            #expect(again.stderr.contains("already holds a store"), "\(again)")
        }
    }

    @Test("the store is $JOURNEY_STORE without --store, --store wins over it, else ./journey-store")
    func storeFromEnvironment() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("env-store")
            let env = ["JOURNEY_STORE": store]
            let run = try await s.run(["import", Golden.events.path, "--format", "json"], environment: env)
            #expect(run.exitCode == 65, "\(run)")
            #expect(FileManager.default.fileExists(atPath: store + "/data.mdb"), "JOURNEY_STORE was not used")
            let status = try await s.run(["status", "--format", "json"], environment: env)
            #expect(status.exitCode == 0, "\(status)")
            let counts = try StoreCounts(json: status.jsonObject())
            #expect(counts.events == expected.accepted)
            #expect(counts.eventsByName == expected.eventsByName)

            // --store beats the environment.
            let other = try await s.run(
                ["--store", store, "status", "--format", "json"], environment: ["JOURNEY_STORE": s.path("nowhere")])
            #expect(other.exitCode == 0, "\(other)")

            // Neither: ./journey-store in the working directory.
            let clean = s.url("clean.ndjson")
            try Data(cleanMessages.utf8).write(to: clean)
            let local = try await s.run(["import", clean.path])
            #expect(local.exitCode == 0, "\(local)")
            #expect(FileManager.default.fileExists(atPath: s.path("journey-store") + "/data.mdb"))
        }
    }

    @Test("importing the same file twice stores nothing twice")
    func reimportIsIdempotent() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            let first = try await s.run(["--store", store, "import", Golden.events.path, "--format", "json"])
            #expect(first.exitCode == 65, "\(first)")
            let before = try await s.status(store)
            let second = try await s.run(["--store", store, "import", Golden.events.path, "--format", "json"])
            #expect(second.exitCode == 65, "\(second)")
            let json = try second.jsonObject()
            #expect(jsonInt(json["lines"]) == expected.lines)
            #expect(jsonInt(json["accepted"]) == 0)
            #expect(jsonInt(json["duplicates"]) == expected.accepted + expected.duplicates)
            #expect(jsonInt(json["rejected"]) == expected.rejected)
            let after = try await s.status(store)
            #expect(after.logCounts == before.logCounts)
            #expect(after.events == expected.accepted)
        }
    }

    @Test("a file without bad lines imports with exit 0 (blank lines and CRLF allowed)")
    func cleanFileExitsZero() async throws {
        try await withSandbox { s in
            let file = s.url("clean.ndjson")
            try Data(cleanMessages.utf8).write(to: file)
            let store = s.path("store")
            let run = try await s.run(["--store", store, "import", file.path, "--format", "json"])
            #expect(run.exitCode == 0, "\(run)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["lines"]) == 3)
            #expect(jsonInt(json["accepted"]) == 3)
            #expect(jsonInt(json["duplicates"]) == 0)
            #expect(jsonInt(json["rejected"]) == 0)
            #expect(!run.stderr.contains("rejected"), "\(run.stderr)")
            let table = try await s.run(["--store", store, "import", file.path])
            #expect(table.exitCode == 0, "\(table)")
            #expect(table.stdout.contains("0 accepted, 3 duplicates, 0 rejected"), "\(table.stdout)")
            let status = try await s.status(store)
            #expect(status.events == 3)
            #expect(status.eventsByName == ["Order Completed": 1, "Page Viewed": 1, "Identify": 1])
        }
    }

    @Test("a line over 16 MiB (a file that is not NDJSON) is rejected with its length; the lines around it import")
    func overlongLineIsRejected() async throws {
        try await withSandbox { s in
            let file = s.url("overlong.ndjson")
            var text = #"{"type":"track","messageId":"a","userId":"u","event":"E"}"# + "\n"
            text += #"{"type":"track","messageId":"b","userId":"u","event":"E","properties":{"blob":""#
            text += String(repeating: "x", count: 17 << 20) + "\"}}\n"
            text += #"{"type":"track","messageId":"c","userId":"u","event":"E"}"# + "\n"
            try Data(text.utf8).write(to: file)
            let store = s.path("store")
            let run = try await s.run(["--store", store, "import", file.path, "--format", "json"])
            #expect(run.exitCode == 65, "\(run.stderr)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["lines"]) == 3)
            #expect(jsonInt(json["accepted"]) == 2)
            #expect(jsonInt(json["rejected"]) == 1)
            let length = (17 << 20) + 82
            #expect(run.stderr.contains("overlong.ndjson:2: rejected: json: the line is \(length) bytes, over the limit of 16 MiB"), "\(run.stderr.prefix(300))")
            let listed = try await s.run(["--store", store, "rejected", "--format", "ndjson"])
            let row = try #require(listed.stdout.split(separator: "\n").first)
            #expect(row.utf8.count < 2 << 20, "the raw text kept is the line's first MiB")
            #expect(row.contains(#"{\"type\":\"track\",\"messageId\":\"b\""#))
        }
    }

    @Test("`-` imports standard input")
    func importStandardInput() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            let run = try await s.run(
                ["--store", store, "import", "-", "--format", "json"], stdin: .file(Golden.events))
            #expect(run.exitCode == 65, "\(run)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["lines"]) == expected.lines)
            #expect(jsonInt(json["accepted"]) == expected.accepted)
            #expect(jsonInt(json["duplicates"]) == expected.duplicates)
            #expect(jsonInt(json["rejected"]) == expected.rejected)
            #expect(rejectionReports(in: run.stderr, source: "stdin").count == min(expected.rejected, 20), "\(run.stderr)")
            let status = try await s.status(store)
            #expect(status.eventsByName == expected.eventsByName)
        }
    }

    @Test("a .gz file imports the same counts")
    func importGzip() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let gz = s.url("events.ndjson.gz")
            let gzip = try #require(
                ["/usr/bin/gzip", "/bin/gzip", "/opt/homebrew/bin/gzip"].first { FileManager.default.isExecutableFile(atPath: $0) },
                "gzip not found")
            let status = try runTool(gzip, ["-c", Golden.events.path], stdout: gz)
            #expect(status == 0)
            let store = s.path("store")
            let run = try await s.run(["--store", store, "import", gz.path, "--format", "json"])
            #expect(run.exitCode == 65, "\(run)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["lines"]) == expected.lines)
            #expect(jsonInt(json["accepted"]) == expected.accepted)
            #expect(jsonInt(json["duplicates"]) == expected.duplicates)
            #expect(jsonInt(json["rejected"]) == expected.rejected)
            #expect(rejectionReports(in: run.stderr, source: "events.ndjson.gz").count == min(expected.rejected, 20), "\(run.stderr)")
            let counts = try await s.status(store)
            #expect(counts.events == expected.accepted)
            #expect(counts.eventsByName == expected.eventsByName)

            // A file that is not gzip data fails (exit 1) and says so.
            let fake = s.url("fake.ndjson.gz")
            try Data("not gzip\n".utf8).write(to: fake)
            let bad = try await s.run(["--store", store, "import", fake.path])
            #expect(bad.exitCode == 1, "\(bad)")
            #expect(bad.stderr.contains("fake.ndjson.gz"), "\(bad)")
        }
    }

    @Test("a missing file is exit 1 naming it; no file is a usage error")
    func importMissingFile() async throws {
        try await withSandbox { s in
            let missing = s.path("no-such-file.ndjson")
            let run = try await s.run(["--store", s.path("store"), "import", missing])
            #expect(run.exitCode == 1, "\(run)")
            #expect(run.stderr.contains("no-such-file.ndjson"), "\(run)")
            let none = try await s.run(["--store", s.path("store"), "import"])
            #expect(none.exitCode == 64, "\(none)")
        }
    }

    // MARK: export

    @Test("export gives the accepted messages: first occurrence of each messageId, in import order")
    func exportMatchesAcceptedInput() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            let imported = try await s.run(["--store", store, "import", Golden.events.path])
            #expect(imported.exitCode == 65, "\(imported)")
            let rejected = try await s.run(["--store", store, "rejected", "--format", "ndjson"])
            #expect(rejected.exitCode == 0, "\(rejected)")
            let rejectedLines = Set(rejected.stdoutLines.compactMap { (parseJSONLine($0) as? [String: Any]).flatMap { jsonInt($0["line"]) } })
            #expect(rejectedLines.count == expected.rejected)

            // What should have been accepted, computed from the file itself.
            var accepted: [[String: Any]] = []
            var seen = Set<String>()
            for (i, line) in try Golden.lines().enumerated() {
                guard let object = parseJSONLine(line) as? [String: Any] else {
                    #expect(rejectedLines.contains(i + 1), "line \(i + 1) is not a JSON object but was not rejected")
                    continue
                }
                if rejectedLines.contains(i + 1) { continue }
                guard let id = object["messageId"] as? String else {
                    Issue.record("line \(i + 1) has no messageId but was not rejected")
                    continue
                }
                if seen.insert(id).inserted { accepted.append(object) }
            }
            #expect(accepted.count == expected.accepted)

            let export = try await s.run(["--store", store, "export"])
            #expect(export.exitCode == 0, "\(export.stderr)")
            let lines = export.stdoutLines
            #expect(lines.count == expected.accepted)
            var mismatches = 0
            for (i, (line, want)) in zip(lines, accepted).enumerated() {
                guard let got = parseJSONLine(line) else {
                    Issue.record("export line \(i + 1) is not JSON: \(line)")
                    mismatches += 1
                    continue
                }
                if !jsonEqual(got, want) {
                    mismatches += 1
                    if mismatches <= 5 {
                        Issue.record("export line \(i + 1) differs from the accepted message:\n got  \(line)\n want \(String(decoding: (try? JSONSerialization.data(withJSONObject: want, options: [.sortedKeys])) ?? Data(), as: UTF8.self))")
                    }
                }
                if mismatches > 50 { break }
            }
            #expect(mismatches == 0)

            // A range of positions.
            let range = try await s.run(["--store", store, "export", "--from", "5", "--to", "7"])
            #expect(range.exitCode == 0, "\(range)")
            #expect(range.stdoutLines.count == 3)
            #expect(Array(range.stdoutLines) == Array(lines[4..<7]))
            let last = try await s.run(["--store", store, "export", "--from", String(expected.accepted)])
            #expect(last.stdoutLines.count == 1)
            let past = try await s.run(["--store", store, "export", "--from", String(expected.accepted + 1)])
            #expect(past.exitCode == 0 && past.stdoutData.isEmpty, "\(past)")
        }
    }

    @Test("export → import into a fresh store gives the same log")
    func exportImportRoundTrip() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let a = s.path("a")
            let b = s.path("b")
            _ = try await s.run(["--store", a, "import", Golden.events.path])
            let exported = try await s.run(["--store", a, "export"])
            #expect(exported.exitCode == 0, "\(exported.stderr)")
            let file = s.url("exported.ndjson")
            try exported.stdoutData.write(to: file)

            let run = try await s.run(["--store", b, "import", file.path, "--format", "json"])
            #expect(run.exitCode == 0, "\(run)")
            let json = try run.jsonObject()
            #expect(jsonInt(json["accepted"]) == expected.accepted)
            #expect(jsonInt(json["duplicates"]) == 0)
            #expect(jsonInt(json["rejected"]) == 0)
            let sa = try await s.status(a)
            let sb = try await s.status(b)
            #expect(sa.logCounts == sb.logCounts)
            #expect(sb.rejected == 0)
            let again = try await s.run(["--store", b, "export"])
            #expect(again.stdoutData == exported.stdoutData, "export of the re-imported log differs")
        }
    }

    // MARK: append

    @Test("append: position, duplicate, rejection naming the field, standard input")
    func appendMessages() async throws {
        try await withSandbox { s in
            let store = s.path("store")
            let message = #"{"type":"track","messageId":"app-1","userId":"u1","event":"Order Completed","timestamp":"2026-01-02T03:04:05.678Z","properties":{"revenue":12.50,"ok":true}}"#
            let first = try await s.run(["--store", store, "append", message])
            #expect(first.exitCode == 0, "\(first)")
            #expect(first.stdout.contains("position 1"), "\(first)")

            let again = try await s.run(["--store", store, "append", message])
            #expect(again.exitCode == 0, "\(again)")
            #expect(again.stdout.contains("duplicate"), "\(again)")
            #expect(again.stdout.contains("1"), "\(again)")

            let noId = try await s.run(["--store", store, "append", #"{"type":"track","userId":"u1","event":"X"}"#])
            #expect(noId.exitCode == 65, "\(noId)")
            #expect(noId.stderr.contains("messageId"), "\(noId)")
            let noEvent = try await s.run(["--store", store, "append", #"{"type":"track","messageId":"app-2","userId":"u1"}"#])
            #expect(noEvent.exitCode == 65, "\(noEvent)")
            #expect(noEvent.stderr.contains("event"), "\(noEvent)")
            let notJSON = try await s.run(["--store", store, "append", "{nope"])
            #expect(notJSON.exitCode == 65, "\(notJSON)")

            let fromStdin = #"{"type":"page","messageId":"app-3","anonymousId":"a9","name":"Home","timestamp":"2026-01-02T03:04:06Z"}"#
            let piped = try await s.run(["--store", store, "append"], stdin: .data(Data((fromStdin + "\n").utf8)))
            #expect(piped.exitCode == 0, "\(piped)")
            #expect(piped.stdout.contains("position 2"), "\(piped)")

            let empty = try await s.run(["--store", store, "append"], stdin: .data(Data("\n".utf8)))
            #expect(empty.exitCode == 64, "\(empty)")

            let status = try await s.status(store)
            #expect(status.events == 2)
            #expect(status.lastPosition == 2)
            #expect(status.eventsByName == ["Order Completed": 1, "Page Viewed": 1])
            #expect(status.rejected == 3)

            let export = try await s.run(["--store", store, "export"])
            let lines = export.stdoutLines
            #expect(lines.count == 2)
            if lines.count == 2 {
                #expect(jsonEqual(parseJSONLine(lines[0]) as Any, parseJSONLine(message) as Any), "\(lines[0])")
                #expect(jsonEqual(parseJSONLine(lines[1]) as Any, parseJSONLine(fromStdin) as Any), "\(lines[1])")
            }
        }
    }

    // MARK: rejected

    @Test("rejected lists every rejected line with source, line, reason and the raw line")
    func rejectedListing() async throws {
        let expected = try Golden.expected()
        let golden = try Golden.lines()
        try await withSandbox { s in
            let store = s.path("store")
            _ = try await s.run(["--store", store, "import", Golden.events.path])
            let ndjson = try await s.run(["--store", store, "rejected", "--format", "ndjson"])
            #expect(ndjson.exitCode == 0, "\(ndjson)")
            let objects = ndjson.stdoutLines.compactMap { parseJSONLine($0) as? [String: Any] }
            #expect(ndjson.stdoutLines.count == expected.rejected)
            #expect(objects.count == expected.rejected)
            for o in objects {
                let source = try #require(o["source"] as? String, "\(o)")
                let line = try #require(jsonInt(o["line"]), "\(o)")
                let reason = try #require(o["reason"] as? String, "\(o)")
                let raw = try #require(o["raw"] as? String, "\(o)")
                #expect(source.hasSuffix("events.ndjson"))
                #expect(!reason.isEmpty)
                #expect((1...golden.count).contains(line))
                if (1...golden.count).contains(line) {
                    #expect(raw == String(golden[line - 1]), "raw of line \(line) differs from the file")
                }
            }
            #expect(Set(objects.compactMap { jsonInt($0["line"]) }).count == expected.rejected)

            let json = try await s.run(["--store", store, "rejected", "--format", "json"])
            #expect(json.exitCode == 0, "\(json)")
            let array = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [Any], "\(json.stdout.prefix(300))")
            #expect(array.count == expected.rejected)
            #expect(jsonEqual(array, objects))

            let limited = try await s.run(["--store", store, "rejected", "--format", "json", "--limit", "5"])
            #expect((try JSONSerialization.jsonObject(with: limited.stdoutData) as? [Any])?.count == 5)

            let table = try await s.run(["--store", store, "rejected"])
            #expect(table.exitCode == 0, "\(table)")
            #expect(table.stdout.contains("events.ndjson:"), "\(table.stdout.prefix(300))")

            // A store with nothing rejected.
            let clean = s.url("clean.ndjson")
            try Data(cleanMessages.utf8).write(to: clean)
            let other = s.path("other")
            _ = try await s.run(["--store", other, "import", clean.path])
            let none = try await s.run(["--store", other, "rejected", "--format", "json"])
            #expect((try JSONSerialization.jsonObject(with: none.stdoutData) as? [Any])?.count == 0, "\(none)")
        }
    }

    // MARK: errors

    @Test("reading a missing store is exit 1 with `no store at`, and creates nothing")
    func missingStore() async throws {
        try await withSandbox { s in
            let store = s.path("absent")
            for args in [["status"], ["status", "--format", "json"], ["export"], ["rejected"]] {
                let run = try await s.run(["--store", store] + args)
                #expect(run.exitCode == 1, "\(run)")
                #expect(run.stderr.contains("no store at"), "\(run)")
            }
            #expect(!FileManager.default.fileExists(atPath: store))
        }
    }

    @Test("usage errors exit 64", arguments: [
        ["bogus"],
        ["--bogus", "status"],
        ["status", "--bogus"],
        ["status", "--format", "xml"],
        ["import"],
        ["export", "--from", "abc"],
        ["export", "--from", "5", "--to", "2"],
        ["generate", "--customers", "-1"],
        ["generate", "--broken", "2"],
        ["status", "extra-argument"],
    ])
    func usageErrors(_ arguments: [String]) async throws {
        try await withSandbox { s in
            let run = try await s.run(["--store", s.path("store")] + arguments)
            #expect(run.exitCode == 64, "\(run)")
            #expect(!run.stderr.isEmpty)
        }
    }

    @Test("--help and --version exit 0")
    func helpAndVersion() async throws {
        try await withSandbox { s in
            let help = try await s.run(["--help"])
            #expect(help.exitCode == 0, "\(help)")
            for sub in ["import", "export", "append", "status", "rejected", "generate", "demo"] {
                #expect(help.stdout.contains(sub), "help does not list \(sub)")
            }
            let version = try await s.run(["--version"])
            #expect(version.exitCode == 0, "\(version)")
            #expect(!version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        }
    }

    // MARK: generate and demo

    @Test("generate is deterministic for a seed, --output writes the file, and it imports cleanly")
    func generateDeterministic() async throws {
        try await withSandbox { s in
            let a = try await s.run(["generate", "--customers", "500", "--seed", "3"])
            let b = try await s.run(["generate", "--customers", "500", "--seed", "3"])
            #expect(a.exitCode == 0 && b.exitCode == 0, "\(a)")
            #expect(!a.stdoutData.isEmpty)
            #expect(a.stdoutData == b.stdoutData, "same seed, different output")
            let c = try await s.run(["generate", "--customers", "500", "--seed", "4"])
            #expect(c.exitCode == 0)
            #expect(c.stdoutData != a.stdoutData, "different seeds, same output")

            let file = s.url("gen.ndjson")
            let written = try await s.run(["generate", "--customers", "500", "--seed", "3", "--broken", "0", "--output", file.path])
            #expect(written.exitCode == 0, "\(written)")
            #expect(written.stdoutData.isEmpty)
            let data = try Data(contentsOf: file)
            #expect(data == a.stdoutData, "--output differs from standard output")
            let lineCount = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            #expect(lineCount > 500)

            let imported = try await s.run(["--store", s.path("store"), "import", file.path, "--format", "json"])
            #expect(imported.exitCode == 0, "\(imported)")
            let json = try imported.jsonObject()
            #expect(jsonInt(json["rejected"]) == 0)
            #expect(jsonInt(json["lines"]) == lineCount)
            let accepted = try #require(jsonInt(json["accepted"]))
            #expect(accepted + (jsonInt(json["duplicates"]) ?? 0) == lineCount)
            let status = try await s.status(s.path("store"))
            #expect(status.events == accepted)
            #expect(status.eventsByName.values.reduce(0, +) == accepted)

            // With broken lines: some rejected, exit 65.
            let brokenFile = s.url("broken.ndjson")
            let broken = try await s.run(["generate", "--customers", "500", "--seed", "3", "--broken", "0.05", "--output", brokenFile.path])
            #expect(broken.exitCode == 0, "\(broken)")
            let withBroken = try await s.run(["--store", s.path("store2"), "import", brokenFile.path, "--format", "json"])
            #expect(withBroken.exitCode == 65, "\(withBroken)")
            #expect((jsonInt(try withBroken.jsonObject()["rejected"]) ?? 0) > 0)
        }
    }

    @Test("demo generates, imports and shows events by name and exported JSON")
    func demo() async throws {
        try await withSandbox { s in
            let dir = s.path("demo")
            let run = try await s.run(["demo", dir, "--customers", "2000"])
            #expect(run.exitCode == 0, "\(run)")
            let status = try await s.status(dir + "/store")
            #expect(status.events > 0)
            #expect(status.lastPosition == status.events)
            for (name, n) in status.eventsByName {
                #expect(run.stdout.contains(name), "demo output does not show \(name)")
                #expect(run.stdout.contains(String(n)), "demo output does not show the count of \(name)")
            }
            #expect(run.stdout.contains("Page Viewed") && run.stdout.contains("Order Completed"))
            let exported = run.stdoutLines.compactMap { line -> [String: Any]? in
                let t = line.trimmingCharacters(in: .whitespaces)
                guard t.hasPrefix("{") else { return nil }
                return parseJSONLine(t) as? [String: Any]
            }
            #expect(!exported.isEmpty, "no exported JSON in the demo output")
            #expect(exported.allSatisfy { $0["messageId"] is String && $0["type"] is String })
            #expect(FileManager.default.fileExists(atPath: dir + "/events.ndjson"))
        }
    }

    // MARK: concurrent processes

    @Test("a second writer is refused while an import holds the store; readers work meanwhile")
    func concurrentWritersHeldImport() async throws {
        let expected = try Golden.expected()
        try await withSandbox { s in
            let store = s.path("store")
            // The first import reads the golden file, then standard input, which stays open until we close it:
            // it holds the writer lock for as long as the test needs, whatever the machine's speed.
            let first = try s.start(["--store", store, "import", Golden.events.path, "-", "--format", "json"], stdin: .pipe)
            var counts: StoreCounts?
            let deadline = Date().addingTimeInterval(90)
            while Date() < deadline, first.isRunning {
                let run = try await s.run(["--store", store, "status", "--format", "json"])
                if run.exitCode == 0, let c = try? StoreCounts(json: run.jsonObject()), c.events >= expected.accepted {
                    counts = c
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(first.isRunning, "the first import ended early")
            let during = try #require(counts, "status never showed the golden file's events during the import")
            #expect(during.events == expected.accepted)
            #expect(during.lastPosition == during.events)

            let second = try await s.run(["--store", store, "import", Golden.events.path])
            #expect(second.exitCode == 1, "\(second)")
            #expect(second.stderr.contains("locked by another writer"), "\(second)")
            #expect(second.stderr.contains("pid \(first.pid)"), "the message should name the holder: \(second)")
            let append = try await s.run(["--store", store, "append", #"{"type":"track","messageId":"c1","userId":"u","event":"E"}"#])
            #expect(append.exitCode == 1, "\(append)")
            #expect(append.stderr.contains("locked by another writer"), "\(append)")

            let export = try await s.run(["--store", store, "export", "--to", "3"])
            #expect(export.exitCode == 0 && export.stdoutLines.count == 3, "\(export)")
            let rejected = try await s.run(["--store", store, "rejected", "--format", "json"])
            #expect(rejected.exitCode == 0, "\(rejected)")

            try first.writeStdin(Data(cleanMessages.utf8))
            first.closeStdin()
            let done = await first.finish(timeout: 60)
            #expect(done.exitCode == 65, "\(done)")
            let json = try done.jsonObject()
            #expect(jsonInt(json["accepted"]) == expected.accepted + 3)
            #expect(jsonInt(json["lines"]) == expected.lines + 3)
            #expect(try await s.status(store).events == expected.accepted + 3)

            // The lock went with the process.
            let after = try await s.run(["--store", store, "append", #"{"type":"track","messageId":"c1","userId":"u","event":"E"}"#])
            #expect(after.exitCode == 0, "\(after)")
        }
    }

    @Test("while a big import runs, a second import exits 1 (locked) and status works")
    func concurrentWritersBigImport() async throws {
        let big = try await BigDataSet.shared()
        try await withSandbox { s in
            let store = s.path("store")
            let first = try s.start(["--store", store, "import"] + big.parts.map(\.path) + ["--format", "json"])
            var seen: StoreCounts?
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, first.isRunning {
                let run = try await s.run(["--store", store, "status", "--format", "json"])
                if run.exitCode == 0, let c = try? StoreCounts(json: run.jsonObject()), c.events > 0 {
                    seen = c
                    break
                }
                try await Task.sleep(for: .milliseconds(30))
            }
            let during = try #require(seen, "status never showed events while the import ran")
            #expect(during.lastPosition == during.events)
            let second = try await s.run(["--store", store, "import", Golden.events.path])
            let stillRunning = first.isRunning
            #expect(stillRunning, "the big import finished too soon to test a second writer against it")
            if stillRunning {
                #expect(second.exitCode == 1, "\(second)")
                #expect(second.stderr.contains("locked by another writer"), "\(second)")
                let status = try await s.run(["--store", store, "status"])
                #expect(status.exitCode == 0, "\(status)")
                #expect(status.stdout.contains("events"), "\(status)")
            }
            let done = await first.finish(timeout: 180)
            #expect(done.exitCode == 0, "\(done)")
            let json = try done.jsonObject()
            #expect(jsonInt(json["lines"]) == big.lines)
            let accepted = try #require(jsonInt(json["accepted"]))
            #expect(accepted + (jsonInt(json["duplicates"]) ?? 0) == big.lines)
            let final = try await s.status(store)
            #expect(final.events == accepted)
            #expect(final.lastPosition == accepted)
        }
    }
}

// MARK: - helpers

/// Three valid messages (identify, page, track) with a blank line and a CRLF line ending.
let cleanMessages = """
    {"type":"identify","messageId":"clean-1","userId":"u1","anonymousId":"a1","traits":{"email":"u1@example.com"},"timestamp":"2026-01-01T10:00:00Z"}\r
    {"type":"page","messageId":"clean-2","anonymousId":"a1","name":"Home","properties":{"path":"/"},"timestamp":"2026-01-01T10:00:01.5Z"}

    {"type":"track","messageId":"clean-3","userId":"u1","event":"Order Completed","properties":{"revenue":10.5,"currency":"EUR"},"timestamp":"2026-01-01T10:05:00+01:00"}

    """

/// A rejection as the import command reports it on standard error: `SOURCE:LINE: rejected: FIELD: …`.
struct RejectionReport: Sendable, CustomStringConvertible {
    var line: Int
    var field: String
    var text: String
    var description: String { text }
}

/// The rejections reported on `stderr` for a source whose name ends with `source`.
func rejectionReports(in stderr: String, source: String) -> [RejectionReport] {
    var out: [RejectionReport] = []
    for raw in stderr.split(separator: "\n") {
        let text = String(raw)
        guard let marker = text.range(of: source + ":") else { continue }
        let rest = text[marker.upperBound...]
        let digits = rest.prefix { $0.isNumber }
        guard let line = Int(digits) else { continue }
        let afterLine = rest.dropFirst(digits.count)
        guard afterLine.hasPrefix(": rejected: ") else { continue }
        let reason = afterLine.dropFirst(": rejected: ".count)
        let field = reason.prefix { $0 != ":" && $0 != " " }
        out.append(RejectionReport(line: line, field: String(field), text: text))
    }
    return out
}

/// Runs a tool (not journey) to completion with standard input from a file (else /dev/null) and standard output
/// to a file; returns its exit status.
func runTool(_ path: String, _ arguments: [String], stdin: URL? = nil, stdout: URL) throws -> Int32 {
    _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
    let out = try FileHandle(forWritingTo: stdout)
    defer { try? out.close() }
    let input = try stdin.map { try FileHandle(forReadingFrom: $0) }
    defer { try? input?.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.standardOutput = out
    p.standardInput = input ?? FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}
