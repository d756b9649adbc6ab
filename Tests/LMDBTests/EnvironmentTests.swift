import Foundation
import Testing

@testable import LMDB

// The LMDB wrapper as its users (the Journey store) rely on it. Each test opens its own environment in its own
// temporary directory: LMDB forbids opening one environment twice in a process.

/// A fresh directory, removed when `body` returns or throws.
private func withDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("lmdb-tests-\(UUID().uuidString)", isDirectory: true).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

private struct Abort: Error {}

extension Array where Element == UInt8 {
    fileprivate init(_ s: String) { self = Array(s.utf8) }
}

private func bigEndianBytes(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

private func put(_ txn: inout WriteTransaction, _ db: Database, _ key: [UInt8], _ value: [UInt8],
                 flags: PutFlags = []) throws {
    try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try txn.put(db, key: k, value: v, flags: flags) } }
}

private func get(_ env: Environment, _ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
    try env.read { txn in try key.withUnsafeBytes { k in try txn.withValue(db, key: k) { Array($0) } } }
}

/// Every (key, value) of a database in cursor order.
private func entries(_ env: Environment, _ db: Database) throws -> [([UInt8], [UInt8])] {
    try env.read { txn in
        try txn.withCursor(db) { c in
            var out: [([UInt8], [UInt8])] = []
            var e = try c.first()
            while let entry = e {
                out.append((Array(entry.key), Array(entry.value)))
                e = try c.next()
            }
            return out
        }
    }
}

/// Pseudo-random bytes the growth test's values are cut from.
private let pool: [UInt8] = {
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    return (0..<(1 << 16)).map { _ in
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        return UInt8(truncatingIfNeeded: (x &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
}()

/// Deterministic value bytes for the growth test: length and content depend on the key only, and the key is in
/// the first 8 bytes so no two values are equal.
private func value(for i: Int) -> [UInt8] {
    let length = 64 + (i * 7919) % 12_000
    let start = (i * 131) % (pool.count - length)
    var out = withUnsafeBytes(of: UInt64(i)) { Array($0) }
    out += pool[start..<(start + length - 8)]
    return out
}

private func sameBytes(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
    a.count == b.count && b.withUnsafeBytes { memcmp(a.baseAddress!, $0.baseAddress!, a.count) == 0 }
}

/// Kilobytes of `data.mdb` mapped into this process (`Rss` of its mapping in /proc/self/smaps).
private func mappedKilobytes(of dir: String) throws -> Int {
    // /proc files report size 0: read to the end rather than by size.
    guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return 0 }
    defer { try? handle.close() }
    let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    let file = URL(fileURLWithPath: dir + "/data.mdb").resolvingSymlinksInPath().path
    var inMapping = false
    var total = 0
    for line in smaps.split(separator: "\n") {
        if let first = line.first, first.isHexDigit, line.contains("-") {
            inMapping = line.hasSuffix(" " + file)
        } else if inMapping, line.hasPrefix("Rss:") {
            total += Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
    }
    return total
}

/// MADV_POPULATE_READ exists from Linux 5.14.
private func kernelHasPopulateRead() -> Bool {
    var u = utsname()
    uname(&u)
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let parts = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
    return parts.count == 2 && (parts[0], parts[1]) >= (5, 14)
}

@Suite struct EnvironmentTests {
    @Test("populateMap maps every used page of the file into the process; the data reads back the same")
    func populateMap() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("kv")
            try env.write { txn in
                for i in 0..<2_000 { try put(&txn, db, bigEndianBytes(UInt64(i)), value(for: i)) }
            }
            let before = try mappedKilobytes(of: dir)
            let used = env.usedBytes / 1024
            #expect(before < used / 2, "a fresh environment has not touched most of its pages")
            #expect(env.populateMap() == kernelHasPopulateRead())
            if kernelHasPopulateRead() {
                let after = try mappedKilobytes(of: dir)
                #expect(after >= used, "mapped \(before) KB before, \(after) KB after, \(used) KB used")
            }
            for i in stride(from: 0, to: 2_000, by: 97) { #expect(try get(env, db, bigEndianBytes(UInt64(i))) == value(for: i)) }
        }
    }

    @Test func putGetAndCursorOrder() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("kv")
            let keys = ["pear", "apple", "b", "banana", "Zebra", "äpfel", "apple2", "a"]
            try env.write { txn in
                for k in keys { try put(&txn, db, [UInt8](k), [UInt8]("value of \(k)")) }
            }
            for k in keys { #expect(try get(env, db, [UInt8](k)) == [UInt8]("value of \(k)")) }
            #expect(try get(env, db, [UInt8]("cherry")) == nil)

            // Cursor order is byte order of the keys ("Z" < "a" < "ä").
            let expected = keys.map { [UInt8]($0) }.sorted { $0.lexicographicallyPrecedes($1) }
            let got = try entries(env, db)
            #expect(got.map(\.0) == expected)
            #expect(got.allSatisfy { String(decoding: $0.1, as: UTF8.self) == "value of " + String(decoding: $0.0, as: UTF8.self) })

            // Putting an existing key replaces its value.
            try env.write { txn in try put(&txn, db, [UInt8]("pear"), [UInt8]("ripe")) }
            #expect(try get(env, db, [UInt8]("pear")) == [UInt8]("ripe"))
            #expect(try entries(env, db).count == keys.count)

            // seek (≥), find (exact), last, previous.
            try env.read { txn in
                try txn.withCursor(db) { c in
                    let seekB = try [UInt8]("ba").withUnsafeBytes { try c.seek($0) }
                    #expect(seekB.map { Array($0.key) } == [UInt8]("banana"))
                    let findMissing = try [UInt8]("ba").withUnsafeBytes { try c.find($0) }
                    #expect(findMissing == nil)
                    let findApple = try [UInt8]("apple").withUnsafeBytes { try c.find($0) }
                    #expect(findApple.map { Array($0.value) } == [UInt8]("value of apple"))
                    #expect(try c.last().map { Array($0.key) } == [UInt8]("äpfel"))
                    #expect(try c.previous().map { Array($0.key) } == [UInt8]("pear"))
                    let past = try [UInt8]([0xFF]).withUnsafeBytes { try c.seek($0) }
                    #expect(past == nil)
                }
            }
        }
    }

    @Test func integerKeysSortNumerically() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("ints", flags: .integerKey)
            let keys: [UInt64] = [1000, 2, 70_000, 1, 256, 1 << 40, 255, 3]
            try env.write { txn in
                for k in keys { try [UInt8]("\(k)").withUnsafeBytes { try txn.put(db, key: k, value: $0) } }
            }
            let order: [UInt64] = try env.read { txn in
                try txn.withCursor(db) { c in
                    var out: [UInt64] = []
                    var e = try c.first()
                    while let entry = e {
                        #expect(String(decoding: entry.value, as: UTF8.self) == "\(entry.integerKey)")
                        out.append(entry.integerKey)
                        e = try c.next()
                    }
                    return out
                }
            }
            #expect(order == keys.sorted())
            try env.read { txn in
                #expect(try txn.withValue(db, key: 70_000) { String(decoding: $0, as: UTF8.self) } == "70000")
                #expect(try txn.withValue(db, key: 4) { _ in true } == nil)
                try txn.withCursor(db) { (c) throws in
                    #expect(try c.seek(4)?.integerKey == 255)
                    #expect(try c.seek(70_001)?.integerKey == 1 << 40)
                    #expect(try c.seek((1 << 40) + 1) == nil)
                }
                #expect(try txn.statistics(db).entries == keys.count)
            }
        }
    }

    @Test func writeThatThrowsLeavesNothing() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("kv")
            try env.write { txn in try put(&txn, db, [UInt8]("kept"), [UInt8]("1")) }
            #expect(throws: Abort.self) {
                try env.write { txn in
                    try put(&txn, db, [UInt8]("lost"), [UInt8]("2"))
                    try put(&txn, db, [UInt8]("kept"), [UInt8]("overwritten"))
                    throw Abort()
                }
            }
            #expect(try get(env, db, [UInt8]("lost")) == nil)
            #expect(try get(env, db, [UInt8]("kept")) == [UInt8]("1"))
            // The writer lock was released: the next write goes through.
            try env.write { txn in try put(&txn, db, [UInt8]("after"), [UInt8]("3")) }
            #expect(try entries(env, db).map(\.0) == [[UInt8]("after"), [UInt8]("kept")])
        }
    }

    @Test func writeTransactionDroppedWithoutCommitLeavesNothing() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("kv")
            do {
                var txn = WriteTransaction(handle: try env.beginTransaction(readOnly: false), gate: env.gate)
                try put(&txn, db, [UInt8]("never"), [UInt8]("committed"))
                // Inside the transaction the value is visible…
                let inside = try [UInt8]("never").withUnsafeBytes { k in try txn.withValue(db, key: k) { Array($0) } }
                #expect(inside == [UInt8]("committed"))
                _ = consume txn  // …dropped here: aborted.
            }
            #expect(try get(env, db, [UInt8]("never")) == nil)
            #expect(try entries(env, db).isEmpty)
            // The abort released the writer and the resize gate: another write and a map growth still work.
            try env.write { txn in try put(&txn, db, [UInt8]("next"), [UInt8]("ok")) }
            let before = env.mapSize
            try env.growMap()
            #expect(env.mapSize == before * 2)
            #expect(try get(env, db, [UInt8]("next")) == [UInt8]("ok"))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func mapFullGrowsTheMapAndKeepsEveryValue() throws {
        try withDirectory { dir in
            var options = EnvironmentOptions()
            options.mapSize = 64 << 10
            let env = try Environment(path: dir, options: options)
            let initial = env.mapSize
            #expect(initial == 64 << 10)
            let db = try env.openDatabase("blobs", flags: .integerKey)
            // ≈ 20 MB in 8 transactions: each one overflows the map at least once early on, and is re-run whole.
            let count = 3_300
            let perTransaction = 420
            var written = 0
            var runs = 0
            for start in stride(from: 0, to: count, by: perTransaction) {
                try env.write { txn in
                    runs += 1
                    for i in start..<min(start + perTransaction, count) {
                        try value(for: i).withUnsafeBytes { try txn.put(db, key: UInt64(i), value: $0) }
                    }
                }
            }
            for i in 0..<count { written += value(for: i).count }
            #expect(written > 20_000_000)
            #expect(runs > (count + perTransaction - 1) / perTransaction, "no transaction hit MDB_MAP_FULL")
            #expect(env.mapSize > initial)
            #expect(env.mapSize >= written)
            #expect(env.usedBytes <= env.mapSize)
            try env.read { txn in
                #expect(try txn.statistics(db).entries == count)
                var mismatches = 0
                for i in 0..<count {
                    let same = try txn.withValue(db, key: UInt64(i)) { sameBytes($0, value(for: i)) }
                    if same != true { mismatches += 1 }
                }
                #expect(mismatches == 0)
            }
        }
    }

    @Test(arguments: [
        (LMDBError.notFound, "MDB_NOTFOUND"), (.keyExists, "MDB_KEYEXIST"), (.mapFull, "MDB_MAP_FULL"),
        (.mapResized, "MDB_MAP_RESIZED"), (.readersFull, "MDB_READERS_FULL"), (.databasesFull, "MDB_DBS_FULL"),
        (.transactionFull, "MDB_TXN_FULL"), (.badValueSize, "MDB_BAD_VALSIZE"), (.invalid, "MDB_INVALID"),
        (.versionMismatch, "MDB_VERSION_MISMATCH"), (LMDBError(code: 2), "ENOENT"), (LMDBError(code: 13), "EACCES"),
        (LMDBError(code: 28), "ENOSPC"), (LMDBError(code: 987_654), "error 987654"),
    ])
    func errorNames(_ error: LMDBError, _ name: String) {
        #expect(error.name == name)
        #expect(error.description.hasPrefix(name + ": "))
        #expect(!error.message.isEmpty)
    }

    @Test func errorsCarryTheirLMDBNames() throws {
        try withDirectory { dir in
            var options = EnvironmentOptions()
            options.maxDatabases = 1
            let env = try Environment(path: dir, options: options)
            let db = try env.openDatabase("only")
            // More named databases than maxDatabases.
            let tooMany = #expect(throws: LMDBError.self) { try env.openDatabase("second") }
            #expect(tooMany == .databasesFull)
            #expect(tooMany?.description.hasPrefix("MDB_DBS_FULL: ") == true)
            // noOverwrite on an existing key.
            try env.write { txn in try put(&txn, db, [UInt8]("k"), [UInt8]("v")) }
            let exists = #expect(throws: LMDBError.self) {
                try env.write { txn in try put(&txn, db, [UInt8]("k"), [UInt8]("w"), flags: .noOverwrite) }
            }
            #expect(exists?.name == "MDB_KEYEXIST")
            #expect(try get(env, db, [UInt8]("k")) == [UInt8]("v"))
            // Keys are at most 511 bytes.
            let tooLong = #expect(throws: LMDBError.self) {
                try env.write { txn in try put(&txn, db, [UInt8](repeating: 65, count: 600), [UInt8]("v")) }
            }
            #expect(tooLong?.name == "MDB_BAD_VALSIZE")
        }
    }

    @Test func openingAMissingDirectoryFailsWithENOENT() throws {
        try withDirectory { dir in
            let missing = dir + "/does/not/exist"
            let error = #expect(throws: LMDBError.self) { try Environment(path: missing) }
            #expect(error?.code == 2)
            #expect(error?.name == "ENOENT")
            #expect(error?.description.hasPrefix("ENOENT: ") == true)
            #expect(!FileManager.default.fileExists(atPath: missing))
        }
    }

    @Test func dataSurvivesReopeningReadOnly() throws {
        try withDirectory { dir in
            do {
                let env = try Environment(path: dir)
                let db = try env.openDatabase("kv")
                try env.write { txn in try put(&txn, db, [UInt8]("durable"), [UInt8]("yes")) }
            }  // closed here (the only reference is gone): the same path may be opened again.
            var options = EnvironmentOptions()
            options.readOnly = true
            let env = try Environment(path: dir, options: options)
            #expect(env.readOnly)
            let db = try env.openDatabase("kv")
            #expect(try get(env, db, [UInt8]("durable")) == [UInt8]("yes"))
            let denied = #expect(throws: LMDBError.self) {
                try env.write { txn in try put(&txn, db, [UInt8]("x"), [UInt8]("y")) }
            }
            #expect(denied?.name == "EACCES")
            #expect(try get(env, db, [UInt8]("x")) == nil)
            // A database that was never created cannot be opened read-only.
            let missing = #expect(throws: LMDBError.self) { try env.openDatabase("absent") }
            #expect(missing == .notFound)
        }
    }

    @Test func dupSortDupFixedSeekByKeyAndValue() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("dups", flags: [.dupSort, .dupFixed])
            let data: [(String, [UInt64])] = [("k", [40, 10, 30, 20]), ("j", [5]), ("l", [1, 2])]
            try env.write { txn in
                for (k, vs) in data {
                    for v in vs { try put(&txn, db, [UInt8](k), bigEndianBytes(v)) }
                }
                // The same pair again is refused with noDuplicateData, and stored once without it.
                let again = #expect(throws: LMDBError.self) {
                    try put(&txn, db, [UInt8]("k"), bigEndianBytes(20), flags: .noDuplicateData)
                }
                #expect(again == .keyExists)
                try put(&txn, db, [UInt8]("k"), bigEndianBytes(20))
            }
            func decode(_ e: CursorEntry?) -> (String, UInt64)? {
                e.map { (String(decoding: $0.key, as: UTF8.self), UInt64(bigEndian: $0.value.loadUnaligned(as: UInt64.self))) }
            }
            try env.read { txn in
                #expect(try txn.statistics(db).entries == 7)
                try txn.withCursor(db) { c in
                    func seek(_ k: String, _ v: UInt64) throws -> (String, UInt64)? {
                        try [UInt8](k).withUnsafeBytes { kb in
                            try bigEndianBytes(v).withUnsafeBytes { vb in decode(try c.seek(key: kb, value: vb)) }
                        }
                    }
                    // The first value ≥ the one asked for, under exactly that key.
                    #expect(try seek("k", 25).map { $0.1 } == 30)
                    #expect(try seek("k", 30).map { $0.1 } == 30)
                    #expect(try seek("k", 0).map { $0.1 } == 10)
                    #expect(try seek("k", 40).map { $0.0 } == "k")
                    // Past the last value of "k": not found, even though "l" follows.
                    #expect(try seek("k", 41) == nil)
                    #expect(try seek("m", 0) == nil)
                    // From 30: the next duplicate, then none; nextKey moves on to "l".
                    _ = try seek("k", 25)
                    #expect(decode(try c.nextDuplicate())?.1 == 40)
                    #expect(try c.nextDuplicate() == nil)
                    _ = try seek("k", 0)
                    #expect(decode(try c.nextKey()).map { $0.0 } == "l")
                    // Values of a key come back sorted, keys in order.
                    var all: [String] = []
                    var e = try c.first()
                    while let entry = decode(e) {
                        all.append("\(entry.0)\(entry.1)")
                        e = try c.next()
                    }
                    #expect(all == ["j5", "k10", "k20", "k30", "k40", "l1", "l2"])
                }
            }
        }
    }

    @Test func cursorPutAndDeleteAndClear() throws {
        try withDirectory { dir in
            let env = try Environment(path: dir)
            let db = try env.openDatabase("kv")
            try env.write { txn in
                try txn.withCursor(db) { c in
                    for k in ["a", "b", "c"] {
                        try [UInt8](k).withUnsafeBytes { kb in try [UInt8]("v" + k).withUnsafeBytes { try c.put(key: kb, value: $0) } }
                    }
                }
                #expect(try [UInt8]("b").withUnsafeBytes { try txn.delete(db, key: $0) })
                #expect(try [UInt8]("zz").withUnsafeBytes { try txn.delete(db, key: $0) } == false)
            }
            #expect(try entries(env, db).map { String(decoding: $0.0, as: UTF8.self) } == ["a", "c"])
            try env.write { txn in try txn.clear(db) }
            #expect(try entries(env, db).isEmpty)
            // The database itself is still there.
            try env.write { txn in try put(&txn, db, [UInt8]("d"), [UInt8]("vd")) }
            #expect(try get(env, db, [UInt8]("d")) == [UInt8]("vd"))
        }
    }
}
