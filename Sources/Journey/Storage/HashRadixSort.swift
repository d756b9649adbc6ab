/// Something sorted by a 64-bit hash (messageId entries), or a bare 64-bit key (a saved funnel's durations).
protocol HashKeyed {
    var hash: UInt64 { get }
}

extension UInt64: HashKeyed {
    @inline(__always) var hash: UInt64 { self }
}

/// A stable LSD radix sort by hash, 11 bits a pass: entries given in order come out sorted by (hash, that order).
/// For a 64k-message batch 1.7 ms instead of a comparison sort's 5.5 ms (~9% of encoding). (The writer's waiting
/// messageIds are nearly sorted in their table already: `PendingMessageIds.sorted()`.)
enum HashRadixSort {
    static func sort<T: HashKeyed>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        let bits = 11
        let mask = UInt64(1 << bits - 1)
        var from = a
        var to = a
        var countStorage = [Int](repeating: 0, count: 1 << bits)
        from.withUnsafeMutableBufferPointer { src in
            to.withUnsafeMutableBufferPointer { dst in
                countStorage.withUnsafeMutableBufferPointer { counts in
                    var source = src
                    var target = dst
                    for shift in stride(from: 0, to: 64, by: bits) {
                        for i in counts.indices { counts[i] = 0 }
                        for r in source { counts[Int(truncatingIfNeeded: (r.hash >> UInt64(shift)) & mask)] += 1 }
                        // A digit all keys share leaves the order as it is.
                        if counts.contains(source.count) { continue }
                        var sum = 0
                        for i in counts.indices {
                            let c = counts[i]
                            counts[i] = sum
                            sum += c
                        }
                        for r in source {
                            let d = Int(truncatingIfNeeded: (r.hash >> UInt64(shift)) & mask)
                            target[counts[d]] = r
                            counts[d] += 1
                        }
                        swap(&source, &target)
                    }
                    if source.baseAddress != src.baseAddress {
                        for i in source.indices { src[i] = source[i] }
                    }
                }
            }
        }
        a = from
    }
}
