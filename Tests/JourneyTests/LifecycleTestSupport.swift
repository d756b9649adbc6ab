import Foundation

@testable import Journey

// Hand-built messages for the lifecycle and voice tests: times are absolute UTC milliseconds.

let lifecycleDay: Int64 = 86_400_000
let lifecycleT0 = utcMillis(2026, 1, 1)

/// A Segment message as JSON text. `type` track needs `event`; identify may carry `traits` (a JSON object text).
func lifecycleMessage(
    _ id: String, _ event: String? = nil, type: String = "track", user: String? = nil, anon: String? = nil, at time: Int64,
    channel: String = "web", properties: String? = nil, traits: String? = nil
) -> String {
    var f = ["\"messageId\":\"\(id)\"", "\"type\":\"\(type)\"", "\"channel\":\"\(channel)\""]
    if let event { f.append("\"event\":\"\(event)\"") }
    if let user { f.append("\"userId\":\"\(user)\"") }
    if let anon { f.append("\"anonymousId\":\"\(anon)\"") }
    if let properties { f.append("\"properties\":\(properties)") }
    if let traits { f.append("\"traits\":\(traits)") }
    f.append("\"timestamp\":\"\(TimeText.format(time))\"")
    return "{" + f.joined(separator: ",") + "}"
}

/// Appends messages, failing on any rejection.
func appendAll(_ store: JourneyStore, _ messages: [String]) throws {
    let outcomes = try store.appendSync(json: messages.map { Array($0.utf8) })
    for (m, o) in zip(messages, outcomes) where o.rejection != nil {
        throw TestFailure("rejected \(m): \(String(describing: o.rejection))")
    }
}

/// Persons per stage name.
func stageCounts(_ r: LifecycleCounts) -> [String: Int] {
    Dictionary(uniqueKeysWithValues: r.stages.map { ($0.stage, $0.persons) })
}
