import Foundation
import Testing

@testable import Journey
import LMDB

// Shared helpers for the Journey tests: temporary directories that are always removed, stores opened in them,
// the store format an older version would have recorded, paths to the test data, and JSON comparison through
// Foundation.

// MARK: Temporary directories and stores

/// A new, empty directory under the system's temporary directory, removed (with everything in it) when `body`
/// returns or throws.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let path = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Blocking form of `withTemporaryDirectory`.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

private func makeTemporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("journey-tests-\(UUID().uuidString)", isDirectory: true).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A read-write store in a fresh temporary directory, closed and removed when `body` returns.
func withStore<R>(mapSize: Int = 1 << 30, _ body: (JourneyStore) async throws -> R) async throws -> R {
    try await withTemporaryDirectory { dir in
        let store = try JourneyStore(path: dir + "/store", mode: .readWrite, mapSize: mapSize)
        defer { store.close() }
        return try await body(store)
    }
}

/// Blocking form of `withStore`.
func withStore<R>(mapSize: Int = 1 << 30, _ body: (JourneyStore) throws -> R) throws -> R {
    try withTemporaryDirectory { dir in
        let store = try JourneyStore(path: dir + "/store", mode: .readWrite, mapSize: mapSize)
        defer { store.close() }
        return try body(store)
    }
}

// MARK: Store format

/// The store format recorded in the log's `meta` database.
func storedFormat(_ store: JourneyStore) throws -> UInt32? {
    try store.env.read { txn in
        try Array("format".utf8).withUnsafeBytes { k in try txn.withValue(store.log.meta, key: k) { $0.loadUnaligned(as: UInt32.self) } }
    }
}

/// Records `format` as the store's format, to make a store look as an older version left it.
func setStoredFormat(_ txn: inout WriteTransaction, _ store: JourneyStore, _ format: UInt32) throws {
    var v = format
    try Array("format".utf8).withUnsafeBytes { k in try withUnsafeBytes(of: &v) { try txn.put(store.log.meta, key: k, value: $0) } }
}

// MARK: Test data

enum TestResources {
    /// A file of the `Golden` resource directory as the test bundle holds it (`resources: [.copy("Golden")]`).
    static func golden(_ name: String) -> String? {
        Bundle.module.resourceURL?.appendingPathComponent("Golden").appendingPathComponent(name).path
    }

    /// A file in the test sources, relative to the directory of the calling test file (`Fixtures/…`, `Golden/…`).
    /// Used for data the package does not declare as a resource.
    static func sourcePath(_ relative: String, filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent(relative).path
    }

    static func data(atSourcePath relative: String, filePath: String = #filePath) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: sourcePath(relative, filePath: filePath)))
    }
}

// MARK: JSON through Foundation

/// Parses JSON text with Foundation (fragments allowed), the independent reference the engine is compared with.
func foundationJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

/// Semantic equality of two JSON texts as Foundation sees them: same keys, same values (numbers by value, `true`
/// not equal to `1`), any order. Also compares a sorted-key re-serialization byte for byte, which tells apart
/// strings that are only canonically equivalent (`é` vs `e` + U+0301) — `isEqual` on strings does not.
func jsonSemanticallyEqual(_ a: String, _ b: String) throws -> Bool {
    let x = try foundationJSON(a)
    let y = try foundationJSON(b)
    // Wrapped in an array so fragments compare too; the elements compare with `isEqual`.
    guard NSArray(array: [x]).isEqual(NSArray(array: [y])) else { return false }
    let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed]
    return try JSONSerialization.data(withJSONObject: x, options: options)
        == JSONSerialization.data(withJSONObject: y, options: options)
}

/// A JSON object's members, parsed by Foundation.
func jsonObject(_ text: String) throws -> [String: Any] {
    let value = try foundationJSON(text)
    guard let object = value as? [String: Any] else {
        throw TestFailure("not a JSON object: \(text.prefix(200))")
    }
    return object
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: Times

/// UTC milliseconds of a calendar time, computed with Foundation (independently of the engine's RFC 3339 code).
func utcMillis(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0,
               _ millisecond: Int = 0) -> Int64 {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(
        from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    return Int64(date.timeIntervalSince1970.rounded()) * 1000 + Int64(millisecond)
}

func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

// MARK: Outcomes

extension AppendOutcome {
    var appendedPosition: UInt64? {
        if case .appended(let p) = self { return p }
        return nil
    }

    var rejection: Rejection? {
        if case .rejected(let r) = self { return r }
        return nil
    }
}

/// Appends JSON texts in one batch, blocking.
@discardableResult
func appendSync(_ store: JourneyStore, _ messages: [String], source: String = "library") throws -> [AppendOutcome] {
    try store.appendSync(json: messages.map { Array($0.utf8) }, source: source)
}

/// Every event of the store, read a page at a time.
func allEvents(_ store: JourneyStore, pageSize: Int = 1000) throws -> [StoredEvent] {
    var out: [StoredEvent] = []
    var next: UInt64 = 1
    while true {
        let page = try store.events(from: next, limit: pageSize)
        guard let last = page.last else { return out }
        out += page
        next = last.position + 1
    }
}

/// The store's NDJSON export as lines.
func exportedLines(_ store: JourneyStore) throws -> [String] {
    var bytes: [UInt8] = []
    try store.export { bytes += $0 }
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}

/// Whether `text` contains `part` byte for byte (`String.contains` treats canonically equivalent text as equal).
func containsBytes(_ text: String, _ part: String) -> Bool {
    let h = Array(text.utf8)
    let n = Array(part.utf8)
    guard !n.isEmpty else { return true }
    guard h.count >= n.count else { return false }
    for start in 0...(h.count - n.count) where h[start] == n[0] {
        if h[start..<(start + n.count)].elementsEqual(n) { return true }
    }
    return false
}
