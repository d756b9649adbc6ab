/// What the lifecycle queries return: plain Sendable values, names already resolved.

/// Persons per stage as of a moment.
public struct LifecycleCounts: Sendable, Equatable {
    /// The moment evaluated (UTC ms).
    public var asOf: Int64
    /// Every stage of the definition, in definition order (zeros included).
    public var stages: [LifecycleStageCount]
    /// Persons with at least one event by `asOf` whom no stage's rule matched (0 with a catch-all last stage).
    public var unmatched: Int
    /// Persons with at least one event by `asOf`.
    public var persons: Int
}

public struct LifecycleStageCount: Sendable, Equatable {
    public var stage: String
    public var persons: Int
    /// Fraction 0…1 of `LifecycleCounts.persons`.
    public var share: Double
}

/// How a person's stage changed between two moments.
public enum LifecycleMove: String, Sendable, Hashable, CaseIterable {
    /// No event by the first moment: entered the picture.
    case new
    case stayed
    /// To a journey stage of higher rank.
    case forward
    /// To a journey stage of lower rank, or into an at-risk stage.
    case back
    /// Into a churned stage.
    case churned
    /// Out of an at-risk or churned stage into a journey stage (or out of churned into at-risk).
    case cameBack = "came_back"
}

/// The stage-to-stage matrix between two moments.
public struct LifecycleTransitions: Sendable, Equatable {
    public var from: Int64
    public var to: Int64
    /// The definition's stage names, in order (the matrix's rows and columns; rows also have "not seen yet").
    public var stages: [String]
    /// Non-empty cells, by row then column in definition order (the "not seen yet" row last).
    public var cells: [LifecycleTransitionCell]
    /// Persons per kind of move.
    public var moves: [LifecycleMove: Int]
}

public struct LifecycleTransitionCell: Sendable, Equatable {
    /// Nil: the person had no event by the first moment.
    public var from: String?
    public var to: String
    public var persons: Int
    public var move: LifecycleMove
    /// Display ids of the persons behind the cell (when asked for; at most the requested number, lowest person
    /// numbers first).
    public var personIds: [String]
}

/// A person in a stage, with when they entered it.
public struct LifecyclePerson: Sendable, Equatable {
    public var person: UInt32
    public var displayId: String
    public var stage: String
    /// When the person's current stint in this stage began (stage history), UTC ms.
    public var since: Int64
    public var lastActivity: Int64
    public var orders: Int
    public var npsScore: Double?
}

/// One step of a person's stage history: the stage they entered and when.
public struct LifecycleStageEntry: Sendable, Equatable {
    public var stage: String
    /// UTC ms.
    public var enteredAt: Int64
    /// The event that moved them (nil when time passing did: an inactivity threshold, a count window).
    public var event: String?
}

/// Time spent per stage, from every person's stage history.
public struct LifecycleStageDuration: Sendable, Equatable {
    public var stage: String
    /// Stints that ended before the as-of moment (the person moved on).
    public var completed: Int
    /// Median length of completed stints, in days (nil without any).
    public var medianDays: Double?
    /// Persons in the stage at the as-of moment (ongoing stints, not in the median: their length is not known yet).
    public var ongoing: Int
}
