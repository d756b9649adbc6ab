import Foundation
import Testing

@testable import Journey

// What goes in comes out: a message appended to the store is given back by `events(from:)` and `export` as the
// same JSON (same members and values, numbers as they were written), with the event name and event time the
// semantics (notes/semantics.md §1) give it.

/// A hand-written message and texts its stored JSON must contain verbatim (numbers and times kept as written).
struct TrickyMessage: Sendable, CustomTestStringConvertible {
    var name: String
    var json: String
    var mustContain: [String] = []

    var testDescription: String { name }
}

let trickyMessages: [TrickyMessage] = [
    TrickyMessage(
        name: "unicode in ids, event name, keys and values",
        json: #"{"type":"track","messageId":"rt-ünï-日本-🧀","userId":"u-ü-日本","event":"Käse gekauft 🧀","properties":{"名前":"Zürich","rtl":"العربية","combining":"e\u0301","precomposed":"\u00e9","emoji":"👍🏽","flag":"🇨🇭","nbsp":"a b","separators":"\u2028\u2029","private":"\ue000"}}"#,
        mustContain: [
            #""event":"Käse gekauft 🧀""#, "\"combining\":\"e\u{301}\"", "\"precomposed\":\"\u{e9}\"",
            "\"separators\":\"\u{2028}\u{2029}\"",
        ]),
    TrickyMessage(
        name: "escapes in strings and keys",
        json: #"{"type":"track","messageId":"rt-esc-\"q\"-\\","anonymousId":"a\"b\\c","event":"say \"hi\"\n","properties":{"s":"\"\\\n\u0001\ud83d\ude00","slash":"a\/b","short":"\b\f\n\r\t","nul":"x\u0000y","del":"\u007f","upper":"\u00E9\u00e9","k\"ey\\\u0000":"v"},"context":{"\t":"tab key"}}"#,
        mustContain: [#""s":"\"\\\n\u0001😀""#, #""nul":"x\u0000y""#, #""slash":"a/b""#]),
    TrickyMessage(
        name: "nested arrays and objects",
        json: #"{"type":"track","messageId":"rt-nested","userId":"u1","event":"Nested","properties":{"products":[{"sku":"sku-1","price":9.99,"tags":["a","b"]},{"sku":"sku-2","price":0,"tags":[]}],"matrix":[[1,2],[3,[4,{"deep":[true,{"deeper":null}]}]]],"mixed":[1,"two",3.0,null,false,{},[]]}}"#,
        mustContain: [#""price":9.99"#, #""mixed":[1,"two",3.0,null,false,{},[]]"#]),
    TrickyMessage(
        name: "50 levels of nesting",
        json: #"{"type":"track","messageId":"rt-deep","userId":"u1","event":"Deep","properties":{"d":"#
            + String(repeating: "[", count: 50) + "42" + String(repeating: "]", count: 50) + "}}",
        mustContain: [String(repeating: "[", count: 50) + "42" + String(repeating: "]", count: 50)]),
    TrickyMessage(
        name: "numbers keep their text",
        json: #"{"type":"track","messageId":"rt-numbers","userId":"u1","event":"Numbers","properties":{"zero":0,"negzero":-0,"negzerofrac":-0.0,"onefifty":1.50,"exp":1e10,"Exp":2.5E-3,"expplus":1e+2,"neg":-12.345,"huge":123456789012345678901234,"beyond53":9007199254740993,"int64max":9223372036854775807,"int64min":-9223372036854775808,"eighteen":123456789012345678,"nineteen":1234567890123456789,"tiny":0.000001,"negtiny":-0.05,"trailing":10.0,"frac18":0.12345678901234567,"arr":[0,-1,1.10,1e-7]}}"#,
        mustContain: [
            #""zero":0"#, #""negzero":-0"#, #""negzerofrac":-0.0"#, #""onefifty":1.50"#, #""exp":1e10"#,
            #""Exp":2.5E-3"#, #""expplus":1e+2"#, #""neg":-12.345"#, #""huge":123456789012345678901234"#,
            #""beyond53":9007199254740993"#, #""int64max":9223372036854775807"#,
            #""int64min":-9223372036854775808"#, #""eighteen":123456789012345678"#,
            #""nineteen":1234567890123456789"#, #""tiny":0.000001"#, #""negtiny":-0.05"#, #""trailing":10.0"#,
            #""frac18":0.12345678901234567"#, #""arr":[0,-1,1.10,1e-7]"#,
        ]),
    TrickyMessage(
        name: "true, false and null",
        json: #"{"type":"identify","messageId":"rt-literals","userId":"u1","traits":{"t":true,"f":false,"n":null,"list":[true,false,null]},"extraNull":null,"extraTrue":true}"#,
        mustContain: [#""list":[true,false,null]"#, #""extraNull":null"#]),
    TrickyMessage(
        name: "empty objects and arrays",
        json: #"{"type":"track","messageId":"rt-empty","anonymousId":"a1","event":"Empty","properties":{},"traits":{},"context":{},"list":[],"nested":[[],{},[{}]]}"#,
        mustContain: [#""properties":{}"#, #""nested":[[],{},[{}]]"#]),
    TrickyMessage(
        name: "timestamp with +02:00 offset comes back as written",
        json: #"{"type":"track","messageId":"rt-ts-offset","userId":"u1","event":"E","timestamp":"2026-03-24T05:37:19.986+02:00"}"#,
        mustContain: [#""timestamp":"2026-03-24T05:37:19.986+02:00""#]),
    TrickyMessage(
        name: "timestamp without fraction",
        json: #"{"type":"track","messageId":"rt-ts-nofrac","userId":"u1","event":"E","timestamp":"2026-03-01T12:00:00Z"}"#,
        mustContain: [#""timestamp":"2026-03-01T12:00:00Z""#]),
    TrickyMessage(
        name: "timestamp lowercase t and z",
        json: #"{"type":"track","messageId":"rt-ts-lower","userId":"u1","event":"E","timestamp":"2026-03-01t12:00:00.000z"}"#,
        mustContain: [#""timestamp":"2026-03-01t12:00:00.000z""#]),
    TrickyMessage(
        name: "timestamp with microseconds",
        json: #"{"type":"track","messageId":"rt-ts-micro","userId":"u1","event":"E","timestamp":"2026-03-01T12:00:00.123456Z"}"#,
        mustContain: [#""timestamp":"2026-03-01T12:00:00.123456Z""#]),
    TrickyMessage(
        name: "canonical timestamp",
        json: #"{"type":"track","messageId":"rt-ts-canonical","userId":"u1","event":"E","timestamp":"2026-03-24T03:37:19.986Z"}"#,
        mustContain: [#""timestamp":"2026-03-24T03:37:19.986Z""#]),
    TrickyMessage(
        name: "canonical timestamp before 1970",
        json: #"{"type":"track","messageId":"rt-ts-1969","userId":"u1","event":"E","timestamp":"1969-12-31T23:59:59.999Z"}"#,
        mustContain: [#""timestamp":"1969-12-31T23:59:59.999Z""#]),
    TrickyMessage(
        name: "canonical timestamp in year 1",
        json: #"{"type":"track","messageId":"rt-ts-year1","userId":"u1","event":"E","timestamp":"0001-01-01T00:00:00.000Z"}"#,
        mustContain: [#""timestamp":"0001-01-01T00:00:00.000Z""#]),
    TrickyMessage(
        name: "originalTimestamp, sentAt and receivedAt with offsets",
        json: #"{"type":"track","messageId":"rt-times","anonymousId":"a1","event":"E","originalTimestamp":"2026-03-01T12:00:00.000+01:00","sentAt":"2026-03-01T12:00:05+01:00","receivedAt":"2026-03-01T11:00:07.250Z"}"#,
        mustContain: [
            #""originalTimestamp":"2026-03-01T12:00:00.000+01:00""#, #""sentAt":"2026-03-01T12:00:05+01:00""#,
            #""receivedAt":"2026-03-01T11:00:07.250Z""#,
        ]),
    TrickyMessage(
        name: "null time fields",
        json: #"{"type":"track","messageId":"rt-null-times","anonymousId":"a1","event":"E","timestamp":null,"sentAt":null,"originalTimestamp":null,"receivedAt":null}"#,
        mustContain: [#""timestamp":null"#]),
    TrickyMessage(
        name: "page with name and unknown fields",
        json: #"{"type":"page","messageId":"rt-page","anonymousId":"a1","name":"Home","channel":"web","properties":{"path":"/","title":"Home","url":"https://example.invalid/?q=1&r=2"},"integrations":{"All":false,"Mixpanel":true},"version":2,"writeKey":"wk","_metadata":{"bundled":["Segment.io"],"unbundled":[]}}"#,
        mustContain: [#""name":"Home""#, #""version":2"#]),
    TrickyMessage(
        name: "screen with name and properties",
        json: #"{"type":"screen","messageId":"rt-screen","userId":"u1","name":"Cart","channel":"mobile","properties":{"items":2,"currency":"EUR","total":185.21}}"#,
        mustContain: [#""total":185.21"#]),
    TrickyMessage(
        name: "identify with traits, context and a stray event",
        json: #"{"type":"identify","messageId":"rt-identify","userId":"u1","anonymousId":"a1","event":"not the event name","traits":{"email":"ana@example.invalid","plan":"pro","address":{"city":"Zürich","country":"CH"}},"context":{"ip":"192.0.2.1","locale":"de-CH","library":{"name":"analytics.js","version":"4.1.0"}}}"#,
        mustContain: [#""event":"not the event name""#]),
    TrickyMessage(
        name: "alias with previousId and unknown fields",
        json: #"{"type":"alias","messageId":"rt-alias","userId":"u1","previousId":"a1","context":{"source":"crm"},"custom":{"x":1}}"#,
        mustContain: [#""previousId":"a1""#]),
    TrickyMessage(
        name: "group with groupId and traits",
        json: #"{"type":"group","messageId":"rt-group","userId":"u1","groupId":"g-42","traits":{"name":"Acme","employees":120,"industry":"Tools & Dies"}}"#,
        mustContain: [#""groupId":"g-42""#]),
    TrickyMessage(
        name: "userId null next to an anonymousId",
        json: #"{"type":"track","messageId":"rt-userid-null","userId":null,"anonymousId":"a1","event":"E"}"#,
        mustContain: [#""userId":null"#]),
    TrickyMessage(
        name: "empty userId next to an anonymousId",
        json: #"{"type":"track","messageId":"rt-userid-empty","userId":"","anonymousId":"a1","event":"E"}"#,
        mustContain: [#""userId":"""#]),
    TrickyMessage(
        name: "empty previousId on a track",
        json: #"{"type":"track","messageId":"rt-prev-empty","userId":"u1","previousId":"","event":"E"}"#,
        mustContain: [#""previousId":"""#]),
    TrickyMessage(
        name: "empty channel",
        json: #"{"type":"track","messageId":"rt-channel-empty","userId":"u1","event":"E","channel":""}"#,
        mustContain: [#""channel":"""#]),
    TrickyMessage(
        name: "unicode channel with escapes",
        json: #"{"type":"track","messageId":"rt-channel-unicode","userId":"u1","event":"E","channel":"📱 \"app\"\u00e9"}"#,
        mustContain: [#""channel":"📱 \"app\"é""#]),
    TrickyMessage(
        name: "core field names nested inside properties",
        json: #"{"type":"track","messageId":"rt-shadow","userId":"u1","event":"E","properties":{"type":"page","messageId":5,"timestamp":12,"userId":null,"event":["x"],"properties":"not an object"}}"#,
        mustContain: [#""timestamp":12"#]),
    TrickyMessage(
        name: "long keys, empty key, long values under low-cardinality keys",
        json: #"{"type":"track","messageId":"rt-keys","userId":"u1","event":"E","properties":{""#
            + String(repeating: "k", count: 65) + #"":1,"":"empty key","currency":"EUR","plan":{"name":"pro"},"name":"a name much longer than twenty-four bytes","category":["shoes","shoes",7],"country":"","path":"/a/b"},"#
            + #""x-"# + String(repeating: "é", count: 80) + #"":"long top-level key"}"#,
        mustContain: [#""name":"a name much longer than twenty-four bytes""#, #""category":["shoes","shoes",7]"#]),
    TrickyMessage(
        name: "whitespace everywhere",
        json: "{\n  \"type\" : \"track\" ,\r\n\t\"messageId\":\"rt-ws\",\"userId\" :\"u1\",\n\"event\":\"E\",\"properties\" : { \"a\" : [ 1 , 2.50 , { } ] , \"b\" : null }\n}\n",
        mustContain: [#""a":[1,2.50,{}]"#]),
]

@Suite struct RecordRoundTripTests {
    /// A damaged record (a length near `Int.max`) reads as damaged instead of trapping on an overflow (found by
    /// `tools/fuzz-inputs records`).
    @Test func aDamagedLengthIsReportedNotTrapped() {
        var encoder = MessageEncoder(symbols: SymbolTable())
        let line = #"{"type":"track","messageId":"m","userId":"u","event":"E"}"#
        #expect(Array(line.utf8).withUnsafeBytes { encoder.encode($0, receivedTime: 0) } == nil)
        func export(_ record: [UInt8]) -> Bool? {
            var out = ByteWriter(capacity: 64)
            return record.withUnsafeBytes { b in
                RecordView(b).map { RecordJSON(symbols: encoder.symbols.table).write($0, into: &out) }
            }
        }
        #expect(export(encoder.record.bytes) == true)
        // Flagged as having extras, which hold one key of Int.max bytes: key reference 2·length + 1 = 2^64 − 1.
        var damaged = encoder.record.bytes
        damaged[2] |= UInt8(RecordLayout.hasExtras)
        damaged += [UInt8](repeating: 0xFF, count: 9) + [0x01]
        #expect(export(damaged) == false)
        let bounds = [UInt8](repeating: 0, count: 8).withUnsafeBytes { b in
            var r = ByteReader(b, offset: 3)
            return (r.bytes(Int.max), r.bytes(6), r.bytes(5)?.count)
        }
        #expect(bounds.0 == nil && bounds.1 == nil && bounds.2 == 5)
    }

    @Test(arguments: trickyMessages)
    func trickyMessageRoundTrips(_ message: TrickyMessage) async throws {
        try await withStore { store in
            let outcome = try await store.append(json: message.json)
            let position = try #require(outcome.appendedPosition, "not appended: \(outcome)")
            let event = try #require(try store.event(at: position))
            #expect(try jsonSemanticallyEqual(event.json, message.json), "\nin:  \(message.json)\nout: \(event.json)")
            for text in message.mustContain {
                #expect(containsBytes(event.json, text), "\(text) not in \(event.json)")
            }
            // The decoded fields agree with the message.
            let input = try jsonObject(message.json)
            #expect(event.messageId == input["messageId"] as? String)
            #expect(event.type.name == input["type"] as? String)
            #expect(event.userId == (input["userId"] as? String).flatMap { $0.isEmpty ? nil : $0 })
            #expect(event.anonymousId == (input["anonymousId"] as? String).flatMap { $0.isEmpty ? nil : $0 })
            #expect(event.channel == input["channel"] as? String)
            // Export prints the same line.
            #expect(try exportedLines(store) == [event.json])
        }
    }

    @Test func trickyMessagesInOneBatchKeepTheirOrder() throws {
        try withStore { store in
            let outcomes = try appendSync(store, trickyMessages.map(\.json))
            #expect(outcomes == (1...UInt64(trickyMessages.count)).map { .appended($0) })
            let events = try allEvents(store)
            #expect(events.map(\.position) == Array(1...UInt64(trickyMessages.count)))
            for (event, message) in zip(events, trickyMessages) {
                #expect(try jsonSemanticallyEqual(event.json, message.json), "\(message.name)")
            }
            #expect(try exportedLines(store) == events.map(\.json))
        }
    }

    /// U+FEFF inside strings, escaped or not, comes back as the character. Checked byte for byte: Foundation's
    /// JSONSerialization on Linux drops a raw U+FEFF at the start of a string or right after an escape, so it cannot
    /// be the reference here.
    @Test func byteOrderMarksInStringsAreKept() throws {
        try withStore { store in
            let json = "{\"type\":\"track\",\"messageId\":\"bom\",\"userId\":\"u\u{FEFF}1\",\"event\":\"\u{FEFF}E\","
                + #""properties":{"escaped":"\ufeff","raw":"\#u{FEFF}","mid":"a\#u{FEFF}b","afterEscape":"\u0041\#u{FEFF}b","\#u{FEFF}key":1}}"#
            #expect(try appendSync(store, [json]) == [.appended(1)])
            let event = try #require(try store.event(at: 1))
            let bom = "\u{FEFF}"
            #expect(event.userId == "u\(bom)1")
            #expect(event.name == "\(bom)E")
            let expected = #"{"messageId":"bom","type":"track","userId":"u\#(bom)1","event":"\#(bom)E","properties":{"escaped":"\#(bom)","raw":"\#(bom)","mid":"a\#(bom)b","afterEscape":"A\#(bom)b","\#(bom)key":1}}"#
            #expect(Array(event.json.utf8) == Array(expected.utf8), "\(event.json)")
        }
    }

    // MARK: Event names

    @Test(arguments: [
        (#"{"type":"page","messageId":"n-page","anonymousId":"a1","name":"Home"}"#, "Page Viewed"),
        (#"{"type":"page","messageId":"n-page-event","anonymousId":"a1","event":"Not This"}"#, "Page Viewed"),
        (#"{"type":"screen","messageId":"n-screen","userId":"u1","name":"Cart"}"#, "Screen Viewed"),
        (#"{"type":"identify","messageId":"n-identify","userId":"u1","traits":{"plan":"pro"}}"#, "Identify"),
        (#"{"type":"alias","messageId":"n-alias","userId":"u1","previousId":"a1"}"#, "Alias"),
        (#"{"type":"group","messageId":"n-group","userId":"u1","groupId":"g1"}"#, "Group"),
        (#"{"type":"track","messageId":"n-track","userId":"u1","event":"Order Completed"}"#, "Order Completed"),
        (#"{"type":"track","messageId":"n-track-pv","userId":"u1","event":"Page Viewed"}"#, "Page Viewed"),
    ])
    func eventNameInTheLog(_ json: String, _ expected: String) throws {
        try withStore { store in
            let outcomes = try appendSync(store, [json])
            #expect(outcomes == [.appended(1)])
            let event = try #require(try store.event(at: 1))
            #expect(event.name == expected)
            #expect(try store.status().eventsByName == [expected: 1])
            #expect(try jsonSemanticallyEqual(event.json, json))
        }
    }

    // MARK: Event time

    /// Times of a message and the event time they give. `receivedAt` is in every case, so none depends on the
    /// engine's clock.
    struct TimeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var times: String
        var eventTime: Int64
        var testDescription: String { name }
    }

    static let received = utcMillis(2026, 3, 1, 11, 0, 7, 250)

    static let timeCases: [TimeCase] = [
        TimeCase(
            name: "timestamp wins over the other times",
            times: #""timestamp":"2026-03-24T05:37:19.986+02:00","originalTimestamp":"2026-03-01T12:00:00.000+01:00","sentAt":"2026-03-01T12:00:05.000+01:00","receivedAt":"2026-03-01T11:00:07.250Z""#,
            eventTime: utcMillis(2026, 3, 24, 3, 37, 19, 986)),
        TimeCase(
            name: "receivedAt − (sentAt − originalTimestamp)",
            times: #""originalTimestamp":"2026-03-01T12:00:00.000+01:00","sentAt":"2026-03-01T12:00:05.000+01:00","receivedAt":"2026-03-01T11:00:07.250Z""#,
            // The device clock is 2.25 s fast: sent at 11:00:05 by its clock, received at 11:00:07.250.
            eventTime: utcMillis(2026, 3, 1, 11, 0, 2, 250)),
        TimeCase(
            name: "clock-skew correction across midnight and offsets",
            times: #""originalTimestamp":"2026-03-01T23:59:59.500-05:00","sentAt":"2026-03-02T05:00:01.000Z","receivedAt":"2026-03-02T04:59:58.000Z""#,
            eventTime: utcMillis(2026, 3, 2, 4, 59, 56, 500)),
        TimeCase(
            name: "originalTimestamp without sentAt: the received time",
            times: #""originalTimestamp":"2020-01-01T00:00:00.000Z","receivedAt":"2026-03-01T11:00:07.250Z""#,
            eventTime: received),
        TimeCase(
            name: "only receivedAt",
            times: #""receivedAt":"2026-03-01T11:00:07.250Z""#, eventTime: received),
        TimeCase(
            name: "fraction digits past milliseconds are truncated",
            times: #""timestamp":"2026-03-01T12:00:00.123999Z","receivedAt":"2026-03-01T11:00:07.250Z""#,
            eventTime: utcMillis(2026, 3, 1, 12, 0, 0, 123)),
        TimeCase(
            name: "timestamp with a negative offset and no fraction",
            times: #""timestamp":"2026-03-01T06:30:00-05:30","receivedAt":"2026-03-01T11:00:07.250Z""#,
            eventTime: utcMillis(2026, 3, 1, 12)),
        TimeCase(
            name: "29 February of a leap year",
            times: #""timestamp":"2024-02-29T23:59:59.999Z","receivedAt":"2026-03-01T11:00:07.250Z""#,
            eventTime: utcMillis(2024, 2, 29, 23, 59, 59, 999)),
    ]

    @Test(arguments: timeCases)
    func eventTime(_ c: TimeCase) throws {
        try withStore { store in
            let json = #"{"type":"track","messageId":"time","userId":"u1","event":"E","# + c.times + "}"
            let before = nowMillis()
            #expect(try appendSync(store, [json]) == [.appended(1)])
            let after = nowMillis()
            let event = try #require(try store.event(at: 1))
            #expect(event.eventTime == c.eventTime)
            // The store's received time is its own clock when it took the message, whatever `receivedAt` says.
            #expect(event.receivedTime >= before && event.receivedTime <= after)
            #expect(try jsonSemanticallyEqual(event.json, json), "\(event.json)")
        }
    }

    @Test func withoutTimesTheEngineClockIsUsed() throws {
        try withStore { store in
            let before = nowMillis()
            let outcomes = try appendSync(store, [
                #"{"type":"track","messageId":"now-1","userId":"u1","event":"E"}"#,
                #"{"type":"track","messageId":"now-2","userId":"u1","event":"E","originalTimestamp":"2020-01-01T00:00:00Z"}"#,
                #"{"type":"track","messageId":"now-3","userId":"u1","event":"E","timestamp":"2020-01-01T00:00:00.000Z"}"#,
            ])
            let after = nowMillis()
            #expect(outcomes == [.appended(1), .appended(2), .appended(3)])
            let events = try allEvents(store)
            for e in events {
                #expect(e.receivedTime >= before && e.receivedTime <= after)
            }
            #expect(events[0].eventTime == events[0].receivedTime)
            #expect(events[1].eventTime == events[1].receivedTime)
            #expect(events[2].eventTime == utcMillis(2020, 1, 1))
            // No timestamp was invented for the message that had none.
            #expect(try jsonObject(events[0].json)["timestamp"] == nil)
        }
    }

    // MARK: Property-based: random messages

    @Test(arguments: [UInt64(1), 0xC0FFEE, 0x5EED_2026])
    func randomMessagesRoundTrip(seed: UInt64) throws {
        var generator = RandomMessageGenerator(seed: seed)
        let messages = (0..<250).map { generator.message(index: $0) }
        try withStore { store in
            // Batches of random sizes.
            var outcomes: [AppendOutcome] = []
            var rest = messages[...]
            while !rest.isEmpty {
                let n = min(rest.count, generator.int(1..<60))
                outcomes += try appendSync(store, rest.prefix(n).map(\.json))
                rest = rest.dropFirst(n)
            }
            #expect(outcomes == (1...UInt64(messages.count)).map { .appended($0) })
            let events = try allEvents(store, pageSize: 97)
            try #require(events.count == messages.count)
            var failures = 0
            for (i, (event, message)) in zip(events, messages).enumerated() {
                let same = try jsonSemanticallyEqual(event.json, message.json)
                #expect(same, "seed \(seed) message \(i)\nin:  \(message.json)\nout: \(event.json)")
                #expect(event.position == UInt64(i + 1))
                #expect(event.type == message.type)
                #expect(event.name == message.eventName, "seed \(seed) message \(i)")
                #expect(event.messageId == message.messageId, "seed \(seed) message \(i)")
                if let t = message.eventTime { #expect(event.eventTime == t, "seed \(seed) message \(i): \(message.json)") }
                for text in message.verbatim {
                    #expect(containsBytes(event.json, text), "seed \(seed) message \(i): \(text) not in \(event.json)")
                }
                if !same { failures += 1 }
                if failures > 5 { break }
            }
            #expect(try exportedLines(store) == events.map(\.json))
        }
    }
}

// MARK: - Random messages

/// SplitMix64: small, seedable, the same sequence on every platform.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct RandomMessage {
    var json: String
    var type: CallType
    var messageId: String
    var eventName: String
    /// Known when the message carries enough times to fix it without the engine's clock.
    var eventTime: Int64?
    /// Texts the stored JSON must contain as written (times, numbers).
    var verbatim: [String]
}

/// Random Segment messages written as JSON text with random escaping and whitespace, and what the store must
/// make of them.
struct RandomMessageGenerator {
    var rng: SeededRandom
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        rng = SeededRandom(state: seed)
    }

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }

    mutating func ws() -> String {
        chance(0.85) ? "" : pick([" ", "  ", "\n", "\t", "\r\n", " \n\t "])
    }

    // Strings

    mutating func scalar() -> Unicode.Scalar {
        let r = int(0..<100)
        let value: UInt32
        switch r {
        case 0..<55: value = UInt32(int(0x20..<0x7F))
        case 55..<60: value = UInt32(int(0x00..<0x20))
        case 60..<64: value = pick([0x22, 0x5C, 0x2F, 0x7F])
        case 64..<74: value = UInt32(int(0xA0..<0x250))
        case 74..<79: value = UInt32(int(0x4E00..<0xA000))
        case 79..<82: value = UInt32(int(0x600..<0x700))
        case 82..<85: value = UInt32(int(0x300..<0x370))
        case 85..<92: value = UInt32(int(0x1F300..<0x1FB00))
        // Not U+FEFF: Foundation's JSONSerialization on Linux drops some byte-order marks inside strings, so the
        // reference would disagree with itself (the tricky-message table checks U+FEFF byte for byte instead).
        case 92..<95: value = pick([0x2028, 0x2029, 0xFFFD, 0x85])
        case 95..<97: value = UInt32(int(0xE000..<0xF900))
        default: value = UInt32(int(0x10000..<0x10FFFF))
        }
        return Unicode.Scalar(value) ?? "?"
    }

    mutating func string(length: Range<Int>) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<int(length) { s.append(scalar()) }
        return String(s)
    }

    /// A JSON string literal for `s`, escaping what must be escaped and, at random, what need not be.
    mutating func literal(_ s: String) -> String {
        var out = "\""
        func hex(_ v: UInt32, upper: Bool) -> String {
            let h = String(v, radix: 16, uppercase: upper)
            return "\\u" + String(repeating: "0", count: max(0, 4 - h.count)) + h
        }
        for u in s.unicodeScalars {
            let v = u.value
            let upper = chance(0.5)
            switch v {
            case 0x22: out += chance(0.8) ? "\\\"" : hex(v, upper: upper)
            case 0x5C: out += chance(0.8) ? "\\\\" : hex(v, upper: upper)
            case 0x2F: out += chance(0.3) ? "\\/" : "/"
            case 0x08 where chance(0.7): out += "\\b"
            case 0x0C where chance(0.7): out += "\\f"
            case 0x0A where chance(0.7): out += "\\n"
            case 0x0D where chance(0.7): out += "\\r"
            case 0x09 where chance(0.7): out += "\\t"
            case 0..<0x20: out += hex(v, upper: upper)
            default:
                if chance(0.15) {
                    if v > 0xFFFF {
                        let w = v - 0x10000
                        out += hex(0xD800 + (w >> 10), upper: upper) + hex(0xDC00 + (w & 0x3FF), upper: upper)
                    } else {
                        out += hex(v, upper: upper)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static let lowCardinalityKeys = ["plan", "path", "name", "topic", "brand", "locale", "source", "reason", "country",
                                     "currency", "category", "product_id"]

    mutating func key() -> String {
        switch int(0..<20) {
        case 0..<4: return pick(Self.lowCardinalityKeys)
        case 4: return string(length: 65..<90)
        case 5: return ""
        case 6: return pick(["type", "messageId", "userId", "timestamp", "event", "properties"])
        default: return string(length: 1..<12)
        }
    }

    // Numbers: (text, verbatim-checkable)

    mutating func digits(_ n: Int, leadingNonZero: Bool) -> String {
        var s = ""
        for i in 0..<n { s += String(i == 0 && leadingNonZero ? int(1..<10) : int(0..<10)) }
        return s
    }

    mutating func number() -> String {
        let sign = chance(0.3) ? "-" : ""
        switch int(0..<10) {
        case 0: return pick(["0", "-0", "0.0", "-0.0", "0.00"])
        case 1, 2: return sign + String(int(0..<1000))
        case 3: return String(Int64.random(in: .min ... .max, using: &rng))
        case 4: return sign + digits(int(19..<31), leadingNonZero: true)
        case 5, 6:
            let i = chance(0.3) ? "0" : digits(int(1..<10), leadingNonZero: true)
            return sign + i + "." + digits(int(1..<9), leadingNonZero: false)
        case 7:
            return sign + digits(int(1..<12), leadingNonZero: true) + "." + digits(int(8..<20), leadingNonZero: false)
        default:
            let mantissa = chance(0.5) ? String(int(1..<10)) : "\(int(1..<10)).\(digits(int(1..<6), leadingNonZero: false))"
            return sign + mantissa + pick(["e", "E"]) + pick(["", "+", "-"]) + String(int(0..<300))
        }
    }

    // Values

    mutating func value(depth: Int, verbatim: inout [String]) -> String {
        let r = depth >= 4 ? int(0..<6) : int(0..<9)
        switch r {
        case 0: return "null"
        case 1: return chance(0.5) ? "true" : "false"
        case 2, 3:
            let n = number()
            if n.count > 3 { verbatim.append(n) }
            return n
        case 4: return literal(string(length: 0..<16))
        case 5:
            // RFC 3339 times as ordinary values (canonical ones are stored as integers and printed back).
            guard chance(0.4) else { return literal(string(length: 0..<16)) }
            let t = time().0
            verbatim.append(t)
            return literal(t)
        case 6: return object(depth: depth + 1, members: int(0..<6), verbatim: &verbatim)
        default:
            let items = (0..<int(0..<6)).map { _ in value(depth: depth + 1, verbatim: &verbatim) }
            return "[" + ws() + items.map { $0 + ws() }.joined(separator: "," + ws()) + "]"
        }
    }

    mutating func object(depth: Int, members: Int, verbatim: inout [String]) -> String {
        var seen = Set<String>()
        var parts: [String] = []
        for _ in 0..<members {
            let k = key()
            guard seen.insert(k).inserted else { continue }
            parts.append(literal(k) + ws() + ":" + ws() + value(depth: depth, verbatim: &verbatim))
        }
        return "{" + ws() + parts.map { $0 + ws() }.joined(separator: "," + ws()) + "}"
    }

    // Times: (text, UTC ms)

    mutating func time() -> (String, Int64) {
        let (y, mo, d) = (int(1900..<2100), int(1..<13), int(1..<29))
        let (h, mi, s) = (int(0..<24), int(0..<60), int(0..<60))
        let pad = { (v: Int, w: Int) in String(repeating: "0", count: max(0, w - String(v).count)) + String(v) }
        var text = "\(pad(y, 4))-\(pad(mo, 2))-\(pad(d, 2))\(chance(0.9) ? "T" : "t")\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2))"
        var ms = 0
        if chance(0.8) {
            let n = pick([1, 2, 3, 3, 3, 6, 9])
            let frac = digits(n, leadingNonZero: false)
            text += "." + frac
            ms = Int((frac + "00").prefix(3))!
        }
        var offset = 0
        switch int(0..<4) {
        case 0, 1: text += chance(0.9) ? "Z" : "z"
        default:
            let (oh, om) = (int(0..<15), pick([0, 30, 45]))
            let plus = chance(0.5)
            text += "\(plus ? "+" : "-")\(pad(oh, 2)):\(pad(om, 2))"
            offset = (oh * 60 + om) * (plus ? 1 : -1)
        }
        return (text, utcMillis(y, mo, d, h, mi, s, ms) - Int64(offset) * 60_000)
    }

    // Messages

    /// A non-empty id as a JSON literal.
    mutating func identifier() -> String {
        let id = "i" + string(length: 0..<20)
        return literal(id)
    }

    mutating func message(index: Int) -> RandomMessage {
        let type = pick(CallType.allCases)
        let messageId = "r\(seed)-\(index)-" + string(length: 0..<12)
        var members: [(String, String)] = [("type", literal(type.name)), ("messageId", literal(messageId))]
        var verbatim: [String] = []
        if type == .alias {
            members.append(("userId", identifier()))
            members.append(("previousId", identifier()))
        } else {
            switch int(0..<3) {
            case 0: members.append(("userId", identifier()))
            case 1: members.append(("anonymousId", identifier()))
            default:
                members.append(("userId", identifier()))
                members.append(("anonymousId", identifier()))
            }
        }
        var eventName = ""
        switch type {
        case .track:
            eventName = chance(0.5) ? pick(["Product Viewed", "Order Completed", "Signed Up"]) : "e" + string(length: 0..<30)
            members.append(("event", literal(eventName)))
        case .page, .screen:
            eventName = type == .page ? "Page Viewed" : "Screen Viewed"
            if chance(0.7) { members.append(("name", literal(string(length: 0..<20)))) }
        case .identify: eventName = "Identify"
        case .alias: eventName = "Alias"
        case .group:
            eventName = "Group"
            if chance(0.8) { members.append(("groupId", literal(string(length: 1..<20)))) }
        }
        if chance(0.5) { members.append(("channel", literal(chance(0.7) ? pick(["web", "ios", "android", "email"]) : string(length: 0..<10)))) }

        var eventTime: Int64?
        switch int(0..<4) {
        case 0:
            let (t, ms) = time()
            members.append(("timestamp", literal(t)))
            verbatim.append(t)
            eventTime = ms
            if chance(0.5) {
                let (r, _) = time()
                members.append(("receivedAt", literal(r)))
                verbatim.append(r)
            }
        case 1:
            let (o, oms) = time()
            let (s, sms) = time()
            let (r, rms) = time()
            members += [("originalTimestamp", literal(o)), ("sentAt", literal(s)), ("receivedAt", literal(r))]
            verbatim += [o, s, r]
            eventTime = rms - (sms - oms)
        case 2:
            let (r, rms) = time()
            members.append(("receivedAt", literal(r)))
            verbatim.append(r)
            eventTime = rms
        default: break
        }
        for field in ["properties", "traits", "context"] where chance(0.5) {
            members.append((field, object(depth: 1, members: int(0..<8), verbatim: &verbatim)))
        }
        for _ in 0..<int(0..<3) {
            members.append(("x-" + string(length: 0..<10), value(depth: 1, verbatim: &verbatim)))
        }
        // Unknown top-level keys are unique; core ones come first, then a shuffle.
        var seen = Set<String>()
        members = members.filter { seen.insert($0.0).inserted }
        members.shuffle(using: &rng)
        let body = members.map { literal($0.0) + ws() + ":" + ws() + $0.1 }
        let json = ws() + "{" + ws() + body.map { $0 + ws() }.joined(separator: "," + ws()) + "}" + ws()
        return RandomMessage(
            json: json, type: type, messageId: messageId, eventName: eventName, eventTime: eventTime,
            verbatim: verbatim)
    }
}
