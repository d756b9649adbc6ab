internal import Foundation
internal import Glibc
internal import LMDB

/// Errors opening or using a store, each naming the store and what to do.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) { self.description = description }

    static func missing(_ path: String) -> StoreError {
        StoreError("no store at \(path) (create one with `journey import FILE` or `journey demo`, or pass --store PATH)")
    }
}

/// The directory of a store: `data.mdb` and `lock.mdb` (LMDB), and `writer.lock` (one writing process at a time).
enum StoreFiles {
    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path + "/data.mdb")
    }

    /// Creates the directory private to the user (0700).
    static func createDirectory(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError("cannot create the store directory \(path): \(error.localizedDescription)")
            }
        }
    }

    /// Takes the exclusive writer lock (`flock`) for the life of the process's store; fails at once, naming the
    /// holder, if another process writes to this store.
    static func lockWriter(_ path: String) throws -> Int32 {
        let lockPath = path + "/writer.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        // A reader checking for a writer (`writerIsActive`) holds a shared lock for a few microseconds: retried.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        var tries = 0
        while !locked && tries < 4 {
            tries += 1
            usleep(2_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        if !locked {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            let holder = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw StoreError("the store at \(path) is locked by another writer (pid \(holder)); wait for it to finish")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return fd
    }

    /// Whether a writer holds this store's lock (this process included, through another open of the store). Takes a
    /// shared lock for an instant when none does (`lockWriter` retries past it).
    static func writerIsActive(_ path: String) -> Bool {
        let fd = open(path + "/writer.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 { return errno == EWOULDBLOCK }
        flock(fd, LOCK_UN)
        return false
    }

    static func unlock(_ fd: Int32) {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
