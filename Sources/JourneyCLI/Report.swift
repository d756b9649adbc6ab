import Foundation
import Journey

/// Text-report helpers shared by the report commands (funnels, abandonment, lifecycle, voice): padding, percentages,
/// rounding for JSON, cell bars, short UTC times.
enum Report {
    static func bar(_ fraction: Double, width: Int) -> String {
        let cells = max(0, min(width, Int((fraction * Double(width)).rounded())))
        return String(repeating: "█", count: cells) + String(repeating: "·", count: width - cells)
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
    static func percent(_ f: Double) -> String { String(format: "%.1f%%", f * 100) }
    static func round(_ v: Double, _ places: Double = 10000) -> Double { (v * places).rounded() / places }
    /// `2026-03-01 12:00` in UTC, for tables.
    static func time(_ millis: Int64) -> String {
        let s = TimeText.format(millis)
        return String(s.prefix(10)) + " " + String(s.dropFirst(11).prefix(5))
    }
}
