internal import Foundation

/// Calendar periods (day, ISO week, month) in a named time zone, as UTC millisecond boundaries: computed once per
/// query at the edge with Foundation's calendar (DST-safe: a day is 23 or 25 hours when the clocks change), then
/// events are placed by binary search, with no calendar work per event.
public enum PeriodInterval: String, Sendable, CaseIterable {
    case day, week, month
}

struct CalendarPeriods {
    /// Period starts, ascending; period i is [starts[i], starts[i + 1]) (the last ends at `end`).
    let starts: [Int64]
    let end: Int64
    let labels: [String]

    /// The periods that contain [from, to). At most 10,000 periods.
    init(interval: PeriodInterval, timeZone name: String, from: Int64, to: Int64) throws(QueryError) {
        guard let zone = TimeZone(identifier: name) else {
            throw QueryError("--tz: \"\(name)\" is not a time zone name (write e.g. UTC, Europe/Paris, America/New_York)")
        }
        guard from < to else { throw QueryError("the period range is empty (from must be before to)") }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        let component: Calendar.Component = switch interval {
        case .day: .day
        case .week: .weekOfYear
        case .month: .month
        }
        let first = Date(timeIntervalSince1970: Double(from) / 1000)
        guard var start = calendar.dateInterval(of: component, for: first)?.start else {
            throw QueryError("cannot compute \(interval.rawValue) periods in \(name)")
        }
        var starts: [Int64] = []
        var labels: [String] = []
        while Int64((start.timeIntervalSince1970 * 1000).rounded()) < to {
            starts.append(Int64((start.timeIntervalSince1970 * 1000).rounded()))
            let c = calendar.dateComponents([.year, .month, .day], from: start)
            let y = c.year ?? 0
            let m = c.month ?? 0
            let d = c.day ?? 0
            func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
            labels.append(interval == .month ? "\(y)-\(two(m))" : "\(y)-\(two(m))-\(two(d))")
            guard starts.count <= 10_000 else { throw QueryError("more than 10,000 periods: choose a coarser interval") }
            guard let next = calendar.date(byAdding: component, value: 1, to: start) else { break }
            start = next
        }
        self.starts = starts
        self.labels = labels
        end = Int64((start.timeIntervalSince1970 * 1000).rounded())
    }

    /// The period holding `t`, or nil outside.
    func index(of t: Int64) -> Int? {
        guard let first = starts.first, t >= first, t < end else { return nil }
        var lo = 0
        var hi = starts.count
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if starts[mid] <= t { lo = mid } else { hi = mid }
        }
        return lo
    }
}
