/// Reading one field of a stored record in place, for filters and breakdowns: no JSON, no Strings, no allocation.
///
/// A `FieldPath` names the field as analysts write it (`channel`, `properties.revenue`, `context.campaign.source`);
/// `ResolvedPath` turns its keys into symbol ids once per query (keys of 64 bytes or less are always interned, so a
/// short key missing from the symbol table is in no record); `locate` then walks the record's tagged extras.

/// A field of an event: `channel`, `event`, `type`, `userId`, `anonymousId`, `previousId`, or a dotted path into the
/// message's other fields (`properties.plan`, `traits.email`, `context.campaign.source`, `name`).
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Root: Sendable, Hashable { case channel, event, type, userId, anonymousId, previousId, extras }

    public let root: Root
    /// The dotted components for `.extras`.
    public let components: [String]

    public var description: String { root == .extras ? components.joined(separator: ".") : "\(root)" }

    /// A path into the extra fields from known-good components (no parsing).
    public init(extras components: [String]) {
        root = .extras
        self.components = components
    }

    /// Parses `properties.revenue`-style text; throws on empty components.
    public init(_ text: String) throws(QueryError) {
        switch text {
        case "channel": root = .channel; components = []
        case "event": root = .event; components = []
        case "type": root = .type; components = []
        case "userId": root = .userId; components = []
        case "anonymousId": root = .anonymousId; components = []
        case "previousId": root = .previousId; components = []
        default:
            let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !text.isEmpty, !parts.contains(where: \.isEmpty) else {
                throw QueryError("the field \"\(text)\" is not a field path (write e.g. properties.revenue or channel)")
            }
            root = .extras
            components = parts
        }
    }
}

/// A query error the user can act on (bad definition, unknown step…): the message says what and where.
public struct QueryError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A field value read in place. The buffers point into the record: valid only inside the read transaction.
enum FieldValue {
    case null
    case bool(Bool)
    case integer(Int64)
    case decimal(Int64, scale: UInt8)
    case numberText(UnsafeRawBufferPointer)
    case string(UnsafeRawBufferPointer)
    case symbol(UInt32)
    case time(Int64)
    /// The encoded elements (after the array tag, through the end tag).
    case array(UnsafeRawBufferPointer)
    case object

    /// The number, for comparisons (decimals and number texts converted once; exact for integers to 2^53).
    var number: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .decimal(let m, let scale):
            var d = Double(m)
            for _ in 0..<scale { d /= 10 }
            return d
        case .numberText(let b): return Double(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }
}

extension FieldValue {
    /// The value as text for output (topics, currencies, breakdown values): strings and symbols as they are,
    /// numbers as written, times in RFC 3339; nil for null, booleans, arrays and objects.
    func text(symbols: SymbolTable) -> String? {
        switch self {
        case .string(let b), .numberText(let b): return String(decoding: b, as: UTF8.self)
        case .symbol(let id): return symbols.string(id)
        case .integer(let i): return String(i)
        case .decimal(let m, let scale):
            var w = ByteWriter(capacity: 24)
            RecordJSON.writeDecimal(m, scale: Int(scale), into: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        case .time(let t): return TimeText.format(t)
        case .null, .bool, .array, .object: return nil
        }
    }
}

/// A path with its keys resolved against the store's symbols.
struct ResolvedPath {
    enum Key {
        case symbol(UInt32)
        /// A key over 64 bytes (stored inline in records).
        case long([UInt8])
        /// A short key no record has.
        case absent
    }

    let root: FieldPath.Root
    let keys: [Key]

    init(_ path: FieldPath, symbols: SymbolTable) {
        root = path.root
        keys = path.components.map { c in
            if c.utf8.count > 64 { return .long(Array(c.utf8)) }
            return symbols.id(of: c).map { .symbol($0) } ?? .absent
        }
    }

    /// The value at this path in `view`, nil when absent.
    func locate(_ view: RecordView) -> FieldValue? {
        switch root {
        case .channel: return view.channel == 0 ? nil : .symbol(view.channel)
        case .event: return .symbol(view.eventName)
        case .type: return .integer(Int64(view.callTypeRaw))
        case .userId: return view.variable?.userId.map { .string($0) }
        case .anonymousId: return view.variable?.anonymousId.map { .string($0) }
        case .previousId: return view.variable?.previousId.map { .string($0) }
        case .extras:
            guard let extras = view.variable?.extras else { return nil }
            var r = ByteReader(extras)
            for (i, key) in keys.enumerated() {
                guard Self.seek(key, in: &r) else { return nil }
                if i == keys.count - 1 { return Self.read(&r) }
                guard r.byte() == ValueTag.object else { return nil }
            }
            return nil
        }
    }

    /// Moves `r` (at the start of an object's entries) to the value of `key`; false when the object has no such key.
    private static func seek(_ key: Key, in r: inout ByteReader) -> Bool {
        while let k = r.varint(), k != 0 {
            var match = false
            if k & 1 == 1 {
                guard let b = r.bytes(Int(k >> 1)) else { return false }
                if case .long(let want) = key { match = want.withUnsafeBytes { $0.elementsEqual(b) } }
            } else if case .symbol(let id) = key {
                match = UInt64(id) == (k >> 1) - 1
            }
            if match { return true }
            guard skipValue(&r) else { return false }
        }
        return false
    }

    private static func read(_ r: inout ByteReader) -> FieldValue? {
        guard let tag = r.byte() else { return nil }
        switch tag {
        case ValueTag.null: return .null
        case ValueTag.false: return .bool(false)
        case ValueTag.true: return .bool(true)
        case ValueTag.integer: return r.signedVarint().map { .integer($0) }
        case ValueTag.decimal:
            guard let m = r.signedVarint(), let s = r.byte() else { return nil }
            return .decimal(m, scale: s)
        case ValueTag.numberText: return r.lengthPrefixed().map { .numberText($0) }
        case ValueTag.string: return r.lengthPrefixed().map { .string($0) }
        case ValueTag.symbol: return r.varint().map { .symbol(UInt32(truncatingIfNeeded: $0)) }
        case ValueTag.time: return r.signedVarint().map { .time($0) }
        case ValueTag.array:
            let start = r.offset
            r.offset -= 1
            guard skipValue(&r) else { return nil }
            return .array(UnsafeRawBufferPointer(rebasing: r.buffer[start..<r.offset]))
        case ValueTag.object: return .object
        default: return nil
        }
    }

    /// Skips one tagged value.
    static func skipValue(_ r: inout ByteReader) -> Bool {
        guard let tag = r.byte() else { return false }
        switch tag {
        case ValueTag.null, ValueTag.false, ValueTag.true: return true
        case ValueTag.integer, ValueTag.symbol, ValueTag.time: return r.varint() != nil
        case ValueTag.decimal: return r.varint() != nil && r.byte() != nil
        case ValueTag.numberText, ValueTag.string: return r.lengthPrefixed() != nil
        case ValueTag.array:
            while r.offset < r.buffer.count {
                if r.buffer[r.offset] == ValueTag.end {
                    r.offset += 1
                    return true
                }
                guard skipValue(&r) else { return false }
            }
            return false
        case ValueTag.object:
            while let k = r.varint() {
                if k == 0 { return true }
                if k & 1 == 1 { guard r.bytes(Int(k >> 1)) != nil else { return false } }
                guard skipValue(&r) else { return false }
            }
            return false
        default: return false
        }
    }

    /// The elements of an encoded array (as `locate` returns it), each read as a value.
    static func forEachElement(_ encoded: UnsafeRawBufferPointer, _ body: (FieldValue) -> Bool) {
        var r = ByteReader(encoded)
        while r.offset < r.buffer.count, r.buffer[r.offset] != ValueTag.end {
            let start = r.offset
            guard let v = read(&r) else { return }
            if case .object = v {
                r.offset = start
                guard skipValue(&r) else { return }
            }
            if !body(v) { return }
        }
    }
}
