/// RFC 3339 times ⇄ UTC milliseconds, on bytes, without Foundation: the import hot path parses one or more per
/// message, and `DateFormatter` costs microseconds.
enum RFC3339 {
    /// Parses `YYYY-MM-DD(T|t)HH:MM:SS(.fraction)?(Z|z|±HH:MM)`; fraction digits past milliseconds are truncated.
    static func parseMillis(string: String) -> Int64? {
        var s = string
        return s.withUTF8 { parseMillis(UnsafeRawBufferPointer($0)) }
    }

    /// The times RFC 3339 can write in UTC (a four-digit year): 0000-01-01T00:00:00.000Z through
    /// 9999-12-31T23:59:59.999Z. A time outside could not be printed back as it was read (found by
    /// `tools/fuzz-inputs time`: `9999-12-31T23:59:59.9-12:51` is in year 10000 once in UTC).
    static let representable: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// Parses, then refuses a time outside `representable`.
    static func parseMillis(_ s: UnsafeRawBufferPointer) -> Int64? {
        guard let t = parseUnbounded(s), representable.contains(t) else { return nil }
        return t
    }

    /// Why `text` is not a time the engine keeps (for a field's rejection): not RFC 3339, or outside the years.
    static func problem(_ text: UnsafeRawBufferPointer) -> String {
        let shown = String(decoding: text.prefix(40), as: UTF8.self)
        return parseUnbounded(text) == nil
            ? "not an RFC 3339 time: \"\(shown)\""
            : "\"\(shown)\" is outside the years 0000–9999 once in UTC"
    }

    private static func parseUnbounded(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        guard n >= 20 else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int? {
            let c = s[i]
            return c >= 48 && c <= 57 ? Int(c - 48) : nil
        }
        @inline(__always) func number(_ i: Int, _ width: Int) -> Int? {
            var v = 0
            for k in i..<(i + width) {
                guard let d = digit(k) else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard let year = number(0, 4), s[4] == UInt8(ascii: "-"), let month = number(5, 2), s[7] == UInt8(ascii: "-"),
            let day = number(8, 2)
        else { return nil }
        let t = s[10]
        guard t == UInt8(ascii: "T") || t == UInt8(ascii: "t") else { return nil }
        guard let hour = number(11, 2), s[13] == UInt8(ascii: ":"), let minute = number(14, 2),
            s[16] == UInt8(ascii: ":"), let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour <= 23,
            minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var millis = 0
        if i < n, s[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale = 100
            while i < n, let d = digit(i) {
                millis += d * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < n else { return nil }
        var offsetMinutes = 0
        let z = s[i]
        if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
            i += 1
        } else if z == UInt8(ascii: "+") || z == UInt8(ascii: "-") {
            guard i + 6 <= n, let oh = number(i + 1, 2), s[i + 3] == UInt8(ascii: ":"), let om = number(i + 4, 2),
                oh <= 23, om <= 59
            else { return nil }
            offsetMinutes = (oh * 60 + om) * (z == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    /// True when `s` is exactly what `format` would print (`2026-03-24T03:37:19.986Z`): such a time need not be
    /// kept as text, the milliseconds give it back.
    static func isCanonical(_ s: UnsafeRawBufferPointer) -> Bool {
        s.count == 24 && s[10] == UInt8(ascii: "T") && s[19] == UInt8(ascii: ".") && s[23] == UInt8(ascii: "Z")
    }

    /// Writes `2026-03-24T03:37:19.986Z`.
    static func format(_ millis: Int64, into out: inout ByteWriter) {
        var days = millis / 86_400_000
        var rem = millis % 86_400_000
        if rem < 0 {
            rem += 86_400_000
            days -= 1
        }
        let (y, m, d) = civilFromDays(Int(days))
        if (0...9999).contains(y) {
            out.appendPadded(y, width: 4)
        } else {
            // Outside `representable` (a typed message's timestamp): ISO 8601's expanded year, which no parser here
            // accepts, so the message is rejected with this text rather than stored under another year.
            out.append(UInt8(ascii: y < 0 ? "-" : "+"))
            let digits = String(y.magnitude)
            for _ in digits.utf8.count..<max(6, digits.utf8.count) { out.append(UInt8(ascii: "0")) }
            for c in digits.utf8 { out.append(c) }
        }
        out.append(UInt8(ascii: "-"))
        out.appendPadded(m, width: 2)
        out.append(UInt8(ascii: "-"))
        out.appendPadded(d, width: 2)
        out.append(UInt8(ascii: "T"))
        let r = Int(rem)
        out.appendPadded(r / 3_600_000, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendPadded(r / 60_000 % 60, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendPadded(r / 1000 % 60, width: 2)
        out.append(UInt8(ascii: "."))
        out.appendPadded(r % 1000, width: 3)
        out.append(UInt8(ascii: "Z"))
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
