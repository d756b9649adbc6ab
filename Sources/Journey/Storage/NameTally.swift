/// Events per name in one commit. A commit names few events (tens), so a short list searched from its newest entry
/// costs less than hashing each event's name into a dictionary (~3% of the writer's samples with four names
/// alternating); past 64 names a dictionary takes over.
struct NameTally {
    private(set) var entries: [(name: UInt32, count: UInt64)] = []
    private var index: [UInt32: Int]?

    mutating func add(_ name: UInt32, _ n: UInt64) {
        if index != nil {
            // Through the optional, not a binding: a bound copy would make each insert copy the dictionary.
            if let i = index?[name] {
                entries[i].count += n
            } else {
                index?[name] = entries.count
                entries.append((name, n))
            }
            return
        }
        var i = entries.count - 1
        while i >= 0 {
            if entries[i].name == name {
                entries[i].count += n
                return
            }
            i -= 1
        }
        entries.append((name, n))
        if entries.count > 64 {
            var built: [UInt32: Int] = [:]
            for (k, e) in entries.enumerated() { built[e.name] = k }
            index = built
        }
    }
}
