import ArgumentParser
import Foundation
import Journey

/// `--as-of` and `--as-of-position`, shared by profile, persons and timeline.
struct TimeTravelOptions: ParsableArguments {
    @Option(
        name: .customLong("as-of"),
        help: "Only events with event time at or before this time (2026-03-01 or RFC 3339); identity as known now.")
    var asOf: String?

    @Option(
        name: .customLong("as-of-position"),
        help: ArgumentHelp(
            "Only what the log held up to this position, identity included.",
            discussion: "A past position is served from a scratch copy of the projections built inside the store: this needs the store's writer lock (no import running) and costs about one rebuild up to that position the first time."))
    var asOfPosition: UInt64?

    func validate() throws {
        do {
            _ = try asOfMillis()
        } catch let e as QueryError {
            throw ValidationError(e.description)
        }
    }

    func asOfMillis() throws -> Int64? {
        try asOf.map { try TimeText.millis($0, option: "--as-of") }
    }

    /// Opens the store read-only, or for writing when a past position needs a scratch copy written into it.
    func open(_ storeOptions: StoreOptions) throws -> JourneyStore {
        try Self.open(storeOptions, asOfPosition: asOfPosition)
    }

    /// The same for commands with their own options (funnel, abandoned, lifecycle).
    static func open(_ storeOptions: StoreOptions, asOfPosition: UInt64?) throws -> JourneyStore {
        guard let n = asOfPosition else { return try storeOptions.open(.readOnly) }
        let last: UInt64 = try { try storeOptions.open(.readOnly).lastPosition() }()
        if n >= last { return try storeOptions.open(.readOnly) }
        do {
            return try storeOptions.open(.readWrite)
        } catch {
            printError(
                "Error: --as-of-position \(n) needs a scratch copy of the projections written into the store, and it cannot be opened for writing: \(error)")
            throw ExitCode.failure
        }
    }

    /// "as of …" for headings, nil when neither option is given.
    func label() throws -> String? {
        var parts: [String] = []
        if let t = try asOfMillis() { parts.append("event time ≤ \(isoTime(t))") }
        if let n = asOfPosition { parts.append("log position ≤ \(n)") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
