import ArgumentParser
import Foundation
import Journey

/// `--definition FILE`: the lifecycle stages (default: the built-in `schemas/lifecycle.default.json`).
struct LifecycleDefinitionArguments: ParsableArguments {
    @Option(help: "A lifecycle definition (schemas/lifecycle.schema.json); default: the built-in one.")
    var definition: String?

    func load() throws -> LifecycleDefinition {
        guard let definition else { return .standard }
        do {
            return try LifecycleDefinition.load(path: definition)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// `--as-of TIME` / `--as-of-position N`: the moment to evaluate.
struct LifecycleMomentArguments: ParsableArguments {
    @Option(help: "Evaluate as of this time (2026-03-01 or RFC 3339): events with event time ≤ it. Default: now.")
    var asOf: String?
    @Option(help: "Evaluate on the log as it stood at this position (identity included); the moment is that event's time unless --as-of says otherwise. Needs the store writable.")
    var asOfPosition: UInt64?

    func moment() throws -> LifecycleMoment {
        LifecycleMoment(time: try asOf.map { try parseTime($0, option: "--as-of") }, position: asOfPosition)
    }

    /// A past position is served from a scratch copy written into the store.
    var storeMode: JourneyStore.Mode { asOfPosition == nil ? .readOnly : .readWrite }
}

/// A command-line time as UTC ms; a bad one is a usage error.
func parseTime(_ text: String, option: String) throws -> Int64 {
    do {
        return try TimeText.millis(text, option: option)
    } catch {
        throw ValidationError(error.description)
    }
}
