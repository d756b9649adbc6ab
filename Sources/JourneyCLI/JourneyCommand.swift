import ArgumentParser
import Journey

/// The `journey` command: one subcommand per file in this folder.
@main
struct JourneyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journey",
        abstract: "Event-sourced customer-journey analytics: an append-only log of Segment messages and the views derived from it.",
        discussion: """
            The store is --store PATH, else $JOURNEY_STORE, else ./journey-store.
            Exit codes: 0 ok, 64 usage, 65 some input was rejected (the rest was imported), 1 other failures.
            """,
        version: JourneyVersion.string,
        subcommands: [
            DemoCommand.self, ImportCommand.self, AppendCommand.self, ExportCommand.self, RejectedCommand.self,
            StatusCommand.self, GenerateCommand.self, ProfileCommand.self, PersonsCommand.self, TimelineCommand.self,
            VerifyCommand.self, RebuildCommand.self, CompactCommand.self, FunnelCommand.self, AbandonedCommand.self,
            LifecycleCommand.self, NPSCommand.self, AlertsCommand.self,
        ]
    )

    /// Declared here too so that `journey --store PATH import …` works as well as `journey import --store PATH …`.
    @OptionGroup var storeOptions: StoreOptions
}
