import Foundation
import Testing

@testable import Journey

/// How an import cuts a file into lines, whatever the read buffer's size: every line comes back as written (less a
/// final CR), and a line over the limit comes back as its first bytes with the count of the rest, never held whole.
@Suite struct LineSourceTests {
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func linesComeBackWhateverTheBufferSize(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        try withTemporaryDirectory { dir in
            for round in 0..<40 {
                var lines: [[UInt8]] = []
                for _ in 0..<below(30) {
                    var line = (0..<below(below(4) == 0 ? 90 : 25)).map { _ in UInt8(ascii: "a") + UInt8(below(26)) }
                    if below(5) == 0 { line.append(0x0D) }
                    lines.append(line)
                }
                var file = lines.joined(separator: [0x0A]).map { $0 }
                let endsWithNewline = below(2) == 0
                if !lines.isEmpty && (endsWithNewline || lines.last?.isEmpty == true) { file.append(0x0A) }
                let path = "\(dir)/lines-\(round).ndjson"
                try Data(file).write(to: URL(fileURLWithPath: path))
                let limit = 5 + below(40)
                let source = try LineSource(path: path, chunkBytes: 1 + below(64), maxLineBytes: limit)
                defer { source.close() }
                var seen: [(bytes: [UInt8], cut: Int)] = []
                try source.forEachLine { line, cut in seen.append((Array(line), cut)) } chunkDone: { _ in }
                let expected = lines.map { full -> (bytes: [UInt8], cut: Int) in
                    if full.count > limit { return (Array(full.prefix(limit)), full.count - limit) }
                    return (full.last == 0x0D ? Array(full.dropLast()) : full, 0)
                }
                let context = "seed \(seed) round \(round): limit \(limit), \(lines.map(\.count))"
                try #require(seen.count == expected.count, "\(context): \(seen.map(\.bytes.count))")
                for (s, e) in zip(seen, expected) {
                    #expect(s.bytes == e.bytes && s.cut == e.cut, "\(context)")
                }
            }
        }
    }
}
