import Dispatch
import Foundation
import Journey

extension DemoCommand {
    /// Lifecycle stages, a transition matrix and the NPS view, as of the end of the generated 90 days (2026-04-01):
    /// "now" would find every generated customer long inactive.
    func showLifecycle(_ store: JourneyStore, storePath: String) throws {
        let generated = GeneratorOptions(customers: customers, seed: seed)
        let end = generated.startMillis + Int64(generated.days) * 86_400_000
        let asOf = TimeText.format(end).prefix(10)
        print("\n== journey --store \(storePath) lifecycle --as-of \(asOf)")
        let counts = try store.lifecycle(at: LifecycleMoment(time: end))
        let top = Double(max(1, counts.stages.map(\.persons).max() ?? 1))
        for s in counts.stages {
            print("   " + Report.pad(s.stage, 16) + Report.lpad(String(s.persons), 7) + Report.lpad(Report.percent(s.share), 8)
                + "  " + Report.bar(Double(s.persons) / top, width: 30))
        }
        let from = end - 45 * 86_400_000
        print("\n== journey --store \(storePath) lifecycle transitions --from \(TimeText.format(from).prefix(10)) --to \(asOf)")
        LifecycleTransitionsTable.print(try store.lifecycleTransitions(from: from, to: end), persons: false)
        print("\n== journey --store \(storePath) nps --by stage")
        VoiceOutput.table(try store.voice(by: .stage(.standard)))
    }
}
