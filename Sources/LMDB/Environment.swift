internal import CLMDB
internal import Glibc

/// Options for opening an environment.
public struct EnvironmentOptions: Sendable {
    /// Initial map size in bytes; the map grows by doubling on `MDB_MAP_FULL`.
    public var mapSize: Int = 1 << 30
    /// Named databases this environment may open (`mdb_env_set_maxdbs`, before open).
    public var maxDatabases: UInt32 = 32
    /// Reader slots (`mdb_env_set_maxreaders`).
    public var maxReaders: UInt32 = 126
    /// Open read-only (`MDB_RDONLY`).
    public var readOnly: Bool = false
    /// Skip the meta-page fsync on commit (`MDB_NOMETASYNC`): the last commit may be lost on an OS crash,
    /// never corrupted. Off by default.
    public var noMetaSync: Bool = false
    /// Write through the memory map (`MDB_WRITEMAP`): no malloc'd copy of each dirty page and no dirty-list search
    /// on every page access, which large import transactions pay for. The data file becomes a sparse file of the
    /// map's size.
    public var writeMap: Bool = false
    /// No readahead on the map (`MDB_NORDAHEAD`). With `writeMap`, each page a growing file gains is first faulted
    /// in through the map; readahead then zero-fills the file's holes far ahead of what is written (measured on a
    /// 10M-event import: 9.6 s of system time instead of 5.3 s). Scans of a cold file want readahead, so only
    /// bulk writers turn it off.
    public var noReadahead: Bool = false
    /// File mode for the data and lock files: private to the user.
    public var fileMode: UInt32 = 0o600

    public init() {}
}

/// An LMDB environment: one memory-mapped file and its lock file in a directory.
///
/// One per process and path (LMDB forbids opening the same environment twice in a process). Transactions are
/// `~Copyable` values made by `read` / `write` closures, so they cannot outlive their thread or their environment.
/// `MDB_NOTLS` is set, so read transactions are not bound to a thread; write transactions stay inside a synchronous
/// closure because LMDB's writer mutex must be released by the thread that took it.
public final class Environment: @unchecked Sendable {
    let handle: OpaquePointer
    let gate = TransactionGate()
    public let path: String
    public let readOnly: Bool

    public init(path: String, options: EnvironmentOptions = .init()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw LMDBError(code: EINVAL) }
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)))
            try check(mdb_env_set_maxreaders(env, options.maxReaders))
            try check(mdb_env_set_mapsize(env, options.mapSize))
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            if options.noMetaSync { flags |= UInt32(MDB_NOMETASYNC) }
            if options.writeMap && !options.readOnly { flags |= UInt32(MDB_WRITEMAP) }
            if options.noReadahead { flags |= UInt32(MDB_NORDAHEAD) }
            try check(mdb_env_open(env, path, flags, mdb_mode_t(options.fileMode)))
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.readOnly = options.readOnly
        // A crashed process leaves its reader slots behind; clear them before anyone waits on them.
        clearStaleReaders()
    }

    deinit { mdb_env_close(handle) }

    /// Removes reader slots left by dead processes (`mdb_reader_check`); returns how many were cleared.
    @discardableResult
    public func clearStaleReaders() -> Int {
        var dead: Int32 = 0
        _ = mdb_reader_check(handle, &dead)
        return Int(dead)
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Maps the data file's used pages into this process now (`madvise(MADV_POPULATE_READ)`), so that later reads
    /// do not each take a page fault on first touch (pages not in the OS cache are read now). For a long-running
    /// reader: a short one would map far more than it reads. False when the kernel refused (before Linux 5.14),
    /// which changes nothing but speed.
    @discardableResult
    public func populateMap() -> Bool {
        // LMDB does not tell where it mapped the file (`me_mapaddr` is only set for MDB_FIXEDMAP): the process's
        // own map list does.
        guard let file = realpath(path + "/data.mdb", nil) else { return false }
        let dataFile = String(cString: file)
        free(file)
        guard let maps = fopen("/proc/self/maps", "r") else { return false }
        defer { fclose(maps) }
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        while getline(&buffer, &capacity, maps) > 0, let line = buffer {
            // "start-end perms offset dev inode   path\n"
            let text = String(cString: line)
            guard text.hasSuffix(" " + dataFile + "\n") else { continue }
            let range = text.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            // Only the file's used pages: the rest of the map lies beyond the end of the file.
            let length = min(Int(end - start), usedBytes)
            return madvise(address, length, 22 /* MADV_POPULATE_READ */) == 0
        }
        return false
    }

    /// Bytes used by the data file's pages (last page number × page size): what the store really occupies.
    public var usedBytes: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// Writes a consistent snapshot of the environment as `directory/data.mdb` (`mdb_env_copy2`; the directory must
    /// exist and hold no data file). With `compact`, free pages are left out and pages renumbered, so the copy is
    /// as small as the live data. Writers may go on meanwhile: the copy is one read transaction's view.
    public func copy(toDirectory directory: String, compact: Bool) throws(LMDBError) {
        try check(mdb_env_copy2(handle, directory, compact ? UInt32(MDB_CP_COMPACT) : 0))
    }

    /// Pages on LMDB's free list: space inside the file that later writes reuse, and that a compacting copy drops.
    public func freePages() throws -> Int {
        try read { txn in
            var cursor: OpaquePointer?
            // Database 0 is LMDB's free-page database: each value is a page-number list headed by its length.
            try check(mdb_cursor_open(txn.txnHandle, 0, &cursor))
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val()
            var data = MDB_val()
            var total = 0
            var rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST)
            while rc == 0 {
                if let p = data.mv_data, data.mv_size >= MemoryLayout<Int>.size { total += p.loadUnaligned(as: Int.self) }
                rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)
            }
            guard rc == MDB_NOTFOUND else { throw LMDBError(code: rc) }
            return total
        }
    }

    /// Bytes of one page.
    public var pageSize: Int {
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return Int(stat.ms_psize)
    }

    /// Flushes the data file to disk (`mdb_env_sync` with force).
    public func sync() throws(LMDBError) {
        try check(mdb_env_sync(handle, 1))
    }

    /// Relaxes (or restores) syncing at commit (`MDB_NOSYNC`, settable at run time). With it on, a commit reaches the
    /// OS but not the disk: a killed process loses nothing, an OS crash may lose recent commits. Call `sync()` after.
    public func setSyncOnCommit(_ on: Bool) throws(LMDBError) {
        try check(mdb_env_set_flags(handle, UInt32(MDB_NOSYNC), on ? 0 : 1))
    }

    /// Doubles the map (or reaches `atLeast`), with no transaction of this process active, as LMDB requires.
    public func growMap(atLeast: Int = 0) throws(LMDBError) {
        let current = mapSize
        let target = max(current * 2, atLeast)
        try gate.exclusive { () throws(LMDBError) in
            // Another thread may have grown it while we waited.
            if self.mapSize >= target { return }
            try check(mdb_env_set_mapsize(self.handle, target))
        }
    }

    /// Adopts a map size grown by another process (`mdb_env_set_mapsize(env, 0)`).
    func adoptMapSize() throws(LMDBError) {
        try gate.exclusive { () throws(LMDBError) in
            try check(mdb_env_set_mapsize(self.handle, 0))
        }
    }

    func beginTransaction(readOnly: Bool) throws(LMDBError) -> OpaquePointer {
        var attempts = 0
        while true {
            gate.enter()
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
            if rc == 0, let txn { return txn }
            gate.leave()
            if rc == MDB_MAP_RESIZED && attempts < 3 {
                attempts += 1
                try adoptMapSize()
                continue
            }
            throw LMDBError(code: rc)
        }
    }

    /// Runs `body` in a read-only snapshot. Keep it short: a long-lived reader pins pages and the file grows.
    public func read<R, E: Error>(_ body: (borrowing ReadTransaction) throws(E) -> R) throws -> R {
        let txn = ReadTransaction(handle: try beginTransaction(readOnly: true), gate: gate)
        return try body(txn)
    }

    /// Runs `body` in a write transaction and commits it. On `MDB_MAP_FULL` the transaction is aborted, the map
    /// doubled and `body` run again from scratch, so `body` must not have effects outside the transaction
    /// that a second run would repeat.
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        while true {
            var txn = WriteTransaction(handle: try beginTransaction(readOnly: false), gate: gate)
            do {
                let result = try body(&txn)
                try txn.commit()
                return result
            } catch let error as LMDBError where error == .mapFull {
                // `txn` was aborted when dropped or by the failed commit; grow with no transaction active.
                try growMap()
            }
        }
    }

    /// Opens (or creates) several named databases in one transaction, so a store is created whole or not at all.
    public func openDatabases(_ specs: [(name: String, flags: DatabaseFlags)], create: Bool = true) throws -> [Database] {
        if readOnly || !create { return try specs.map { try openDatabase($0.name, flags: $0.flags, create: false) } }
        return try write { txn in try specs.map { try txn.openDatabase($0.name, flags: $0.flags.union(.create)) } }
    }

    /// Opens (or creates) a named database. Opened once at start-up, in its own write transaction.
    public func openDatabase(_ name: String, flags: DatabaseFlags = [], create: Bool = true) throws -> Database {
        if readOnly || !create {
            // A handle opened in a read-only transaction survives only if that transaction commits.
            let txn = try beginTransaction(readOnly: true)
            defer { gate.leave() }
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, name, flags.rawValue, &dbi)
            if rc != 0 {
                mdb_txn_abort(txn)
                throw LMDBError(code: rc)
            }
            try check(mdb_txn_commit(txn))
            return Database(dbi: dbi)
        }
        return try write { txn in try txn.openDatabase(name, flags: flags.union(.create)) }
    }
}

/// Counts this process's live transactions so the map can be resized only when there are none,
/// as `mdb_env_set_mapsize` requires.
final class TransactionGate: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var active = 0
    private var resizing = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    func enter() {
        pthread_mutex_lock(&mutex)
        while resizing { pthread_cond_wait(&condition, &mutex) }
        active += 1
        pthread_mutex_unlock(&mutex)
    }

    func leave() {
        pthread_mutex_lock(&mutex)
        active -= 1
        if active == 0 { pthread_cond_broadcast(&condition) }
        pthread_mutex_unlock(&mutex)
    }

    func exclusive(_ body: () throws(LMDBError) -> Void) throws(LMDBError) {
        pthread_mutex_lock(&mutex)
        while resizing || active > 0 { pthread_cond_wait(&condition, &mutex) }
        resizing = true
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            resizing = false
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        try body()
    }
}
