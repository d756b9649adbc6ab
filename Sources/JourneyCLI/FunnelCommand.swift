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

    func run() throws {
        let definition = try funnel.definition()
        let options = try query.options(steps: definition.steps.count)
        let store = try storeOptions.open(.readOnly)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try store.funnel(definition, options: options)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FunnelOutput.print(result, definition: definition, format: query.format, seconds: seconds)
    }
}
