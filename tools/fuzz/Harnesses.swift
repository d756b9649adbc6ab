internal import Foundation
internal import Glibc

// libFuzzer harnesses, compiled into the Journey module by `tools/fuzz-inputs` (not part of the package). The
// target is `$FUZZ_TARGET`:
// - `ingest` (default): any input line is either rejected, or accepted as a record that exports to JSON which is
//   accepted again and exports to the same JSON (the promise of `journey export`, for whatever bytes arrive);
// - `time`: an RFC 3339 time that parses prints back to text that parses to the same millisecond;
// - `definitions`: funnel and lifecycle definitions, filters, breakdowns, attributions, times and durations as
//   typed in options: refused with an error or accepted, never a crash;
// - `records`: the bytes of a damaged store (a log block, a record, a person record): read as far as they make
//   sense, reported as damaged, never a crash.

nonisolated(unsafe) var encoder = MessageEncoder(symbols: SymbolTable())
let fuzzTarget = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "ingest"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    switch fuzzTarget {
    case "time": fuzzTime(input)
    case "definitions": fuzzDefinitions(input)
    case "records": fuzzRecords(input)
    default: fuzzIngest(input)
    }
    return 0
}

private func fuzzIngest(_ input: UnsafeRawBufferPointer) {
    guard encoder.encode(input, receivedTime: 1_767_225_600_000) == nil else { return }
    guard let exported = export(encoder.record.bytes) else {
        fatalError("an accepted message's record does not export: \(text(input))")
    }
    if let rejection = exported.withUnsafeBytes({ encoder.encode($0, receivedTime: 1_767_225_600_000) }) {
        fatalError("the export is rejected (\(rejection)): \(text(exported)) from \(text(input))")
    }
    guard let again = export(encoder.record.bytes), again == exported else {
        fatalError("the export changes when imported again: \(text(exported)) from \(text(input))")
    }
}

private func export(_ record: [UInt8]) -> [UInt8]? {
    var out = ByteWriter(capacity: 256)
    let ok = record.withUnsafeBytes { b -> Bool in
        guard let view = RecordView(b) else { return false }
        return RecordJSON(symbols: encoder.symbols.table).write(view, into: &out)
    }
    return ok ? out.bytes : nil
}

private func fuzzTime(_ input: UnsafeRawBufferPointer) {
    guard let ms = RFC3339.parseMillis(input) else { return }
    var out = ByteWriter(capacity: 32)
    RFC3339.format(ms, into: &out)
    let again = out.bytes.withUnsafeBytes { RFC3339.parseMillis($0) }
    if again != ms { fatalError("\(text(input)) is \(ms) ms, printed \(text(out.bytes)), read back as \(String(describing: again))") }
}

private func fuzzDefinitions(_ input: UnsafeRawBufferPointer) {
    let bytes = Array(input)
    _ = try? FunnelDefinition.load(json: bytes)
    _ = try? LifecycleDefinition.parse(bytes)
    let s = text(input)
    _ = try? FieldFilter.parse(s)
    _ = try? PersonFilter.parse(s)
    _ = try? FunnelBreakdown.parse(s)
    _ = try? FunnelAttribution.parse(s)
    if let t = try? TimeText.millis(s, option: "--as-of") { _ = TimeText.format(t) }
    if let d = try? DurationText.millis(s) { _ = DurationText.format(d) }
}

private func fuzzRecords(_ input: UnsafeRawBufferPointer) {
    if let block = LogBlockView(input) {
        for i in 0..<block.count {
            guard let r = block.record(i), let view = RecordView(r) else { continue }
            var out = ByteWriter(capacity: 256)
            _ = RecordJSON(symbols: encoder.symbols.table).write(view, into: &out)
            _ = (view.eventTime, view.eventName, view.channel, view.callType, view.flags)
        }
    }
    if let person = PersonRecordView(input) {
        _ = person.forEachIdentifier { _, _, _ in }
        _ = (person.displayIndex, person.firstSeen, person.lastPosition)
    }
    _ = MergeLayout.decode(input)
}

private func text(_ b: some Collection<UInt8>) -> String { String(decoding: b, as: UTF8.self) }
