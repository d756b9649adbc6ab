import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// End-to-end helpers: find the built `journey` executable, run it as a child process on real files, and give each
// test its own temporary directory. Used by CommandLineTests and CrashTests.

/// What one run of `journey` did.
struct JourneyRun: Sendable, CustomStringConvertible {
    let arguments: [String]
    /// The exit code, or the signal number when `signaled`.
    let status: Int32
    /// The process was ended by a signal (e.g. SIGKILL), not by exit.
    let signaled: Bool
    /// The run took longer than its timeout and was killed.
    let timedOut: Bool
    let stdoutData: Data
    let stderrData: Data

    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    var stderr: String { String(decoding: stderrData, as: UTF8.self) }
    /// The exit code of a process that exited (nil when it was killed).
    var exitCode: Int32? { signaled ? nil : status }
    /// Standard output cut into lines, without empty ones.
    var stdoutLines: [Substring] { stdout.split(separator: "\n", omittingEmptySubsequences: true) }

    /// Standard output parsed as one JSON object.
    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: stdoutData)
        guard let dict = object as? [String: Any] else {
            throw JourneyTestError("stdout of `journey \(arguments.joined(separator: " "))` is not a JSON object: \(stdout.prefix(500))")
        }
        return dict
    }

    var description: String {
        "`journey \(arguments.joined(separator: " "))` → \(signaled ? "signal" : "exit") \(status)\(timedOut ? " (timed out)" : "")\n"
            + "stdout: \(stdout.prefix(1500))\nstderr: \(stderr.prefix(1500))"
    }
}

struct JourneyTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Standard input for a child process.
enum JourneyInput {
    /// /dev/null.
    case none
    case data(Data)
    case file(URL)
    /// A pipe the test writes to (see `JourneyProcess.stdinPipe`).
    case pipe
}

/// A running `journey` process whose output goes to files (no pipe can fill up and block it).
final class JourneyProcess: @unchecked Sendable {
    /// Shared with the termination handler (which must not keep the JourneyProcess alive).
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        let exited = DispatchSemaphore(value: 0)
        var finished = false
        var killedForTimeout = false
    }

    let arguments: [String]
    let process = Process()
    /// The write end of standard input when started with `.pipe`.
    private(set) var stdinPipe: Pipe?
    private let outputDirectory: URL
    private let state = State()

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { state.lock.withLock { !state.finished } }

    init(_ arguments: [String], stdin: JourneyInput = .none, environment: [String: String] = [:], directory: URL) throws {
        self.arguments = arguments
        outputDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("journey-run-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let out = outputDirectory.appendingPathComponent("stdout")
        let err = outputDirectory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)

        process.executableURL = try JourneyBinary.url()
        process.arguments = arguments
        process.currentDirectoryURL = directory
        // The child sees our environment without JOURNEY_STORE (so a developer's setting cannot leak into a test),
        // plus what the test asks for.
        var env = ProcessInfo.processInfo.environment
        env["JOURNEY_STORE"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        var parentCopies: [FileHandle] = []
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        parentCopies += [outHandle, errHandle]
        process.standardOutput = outHandle
        process.standardError = errHandle
        switch stdin {
        case .none:
            process.standardInput = FileHandle.nullDevice
        case .data(let data):
            let file = outputDirectory.appendingPathComponent("stdin")
            try data.write(to: file)
            let h = try FileHandle(forReadingFrom: file)
            parentCopies.append(h)
            process.standardInput = h
        case .file(let url):
            let h = try FileHandle(forReadingFrom: url)
            parentCopies.append(h)
            process.standardInput = h
        case .pipe:
            let pipe = Pipe()
            stdinPipe = pipe
            process.standardInput = pipe
        }
        let state = self.state
        process.terminationHandler = { _ in
            state.lock.withLock { state.finished = true }
            state.exited.signal()
        }
        defer {
            // The child has its own copies now.
            for h in parentCopies { try? h.close() }
        }
        try process.run()
        if let stdinPipe {
            // Ours must go too, so that closing the write end means end of file for the child.
            try? stdinPipe.fileHandleForReading.close()
        }
    }

    deinit {
        // A test that stopped early (a failed #require) must not leave its child running.
        kill(SIGKILL)
        try? FileManager.default.removeItem(at: outputDirectory)
    }

    /// Writes to the child's standard input (`.pipe` only); blocks while the pipe is full.
    func writeStdin(_ data: Data) throws {
        guard let stdinPipe else { throw JourneyTestError("not started with a stdin pipe") }
        try stdinPipe.fileHandleForWriting.write(contentsOf: data)
    }

    /// Closes the child's standard input (`.pipe` only): it reads end of file.
    func closeStdin() {
        try? stdinPipe?.fileHandleForWriting.close()
    }

    /// Sends `signal` (default SIGKILL) if the process is still running.
    func kill(_ signal: Int32 = SIGKILL) {
        let pid = process.processIdentifier
        state.lock.withLock {
            // Under the lock, so the pid cannot have been reaped and reused meanwhile.
            if !state.finished { sendSignal(pid, signal) }
        }
    }

    /// Waits for the process to end (killing it after `timeout`) and returns what it did.
    func finish(timeout: TimeInterval = 120) async -> JourneyRun {
        let state = self.state
        let pid = process.processIdentifier
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            // Block a dispatch thread, never one of Swift concurrency's few cooperative threads.
            DispatchQueue.global().async {
                if state.exited.wait(timeout: .now() + timeout) == .timedOut {
                    state.lock.withLock {
                        state.killedForTimeout = true
                        if !state.finished { sendSignal(pid, SIGKILL) }
                    }
                    state.exited.wait()
                }
                state.exited.signal()  // leave it signalled for any later `finish`
                cont.resume()
            }
        }
        closeStdin()
        let signaled = process.terminationReason == .uncaughtSignal
        let out = (try? Data(contentsOf: outputDirectory.appendingPathComponent("stdout"))) ?? Data()
        let err = (try? Data(contentsOf: outputDirectory.appendingPathComponent("stderr"))) ?? Data()
        return JourneyRun(
            arguments: arguments, status: process.terminationStatus, signaled: signaled,
            timedOut: state.lock.withLock { state.killedForTimeout }, stdoutData: out, stderrData: err)
    }
}

private func sendSignal(_ pid: Int32, _ signal: Int32) {
    #if canImport(Glibc)
    _ = Glibc.kill(pid, signal)
    #elseif canImport(Darwin)
    _ = Darwin.kill(pid, signal)
    #endif
}

/// The `journey` executable under test.
enum JourneyBinary {
    /// `$JOURNEY_BIN` if set; else `journey` beside the running test bundle (SwiftPM builds the executable target
    /// the test target depends on into the same directory).
    static func url() throws -> URL {
        try located.get()
    }

    private static let located: Result<URL, JourneyTestError> = {
        let fm = FileManager.default
        if let override = ProcessInfo.processInfo.environment["JOURNEY_BIN"], !override.isEmpty {
            let url = URL(fileURLWithPath: override)
            guard fm.isExecutableFile(atPath: url.path) else {
                return .failure(JourneyTestError("JOURNEY_BIN=\(override) is not an executable file"))
            }
            return .success(url)
        }
        var starts: [URL] = []
        if let first = CommandLine.arguments.first, !first.isEmpty {
            starts.append(URL(fileURLWithPath: first).resolvingSymlinksInPath())
        }
        if let exe = Bundle.main.executableURL { starts.append(exe.resolvingSymlinksInPath()) }
        starts.append(Bundle.main.bundleURL.resolvingSymlinksInPath())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            starts.append(bundle.bundleURL.resolvingSymlinksInPath())
        }
        var tried: [String] = []
        for start in starts {
            // From the test executable (Linux: …/debug/JourneyPackageTests.xctest) or inside a macOS bundle
            // (…/debug/JourneyPackageTests.xctest/Contents/MacOS/JourneyPackageTests), walk up a few levels.
            var dir = start.deletingLastPathComponent()
            for _ in 0..<5 {
                let candidate = dir.appendingPathComponent("journey")
                tried.append(candidate.path)
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                    fm.isExecutableFile(atPath: candidate.path)
                {
                    return .success(candidate)
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        return .failure(JourneyTestError(
            "cannot find the journey executable (build with `swift build --build-tests`, or set JOURNEY_BIN); tried "
                + tried.joined(separator: ", ")))
    }()
}

/// A test's own temporary directory; `run` starts `journey` in it.
struct Sandbox: Sendable {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("journey-e2e-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// A path inside the sandbox.
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Runs `journey arguments…` in the sandbox to completion.
    func run(
        _ arguments: [String], stdin: JourneyInput = .none, environment: [String: String] = [:],
        timeout: TimeInterval = 120
    ) async throws -> JourneyRun {
        let child = try JourneyProcess(arguments, stdin: stdin, environment: environment, directory: directory)
        return await child.finish(timeout: timeout)
    }

    /// Starts `journey arguments…` in the sandbox and returns at once.
    func start(_ arguments: [String], stdin: JourneyInput = .none, environment: [String: String] = [:]) throws
        -> JourneyProcess
    {
        try JourneyProcess(arguments, stdin: stdin, environment: environment, directory: directory)
    }

    /// `journey --store STORE status --format json`, parsed.
    func status(_ store: String) async throws -> StoreCounts {
        let run = try await run(["--store", store, "status", "--format", "json"])
        guard run.exitCode == 0 else { throw JourneyTestError("status failed: \(run)") }
        return try StoreCounts(json: run.jsonObject())
    }
}

/// Runs `body` with a fresh sandbox and removes it afterwards, whatever happens.
func withSandbox<T>(_ body: (Sandbox) async throws -> T) async throws -> T {
    let sandbox = try Sandbox()
    defer { sandbox.remove() }
    return try await body(sandbox)
}

/// The counts `journey status --format json` reports.
struct StoreCounts: Equatable, Sendable, CustomStringConvertible {
    var events: Int
    var lastPosition: Int
    var eventsByName: [String: Int]
    var rejected: Int
    var bytes: Int

    init(json: [String: Any]) throws {
        guard let events = jsonInt(json["events"]), let last = jsonInt(json["last_position"]),
            let byName = json["events_by_name"] as? [String: Any], let bytes = jsonInt(json["bytes"])
        else { throw JourneyTestError("unexpected status JSON: \(json)") }
        self.events = events
        lastPosition = last
        eventsByName = try byName.mapValues { value in
            guard let n = jsonInt(value) else { throw JourneyTestError("events_by_name value \(value) is not an integer") }
            return n
        }
        rejected = jsonInt(json["rejected"]) ?? -1
        self.bytes = bytes
    }

    /// What must survive a crash and a re-import: the log's content (size and rejected count may differ).
    var logCounts: LogCounts { LogCounts(events: events, lastPosition: lastPosition, eventsByName: eventsByName) }

    var description: String { "events \(events), last_position \(lastPosition), rejected \(rejected), by name \(eventsByName)" }
}

struct LogCounts: Equatable, Sendable {
    var events: Int
    var lastPosition: Int
    var eventsByName: [String: Int]
}

/// An integer from a JSONSerialization value (NSNumber holding an integer), else nil.
func jsonInt(_ value: Any?) -> Int? {
    guard let n = value as? NSNumber, !isJSONBool(n) else { return nil }
    let d = n.doubleValue
    guard d.isFinite, d == d.rounded() else { return nil }
    return n.intValue
}

/// A number from a JSONSerialization value, else nil.
func jsonDouble(_ value: Any?) -> Double? {
    guard let n = value as? NSNumber, !isJSONBool(n) else { return nil }
    return n.doubleValue
}

/// JSONSerialization gives `true`/`false` as NSNumber of type "c" (char).
func isJSONBool(_ n: NSNumber) -> Bool {
    String(cString: n.objCType) == "c"
}

/// Semantic equality of two JSONSerialization values: objects by keys (any order), arrays in order, numbers by
/// value, booleans distinct from numbers.
func jsonEqual(_ a: Any, _ b: Any) -> Bool {
    switch (a, b) {
    case (is NSNull, is NSNull): return true
    case (let x as String, let y as String): return x == y
    case (let x as [String: Any], let y as [String: Any]):
        guard x.count == y.count else { return false }
        for (k, v) in x {
            guard let w = y[k], jsonEqual(v, w) else { return false }
        }
        return true
    case (let x as [Any], let y as [Any]):
        return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
    case (let x as NSNumber, let y as NSNumber):
        if isJSONBool(x) != isJSONBool(y) { return false }
        return x.compare(y) == .orderedSame
    default: return false
    }
}

/// Parses one NDJSON line with JSONSerialization.
func parseJSONLine<S: StringProtocol>(_ line: S) -> Any? {
    try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
}

/// The golden data set in Tests/JourneyTests/Golden, read by path relative to this source file.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden", isDirectory: true)
    static let events = directory.appendingPathComponent("events.ndjson")

    struct Expected: Sendable {
        var lines: Int
        var accepted: Int
        var duplicates: Int
        var rejected: Int
        var eventsByName: [String: Int]
    }

    static func expected() throws -> Expected {
        let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let lines = jsonInt(json["lines"]), let accepted = jsonInt(json["accepted"]),
            let duplicates = jsonInt(json["duplicates"]), let rejected = jsonInt(json["rejected"]),
            let byName = json["events_by_name"] as? [String: Any]
        else { throw JourneyTestError("cannot read Golden/expected.json") }
        return Expected(
            lines: lines, accepted: accepted, duplicates: duplicates, rejected: rejected,
            eventsByName: byName.compactMapValues { jsonInt($0) })
    }

    /// The golden file's lines (1-based line number = index + 1).
    static func lines() throws -> [Substring] {
        let text = try String(contentsOf: events, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// A generated data set big enough that importing it takes a few seconds in a debug build, made once per test
/// process with `journey generate` and shared by the tests that need one (concurrent writers, crashes).
/// It is written both as one file and as `parts` consecutive pieces: importing the pieces in one command commits
/// at least once per piece, so a crash can land between many commits.
struct BigDataSet: Sendable {
    static let customers = 16_000
    static let seed: UInt64 = 7
    static let partCount = 6

    let file: URL
    let parts: [URL]
    let lines: Int

    static func shared() async throws -> BigDataSet { try await SharedData.instance.bigDataSet() }
}

/// A clean import of the big data set into its own store: the reference a crashed-then-resumed import must equal.
struct BigReference: Sendable {
    let store: String
    let counts: StoreCounts
    let export: Data

    static func shared() async throws -> BigReference { try await SharedData.instance.bigReference() }
}

/// Per-process shared files, in one directory removed when the process exits.
actor SharedData {
    static let instance = SharedData()

    private var big: Task<BigDataSet, any Error>?
    private var reference: Task<BigReference, any Error>?
    private let sandbox: Sandbox

    private init() {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("journey-e2e-shared-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        // If this fails, the first command that writes there reports it.
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        sandbox = Sandbox(unchecked: directory)
        registerRemovalAtExit(directory.path)
    }

    func bigDataSet() async throws -> BigDataSet {
        if let big { return try await big.value }
        let sandbox = self.sandbox
        let task = Task { () throws -> BigDataSet in
            let file = sandbox.url("big.ndjson")
            let run = try await sandbox.run([
                "generate", "--customers", String(BigDataSet.customers), "--seed", String(BigDataSet.seed),
                "--output", file.path,
            ])
            guard run.exitCode == 0 else { throw JourneyTestError("generate failed: \(run)") }
            let data = try Data(contentsOf: file)
            var lineStarts: [Int] = [0]
            for (i, byte) in data.enumerated() where byte == 0x0A && i + 1 < data.count { lineStarts.append(i + 1) }
            let lines = lineStarts.count
            var parts: [URL] = []
            for p in 0..<BigDataSet.partCount {
                let first = lines * p / BigDataSet.partCount
                let end = lines * (p + 1) / BigDataSet.partCount
                let from = lineStarts[first]
                let to = end < lines ? lineStarts[end] : data.count
                let url = sandbox.url("big-part\(p + 1).ndjson")
                try data.subdata(in: from..<to).write(to: url)
                parts.append(url)
            }
            return BigDataSet(file: file, parts: parts, lines: lines)
        }
        big = task
        return try await task.value
    }

    func bigReference() async throws -> BigReference {
        if let reference { return try await reference.value }
        let sandbox = self.sandbox
        let task = Task { () throws -> BigReference in
            let big = try await BigDataSet.shared()
            let store = sandbox.path("reference-store")
            let imported = try await sandbox.run(["--store", store, "import", big.file.path, "--format", "json"])
            guard imported.exitCode == 0 else { throw JourneyTestError("reference import failed: \(imported)") }
            let counts = try await sandbox.status(store)
            let export = try await sandbox.run(["--store", store, "export"])
            guard export.exitCode == 0 else { throw JourneyTestError("reference export failed: \(export)") }
            return BigReference(store: store, counts: counts, export: export.stdoutData)
        }
        reference = task
        return try await task.value
    }
}

extension Sandbox {
    fileprivate init(unchecked directory: URL) { self.directory = directory }
}

private nonisolated(unsafe) var pathsToRemoveAtExit: [String] = []
private let pathsToRemoveLock = NSLock()

private func registerRemovalAtExit(_ path: String) {
    pathsToRemoveLock.withLock {
        if pathsToRemoveAtExit.isEmpty {
            atexit {
                let paths = pathsToRemoveLock.withLock { pathsToRemoveAtExit }
                for p in paths { try? FileManager.default.removeItem(atPath: p) }
            }
        }
        pathsToRemoveAtExit.append(path)
    }
}
