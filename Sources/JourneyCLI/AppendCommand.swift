import ArgumentParser
import Foundation
import Journey

struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append", abstract: "Append one Segment message (JSON) from an argument or standard input.")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The message as JSON; omit to read it from standard input.") var message: String?

    func run() throws {
        let text: String
        if let message {
            text = message
        } else {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ValidationError("no message given") }
        let store = try storeOptions.open(.readWrite)
        let outcomes = try store.appendSync(json: [Array(trimmed.utf8)], source: message == nil ? "stdin" : "argument")
        store.close()
        switch outcomes.first {
        case .appended(let p)?: print("appended at position \(p)")
        case .duplicate(let p)?: print("duplicate of position \(p): not stored again")
        case .rejected(let r)?:
            printError("rejected: \(r)")
            throw ExitCode(65)
        case nil: throw ExitCode.failure
        }
    }
}
