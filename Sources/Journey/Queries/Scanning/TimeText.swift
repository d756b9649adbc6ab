/// Moments as users type them on the command line: RFC 3339 (`2026-03-01T12:00:00Z`, any offset) or a date
/// (`2026-03-01`, midnight UTC). Shared by every `--from`, `--to` and `--as-of`.
public enum TimeText {
    public static func millis(_ text: String, option: String) throws(QueryError) -> Int64 {
        if let t = RFC3339.parseMillis(string: text) { return t }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
            (1...12).contains(m), (1...RFC3339.daysInMonth(year: y, month: m)).contains(d)
        {
            return Int64(RFC3339.daysFromCivil(year: y, month: m, day: d)) * 86_400_000
        }
        throw QueryError("\(option): \"\(text)\" is not a time (write 2026-03-01 or 2026-03-01T12:00:00Z)")
    }

    /// Canonical RFC 3339 in UTC with milliseconds.
    public static func format(_ millis: Int64) -> String {
        var w = ByteWriter(capacity: 32)
        RFC3339.format(millis, into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
