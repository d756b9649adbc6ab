internal import Foundation
internal import LMDB

/// Sizes before and after `compact(to:)`.
public struct CompactionReport: Sendable {
    /// Bytes the source store's pages occupy, free pages included.
    public var bytesBefore: Int
    /// Of those, bytes on LMDB's free list (left by rebuilds and rewritten projection values).
    public var freeBytesBefore: Int
    /// Bytes of the compacted copy.
    public var bytesAfter: Int
    public var events: Int
}

extension JourneyStore {
    /// Bytes on LMDB's free list: reused by later writes, reclaimed only by `compact(to:)`.
    public func freeBytes() throws -> Int { try env.freePages() * env.pageSize }

    /// Bytes of the projections' pages: both person sets, the scratch sets of `verify` and `--as-of-position`, and
    /// the saved funnels. The rest of the used pages, less the free ones, is the log with its indexes (the peers
    /// store only that much: `journey status` shows both).
    public func projectionBytes() throws -> Int {
        let registry = PersonDatabaseRegistry.shared
        var databases: [Database] = []
        for prefix in [PersonSets.primary, PersonSets.alternate, PersonSets.verify] + PersonSets.asOfSlots {
            guard let dbs = try? registry.databases(for: env, prefix: prefix, create: false) else { continue }
            databases += [dbs.personIds, dbs.persons, dbs.merges, dbs.timelines, dbs.meta]
        }
        if let f = try? SavedFunnelRegistry.shared.databases(for: env, create: false) {
            databases += [f.definitions, f.meta, f.state]
        }
        return try env.read { txn in try databases.reduce(0) { $0 + (try txn.statistics($1).bytes) } }
    }

    /// Writes a compacted copy of the store to `destination` (a new directory, private to the user): the same
    /// events, projections and digests without the free pages a file never gives back (a rebuild frees the whole
    /// old projection set). One read snapshot: appends may go on meanwhile and are not in the copy.
    public func compact(to destination: String) throws -> CompactionReport {
        let target = URL(fileURLWithPath: destination).standardizedFileURL.path
        guard target != URL(fileURLWithPath: path).standardizedFileURL.path else {
            throw StoreError("cannot compact \(path) onto itself: give a new directory")
        }
        if StoreFiles.exists(destination) {
            throw StoreError("\(destination) already holds a store; give a new directory")
        }
        try StoreFiles.createDirectory(destination)
        // Deferred projections first, so the copy's projections cover its log as this store's queries see them.
        try projectionsCurrent()
        let before = env.usedBytes
        let free = try freeBytes()
        let events = try status().events
        do {
            try env.copy(toDirectory: destination, compact: true)
        } catch {
            try? FileManager.default.removeItem(atPath: destination + "/data.mdb")
            throw StoreError("cannot write a compacted copy to \(destination): \(error)")
        }
        // mdb_env_copy2 creates the file with the process umask; store files are private to the user.
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: destination + "/data.mdb")
        let copy = try JourneyStore(path: destination, mode: .readOnly)
        return CompactionReport(bytesBefore: before, freeBytesBefore: free, bytesAfter: copy.env.usedBytes, events: events)
    }
}
