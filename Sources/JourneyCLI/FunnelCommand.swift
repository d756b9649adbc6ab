import ArgumentParser
import Dispatch
import Journey

/// `journey funnel …`: ad-hoc funnels from the timelines (the default subcommand).
struct FunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel",
        abstract: "Funnels: persons per step, conversion, drop-off and time to convert (ClickHouse windowFunnel semantics).",
        subcommands: [FunnelRunCommand.self, FunnelDefineCommand.self, FunnelListCommand.self, FunnelShowCommand.self],
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
        let store = try TimeTravelOptions.open(storeOptions, asOfPosition: options.asOfPosition)
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

/// `journey funnel define FILE`: saves a definition under its name.
struct FunnelDefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "define", abstract: "Save a funnel definition file (schemas/funnel.schema.json) under its name.")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The definition file; it must have a \"name\".") var file: String

    func run() throws {
        let definition = try asUsageError { try loadDefinition(file) }
        guard let name = definition.name else { throw ValidationError("\(file): name: a saved funnel needs a name") }
        let store = try storeOptions.open(.readWrite)
        defer { store.close() }
        let replaced = try store.savedFunnel(named: name) != nil
        try store.saveFunnel(definition)
        print("\(replaced ? "replaced" : "saved") funnel \"\(name)\": \(definition.steps.map(\.label).joined(separator: " → ")) (\(definition.mode.rawValue), window \(DurationText.format(definition.windowMillis)))")
    }
}

/// `journey funnel list`.
struct FunnelListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the saved funnels.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let store = try storeOptions.open(.readOnly)
        let funnels = try store.savedFunnels()
        switch format {
        case .json, .ndjson: print("[" + funnels.map(\.json).joined(separator: ",") + "]")
        default:
            if funnels.isEmpty { print("no saved funnels (journey funnel define FILE)") }
            for f in funnels {
                print("\(f.name ?? "")  \(f.steps.map(\.label).joined(separator: " → "))  (\(f.mode.rawValue), window \(DurationText.format(f.windowMillis))\(f.breakdown.map { ", by \($0)" } ?? ""))")
            }
        }
    }
}

/// `journey funnel show NAME`: a saved funnel, with the query options of ad-hoc funnels.
struct FunnelShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Compute a saved funnel (same results as the ad-hoc query of its definition).")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The saved funnel's name.") var name: String
    @OptionGroup var query: FunnelQueryArguments

    func run() throws {
        let store = try TimeTravelOptions.open(storeOptions, asOfPosition: query.asOfPosition)
        guard let definition = try store.savedFunnel(named: name) else {
            printError("Error: no saved funnel named \"\(name)\" (journey funnel list)")
            throw ExitCode.failure
        }
        let options = try asUsageError { try query.options(steps: definition.steps.count) }
        let start = DispatchTime.now().uptimeNanoseconds
        // The projection answers the definition's own view; breakdowns and query options scan the journeys.
        let fromProjection = definition.breakdown == nil && options == FunnelOptions()
        let result = try (fromProjection ? store.savedFunnelResult(named: name) : nil) ?? store.funnel(definition, options: options)
        FunnelOutput.print(result, definition: definition, format: query.format, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
