import ArgumentParser
import Foundation
import Journey

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write realistic synthetic Segment NDJSON journeys, deterministic for a seed.")

    @Option(help: "Number of customers (about 5.7 messages each).") var customers: Int = 1000
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Fraction of re-sent duplicate lines (0–0.5).") var duplicates: Double = 0.01
    @Option(help: "Fraction of extra broken lines (duplicates + broken ≤ 0.5).") var broken: Double = 0
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

    func validate() throws {
        guard customers >= 0 else { throw ValidationError("--customers must be ≥ 0") }
        guard (0...0.5).contains(duplicates) else { throw ValidationError("--duplicates must be between 0 and 0.5") }
        guard broken >= 0, duplicates + broken <= 0.5 else { throw ValidationError("--broken must be ≥ 0 with --duplicates + --broken ≤ 0.5") }
    }

    func run() throws {
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) , let h = FileHandle(forWritingAtPath: output) else {
                printError("Error: cannot write \(output)")
                throw ExitCode.failure
            }
            handle = h
        } else {
            handle = FileHandle.standardOutput
        }
        var generator = JourneyGenerator(options: GeneratorOptions(customers: customers, seed: seed, duplicates: duplicates, broken: broken))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        _ = generator.generate { line in
            buffer.append(contentsOf: line)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                handle.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { handle.write(Data(buffer)) }
        if output != nil { try handle.close() }
    }
}
