import ArgumentParser
import Foundation
import Journey

/// `--store`, shared by every command that opens a store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $JOURNEY_STORE, else ./journey-store).")
    var store: String?

    var path: String {
        store ?? ProcessInfo.processInfo.environment["JOURNEY_STORE"] ?? "journey-store"
    }

    func open(_ mode: JourneyStore.Mode, bulkWrites: Bool = false) throws -> JourneyStore {
        try JourneyStore(path: path, mode: mode, bulkWrites: bulkWrites)
    }
}

/// Output formats for reports.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, ndjson, csv
}

/// A JSON object whose keys keep the order they were added in, for stable, readable CLI output.
struct OrderedJSON {
    private(set) var text = "{"
    private var first = true

    mutating func add(_ key: String, _ value: Any?) {
        text += (first ? "" : ",") + Self.quote(key) + ":" + Self.encode(value)
        first = false
    }

    var string: String { text + "}" }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func encode(_ value: Any?) -> String {
        switch value {
        case nil: return "null"
        case let v as OrderedJSON: return v.string
        case let v as RawJSON: return v.text
        case let v as String: return quote(v)
        case let v as Bool: return v ? "true" : "false"
        case let v as Int: return String(v)
        case let v as UInt64: return String(v)
        case let v as Int64: return String(v)
        case let v as Double:
            if !v.isFinite { return "null" }
            if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
            return String(format: "%.6g", v)
        case let v as [Any?]: return "[" + v.map(encode).joined(separator: ",") + "]"
        case let v as [String: Int]:
            return "{" + v.keys.sorted().map { quote($0) + ":" + String(v[$0] ?? 0) }.joined(separator: ",") + "}"
        default: return quote("\(value!)")
        }
    }
}

/// JSON text put into the output as is: exact numbers, nested values already encoded.
struct RawJSON {
    var text: String
}

/// Writes to standard error (progress, warnings) without buffering.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 }
