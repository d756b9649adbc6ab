import ArgumentParser
import Dispatch
import Journey

/// `journey funnel …`: ad-hoc funnels from the timelines (the default subcommand).
struct FunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel",
        abstract: "Funnels: persons per step, conversion, drop-off and time to convert (ClickHouse windowFunnel semantics).",
        subcommands: [FunnelRunCommand.self],
        defaultSubcommand: FunnelRunCommand.self)
}

struct FunnelRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compute an ad-hoc funnel over every person's journey.",
        discussion: """
            Example: journey funnel --steps "Product Viewed,Product Added,Checkout Started,Order Completed" --window 7d
            A person counts once, at the furthest step any attempt reached; times to convert are those of their best
            attempt (semantics §3). JSON: {"steps":[{"step":1,"name":…,"persons":…,"conversion_from_previous":…,…}]}.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var funnel: FunnelArguments
    @OptionGroup var query: FunnelQueryArguments
    @Option(name: .customLong("definition"), help: "A funnel definition file (schemas/funnel.schema.json) instead of --steps.")
    var definitionFile: String?

    func run() throws {
        let definition = try asUsageError { try definitionFile.map { try loadDefinition($0) } ?? funnel.definition() }
        let options = try asUsageError { try query.options(steps: definition.steps.count) }
        let store = try storeOptions.open(.readOnly)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try store.funnel(definition, options: options)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FunnelOutput.print(result, definition: definition, format: query.format, seconds: seconds)
    }
}

/// Bad definitions and options are usage errors (exit 64), with the message saying what is wrong and where.
func asUsageError<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as QueryError {
        throw ValidationError(e.description)
    }
}
