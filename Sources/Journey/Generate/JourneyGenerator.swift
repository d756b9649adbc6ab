/// What to generate. Defaults mirror the golden data set (1% re-sent lines, a 90-day span from 2026-01-01).
public struct GeneratorOptions: Sendable {
    /// Number of customers (persons); each gets one journey.
    public var customers: Int
    public var seed: UInt64
    /// Fraction of all lines that are byte-identical re-sends of an earlier line (clamped to 0...0.5).
    public var duplicates: Double
    /// Fraction of all lines that are deliberately invalid (clamped so duplicates + broken <= 0.5).
    public var broken: Double
    /// First day of activity, UTC milliseconds (clamped to years 1970...9000 so times stay 4-digit RFC 3339).
    public var startMillis: Int64
    /// Customers' first visits fall in this many days and no visit starts after them; funnel steps already under
    /// way, NPS answers and support tickets may still land up to a few weeks later.
    public var days: Int

    public init(
        customers: Int, seed: UInt64, duplicates: Double = 0.01, broken: Double = 0,
        startMillis: Int64 = 1_767_225_600_000, days: Int = 90
    ) {
        self.customers = customers
        self.seed = seed
        self.duplicates = duplicates
        self.broken = broken
        self.startMillis = startMillis
        self.days = days
    }
}

/// Counts of what was emitted: `lines == messages + duplicates + broken`; `messages` are unique valid messages.
public struct GeneratorSummary: Sendable, Equatable {
    public var lines: Int
    public var messages: Int
    public var duplicates: Int
    public var broken: Int
}

/// Deterministic synthetic Segment-spec NDJSON: the same options give the same bytes on every machine.
///
/// Customers are generated one at a time, so memory is constant (about 3.4 MB): their lines join a bounded
/// window of 4,096 pending lines (about 700 customers) and leave it in random order, which makes arrival out
/// of order. A re-sent line stays in the window after its first emission and leaves it again later, same bytes.
/// Every customer is one person after identity stitching (second devices are always linked by an `alias`).
public struct JourneyGenerator: Sendable {
    let options: GeneratorOptions

    public init(options: GeneratorOptions) { self.options = options }

    /// Calls `emit` with each NDJSON line's bytes (no trailing newline), in arrival order.
    /// The bytes are only valid during the call. Each call starts afresh, so repeated calls give the same lines.
    public mutating func generate(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows -> GeneratorSummary {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Engine.memoryBytes, alignment: 16)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: Engine.memoryBytes)
        var engine = Engine(options: options, memory: memory)
        try engine.run(emit)
        return engine.summary
    }
}

// MARK: - Byte output

extension JourneyGenerator {
    /// Appends ASCII at a raw pointer. Callers guarantee room: every line is far shorter than a slot.
    struct Cursor {
        var p: UnsafeMutablePointer<UInt8>

        /// Small copies dominate (5–40 bytes), so overlapping 8-byte words beat a call to memmove.
        @inline(__always)
        static func copy(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
            let d = UnsafeMutableRawPointer(dst)
            let s = UnsafeRawPointer(src)
            if n >= 8 {
                var i = 0
                while i + 8 < n {
                    d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self)
                    i += 8
                }
                d.storeBytes(
                    of: s.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), toByteOffset: n - 8, as: UInt64.self)
            } else if n >= 4 {
                d.storeBytes(of: s.loadUnaligned(as: UInt32.self), as: UInt32.self)
                d.storeBytes(
                    of: s.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self), toByteOffset: n - 4, as: UInt32.self)
            } else {
                for i in 0..<n { dst[i] = src[i] }
            }
        }

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            p.pointee = b
            p += 1
        }

        @inline(__always)
        mutating func raw(_ s: StaticString) {
            let dst = p
            let n = s.withUTF8Buffer { src -> Int in
                guard let start = src.baseAddress else { return 0 }
                Self.copy(dst, start, src.count)
                return src.count
            }
            p += n
        }

        @inline(__always)
        mutating func bytes(_ src: UnsafePointer<UInt8>, _ n: Int) {
            Self.copy(p, src, n)
            p += n
        }

        @inline(__always)
        mutating func uint(_ value: UInt64) {
            var digits = 1
            var probe = value
            while probe >= 10 {
                probe /= 10
                digits += 1
            }
            var v = value
            var q = p + digits
            repeat {
                q -= 1
                q.pointee = UInt8(truncatingIfNeeded: 48 &+ v % 10)
                v /= 10
            } while v != 0
            p += digits
        }

        @inline(__always)
        mutating func int(_ value: Int) { uint(UInt64(truncatingIfNeeded: max(0, value))) }

        @inline(__always)
        mutating func two(_ v: Int) {
            byte(UInt8(truncatingIfNeeded: 48 &+ v / 10))
            byte(UInt8(truncatingIfNeeded: 48 &+ v % 10))
        }

        mutating func hex8(_ v: UInt32) {
            var shift: UInt32 = 28
            for _ in 0..<8 {
                let nibble = UInt8(truncatingIfNeeded: (v >> shift) & 0xF)
                byte(nibble < 10 ? 48 &+ nibble : 87 &+ nibble)
                shift &-= 4
            }
        }

        /// Like Python's float repr for two-decimal amounts (`149.4`, `163.17`, `150.0`), as in the golden set.
        mutating func money(_ cents: Int) {
            int(cents / 100)
            byte(UInt8(ascii: "."))
            let fraction = cents % 100
            byte(UInt8(truncatingIfNeeded: 48 &+ fraction / 10))
            if fraction % 10 != 0 { byte(UInt8(truncatingIfNeeded: 48 &+ fraction % 10)) }
        }

        /// `YYYY-MM-DDT` for a day since 1970-01-01, via Hinnant's civil-from-days (no Foundation dates: slow,
        /// and we need the same bytes everywhere).
        mutating func date(days: Int64) {
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let day = Int(doy - (153 * mp + 2) / 5 + 1)
            let month = Int(mp < 10 ? mp + 3 : mp - 9)
            let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
            two(year / 100)
            two(year % 100)
            byte(UInt8(ascii: "-"))
            two(month)
            byte(UInt8(ascii: "-"))
            two(day)
            byte(UInt8(ascii: "T"))
        }

        /// `HH:MM:SS.mmmZ` for milliseconds into the day.
        mutating func clock(_ ms: Int) {
            two(ms / 3_600_000)
            byte(UInt8(ascii: ":"))
            two(ms / 60000 % 60)
            byte(UInt8(ascii: ":"))
            two(ms / 1000 % 60)
            byte(UInt8(ascii: "."))
            let frac = ms % 1000
            byte(UInt8(truncatingIfNeeded: 48 &+ frac / 100))
            two(frac % 100)
            byte(UInt8(ascii: "Z"))
        }

        /// RFC 3339 UTC with milliseconds, `2026-03-24T03:37:19.986Z`.
        mutating func time(_ millis: Int64) {
            let (days, ms) = Self.split(millis)
            date(days: days)
            clock(ms)
        }

        /// Days since the epoch and milliseconds into that day, flooring for times before 1970.
        @inline(__always)
        static func split(_ millis: Int64) -> (Int64, Int) {
            let msPerDay: Int64 = 86_400_000
            var days = millis / msPerDay
            var rest = millis % msPerDay
            if rest < 0 {
                rest += msPerDay
                days -= 1
            }
            return (days, Int(rest))
        }
    }
}

// MARK: - Vocabulary

extension JourneyGenerator {
    enum Channel {
        case web, mobile, email, callCenter, store, social

        var name: StaticString {
            switch self {
            case .web: "web"
            case .mobile: "mobile"
            case .email: "email"
            case .callCenter: "call_center"
            case .store: "store"
            case .social: "social"
            }
        }

        /// Client-side channels: only these have device clocks (skewed times) and an IP/locale context.
        var isDevice: Bool { self == .web || self == .mobile || self == .social }
    }

    /// Mobile apps send `screen` calls, browsers send `page` calls.
    enum Device { case web, mobileWeb, mobileApp }

    enum Side { case first, second }

    enum Page {
        case home, category, product, search, cart, help, account

        var name: StaticString {
            switch self {
            case .home: "Home"
            case .category: "Category"
            case .product: "Product"
            case .search: "Search"
            case .cart: "Cart"
            case .help: "Help"
            case .account: "Account"
            }
        }
    }
}

/// Word lists and weights. Changing any of them changes the data every seed gives, so tests pin shapes, not bytes.
extension JourneyGenerator.Engine {
    typealias Page = JourneyGenerator.Page

    static let landingPages: [Page] = [.home, .category, .product, .search]
    static let landingWeights = WeightTable([50, 22, 18, 10])
    static let browsePages: [Page] = [.category, .search, .product, .help, .account]
    static let browseWeights = WeightTable([40, 25, 20, 10, 5])
    static let categories: [StaticString] = ["shoes", "bags", "jackets", "watches", "beauty", "home", "sale"]

    static let countries: [StaticString] = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "BR", "IN", "CN"]
    static let locales: [StaticString] = [
        "en-US", "de-DE", "en-GB", "fr-FR", "nl-NL", "es-ES", "it-IT", "pt-BR", "en-IN", "zh-CN",
    ]
    static let countryWeights = WeightTable([30, 15, 12, 10, 6, 6, 5, 5, 6, 5])
    /// Currency per country index: USD, EUR, GBP.
    static let currencyOfCountry = [0, 1, 2, 1, 1, 1, 1, 0, 0, 0]
    static let currencies: [StaticString] = ["USD", "EUR", "GBP"]

    static let plans: [StaticString] = ["free", "pro", "team"]
    static let planWeights = WeightTable([62, 26, 12])

    static let topics: [StaticString] = ["delivery", "refund", "payment", "product", "login"]
    static let topicWeightsAfterOrder = WeightTable([35, 25, 15, 15, 10])
    static let topicWeightsBrowsing = WeightTable([10, 5, 25, 30, 30])

    /// NPS 0...10: mostly promoters (56% / 24% passives / 20% detractors), and mostly detractors after a ticket.
    static let npsWeights = WeightTable([2, 1, 2, 2, 3, 4, 6, 10, 14, 24, 32])
    static let npsWeightsAfterTicket = WeightTable([8, 6, 8, 9, 10, 11, 12, 12, 9, 8, 7])

    static let brokenKinds = WeightTable([15, 20, 15, 15, 15, 10, 10])
    static let notJSON: [StaticString] = [
        "not json at all", "<html><body><h1>502 Bad Gateway</h1></body></html>", "type=track&event=Product+Viewed",
    ]
}

// MARK: - Engine

extension JourneyGenerator {
    /// Per-customer state; reset for every customer.
    struct Person {
        var index: UInt64 = 0
        var firstAnon: UInt32 = 0
        var secondAnon: UInt32 = 0
        var firstDevice = Device.web
        var secondDevice = Device.mobileApp
        var country = 0
        var plan = 0
        var skew: Int64 = 0
        var ip: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var identified = false
        var secondLinked = false
        var ordered = false
        var hadTicket = false
        var answeredNPS = false
    }

    /// Pre-rendered pieces of JSON that recur on many lines, kept at fixed offsets in the arena.
    /// `messageId` is `{"messageId":"g<seed>-<n>` with `<n>` counted up in ASCII, so no number formatting.
    enum Fragment: Int {
        case messageId, firstAnon, secondAnon, userId, previousId, date
        static let count = 6
        static let bytes = 128
    }

    /// A stack of slot indices in preallocated memory: Swift arrays cost a uniqueness check on every write.
    /// Every slot is in exactly one stack (or being written), so each needs room for all slots at most.
    struct SlotStack {
        let items: UnsafeMutablePointer<Int32>
        var count = 0

        init(_ items: UnsafeMutablePointer<Int32>) { self.items = items }

        @inline(__always) subscript(i: Int) -> Int32 {
            get { items[i] }
            nonmutating set { items[i] = newValue }
        }

        @inline(__always) mutating func push(_ slot: Int32) {
            items[count] = slot
            count += 1
        }

        @inline(__always) mutating func pop() -> Int32? {
            guard count > 0 else { return nil }
            count -= 1
            return items[count]
        }
    }

    struct Engine {
        /// Worst-case line is under 500 bytes (20-digit seed and ids, skewed times, group traits, context).
        static let slotBytes = 768
        /// Lines pending emission; emitting a random one of these is what makes arrival out of order.
        static let windowSlots = 4096
        /// Room for one customer's lines before they join the window; a journey is under 200 lines.
        static let stagingSlots = 256
        static let slots = windowSlots + stagingSlots
        static let scratchOffset = slots * slotBytes
        static let fragmentsOffset = scratchOffset + slotBytes
        static let arenaBytes = fragmentsOffset + Fragment.count * Fragment.bytes
        /// After the bytes: Int32 slot lengths, the free / pending / staged stacks and fragment lengths,
        /// then one re-send flag byte per slot.
        static let int32Count = 4 * slots + Fragment.count
        static let memoryBytes = arenaBytes + 4 * int32Count + slots

        static let dayMillis: Int64 = 86_400_000
        static let hourMillis: Int64 = 3_600_000
        static let minuteMillis: Int64 = 60000

        let seed: UInt64
        let customers: Int
        let start: Int64
        let end: Int64
        let duplicateChance: Double
        let brokenChance: Double
        let priceSalt: UInt64
        let groups: Int

        /// Journeys draw from one stream and arrival (shuffle, re-sends, broken lines) from another, so the set
        /// of unique messages for a seed does not depend on the duplicate or broken fractions.
        var journey: SplitMix64
        var arrival: SplitMix64

        let base: UnsafeMutablePointer<UInt8>
        let slotLength: UnsafeMutablePointer<Int32>
        let fragmentLength: UnsafeMutablePointer<Int32>
        /// Non-zero for a pending slot whose line was emitted once already and will leave again as a re-send.
        let resend: UnsafeMutablePointer<UInt8>
        var free: SlotStack
        var pending: SlotStack
        var staged: SlotStack

        var summary = GeneratorSummary(lines: 0, messages: 0, duplicates: 0, broken: 0)
        var messageNumber: UInt64 = 0
        var brokenNumber: UInt64 = 0
        var out: Cursor
        var lineSlot: Int32 = -1
        var lineStart: UnsafeMutablePointer<UInt8>
        var lineChannel = Channel.web
        var cachedDay: Int64 = .min
        var person = Person()

        /// `memory` holds `memoryBytes` zeroed bytes, 16-byte aligned.
        init(options: GeneratorOptions, memory: UnsafeMutableRawPointer) {
            seed = options.seed
            customers = max(0, options.customers)
            start = min(max(options.startMillis, 0), 221_845_392_000_000)  // 9000-01-01
            end = start + Int64(min(max(options.days, 1), 36500)) * Self.dayMillis
            let dup = options.duplicates.isNaN ? 0 : min(max(options.duplicates, 0), 0.5)
            let bad = options.broken.isNaN ? 0 : min(max(options.broken, 0), 0.5 - dup)
            // Per valid message, so the fractions hold of all lines (lines = messages / (1 - dup - bad)); <= 1.
            duplicateChance = dup / (1 - dup - bad)
            brokenChance = bad / (1 - dup - bad)
            journey = SplitMix64(seed: SplitMix64.mix(seed ^ 0x4A6F_7572_6E65_7921))
            arrival = SplitMix64(seed: SplitMix64.mix(seed ^ 0x4172_7269_7661_6C21))
            priceSalt = SplitMix64.mix(seed &+ 0x5052_4943_45)
            groups = max(1, customers / 40)
            base = memory.bindMemory(to: UInt8.self, capacity: Self.arenaBytes)
            let ints = (memory + Self.arenaBytes).bindMemory(to: Int32.self, capacity: Self.int32Count)
            slotLength = ints
            free = SlotStack(ints + Self.slots)
            pending = SlotStack(ints + 2 * Self.slots)
            staged = SlotStack(ints + 3 * Self.slots)
            fragmentLength = ints + 4 * Self.slots
            resend = (memory + Self.arenaBytes + 4 * Self.int32Count).bindMemory(to: UInt8.self, capacity: Self.slots)
            for i in (0..<Int32(Self.slots)).reversed() { free.push(i) }
            out = Cursor(p: base)
            lineStart = base
            fragment(.messageId) { o in
                o.raw(#"{"messageId":"g"#)
                o.uint(options.seed)
                o.byte(UInt8(ascii: "-"))
            }
            messageIdDigits = Int(fragmentLength[Fragment.messageId.rawValue])
            fragment(.messageId, keep: messageIdDigits) { o in o.byte(UInt8(ascii: "0")) }
        }

        /// Where the counter's digits start in the `messageId` fragment.
        var messageIdDigits = 0

        /// Counts `messageNumber` up, in binary and in the ASCII digits of the `messageId` fragment.
        @inline(__always)
        mutating func nextMessageNumber() {
            messageNumber += 1
            let digits = fragmentStart(.messageId)
            var i = Int(fragmentLength[Fragment.messageId.rawValue]) - 1
            while i >= messageIdDigits && digits[i] == UInt8(ascii: "9") {
                digits[i] = UInt8(ascii: "0")
                i -= 1
            }
            if i >= messageIdDigits {
                digits[i] += 1
            } else {
                let n = messageNumber
                fragment(.messageId, keep: messageIdDigits) { o in o.uint(n) }
            }
        }

        @inline(__always) func slot(_ i: Int32) -> UnsafeMutablePointer<UInt8> { base + Int(i) * Self.slotBytes }
        var scratch: UnsafeMutablePointer<UInt8> { base + Self.scratchOffset }
        @inline(__always) func fragmentStart(_ f: Fragment) -> UnsafeMutablePointer<UInt8> {
            base + Self.fragmentsOffset + f.rawValue * Fragment.bytes
        }

        /// Rewrites fragment `f` after its first `keep` bytes.
        mutating func fragment(_ f: Fragment, keep: Int = 0, _ write: (inout Cursor) -> Void) {
            var o = Cursor(p: fragmentStart(f) + keep)
            write(&o)
            fragmentLength[f.rawValue] = Int32(o.p - fragmentStart(f))
        }

        @inline(__always)
        mutating func put(_ f: Fragment) { out.bytes(fragmentStart(f), Int(fragmentLength[f.rawValue])) }

        /// Timestamps of one customer mostly share a day, so the `YYYY-MM-DDT` part is rendered once per day.
        @inline(__always)
        mutating func time(_ millis: Int64) {
            let (days, ms) = Cursor.split(millis)
            if days != cachedDay {
                cachedDay = days
                fragment(.date) { o in o.date(days: days) }
            }
            put(.date)
            out.clock(ms)
        }

        mutating func run(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            for index in 0..<customers {
                while free.count < Self.stagingSlots { try emitOne(emit) }
                customer(index)
                while let s = staged.pop() { pending.push(s) }
            }
            while pending.count > 0 { try emitOne(emit) }
        }

        // MARK: Arrival

        /// Emits a random pending line, then maybe a broken line after it.
        mutating func emitOne(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            let j = arrival.below(pending.count)
            let s = pending[j]
            try emit(UnsafeRawBufferPointer(start: slot(s), count: Int(slotLength[Int(s)])))
            summary.lines += 1
            if resend[Int(s)] != 0 {
                summary.duplicates += 1
                resend[Int(s)] = 0
            } else if duplicateChance > 0 && arrival.chance(duplicateChance) {
                resend[Int(s)] = 1  // stays pending: the same bytes will leave the window again later
                return
            }
            if let last = pending.pop(), j < pending.count { pending[j] = last }
            free.push(s)
            if brokenChance > 0 && arrival.chance(brokenChance) {
                let length = writeBroken()
                try emit(UnsafeRawBufferPointer(start: scratch, count: length))
                summary.lines += 1
                summary.broken += 1
            }
        }

        /// Writes one invalid line into the scratch slot; each kind breaks exactly one of the acceptance rules.
        mutating func writeBroken() -> Int {
            brokenNumber += 1
            var o = Cursor(p: scratch)
            let kind = arrival.pick(Self.brokenKinds)
            if kind == 0 {
                o.raw(Self.notJSON[arrival.below(Self.notJSON.count)])
                return o.p - scratch
            }
            let user = UInt64(arrival.below(max(customers, 1)))
            let at = arrival.between(start, end)
            o.raw(#"{"messageId":"x"#)
            o.uint(seed)
            o.byte(UInt8(ascii: "-"))
            o.uint(brokenNumber)
            if kind == 5 {  // a messageId of 101 characters
                o.byte(UInt8(ascii: "-"))
                let idStart = scratch + 14
                while o.p - idStart < 101 { o.byte(UInt8(ascii: "z")) }
            }
            if kind == 2 {
                o.raw(#"","type":"teleport","userId":"u"#)
            } else if kind == 3 {
                o.raw(#"","type":"track""#)  // neither userId nor anonymousId
            } else {
                o.raw(#"","type":"track","userId":"u"#)
            }
            if kind != 3 {
                o.uint(user)
                o.byte(UInt8(ascii: "\""))
            }
            if kind == 4 {
                o.raw(#","timestamp":"yesterday""#)
            } else {
                o.raw(#","timestamp":""#)
                o.time(at)
                o.byte(UInt8(ascii: "\""))
            }
            if kind != 6 && kind != 2 {  // 6: a track without `event`
                o.raw(#","event":"Product Viewed""#)
            }
            o.raw(#","properties":{"product_id":"sku-"#)
            o.int(1 + arrival.below(500))
            o.raw(#""}}"#)
            let full = o.p - scratch
            if kind == 1 {  // truncated: no proper prefix of a JSON object is JSON
                return full / 4 + arrival.below(full - full / 4)
            }
            return full
        }

        // MARK: Lines

        /// Starts a message in a free slot: `{"messageId":…,"type":…,"channel":…,<time fields>,`.
        mutating func open(_ type: StaticString, _ channel: Channel, at t: Int64) {
            // The staging room always suffices (see `customer`); if it ever did not, the line is dropped.
            lineSlot = free.pop() ?? -1
            lineStart = lineSlot >= 0 ? slot(lineSlot) : scratch
            out = Cursor(p: lineStart)
            lineChannel = channel
            nextMessageNumber()
            put(.messageId)
            out.raw(#"","type":""#)
            out.raw(type)
            out.raw(#"","channel":""#)
            out.raw(channel.name)
            if channel.isDevice && journey.chance(0.03) {
                // Device clock: the engine must compute receivedAt - (sentAt - originalTimestamp) == t.
                let delay = journey.between(200, 8000)
                out.raw(#"","originalTimestamp":""#)
                time(t + person.skew)
                out.raw(#"","sentAt":""#)
                time(t + person.skew + delay)
                out.raw(#"","receivedAt":""#)
                time(t + delay)
            } else {
                out.raw(#"","timestamp":""#)
                time(t)
            }
            out.raw(#"","#)
        }

        mutating func close() {
            if lineChannel.isDevice && journey.chance(0.04) {
                out.raw(#","context":{"ip":""#)
                out.int(person.ip.0)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.1)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.2)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.3)
                out.raw(#"","locale":""#)
                out.raw(Self.locales[person.country])
                out.raw(#""}"#)
            }
            out.byte(UInt8(ascii: "}"))
            guard lineSlot >= 0 else { return }
            slotLength[Int(lineSlot)] = Int32(out.p - lineStart)
            staged.push(lineSlot)
            summary.messages += 1
        }

        /// The ids a device knows: its anonymous id, plus the user id once that device has logged in.
        @inline(__always)
        mutating func ids(_ side: Side) {
            if side == .first {
                put(.firstAnon)
                if person.identified { put(.userId) }
            } else {
                put(.secondAnon)
                if person.secondLinked { put(.userId) }
            }
        }

        func device(_ side: Side) -> Device { side == .first ? person.firstDevice : person.secondDevice }

        func channel(_ side: Side) -> Channel { device(side) == .web ? .web : .mobile }

        // MARK: Messages

        mutating func page(_ side: Side, _ page: Page, at t: Int64, social: Bool = false) {
            if device(side) == .mobileApp {
                open("screen", .mobile, at: t)
                ids(side)
                out.raw(#""name":""#)
                out.raw(page.name)
                out.byte(UInt8(ascii: "\""))
                close()
                return
            }
            open("page", social ? .social : channel(side), at: t)
            ids(side)
            out.raw(#""name":""#)
            out.raw(page.name)
            out.raw(#"","properties":{"path":""#)
            switch page {
            case .home: out.byte(UInt8(ascii: "/"))
            case .category:
                out.raw("/c/")
                out.raw(Self.categories[journey.below(Self.categories.count)])
            case .product:
                out.raw("/p/sku-")
                out.int(sku())
            case .search: out.raw("/search")
            case .cart: out.raw("/cart")
            case .help: out.raw("/help")
            case .account: out.raw("/account")
            }
            out.raw(#""}"#)
            close()
        }

        /// Popular products are viewed more: the minimum of two uniform draws skews towards low numbers.
        mutating func sku() -> Int { 1 + min(journey.below(500), journey.below(500)) }

        /// Each product has one price per seed, between 5.00 and 250.00.
        func priceCents(_ sku: Int) -> Int { 500 + Int(SplitMix64.mix(UInt64(sku) ^ priceSalt) % 24501) }

        mutating func product(_ side: Side, _ event: StaticString, sku: Int, at t: Int64) {
            open("track", channel(side), at: t)
            ids(side)
            out.raw(#""event":""#)
            out.raw(event)
            out.raw(#"","properties":{"product_id":"sku-"#)
            out.int(sku)
            out.raw(#"","price":"#)
            out.money(priceCents(sku))
            out.raw("}")
            close()
        }

        mutating func checkout(_ side: Side, cents: Int, at t: Int64) {
            open("track", channel(side), at: t)
            ids(side)
            out.raw(#""event":"Checkout Started","properties":{"value":"#)
            out.money(cents)
            out.raw("}")
            close()
        }

        /// `side == nil`: an order taken in a store, known only by user id.
        mutating func order(_ side: Side?, cents: Int, at t: Int64) {
            if let side {
                open("track", channel(side), at: t)
                ids(side)
            } else {
                open("track", .store, at: t)
                put(.userId)
            }
            out.raw(#""event":"Order Completed","properties":{"order_id":"o"#)
            out.bytes(
                fragmentStart(.messageId) + messageIdDigits,
                Int(fragmentLength[Fragment.messageId.rawValue]) - messageIdDigits)
            out.raw(#"","revenue":"#)
            out.money(cents)
            out.raw(#","currency":""#)
            out.raw(Self.currencies[Self.currencyOfCountry[person.country]])
            out.raw(#""}"#)
            close()
            person.ordered = true
        }

        mutating func identify(at t: Int64) {
            person.identified = true
            open("identify", channel(.first), at: t)
            ids(.first)
            out.raw(#""traits":{"email":"u"#)
            out.uint(person.index)
            out.raw(#"@example.com","plan":""#)
            out.raw(Self.plans[person.plan])
            out.raw(#"","country":""#)
            out.raw(Self.countries[person.country])
            out.raw(#""}"#)
            close()
        }

        mutating func group(at t: Int64) {
            let g = journey.below(groups)
            open("group", channel(.first), at: t)
            ids(.first)
            out.raw(#""groupId":"grp-"#)
            out.int(g)
            out.raw(#"","traits":{"name":"Company "#)
            out.int(g)
            out.raw(#"","plan":"team","employees":"#)
            out.int(5 + Int(SplitMix64.mix(UInt64(g) ^ priceSalt) % 500))
            out.raw("}")
            close()
        }

        /// Links the second device's anonymous id to the user: `previousId` + `userId`, as Segment sends it.
        mutating func alias(at t: Int64) {
            person.secondLinked = true
            open("alias", channel(.second), at: t)
            put(.userId)
            put(.previousId)
            close()
        }

        mutating func nps(at t: Int64) {
            person.answeredNPS = true
            let score = journey.pick(person.hadTicket ? Self.npsWeightsAfterTicket : Self.npsWeights)
            open("track", .email, at: t)
            put(.userId)
            out.raw(#""event":"NPS Responded","properties":{"score":"#)
            out.int(score)
            out.raw("}")
            close()
        }

        /// Known customers call the call centre; anonymous ones use the web help form.
        mutating func ticket(at t: Int64) {
            person.hadTicket = true
            let topic = journey.pick(person.ordered ? Self.topicWeightsAfterOrder : Self.topicWeightsBrowsing)
            if person.identified {
                open("track", .callCenter, at: t)
                put(.userId)
            } else {
                open("track", channel(.first), at: t)
                put(.firstAnon)
            }
            out.raw(#""event":"Support Ticket Opened","properties":{"topic":""#)
            out.raw(Self.topics[topic])
            out.raw(#""}"#)
            close()
        }

        // MARK: Journeys

        /// Seconds between clicks within a visit.
        mutating func clickGap() -> Int64 {
            journey.chance(0.7) ? journey.between(2000, 40000) : journey.between(40000, 300_000)
        }

        /// Between funnel steps: mostly seconds, sometimes hours or days, so 1-hour and 7-day windows differ.
        mutating func stepGap() -> Int64 {
            let r = journey.below(100)
            if r < 85 { return journey.between(3000, 180_000) }
            if r < 92 { return journey.between(3 * Self.minuteMillis, 55 * Self.minuteMillis) }
            if r < 97 { return journey.between(Self.hourMillis, 20 * Self.hourMillis) }
            return journey.between(Self.dayMillis, 9 * Self.dayMillis)
        }

        mutating func sessionGap() -> Int64 {
            let r = journey.below(100)
            if r < 25 { return journey.between(Self.hourMillis, Self.dayMillis) }
            if r < 75 { return journey.between(Self.dayMillis, 7 * Self.dayMillis) }
            return journey.between(7 * Self.dayMillis, 30 * Self.dayMillis)
        }

        /// One visit writes at most about 20 lines; below this much staging room left, a journey stops early
        /// (never reached: a journey has at most 9 visits and 2 repeat orders).
        static let visitRoom = 32

        var roomForVisit: Bool { staged.count + Self.visitRoom <= Self.stagingSlots }

        mutating func customer(_ index: Int) {
            var p = Person()
            p.index = UInt64(index)
            p.firstAnon = UInt32(truncatingIfNeeded: journey.next())
            p.secondAnon = UInt32(truncatingIfNeeded: journey.next())
            p.country = journey.pick(Self.countryWeights)
            p.plan = journey.pick(Self.planWeights)
            if journey.chance(0.55) {
                p.firstDevice = .web
                p.secondDevice = journey.chance(0.6) ? .mobileApp : .mobileWeb
            } else {
                p.firstDevice = journey.chance(0.45) ? .mobileApp : .mobileWeb
                p.secondDevice = .web
            }
            p.skew = journey.between(-300_000, 300_001)
            p.ip = (1 + journey.below(223), journey.below(256), journey.below(256), 1 + journey.below(254))
            person = p
            for (slot, anon) in [(Fragment.firstAnon, p.firstAnon), (.secondAnon, p.secondAnon)] {
                fragment(slot) { o in
                    o.raw(#""anonymousId":"a"#)
                    o.uint(p.index)
                    o.byte(UInt8(ascii: "-"))
                    o.hex8(anon)
                    o.raw(#"","#)
                }
            }
            fragment(.userId) { o in
                o.raw(#""userId":"u"#)
                o.uint(p.index)
                o.raw(#"","#)
            }
            fragment(.previousId) { o in
                o.raw(#""previousId":"a"#)
                o.uint(p.index)
                o.byte(UInt8(ascii: "-"))
                o.hex8(p.secondAnon)
                o.byte(UInt8(ascii: "\""))
            }

            // Person-level funnel depth: 0 browse only, 1 viewed, 2 added, 3 checked out, 4 ordered.
            var depth = 0
            if journey.chance(0.87) {
                depth = 1
                if journey.chance(0.57) {
                    depth = 2
                    if journey.chance(0.67) {
                        depth = 3
                        if journey.chance(0.72) { depth = 4 }
                    }
                }
            }
            var sessions = 1
            while sessions < 8 && journey.chance(0.42) { sessions += 1 }
            let mainSession = journey.chance(0.5) ? 0 : journey.below(sessions)
            var identifySession = journey.chance(0.52) ? journey.below(sessions) : Int.max
            if depth >= 3 && identifySession != Int.max { identifySession = min(identifySession, mainSession) }
            // A second device shows up in the visit after the login (appended if that was the last visit).
            let hasSecondDevice = identifySession != Int.max && journey.chance(0.25)
            if hasSecondDevice && identifySession == sessions - 1 { sessions += 1 }
            let ticketSession = journey.chance(0.1) ? journey.below(sessions) : -1
            let aliasAtEnd = journey.chance(0.5)

            var t = journey.between(start, end)
            for s in 0..<sessions {
                if s > 0 {
                    t += sessionGap()
                    if t >= end { break }
                }
                guard roomForVisit else { return }
                let side: Side =
                    hasSecondDevice && (s == identifySession + 1 || s > identifySession && journey.chance(0.5))
                    ? .second : .first
                t = session(
                    side, at: t, main: s == mainSession, depth: depth, identifies: s == identifySession,
                    aliasAtEnd: aliasAtEnd, ticket: s == ticketSession)
            }
            if person.ordered && journey.chance(0.3) {
                let repeats = journey.chance(0.35) ? 2 : 1
                for _ in 0..<repeats {
                    t += journey.between(3 * Self.dayMillis, 40 * Self.dayMillis)
                    if t >= end { break }
                    guard roomForVisit else { return }
                    if person.identified && journey.chance(0.15) {
                        let sku = sku()
                        order(nil, cents: priceCents(sku), at: t)
                    } else {
                        t = session(
                            .first, at: t, main: true, depth: 4, identifies: false, aliasAtEnd: false, ticket: false,
                            quick: true)
                    }
                }
            }
        }

        /// One visit; returns the time of its last click.
        mutating func session(
            _ side: Side, at begin: Int64, main: Bool, depth: Int, identifies: Bool, aliasAtEnd: Bool, ticket: Bool,
            quick: Bool = false
        ) -> Int64 {
            var t = begin
            let social = device(side) != .mobileApp && journey.chance(0.04)
            page(side, Self.landingPages[journey.pick(Self.landingWeights)], at: t, social: social)
            if journey.chance(0.15) {
                t += clickGap()
                page(side, Self.browsePages[journey.pick(Self.browseWeights)], at: t)
            }
            if identifies {
                t += clickGap()
                identify(at: t)
                if person.plan == 2 && journey.chance(0.9) {
                    t += journey.between(500, 5000)
                    group(at: t)
                }
            }
            if side == .second && !person.secondLinked && !aliasAtEnd {
                t += clickGap()
                alias(at: t)
            }
            if main && depth >= 1 {
                t = funnel(side, at: t, depth: depth, quick: quick)
            } else if depth >= 1 && journey.chance(0.5) {
                var last = sku()
                t += clickGap()
                product(side, "Product Viewed", sku: last, at: t)
                if journey.chance(0.25) {
                    last = sku()
                    t += clickGap()
                    product(side, "Product Viewed", sku: last, at: t)
                }
                if depth >= 2 && journey.chance(0.12) {
                    t += clickGap()
                    product(side, "Product Added", sku: last, at: t)
                }
            }
            if side == .second && !person.secondLinked {
                t += clickGap()
                alias(at: t)
            }
            if ticket {
                let at = t + journey.between(10 * Self.minuteMillis, 2 * Self.dayMillis)
                self.ticket(at: at)
                if person.identified && !person.answeredNPS && journey.chance(0.15) {
                    nps(at: at + journey.between(Self.dayMillis, 3 * Self.dayMillis))
                }
            } else if person.identified && !person.answeredNPS && !person.ordered && journey.chance(0.04) {
                nps(at: t + journey.between(Self.dayMillis, 4 * Self.dayMillis))
            }
            return t
        }

        /// The customer's deepest attempt: view → add → checkout → order, stopping at `depth`.
        mutating func funnel(_ side: Side, at begin: Int64, depth: Int, quick: Bool) -> Int64 {
            var t = begin
            var last = sku()
            t += clickGap()
            product(side, "Product Viewed", sku: last, at: t)
            if journey.chance(0.25) {
                last = sku()
                t += clickGap()
                product(side, "Product Viewed", sku: last, at: t)
            }
            guard depth >= 2 else { return t }
            t = step(side, after: t, quick: quick)
            product(side, "Product Added", sku: last, at: t)
            var cents = priceCents(last)
            if journey.chance(0.2) {
                let other = sku()
                t += clickGap()
                product(side, "Product Added", sku: other, at: t)
                cents += priceCents(other)
            }
            guard depth >= 3 else { return t }
            t = step(side, after: t, quick: quick)
            checkout(side, cents: cents, at: t)
            guard depth >= 4 else { return t }
            t = step(side, after: t, quick: quick)
            let firstOrder = !person.ordered
            order(side, cents: cents, at: t)
            if firstOrder && person.identified && !person.answeredNPS && journey.chance(0.5) {
                nps(at: t + journey.between(2 * Self.hourMillis, 5 * Self.dayMillis))
            }
            return t
        }

        /// Advances to the next funnel step; a long pause means the customer comes back in a new visit.
        mutating func step(_ side: Side, after t: Int64, quick: Bool) -> Int64 {
            let gap = quick ? journey.between(3000, 120_000) : stepGap()
            var next = t + gap
            if gap >= 30 * Self.minuteMillis {
                page(side, journey.chance(0.6) ? .cart : .home, at: next)
                next += clickGap()
            }
            return next
        }
    }
}
