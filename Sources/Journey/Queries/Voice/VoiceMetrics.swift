/// Voice-of-the-customer scores (semantics §5): which event and property carry a score, and the arithmetic of NPS,
/// CSAT and CES. Pure values: the store queries only count answers into a `VoiceTally`.

/// The three survey scales analysts ask for.
public enum VoiceMetricKind: String, Sendable, Hashable, CaseIterable {
    /// 0–10; promoters 9–10, passives 7–8, detractors 0–6; NPS = %promoters − %detractors.
    case nps
    /// 1–5; satisfied 4–5; CSAT = %satisfied.
    case csat
    /// 1–7; easy 5–7, hard 1–3; CES = mean score.
    case ces

    /// The valid score range; answers outside it are counted as invalid, not as a category.
    public var range: ClosedRange<Double> {
        switch self {
        case .nps: 0...10
        case .csat: 1...5
        case .ces: 1...7
        }
    }
}

/// Which event and property carry a metric's score.
public struct VoiceMetric: Sendable, Hashable {
    public var kind: VoiceMetricKind
    public var event: String
    public var property: FieldPath

    public init(kind: VoiceMetricKind, event: String, property: FieldPath) {
        self.kind = kind
        self.event = event
        self.property = property
    }

    /// `NPS Responded` / `properties.score` (semantics §5).
    public static let defaultNPS = VoiceMetric(kind: .nps, event: "NPS Responded", property: FieldPath(extras: ["properties", "score"]))
}

/// A 0–10 answer's NPS category.
public enum NPSCategory: String, Sendable, Hashable, CaseIterable {
    case promoter, passive, detractor

    /// Nil outside 0…10. Fractional answers fall in the category of their floor (8.5 is a passive).
    public init?(score: Double) {
        guard score >= 0, score <= 10 else { return nil }
        if score >= 9 { self = .promoter } else if score >= 7 { self = .passive } else { self = .detractor }
    }
}

/// Answers counted into the metric's three bands (for NPS: promoters, passives, detractors; CSAT: satisfied 4–5,
/// neutral 3, unsatisfied 1–2; CES: easy 5–7, neutral 4, hard 1–3) plus their sum, for the mean.
public struct VoiceTally: Sendable, Hashable {
    public var positive = 0
    public var neutral = 0
    public var negative = 0
    /// Answers out of the scale's range (ignored in every figure).
    public var invalid = 0
    public var sum = 0.0

    public init() {}

    public var responses: Int { positive + neutral + negative }

    public mutating func add(_ score: Double, kind: VoiceMetricKind) {
        guard kind.range.contains(score) else {
            invalid += 1
            return
        }
        sum += score
        switch kind {
        case .nps:
            if score >= 9 { positive += 1 } else if score >= 7 { neutral += 1 } else { negative += 1 }
        case .csat:
            if score >= 4 { positive += 1 } else if score >= 3 { neutral += 1 } else { negative += 1 }
        case .ces:
            if score >= 5 { positive += 1 } else if score >= 4 { neutral += 1 } else { negative += 1 }
        }
    }

    public mutating func merge(_ o: VoiceTally) {
        positive += o.positive
        neutral += o.neutral
        negative += o.negative
        invalid += o.invalid
        sum += o.sum
    }

    /// The metric's headline: NPS −100…100, CSAT 0…100 (% satisfied), CES the mean 1…7. Nil without answers.
    public func score(_ kind: VoiceMetricKind) -> Double? {
        let n = responses
        guard n > 0 else { return nil }
        switch kind {
        case .nps: return Double(positive - negative) * 100 / Double(n)
        case .csat: return Double(positive) * 100 / Double(n)
        case .ces: return sum / Double(n)
        }
    }

    public var mean: Double? { responses == 0 ? nil : sum / Double(responses) }
}
