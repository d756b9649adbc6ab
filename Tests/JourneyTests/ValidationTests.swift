import Foundation
import Testing

@testable import Journey

// The engine against `Fixtures/message-examples.json`, a table of valid and invalid messages written from the
// schema (notes/semantics.md §1). Every row is appended, as written, to a store; valid rows must be accepted, invalid
// ones rejected with a description containing the row's `reason` (case-insensitively) and, when the row names one,
// with `Rejection.field` equal to its `field`.
//
// Where the engine and the table disagree, neither is changed here: the rows are listed in `knownDisagreements`
// and checked separately, so agreeing rows stay green, a new disagreement fails, and a settled one (the engine
// now agrees) fails too until it is taken off the list.

/// Rows of the table the engine currently disagrees with, by name, with what the engine does. To be settled by
/// fixing the engine or the table; remove a row here once it agrees.
let knownDisagreements: [String: String] = [:]

/// One row of the table.
struct MessageExample: Sendable, CustomTestStringConvertible {
    var name: String
    /// The message as one NDJSON line: the row's `message` exactly as written in the file (its line breaks, which
    /// JSON allows only between tokens, turned into spaces), or its `raw` text.
    var line: [UInt8]
    var valid: Bool
    var reason: String?
    var field: String?

    var testDescription: String { name }
}

enum MessageExamples {
    static let path = TestResources.sourcePath("Fixtures/message-examples.json")

    static let loaded: Result<[MessageExample], TestFailure> = {
        do { return .success(try load()) } catch { return .failure(TestFailure("\(path): \(error)")) }
    }()

    static var all: [MessageExample] { (try? loaded.get()) ?? [] }
    static var agreeing: [MessageExample] { all.filter { knownDisagreements[$0.name] == nil } }
    static var disagreeing: [MessageExample] { all.filter { knownDisagreements[$0.name] != nil } }

    static func load() throws -> [MessageExample] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let rows = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw TestFailure("not an array of objects")
        }
        // The rows' `message` values as they are written, in order.
        let spans = try RawJSONMembers.rows(Array(data))
        guard spans.count == rows.count else { throw TestFailure("\(spans.count) raw rows for \(rows.count) rows") }
        return try zip(rows, spans).map { row, raw in
            guard let name = row["name"] as? String, let valid = row["valid"] as? Bool else {
                throw TestFailure("a row without name or valid: \(row)")
            }
            let line: [UInt8]
            if let text = row["raw"] as? String {
                line = Array(text.utf8)
            } else if let message = raw["message"] {
                line = message.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
            } else {
                throw TestFailure("row \(name) has neither message nor raw")
            }
            return MessageExample(
                name: name, line: line, valid: valid, reason: row["reason"] as? String, field: row["field"] as? String)
        }
    }

    /// Every row appended in one batch to a fresh store: its outcome and, when appended, the stored JSON.
    static let results: Result<[String: RowResult], TestFailure> = {
        do {
            let examples = try loaded.get()
            return .success(try withStore { store in
                let outcomes = try store.appendSync(json: examples.map(\.line), source: "message-examples.json")
                var out: [String: RowResult] = [:]
                for (example, outcome) in zip(examples, outcomes) {
                    var json: String?
                    if case .appended(let p) = outcome { json = try store.event(at: p)?.json }
                    out[example.name] = RowResult(outcome: outcome, json: json)
                }
                return out
            })
        } catch {
            return .failure(error as? TestFailure ?? TestFailure("\(error)"))
        }
    }()

    struct RowResult: Sendable {
        var outcome: AppendOutcome
        var json: String?
    }

    /// nil when the engine agrees with the row; otherwise what differs.
    static func disagreement(_ example: MessageExample, _ outcome: AppendOutcome) -> String? {
        switch outcome {
        case .appended, .duplicate:
            return example.valid
                ? nil : "accepted; the table expects a rejection (\(example.field ?? "?"): \(example.reason ?? "?"))"
        case .rejected(let rejection):
            guard !example.valid else { return "rejected (\(rejection.description)); the table expects it accepted" }
            var problems: [String] = []
            if let reason = example.reason, !rejection.description.lowercased().contains(reason.lowercased()) {
                problems.append("reason \"\(rejection.description)\" does not contain \"\(reason)\"")
            }
            if let field = example.field, field != rejection.field {
                problems.append("field \"\(rejection.field)\", the table says \"\(field)\"")
            }
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        }
    }
}

@Suite struct ValidationTests {
    @Test func tableLoads() throws {
        let examples = try MessageExamples.loaded.get()
        #expect(examples.count >= 70)
        #expect(Set(examples.map(\.name)).count == examples.count, "row names must be unique")
        #expect(examples.contains { $0.valid } && examples.contains { !$0.valid })
        for e in examples where !e.valid { #expect(e.reason != nil, "\(e.name): an invalid row needs a reason") }
        for name in knownDisagreements.keys {
            #expect(examples.contains { $0.name == name }, "knownDisagreements names a row the table lacks: \(name)")
        }
        _ = try MessageExamples.results.get()
    }

    @Test(arguments: MessageExamples.agreeing)
    func engineAgreesWithTable(_ example: MessageExample) throws {
        let result = try #require(try MessageExamples.results.get()[example.name])
        let problem = MessageExamples.disagreement(example, result.outcome)
        #expect(problem == nil, "\(example.name): \(problem ?? "")\n  line: \(String(decoding: example.line, as: UTF8.self))")
    }

    /// The listed disagreements are still there: when one is settled, this fails until the row leaves the list.
    @Test(arguments: MessageExamples.disagreeing)
    func knownDisagreementIsStillThere(_ example: MessageExample) throws {
        let result = try #require(try MessageExamples.results.get()[example.name])
        let problem = MessageExamples.disagreement(example, result.outcome)
        #expect(problem != nil, "\(example.name) now agrees with the table: remove it from knownDisagreements")
    }

    /// Valid rows come back from the store as they went in.
    @Test func acceptedRowsRoundTrip() throws {
        let results = try MessageExamples.results.get()
        var checked = 0
        for example in try MessageExamples.loaded.get() {
            guard let json = results[example.name]?.json else { continue }
            let input = String(decoding: example.line, as: UTF8.self)
            #expect(try jsonSemanticallyEqual(json, input), "\(example.name)\nin:  \(input)\nout: \(json)")
            checked += 1
        }
        // Rows share messageIds (`m-1`): only the first of each is appended, the others are duplicates.
        #expect(checked >= 10)
    }
}

/// The raw text of each member of each object of a top-level JSON array, so a row's `message` can be sent exactly
/// as the table writes it (key order, number spelling, escapes).
enum RawJSONMembers {
    static func rows(_ b: [UInt8]) throws -> [[String: ArraySlice<UInt8>]] {
        var i = 0
        func ws() { while i < b.count, [0x20, 0x0A, 0x0D, 0x09].contains(b[i]) { i += 1 } }
        func expect(_ c: UInt8) throws {
            ws()
            guard i < b.count, b[i] == c else { throw TestFailure("expected \(Character(Unicode.Scalar(c))) at byte \(i)") }
            i += 1
        }
        func skipString() throws {
            i += 1
            while i < b.count, b[i] != 0x22 { i += b[i] == 0x5C ? 2 : 1 }
            guard i < b.count else { throw TestFailure("unterminated string") }
            i += 1
        }
        func skipValue() throws {
            ws()
            guard i < b.count else { throw TestFailure("unexpected end") }
            switch b[i] {
            case 0x22: try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = b[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                i += 1
                ws()
                if b[i] == close { i += 1; return }
                while true {
                    if close == UInt8(ascii: "}") {
                        ws()
                        try skipString()
                        try expect(UInt8(ascii: ":"))
                    }
                    try skipValue()
                    ws()
                    if b[i] == close { i += 1; return }
                    try expect(UInt8(ascii: ","))
                }
            default:
                while i < b.count, !([0x2C, 0x7D, 0x5D, 0x20, 0x0A, 0x0D, 0x09] as [UInt8]).contains(b[i]) { i += 1 }
            }
        }
        var out: [[String: ArraySlice<UInt8>]] = []
        try expect(UInt8(ascii: "["))
        ws()
        if b[i] == UInt8(ascii: "]") { return out }
        while true {
            try expect(UInt8(ascii: "{"))
            var members: [String: ArraySlice<UInt8>] = [:]
            ws()
            if b[i] != UInt8(ascii: "}") {
                while true {
                    ws()
                    let keyStart = i
                    try skipString()
                    let key = try JSONSerialization.jsonObject(with: Data(b[keyStart..<i]), options: .fragmentsAllowed)
                    try expect(UInt8(ascii: ":"))
                    ws()
                    let valueStart = i
                    try skipValue()
                    members[key as? String ?? ""] = b[valueStart..<i]
                    ws()
                    if b[i] == UInt8(ascii: "}") { break }
                    try expect(UInt8(ascii: ","))
                }
            }
            try expect(UInt8(ascii: "}"))
            out.append(members)
            ws()
            if b[i] == UInt8(ascii: "]") { return out }
            try expect(UInt8(ascii: ","))
        }
    }
}

/// Times RFC 3339 cannot print back in UTC (found by `tools/fuzz-inputs time`: `9999-12-31T23:59:59.9-12:51` was
/// stored in year 10000 and printed as year 0000).
@Suite struct TimeRangeTests {
    private func outcome(_ json: String) -> (rejection: Rejection?, time: Int64) {
        var encoder = MessageEncoder(symbols: SymbolTable())
        let r = Array(json.utf8).withUnsafeBytes { encoder.encode($0, receivedTime: 1_767_225_600_000) }
        return (r, encoder.eventTime)
    }

    private func track(_ times: String) -> String {
        #"{"type":"track","messageId":"m","userId":"u","event":"E",\#(times)}"#
    }

    @Test func timesPastYear9999OrBefore0000InUTCAreRejected() {
        for text in ["9999-12-31T23:59:59.9-12:51", "0000-01-01T00:00:00+00:01", "9999-12-31T23:30:00-00:30"] {
            let r = outcome(track(#""timestamp":"\#(text)""#)).rejection
            #expect(r?.field == "timestamp", "\(text)")
            #expect(r?.message == "\"\(text)\" is outside the years 0000–9999 once in UTC")
        }
        #expect(outcome(track(#""timestamp":"yesterday""#)).rejection?.message == "not an RFC 3339 time: \"yesterday\"")
    }

    @Test func theFirstAndLastMillisecondsAreKept() {
        for (text, ms) in [("0000-01-01T00:00:00Z", RFC3339.representable.lowerBound),
                           ("9999-12-31T23:59:59.999Z", RFC3339.representable.upperBound),
                           ("9999-12-31T23:59:59.999+00:00", RFC3339.representable.upperBound)] {
            let o = outcome(track(#""timestamp":"\#(text)""#))
            #expect(o.rejection == nil, "\(text)")
            #expect(o.time == ms, "\(text)")
            var out = ByteWriter(capacity: 32)
            RFC3339.format(ms, into: &out)
            #expect(out.bytes.withUnsafeBytes { RFC3339.parseMillis($0) } == ms)
        }
    }

    @Test func aSkewCorrectionOutsideTheYearsIsRejected() {
        let r = outcome(track(
            #""originalTimestamp":"0001-01-01T00:00:00Z","sentAt":"9999-01-01T00:00:00Z","receivedAt":"2026-01-01T00:00:00Z""#
        )).rejection
        #expect(r?.field == "originalTimestamp")
        #expect(r?.message.contains("outside the years 0000–9999") == true)
    }

    @Test func aTypedTimestampOutsideTheYearsIsRejected() {
        var encoder = MessageEncoder(symbols: SymbolTable())
        for t in [RFC3339.representable.upperBound + 1, RFC3339.representable.lowerBound - 1] {
            let m = Message.track("E", messageId: "m", userId: "u", timestamp: t)
            #expect(encoder.encode(m, receivedTime: 1_767_225_600_000)?.field == "timestamp")
        }
        let last = Message.track("E", messageId: "m", userId: "u", timestamp: RFC3339.representable.upperBound)
        #expect(encoder.encode(last, receivedTime: 1_767_225_600_000) == nil)
    }
}
