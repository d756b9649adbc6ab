/// Where a JSON document's syntax breaks, as `line 3, column 14: expected ',' or ']' …`: Foundation's parser on
/// Linux only says "The data is not in the correct format", which leaves a user hunting through their definition
/// file. Used when Foundation has refused a document (definitions are read with Foundation, once per query).
enum JSONSyntaxLocation {
    /// The first syntax error of `bytes` as one JSON value, or nil if this scanner finds none.
    static func describe(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { input -> String? in
            var scanner = JSONScanner(input: input, scratch: [])
            var out = ByteWriter(capacity: 256)
            var symbols = SymbolCache(table: SymbolTable())
            do throws(JSONSyntaxError) {
                try scanner.transcodeValue(into: &out, symbols: &symbols)
                scanner.skipWhitespace()
                if scanner.atEnd { return nil }
                throw scanner.fail("unexpected text after the value")
            } catch {
                // The scanner reads messages line by line; here the document is a whole file.
                let m = error.message
                let message = m.hasSuffix("end of line") ? m.dropLast("line".count) + "file" : m
                return "\(position(of: error.offset, in: input)): \(message)"
            }
        }
    }

    /// `line L, column C` (1-based; columns count bytes) of a byte offset.
    static func position(of offset: Int, in input: UnsafeRawBufferPointer) -> String {
        var line = 1
        var lineStart = 0
        for i in 0..<min(offset, input.count) where input[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return "line \(line), column \(offset - lineStart + 1)"
    }
}
