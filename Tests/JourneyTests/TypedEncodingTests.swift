import Testing

@testable import Journey

// Typed messages skip JSON on the append path: each must still get the very record (or the very rejection) its JSON
// gets, since export, dedup and verify all read those bytes.

@Suite struct TypedEncodingTests {
    private struct Maker {
        var rng: SplitMix64

        mutating func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
        mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }

        mutating func text() -> String {
            pick([
                "web", "", "sku-42", "Ünïcødé ✓", "quote \" and \\ slash", "tab\tnew\nline\u{1}", "2026-03-01T10:00:00.000Z",
                "2026-03-01T10:00:00Z", "EUR", String(repeating: "x", count: 30), "🙂", "a-1-5f3e2a1c",
            ])
        }

        mutating func optionalText() -> String? { chance(40) ? nil : text() }

        mutating func number() -> JSONValue {
            if chance(50) {
                return .integer(pick([0, 1, -1, 42, Int64.max, Int64.min, 999_999_999_999_999_999, -1_000_000_000_000_000_000]))
            }
            if chance(30) { return .number(Double(Int64(rng.next() % 2_000_001) - 1_000_000) / pick([1, 10, 100, 1000, 7, 3e6])) }
            return .number(pick([0.1, 19.99, 100.0, -0.0, 1e-7, 1.5e21, 123456789.125, .infinity, .nan, .leastNonzeroMagnitude, 37.59]))
        }

        mutating func value(depth: Int) -> JSONValue {
            switch rng.next() % (depth > 3 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(chance(50))
            case 2: return number()
            case 3, 4: return .string(text())
            case 5: return .array((0..<Int(rng.next() % 4)).map { _ in value(depth: depth + 1) })
            default: return .object(object(depth: depth + 1))
            }
        }

        mutating func object(depth: Int) -> [String: JSONValue] {
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int(rng.next() % 5) {
                o[pick(["price", "currency", "plan", "path", "name", "product_id", "items", "meta", "k", "Ü", "country"])] =
                    value(depth: depth)
            }
            return o
        }

        mutating func message() -> Message {
            var m = Message(
                type: pick(CallType.allCases), messageId: pick(["m-1", "", String(repeating: "é", count: 100),
                String(repeating: "é", count: 101), "g7-12345"]),
                userId: optionalText(), anonymousId: optionalText(), event: optionalText(), name: optionalText(),
                previousId: optionalText(), groupId: chance(80) ? nil : text(), channel: optionalText(),
                timestamp: chance(30) ? nil : pick([0, 1_767_225_600_123, -1_000, 253_402_300_799_999, 253_402_300_800_000, Int64.min / 2]),
                properties: chance(30) ? [:] : object(depth: 0), traits: chance(60) ? [:] : object(depth: 0),
                context: chance(80) ? [:] : object(depth: 0))
            if chance(3) {
                // Deeper than the JSON limit of 64 levels: rejected, as its JSON is.
                var v = JSONValue.string("bottom")
                for _ in 0..<Int(rng.next() % 8 + 60) { v = .array([v]) }
                m.properties["deep"] = v
            }
            return m
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func typedAndJSONGiveTheSameRecordOrRejection(seed: UInt64) {
        var maker = Maker(rng: SplitMix64(seed: seed))
        var encoder = MessageEncoder(symbols: SymbolTable())
        var accepted = 0
        for _ in 0..<3_000 {
            let m = maker.message()
            let typed = encoder.encode(m, receivedTime: 1_767_225_600_000)
            let typedRecord = encoder.record.bytes
            let typedHash = encoder.messageIdHash
            let viaJSON = m.jsonBytes().withUnsafeBytes { encoder.encode($0, receivedTime: 1_767_225_600_000) }
            #expect(typed == viaJSON, "\(String(decoding: m.jsonBytes(), as: UTF8.self))")
            if typed == nil && viaJSON == nil {
                accepted += 1
                #expect(typedRecord == encoder.record.bytes, "\(String(decoding: m.jsonBytes(), as: UTF8.self))")
                #expect(typedHash == encoder.messageIdHash)
            }
        }
        #expect(accepted > 300)  // the comparison covered stored records, not only rejections
    }

    /// A typed double skips printing and scanning its text when it is a plain decimal: it must give the bytes the
    /// scanner makes of Swift's text, for any double.
    @Test func doublesAsDecimalsMatchTheScannedText() throws {
        var rng = SplitMix64(seed: 11)
        var symbols = SymbolCache(table: SymbolTable())
        var direct = 0
        for i in 0..<300_000 {
            let d: Double
            switch i % 4 {
            case 0: d = Double(bitPattern: rng.next())
            case 1: d = Double(Int64(rng.next() % 20_000_000_001) - 10_000_000_000) / [1, 10, 100, 1000, 1e4, 1e6, 1e9][Int(rng.next() % 7)]
            case 2: d = Double(rng.next() % 1_000_000_000_000) * [1e-3, 1e-5, 1e-9, 1e-12, 3.7e-4][Int(rng.next() % 5)]
            default: d = Double(Int64(rng.next() >> 1)) / Double(rng.next() % 1000 + 1)
            }
            guard d.isFinite else { continue }
            var text = d.description
            var scanned = ByteWriter(capacity: 32)
            try text.withUTF8 { t in
                var scanner = JSONScanner(input: UnsafeRawBufferPointer(t), scratch: [])
                try scanner.transcodeValue(into: &scanned, symbols: &symbols)
            }
            guard let (mantissa, places) = MessageEncoder.fixedDecimal(d) else { continue }
            direct += 1
            var written = ByteWriter(capacity: 32)
            written.append(ValueTag.decimal)
            written.appendSignedVarint(mantissa)
            written.append(places)
            #expect(written.bytes == scanned.bytes, "\(text)")
        }
        #expect(direct > 100_000)  // most doubles a service sends take the direct way
    }
}
