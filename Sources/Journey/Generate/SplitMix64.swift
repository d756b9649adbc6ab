/// SplitMix64 (Steele, Lea, Flood 2014): our own PRNG so generated data is identical on every machine and
/// Swift version; the standard library's generators promise no stable sequence.
struct SplitMix64: Sendable {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The SplitMix64 finaliser on its own, used to derive independent streams and per-key values.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in `0..<bound` by multiply-high (Lemire); the bias for bounds this small is far below noise.
    @inline(__always)
    mutating func below(_ bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        return Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Uniform in `low..<high` milliseconds (or any Int64 range); `low` when the range is empty.
    @inline(__always)
    mutating func between(_ low: Int64, _ high: Int64) -> Int64 {
        guard high > low else { return low }
        return low &+ Int64(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(high &- low)).high)
    }

    /// Uniform in [0, 1) from 53 bits: exact IEEE arithmetic, so comparisons are the same everywhere.
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    @inline(__always)
    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    /// An index drawn with probability proportional to its weight.
    @inline(__always)
    mutating func pick(_ table: WeightTable) -> Int {
        let r = below(table.total)
        var i = 0
        while i < table.cumulative.count - 1 && r >= table.cumulative[i] { i += 1 }
        return i
    }
}

/// Cumulative weights, summed once so a draw is a single random number and a short scan.
struct WeightTable: Sendable {
    let cumulative: [Int]
    let total: Int

    init(_ weights: [Int]) {
        var sum = 0
        var cumulative: [Int] = []
        for w in weights {
            sum += max(0, w)
            cumulative.append(sum)
        }
        self.cumulative = cumulative
        total = sum
    }
}
